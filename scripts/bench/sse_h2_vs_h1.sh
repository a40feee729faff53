#!/usr/bin/env bash
# SSE over HTTP/2 vs HTTP/1.1 (both TLS), hub side: CPU per delivery and memory per stream.
#
#   h2   N SSE streams (default 1000) multiplexed on H2_CONNS h2 connections (default 10):
#        h2load -c H2_CONNS -m N/H2_CONNS -n N https://.../sse/TOPIC      (ALPN h2)
#   h1   N SSE streams on N HTTP/1.1 connections:
#        h2load --h1 -c N -m 1 -n N https://.../sse/TOPIC                  (ALPN http/1.1)
#   pub  no subscriber at all: the same publishes, to isolate the publish side (HTTP/1.1 + TLS
#        request handling, appending to the topic, the pacing) from the fan-out.
#
# Each run starts a fresh `sluice serve --tls-cert --tls-key` on a free 127.0.0.1 port:
#   1. baseline VmRSS (/proc/<pid>/status) after one /healthz and a 1 s settle;
#   2. h2load opens the N streams (one topic); bounded wait for sluice_subscribers{transport="sse"}
#      == N; settle SETTLE s; VmRSS again -> RSS/stream = (RSS with streams - baseline) / N;
#   3. one python http.client keep-alive HTTPS connection (HTTP/1.1) publishes EVENTS events of
#      PAYLOAD bytes, PAUSE_MS apart, then polls /metrics on that connection until
#      sluice_events_delivered_total{transport="sse"} has grown by EVENTS*N (bounded);
#      the hub's utime+stime (/proc/<pid>/stat, CLK_TCK) from just before the first publish to
#      the poll that saw the last delivery -> CPU µs/delivery = CPU / deliveries counted.
#      "net" = (CPU - mean CPU of the `pub` runs) / deliveries: the fan-out alone.
#      The sum of /proc/<pid>/task/*/schedstat (ns on CPU) is kept too, as a finer cross-check.
#   4. the hub is stopped (SIGTERM: streams end), h2load then prints its totals (its data bytes
#      per stream are compared with the SSE bytes of the events: client-side evidence).
# Modes alternate per round (h2 h1 pub, then pub h1 h2, ...), ROUNDS rounds (default 2).
# h2load runs with -T (connection active timeout) as a safety net and is killed by PID.
# Only the hub's figures matter: h2load and the publisher run on the same machine.
# The pace matters: at PAUSE_MS=5 (1000 deliveries every ~6 ms) a 2-CPU machine's hub falls behind
# and writes several events per HTTP/1.1 write (the wr/dlv column < 1), which cuts h1's CPU per
# delivery; at PAUSE_MS=20 it keeps up (h1 ~1 write per delivery). The /proc/<pid>/io write-syscall
# counts (syscw) per delivery are printed so the regime is visible; a NOTE says when h1 coalesced.
#
#   scripts/bench/sse_h2_vs_h1.sh
#   PAUSE_MS=20 ROUNDS=3 scripts/bench/sse_h2_vs_h1.sh   (a pace the hub keeps up with: see below)
#   (env MODES="h2 h1" BASELINE=0 SETTLE=3 PAYLOAD=64 OPEN_TIMEOUT=60 DELIVER_TIMEOUT=60
#    H2LOAD_THREADS=1 SLUICE_BIN=target/release/sluice KEEP_TMP=1)
#
# Never builds: needs target/release/sluice (or SLUICE_BIN). Every wait is bounded; exit 1 when
# a run did not get N streams or all EVENTS*N deliveries, or the hub died.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

N=${N:-1000}
H2_CONNS=${H2_CONNS:-10}
EVENTS=${EVENTS:-200}
PAUSE_MS=${PAUSE_MS:-5}
PAYLOAD=${PAYLOAD:-64}
ROUNDS=${ROUNDS:-2}
SETTLE=${SETTLE:-3}
MODES=${MODES:-h2 h1}
BASELINE=${BASELINE:-1}
OPEN_TIMEOUT=${OPEN_TIMEOUT:-60}
DELIVER_TIMEOUT=${DELIVER_TIMEOUT:-60}
H2LOAD_THREADS=${H2LOAD_THREADS:-1}
BIN=${SLUICE_BIN:-target/release/sluice}
TOPIC=bench-sse
CLK_TCK=$(getconf CLK_TCK)

die() { echo "sse_h2_vs_h1: $*" >&2; exit 1; }
for _ in $(seq 60); do [[ -x $BIN ]] && break; sleep 1; done  # a rebuild may be replacing it
[[ -x $BIN ]] || die "$BIN missing (cargo build --release -p sluice)"
missing=()
for c in openssl curl h2load python3 timeout getconf; do command -v "$c" >/dev/null || missing+=("$c"); done
((${#missing[@]} == 0)) || die "missing ${missing[*]}"
((N % H2_CONNS == 0)) || die "N=$N is not a multiple of H2_CONNS=$H2_CONNS"
PER_CONN=$((N / H2_CONNS))
((PER_CONN <= 128)) || die "N/H2_CONNS=$PER_CONN streams per connection is above the hub's 128"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$((2 * N + 256))  # h2load and the hub each hold N sockets in h1 mode
[[ $(ulimit -n) == unlimited || $(ulimit -n) -ge $need ]] || die "fd limit $(ulimit -n) is below $need"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-sse-h2-h1.XXXXXX")
HUB_PID= LOAD_PID=
stop_load() {
  [[ -n $LOAD_PID ]] || return 0
  kill -TERM "$LOAD_PID" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$LOAD_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$LOAD_PID" 2>/dev/null
  wait "$LOAD_PID" 2>/dev/null
  LOAD_PID=
}
stop_hub() {  # SIGTERM, bounded wait (the hub drains for at most 5 s), then SIGKILL
  [[ -n $HUB_PID ]] || return 0
  kill -TERM "$HUB_PID" 2>/dev/null
  for _ in $(seq 80); do kill -0 "$HUB_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$HUB_PID" 2>/dev/null
  wait "$HUB_PID" 2>/dev/null
  HUB_PID=
}
cleanup() {
  stop_load
  stop_hub
  if [[ -n ${KEEP_TMP:-} ]]; then echo "sse_h2_vs_h1: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- certificates (as tls_h2_ci.sh)
# shellcheck source=scripts/lib/test_certs.sh
source scripts/lib/test_certs.sh  # (the script runs from the repository root)
make_test_certs "$TMP" || exit 1

# ---------------------------------------------------------------- publisher / CPU window (python)
cat >"$TMP/publish.py" <<'EOF'
"""Publish EVENTS events on one keep-alive HTTPS (HTTP/1.1) connection, then poll /metrics on it
until the SSE delivery counter has grown by EXPECT; print the hub's CPU over that window."""
import http.client, os, re, ssl, sys, time

port, ca, topic, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
events, pause, payload_len, expect, timeout = (int(sys.argv[5]), float(sys.argv[6]) / 1000,
                                               int(sys.argv[7]), int(sys.argv[8]), float(sys.argv[9]))
DELIVERED = re.compile(rb'^sluice_events_delivered_total\{transport="sse"\} (\d+)$', re.M)


def ticks():
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


def io():  # write-family syscalls (write/writev) and bytes written, the whole process
    try:
        with open(f"/proc/{pid}/io") as f:
            kv = dict(line.split(": ") for line in f.read().splitlines())
        return int(kv["syscw"]), int(kv["wchar"])
    except (OSError, KeyError, ValueError):
        return -1, -1


def sched_ns():
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


ctx = ssl.create_default_context(cafile=ca)
ctx.set_alpn_protocols(["http/1.1"])
conn = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=10)


def delivered():
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    body = r.read()
    m = DELIVERED.search(body)
    if r.status != 200 or not m:
        raise SystemExit(f"ERROR /metrics answered {r.status}: {body[:200]!r}")
    return int(m.group(1))


d0 = delivered()  # TLS handshake and first request before the window
pad = "x" * payload_len
frame_bytes = 0
errors = 0
t0, s0, io0, w0 = ticks(), sched_ns(), io(), time.monotonic()
for i in range(events):
    body = (f"{i:06d}" + pad)[:max(payload_len, 6)].encode()
    conn.request("POST", f"/publish/{topic}", body=body, headers={"content-type": "text/plain"})
    r = conn.getresponse()
    rb = r.read()
    m = re.search(rb'"id"\s*:\s*"([^"]+)"', rb)
    if r.status != 200 or not m:
        errors += 1
        if errors <= 3:
            print(f"publish {i}: {r.status} {rb[:200]!r}", file=sys.stderr)
    else:  # the SSE frame each subscriber gets: "id: ID\ndata: BODY\n\n"
        frame_bytes += len(b"id: ") + len(m.group(1)) + len(b"\ndata: ") + len(body) + 2
    if pause > 0 and i + 1 < events:
        time.sleep(pause)
w_pub = time.monotonic()
polls = 0
deadline = w_pub + timeout
while True:
    d = delivered() - d0
    polls += 1
    if d >= expect or time.monotonic() > deadline:
        break
    time.sleep(0.02)
t1, s1, io1, w1 = ticks(), sched_ns(), io(), time.monotonic()
time.sleep(0.5)  # anything after the window (late or duplicate deliveries)?
d_after = delivered() - d0
print(f"RESULT ticks={t1 - t0} sched_ns={s1 - s0} window_s={w1 - w0:.4f} publish_s={w_pub - w0:.4f} "
      f"delivered={d} delivered_after={d_after} expected={expect} polls={polls} publish_errors={errors} "
      f"frame_bytes={frame_bytes} syscw={io1[0] - io0[0] if io0[0] >= 0 else -1} "
      f"wchar={io1[1] - io0[1] if io0[0] >= 0 else -1}")
EOF

metric() {  # port name-with-labels -> value (empty on failure)
  curl -sS --max-time 2 --cacert "$CA" "https://127.0.0.1:$1/metrics" 2>/dev/null |
    awk -v k="$2" '$1 == k { print $2; exit }'
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
pub_budget=$(python3 -c "print(int($EVENTS * ($PAUSE_MS + 50) / 1000) + $DELIVER_TIMEOUT + 30)")
LOAD_T=$((OPEN_TIMEOUT + SETTLE + pub_budget + 60))  # h2load -T safety net (normally killed first)

echo "sse_h2_vs_h1: N=$N streams; h2: $H2_CONNS connections x $PER_CONN streams; h1: $N connections;" \
  "events=$EVENTS payload=${PAYLOAD}B pause=${PAUSE_MS}ms settle=${SETTLE}s rounds=$ROUNDS baseline(pub)=$BASELINE"
echo "sse_h2_vs_h1: hub $BIN ($(stat -c '%y' "$BIN" | cut -d. -f1)); $(nproc) CPUs; CLK_TCK=$CLK_TCK;" \
  "fd limit $(ulimit -n); load average $(cut -d' ' -f1-3 /proc/loadavg); $(h2load --version 2>&1 | head -n1)"

RESULTS=$TMP/results.txt
: >"$RESULTS"
bad=0

run_one() {  # mode round
  local mode=$1 round=$2 port log ready= rss0 rss1 rss2 subs conns opened=0 c0 c1 idle_ticks
  local line rc alive reqs data_bytes note=
  port=$(free_port)
  log=$TMP/hub-$mode-$round.log
  RUST_LOG=warn "$BIN" serve --addr "127.0.0.1:$port" --max-connections $((N + 1000)) \
    --tls-cert "$CERT" --tls-key "$KEY" >"$log" 2>&1 &
  HUB_PID=$!
  for _ in $(seq 100); do
    kill -0 "$HUB_PID" 2>/dev/null || break
    [[ $(curl -sS --max-time 1 --cacert "$CA" "https://127.0.0.1:$port/healthz" 2>/dev/null) == ok ]] && { ready=1; break; }
    sleep 0.1
  done
  if [[ -z $ready ]]; then
    echo "sse_h2_vs_h1: [$mode r$round] the hub did not answer /healthz; log:" >&2
    tail -n 20 "$log" >&2
    stop_hub; bad=1
    echo "RESULT mode=$mode round=$round ok=0 note=hub-not-ready" >>"$RESULTS"
    return
  fi
  sleep 1
  rss0=$(rss_kib "$HUB_PID")
  local url="https://127.0.0.1:$port/sse/$TOPIC" out=$TMP/h2load-$mode-$round.txt
  : >"$out"
  case $mode in
    h2) SSL_CERT_FILE=$CA timeout -k 5 $((LOAD_T + 10)) h2load -t "$H2LOAD_THREADS" -c "$H2_CONNS" -m "$PER_CONN" -n "$N" \
          -T "${LOAD_T}s" -H 'accept: text/event-stream' "$url" >"$out" 2>&1 &
        LOAD_PID=$! ;;
    h1) SSL_CERT_FILE=$CA timeout -k 5 $((LOAD_T + 10)) h2load --h1 -t "$H2LOAD_THREADS" -c "$N" -m 1 -n "$N" \
          -T "${LOAD_T}s" -H 'accept: text/event-stream' "$url" >"$out" 2>&1 &
        LOAD_PID=$! ;;
  esac
  local streams=$N expect=$((EVENTS * N)) t_open=$EPOCHREALTIME
  if [[ $mode == pub ]]; then
    streams=0 expect=0 opened=1
  else
    for ((i = 0; i < OPEN_TIMEOUT * 5; i++)); do
      subs=$(metric "$port" 'sluice_subscribers{transport="sse"}')
      [[ $subs == "$N" ]] && { opened=1; break; }
      kill -0 "$HUB_PID" 2>/dev/null || break
      kill -0 "$LOAD_PID" 2>/dev/null || break
      sleep 0.2
    done
  fi
  local open_s
  open_s=$(python3 -c "print(f'{$EPOCHREALTIME - $t_open:.1f}')")
  subs=$(metric "$port" 'sluice_subscribers{transport="sse"}')
  conns=$(metric "$port" 'sluice_connections')
  conns=$(( ${conns:-1} - 1 ))  # minus the connection asking
  if ((!opened)); then
    echo "sse_h2_vs_h1: [$mode r$round] only ${subs:-?} of $N SSE subscribers after ${open_s}s" \
      "(hub alive: $(kill -0 "$HUB_PID" 2>/dev/null && echo yes || echo no), h2load alive: $(kill -0 "$LOAD_PID" 2>/dev/null && echo yes || echo no))" >&2
    curl -sS --max-time 2 --cacert "$CA" "https://127.0.0.1:$port/metrics" 2>/dev/null |
      grep -E '^sluice_(connections|subscribers|refused_total|tls_handshake)' >&2
    tail -n 15 "$out" >&2
    tail -n 10 "$log" >&2
    bad=1 note=streams-missing
  fi
  c0=$(cpu_ticks "$HUB_PID")
  sleep "$SETTLE"
  c1=$(cpu_ticks "$HUB_PID")
  idle_ticks=$((c1 - c0))
  rss1=$(rss_kib "$HUB_PID")
  echo "=== $mode round $round: hub pid $HUB_PID port $port; ${subs:-?} SSE subscribers on $conns connections" \
    "(open ${open_s}s); RSS ${rss0} -> ${rss1} KiB; idle CPU over the ${SETTLE}s settle: $idle_ticks ticks"
  line=$(timeout -k 5 $((pub_budget + 20)) python3 "$TMP/publish.py" "$port" "$CA" "$TOPIC" "$HUB_PID" \
    "$EVENTS" "$PAUSE_MS" "$PAYLOAD" "$expect" "$DELIVER_TIMEOUT" 2>"$TMP/pub-$mode-$round.err")
  rc=$?
  rss2=$(rss_kib "$HUB_PID")
  if [[ $line != RESULT* ]]; then
    echo "sse_h2_vs_h1: [$mode r$round] the publisher failed (exit $rc): $(head -c 400 "$TMP/pub-$mode-$round.err")" >&2
    line="RESULT ticks=-1 delivered=0 expected=$expect"
    bad=1 note=${note:-publisher-failed}
  fi
  [[ -s $TMP/pub-$mode-$round.err ]] && head -n 5 "$TMP/pub-$mode-$round.err" >&2
  if kill -0 "$HUB_PID" 2>/dev/null; then alive=1; else alive=0; bad=1; note=hub-died; fi
  echo "    publisher: ${line#RESULT }"
  # End the streams: the hub closes them on SIGTERM, then h2load prints its totals.
  stop_hub
  if [[ -n $LOAD_PID ]]; then
    for _ in $(seq 150); do kill -0 "$LOAD_PID" 2>/dev/null || break; sleep 0.1; done
    stop_load
  fi
  reqs=$(grep -m1 '^requests:' "$out" | sed 's/^requests: //; s/ /_/g; s/,//g')
  data_bytes=$(grep -m1 '^traffic:' "$out" | sed -E 's/.*\(([0-9]+)\) data.*/\1/')
  [[ -n $reqs ]] && echo "    h2load: $(grep -m1 '^requests:' "$out"); $(grep -m1 '^traffic:' "$out")"
  local d
  d=$(sed -E 's/.* delivered=([0-9-]+).*/\1/' <<<"$line")
  if ((d != expect)); then
    echo "sse_h2_vs_h1: [$mode r$round] delivered $d of the $expect expected" >&2
    bad=1 note=${note:-deliveries-missing}
  fi
  if grep -qiE 'error|panic|warn' "$log"; then
    echo "    hub log (warnings/errors, first 5):"
    grep -iE 'error|panic|warn' "$log" | head -n 5 | cut -c1-300 | sed 's/^/      /'
  fi
  echo "${line} mode=$mode round=$round ok=$([[ -z $note ]] && echo 1 || echo 0) note=${note:-none} streams=$streams" \
    "subs=${subs:-0} conns=$conns rss0=$rss0 rss1=$rss1 rss2=${rss2:-0} idle_ticks=$idle_ticks settle=$SETTLE" \
    "alive=$alive h2load_data=${data_bytes:-0} h2load_reqs=${reqs:-none}" >>"$RESULTS"
}

read -ra MODE_LIST <<<"$MODES"
((BASELINE)) && MODE_LIST+=(pub)
for ((r = 1; r <= ROUNDS; r++)); do
  order=("${MODE_LIST[@]}")
  if ((r % 2 == 0)); then  # ABBA: reverse every other round
    order=()
    for ((k = ${#MODE_LIST[@]} - 1; k >= 0; k--)); do order+=("${MODE_LIST[k]}"); done
  fi
  for mode in "${order[@]}"; do run_one "$mode" "$r"; done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

python3 - "$RESULTS" "$CLK_TCK" "$N" <<'EOF' || bad=1
import statistics as st, sys

path, clk, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs = []
for line in open(path):
    kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
    runs.append(kv)
num = lambda kv, k, d=0.0: float(kv.get(k, d)) if kv.get(k, "") not in ("", "none") else d

pub = [num(r, "ticks") / clk for r in runs if r["mode"] == "pub" and r.get("ok") == "1"]
pub_sched = [num(r, "sched_ns") / 1e9 for r in runs if r["mode"] == "pub" and r.get("ok") == "1"]
pub_cpu = st.mean(pub) if pub else None
pub_cpu_sched = st.mean(pub_sched) if pub_sched else None

print("per run:")
print(f"{'mode':4} {'rnd':>3} {'conns':>5} {'subs':>5} {'RSS0 MiB':>8} {'RSS1 MiB':>8} {'KiB/str':>7} "
      f"{'KiB/str+E':>9} {'CPU s':>6} {'sched s':>7} {'µs/dlv':>7} {'net µs':>7} {'deliveries':>10} "
      f"{'win s':>6} {'pub s':>6} {'wr/dlv':>6} {'wB/dlv':>6} {'cli B/str':>9} {'evt B/str':>9} {'cli-evt':>7} note")
agg = {}
for r in runs:
    m = r["mode"]
    s = int(num(r, "streams"))
    d = int(num(r, "delivered"))
    cpu = num(r, "ticks") / clk
    sch = num(r, "sched_ns") / 1e9
    kib = (num(r, "rss1") - num(r, "rss0")) / s if s else float("nan")
    kib2 = (num(r, "rss2") - num(r, "rss0")) / s if s else float("nan")
    us = cpu / d * 1e6 if d else float("nan")
    net = (cpu - pub_cpu) / d * 1e6 if d and pub_cpu is not None else float("nan")
    cli = num(r, "h2load_data") / s if s else float("nan")
    wr = num(r, "syscw", -1) / d if d and num(r, "syscw", -1) >= 0 else float("nan")
    wb = num(r, "wchar", -1) / d if d and num(r, "wchar", -1) >= 0 else float("nan")
    evt = num(r, "frame_bytes")
    print(f"{m:4} {r['round']:>3} {r.get('conns', '?'):>5} {r.get('subs', '?'):>5} {num(r, 'rss0') / 1024:8.1f} "
          f"{num(r, 'rss1') / 1024:8.1f} {kib:7.2f} {kib2:9.2f} {cpu:6.2f} {sch:7.3f} {us:7.2f} {net:7.2f} "
          f"{d:>10} {num(r, 'window_s'):6.2f} {num(r, 'publish_s'):6.2f} {wr:6.3f} {wb:6.1f} {cli:9.0f} {evt:9.0f} "
          f"{cli - evt:7.0f} "
          f"{r.get('note', '')}{'' if r.get('delivered_after', r.get('delivered')) == r.get('delivered') else ' after=' + r.get('delivered_after')}")
    a = agg.setdefault(m, dict(kib=[], us=[], net=[], us_sched=[], net_sched=[], d=[], exp=[], conns=[], s=s, cpu=[],
                              sched=[], ok=True))
    a["ok"] &= r.get("ok") == "1"
    a["conns"].append(r.get("conns", "?"))
    a["d"].append(d); a["exp"].append(int(num(r, "expected")))
    a["cpu"].append(cpu)
    a["sched"].append(sch)
    a.setdefault("wr", []).append(wr) if wr == wr else None
    a.setdefault("syscw", []).append(num(r, "syscw", -1))
    if s:
        a["kib"].append(kib)
    if d:
        a["us"].append(us)
        a["us_sched"].append(sch / d * 1e6)
        if pub_cpu is not None:
            a["net"].append(net)
            a["net_sched"].append((sch - pub_cpu_sched) / d * 1e6)

fmt = lambda xs, p=2: (f"{st.mean(xs):.{p}f}" + (f" ({min(xs):.{p}f}-{max(xs):.{p}f})" if len(xs) > 1 else "")) if xs else "-"
print()
print("summary (mean over rounds, range in brackets):")
print(f"{'mode':4} {'connections':>11} {'streams':>7} {'RSS KiB/stream':>20} {'CPU µs/delivery':>20} "
      f"{'net µs/delivery':>20} {'sched µs/dlv':>18} {'net sched µs/dlv':>18} {'deliveries counted':>22}")
for m in ("h2", "h1", "pub"):
    if m not in agg:
        continue
    a = agg[m]
    conns = "/".join(sorted(set(a["conns"])))
    dl = "+".join(str(x) for x in a["d"]) + f" of {sum(a['exp'])}"
    if m == "pub":
        print(f"{m:4} {conns:>11} {0:>7} {'-':>20} {'-':>20} {'-':>20} {'-':>18} {'-':>18} {dl:>22}"
              f"   publish-only hub CPU per run: {fmt(a['cpu'], 3)} s (sched {fmt(a['sched'], 3)} s,"
              f" {fmt(a['syscw'], 0)} write syscalls)")
        continue
    print(f"{m:4} {conns:>11} {a['s']:>7} {fmt(a['kib']):>20} {fmt(a['us']):>20} {fmt(a['net']):>20} "
          f"{fmt(a['us_sched']):>18} {fmt(a['net_sched']):>18} {dl:>22}{'' if a['ok'] else '  (INCOMPLETE)'}")
if "h2" in agg and "h1" in agg:
    h2, h1 = agg["h2"], agg["h1"]
    ratio = lambda k: (f"{st.mean(h2[k]) / st.mean(h1[k]):.2f}" if h2.get(k) and h1.get(k) and st.mean(h1[k]) else "-")
    per_conn = "-"
    if h2.get("wr") and h2["conns"][0].isdigit() and int(h2["conns"][0]) > 0:
        per_conn = f"{st.mean(h2['wr']) * h2['s'] / int(h2['conns'][0]):.1f}"
    print(f"write syscalls per delivery: h2 {fmt(h2.get('wr', []), 3)}, h1 {fmt(h1.get('wr', []), 3)}"
          f" (h2: {per_conn} writes per connection per event, {h2['s'] // max(1, int(h2['conns'][0]) if h2['conns'][0].isdigit() else 1)} streams each)")
    if h1.get("wr") and min(h1["wr"]) < 0.95:
        print(f"NOTE: h1 made {min(h1['wr']):.2f}-{max(h1['wr']):.2f} write syscalls per delivery (< 1): the hub fell behind"
              " the publish pace and wrote several events per write (saturated regime), which makes h1 cheaper per"
              " delivery than at a pace it keeps up with; PAUSE_MS=20 measures the per-event cost.")
    print(f"ratio h2/h1: RSS/stream {ratio('kib')}, CPU/delivery {ratio('us')}, net CPU/delivery {ratio('net')},"
          f" sched CPU/delivery {ratio('us_sched')}, net sched CPU/delivery {ratio('net_sched')}")
print("(CPU = hub utime+stime over the publish window / CLK_TCK; net = minus the mean publish-only (pub) CPU;"
      " sched = sum of task schedstat ns; KiB/str+E = RSS after the events; cli B/str = h2load data bytes per"
      " stream, evt B/str = SSE bytes of the events per stream, cli-evt = stream preamble (retry + id lines, ~39 B) +"
      " the retry line sent at shutdown (13 B); wr/dlv, wB/dlv = the hub's write syscalls and bytes written"
      " (/proc/<pid>/io syscw, wchar) per delivery over the window)")
EOF
exit $bad
