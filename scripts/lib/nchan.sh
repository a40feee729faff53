# Sourced by the bench scripts that stand nchan (Debian nginx + libnginx-mod-nchan) beside a
# sluice server: scripts/bench/longpoll_fanout.sh and scripts/bench/hub_broadcast.sh. One nginx
# config for both, so the two comparisons measure the same nchan.
#
#   ensure_nchan                      installs nginx + the module with apt-get when missing
#   start_nchan DIR ADDR SUBSCRIBERS SUB_TIMEOUT
#       DIR: a scratch directory (config, logs, pid); ADDR: 127.0.0.1:PORT;
#       SUBSCRIBERS: what `nchan_subscriber` allows on /sub/<channel> ("longpoll", or
#       "websocket eventsource longpoll": nchan picks by the request: an Upgrade → WebSocket,
#       Accept: text/event-stream → EventSource, anything else → long-poll);
#       SUB_TIMEOUT: nchan_subscriber_timeout (0 = never time a subscriber out).
#     Publishes go to POST /pub/<channel>, GET /stats is nchan_stub_status ("subscribers: N").
#     Sets NGINX_MASTER and NGINX_WORKERS (comma-separated pids).
#   stop_nchan                        graceful stop, waits for the master to go

NCHAN_SO=/usr/lib/nginx/modules/ngx_nchan_module.so
NGINX_MASTER=
NGINX_WORKERS=

ensure_nchan() {
    if [ ! -e "$NCHAN_SO" ] || ! command -v nginx >/dev/null; then
        echo "installing nginx + libnginx-mod-nchan" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-nchan >/dev/null
    fi
}

nchan_wait_for_port() { # host:port
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listening on $1" >&2
    return 1
}

start_nchan() {
    local p=$1 addr=$2 subscribers=$3 sub_timeout=$4
    mkdir -p "$p/logs" "$p/tmp"
    rm -f "$p/nginx.pid"
    cat >"$p/nginx.conf" <<CONF
load_module $NCHAN_SO;
daemon off;
master_process on;
worker_processes ${NCHAN_WORKERS:-1};
worker_rlimit_nofile 20000;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
error_log $p/logs/error.log warn;
pid $p/nginx.pid;
events { worker_connections 19000; }
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
        listen $addr backlog=16384;
        location = /stats { nchan_stub_status; }
        location ~ ^/sub/([\w.]+)$ {
            nchan_subscriber $subscribers;
            nchan_channel_id \$1;
            nchan_subscriber_first_message newest;
            nchan_subscriber_timeout $sub_timeout;
        }
        location ~ ^/pub/([\w.]+)$ {
            nchan_publisher;
            nchan_channel_id \$1;
            nchan_message_buffer_length 10000;
            nchan_message_timeout 1h;
        }
    }
}
CONF
    nginx -p "$p" -c "$p/nginx.conf" 2>>"$p/logs/stderr.log" &
    nchan_wait_for_port "$addr"
    for _ in $(seq 1 100); do [ -s "$p/nginx.pid" ] && break; sleep 0.05; done
    NGINX_MASTER=$(cat "$p/nginx.pid")
    NGINX_WORKERS=$(pgrep -P "$NGINX_MASTER" | paste -sd, -)
    [ -n "$NGINX_WORKERS" ]
}

stop_nchan() {
    [ -n "$NGINX_MASTER" ] || return 0
    kill -QUIT "$NGINX_MASTER" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$NGINX_MASTER" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$NGINX_MASTER" 2>/dev/null || true
    NGINX_MASTER=
    NGINX_WORKERS=
}
