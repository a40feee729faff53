#!/usr/bin/env bash
# Long-poll fan-out bench: sluice (crates/sluice-tokio/examples/longpoll_server.rs) against
# nchan (Debian nginx + libnginx-mod-nchan), side by side, on loopback.
#
# For N parked long-poll subscribers (default 1000 and 10000) in a separate client process
# (benches/src/bin/longpoll_fanout.rs), one publish; measured per server:
#   - time from the publish until every subscriber has its complete response (median of rounds)
#   - server CPU per delivery (sum of /proc/<pid>/task/*/schedstat over the fan-out)
#   - server RSS per parked waiter (VmRSS with N parked minus before any subscriber)
#   - publish throughput with 4 publishers on kept-alive connections (no subscribers)
# Each server is started fresh for each N. Usage:
#   scripts/bench/longpoll_fanout.sh [N...]        (env ROUNDS=5 PUBLISH_SECS=3 THREADS=)
set -euo pipefail
cd "$(dirname "$0")/../.."

NS=("$@")
[ ${#NS[@]} -eq 0 ] && NS=(1000 10000)
ROUNDS=${ROUNDS:-5}
PUBLISH_SECS=${PUBLISH_SECS:-3}
SLUICE_ADDR=127.0.0.1:${SLUICE_PORT:-18480}
NCHAN_ADDR=127.0.0.1:${NCHAN_PORT:-18481}
NCHAN_SO=/usr/lib/nginx/modules/ngx_nchan_module.so

cargo build --release -q -p sluice-tokio --example longpoll_server
cargo build --release -q -p sluice-benches --bin longpoll_fanout
SERVER=target/release/examples/longpoll_server
LOAD=target/release/longpoll_fanout

if [ ! -e "$NCHAN_SO" ] || ! command -v nginx >/dev/null; then
    echo "installing nginx + libnginx-mod-nchan" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-nchan >/dev/null
fi

TMP=$(mktemp -d)
SLUICE_PID=
NGINX_MASTER=
cleanup() {
    [ -n "$SLUICE_PID" ] && kill "$SLUICE_PID" 2>/dev/null || true
    [ -n "$NGINX_MASTER" ] && kill "$NGINX_MASTER" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

wait_for_port() { # host:port
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listening on $1" >&2
    return 1
}

start_sluice() {
    : >"$TMP/sluice.log"
    # The server prints its own pid (a launcher may stand between us and it).
    $SERVER --addr "$SLUICE_ADDR" --max-waiters 20000 ${THREADS:+--threads $THREADS} 2>"$TMP/sluice.log" &
    wait_for_port "$SLUICE_ADDR"
    SLUICE_PID=$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' "$TMP/sluice.log")
    [ -n "$SLUICE_PID" ]
}

stop_sluice() {
    kill "$SLUICE_PID"
    for _ in $(seq 1 100); do kill -0 "$SLUICE_PID" 2>/dev/null || break; sleep 0.05; done
    SLUICE_PID=
}

start_nchan() {
    local p="$TMP/nginx"
    mkdir -p "$p/logs" "$p/tmp"
    cat >"$p/nginx.conf" <<EOF
load_module $NCHAN_SO;
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 19000;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
error_log $p/logs/error.log warn;
pid $p/nginx.pid;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    server {
        listen $NCHAN_ADDR;
        location = /stats { nchan_stub_status; }
        location ~ ^/sub/(\w+)$ {
            nchan_subscriber longpoll;
            nchan_channel_id \$1;
            nchan_subscriber_first_message newest;
            nchan_subscriber_timeout 25s;
        }
        location ~ ^/pub/(\w+)$ {
            nchan_publisher;
            nchan_channel_id \$1;
            nchan_message_buffer_length 10000;
            nchan_message_timeout 1h;
        }
    }
}
EOF
    nginx -p "$p" -c "$p/nginx.conf" 2>>"$p/logs/stderr.log" &
    wait_for_port "$NCHAN_ADDR"
    for _ in $(seq 1 100); do [ -s "$p/nginx.pid" ] && break; sleep 0.05; done
    NGINX_MASTER=$(cat "$p/nginx.pid")
    NGINX_WORKERS=$(pgrep -P "$NGINX_MASTER" | paste -sd, -)
    [ -n "$NGINX_WORKERS" ]
}

stop_nchan() {
    kill -QUIT "$NGINX_MASTER"
    for _ in $(seq 1 100); do kill -0 "$NGINX_MASTER" 2>/dev/null || break; sleep 0.05; done
    NGINX_MASTER=
}

RESULTS="$TMP/results"
: >"$RESULTS"
for n in "${NS[@]}"; do
    start_sluice
    $LOAD --target sluice --addr "$SLUICE_ADDR" --pid "$SLUICE_PID" --n "$n" \
        --rounds "$ROUNDS" --publish-secs "$PUBLISH_SECS" | tee -a "$RESULTS"
    stop_sluice
    start_nchan
    $LOAD --target nchan --addr "$NCHAN_ADDR" --pid "$NGINX_MASTER,$NGINX_WORKERS" --n "$n" \
        --rounds "$ROUNDS" --publish-secs "$PUBLISH_SECS" | tee -a "$RESULTS"
    stop_nchan
done

# A markdown table with sluice/nchan ratios.
python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(l.split(" ", 1)[1]) for l in open(sys.argv[1]) if l.startswith("RESULT ")]
by = {(r["target"], r["n"]): r for r in rows}
print()
print("| N parked | server | release all (ms) | CPU / delivery (µs) | RSS / waiter (B) | publish/s (4 pubs) | CPU / publish (µs) |")
print("|---|---|---|---|---|---|---|")
for (t, n), r in sorted(by.items(), key=lambda k: (k[0][1], k[0][0] != "Sluice")):
    print(f"| {n} | {t.lower()} | {r['release_ms']:.1f} | {r['cpu_us_per_delivery']:.2f} | {r['rss_bytes_per_waiter']:.0f} | {r['publish_per_s']:.0f} | {r['cpu_us_per_publish']:.1f} |")
print()
print("| N parked | release time sluice/nchan | CPU per delivery sluice/nchan | RSS per waiter sluice/nchan | publish/s sluice/nchan |")
print("|---|---|---|---|---|")
for n in sorted({n for _, n in by}):
    s, c = by.get(("Sluice", n)), by.get(("Nchan", n))
    if s and c:
        ratio = lambda k: s[k] / c[k] if c[k] else float("nan")
        print(f"| {n} | {ratio('release_ms'):.2f} | {ratio('cpu_us_per_delivery'):.2f} | {ratio('rss_bytes_per_waiter'):.2f} | {ratio('publish_per_s'):.2f} |")
EOF
