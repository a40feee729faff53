# Sourced by the WebSocket bench scripts (scripts/bench/ws_compare.sh, ws_idle_mem.sh,
# axum_compare.sh): cargo builds serialised with flock, one server process at a time (start,
# wait for its "listening on" line, stop; killed on exit), the fd limit for many idle
# connections, and the awk helpers their tables use.
#
# Reads NICE (optional: the niceness servers and load tool run at, root only for < 0) and PIN
# (optional, PIN=1: the server on CPU 0 and the load tool on CPU 1, with taskset — on a 2-core
# machine the scheduler otherwise puts them on one core in some runs and on two in others, and
# CPU per message differs between the two placements by up to 1.5×).
# Sets NICE_CMD (prefix a command with "${NICE_CMD[@]}"), LOAD_CMD (the same for the load
# tool), SERVER_PID, and an EXIT trap.

NICE_CMD=()
if [[ -n "${NICE:-}" ]]; then NICE_CMD=(nice -n "$NICE"); fi
LOAD_CMD=("${NICE_CMD[@]}")
if [[ "${PIN:-0}" == 1 ]]; then
    LOAD_CMD=(taskset -c 1 "${NICE_CMD[@]}")
    NICE_CMD=(taskset -c 0 "${NICE_CMD[@]}")
fi
SERVER_PID=""

# bench_cargo ARGS...: cargo, serialised with `flock /tmp/cargo.lock` where flock exists
# (two cargo builds on a 2-core machine fight, and the timings of a run next to one are noise).
bench_cargo() {
    if command -v flock >/dev/null; then
        flock /tmp/cargo.lock cargo "$@"
    else
        cargo "$@"
    fi
}

bench_cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
}
trap bench_cleanup EXIT

# start_server LOG CMD...: starts CMD at $NICE with its output in LOG, sets SERVER_PID (nice
# execs the program, so it is the server's own pid) and waits at most 10 s for "listening on".
start_server() {
    local log=$1
    shift
    "${NICE_CMD[@]}" "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        if grep -q "listening on" "$log"; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "server did not start: $*" >&2
    cat "$log" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# raise_fd_limit NEED: soft fd limit up to the hard one; exits if that is still below NEED.
raise_fd_limit() {
    ulimit -n "$(ulimit -Hn)"
    if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt "$1" ]]; then
        echo "fd limit $(ulimit -n) is below the $1 needed" >&2
        exit 1
    fi
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# cpu_rounds RESULTS: for every size:conns case of $CASES, $ROUNDS rounds of every label in
# ORDER, each on a fresh server: the caller's `bench_start LABEL PORT LOG` starts it (with
# start_server), `bench_url LABEL PORT` prints the URL ws_load opens; LOAD_EXTRA (array) holds
# ws_load's further arguments. Reads R (release dir), OUT, WARMUP, DURATION; moves the global
# `port` on by one per run. The RESULT lines (with round=N) go to RESULTS and stdout.
cpu_rounds() {
    local results=$1 case size conns round name line
    : >"$results"
    for case in $CASES; do
        size=${case%%:*}
        conns=${case##*:}
        for round in $(seq "$ROUNDS"); do
            for name in "${ORDER[@]}"; do
                port=$((port + 1))
                bench_start "$name" "$port" "$OUT/server-$name-$size-$round.log"
                line=$("${LOAD_CMD[@]}" timeout 120 "$R/ws_load" --url "$(bench_url "$name" "$port")" \
                    "${LOAD_EXTRA[@]}" --conns "$conns" --size "$size" --warmup "$WARMUP" \
                    --duration "$DURATION" --pid "$SERVER_PID" --label "$name" |
                    tee "$OUT/run-$name-$size-$round.txt" | grep '^RESULT')
                stop_server
                echo "$line round=$round" | tee -a "$results"
            done
        done
    done
}

# awk functions for the RESULT lines of ws_load, prepended to a table program:
#   awk "$BENCH_AWK_LIB"'/^RESULT/ { add(key, kv("field")) } END { print median(key) }'
# kv(field): the value of field=value on the current line; add(key, val) appends to the
# global lists cnt[]/vals[]; median(key) of what was added under key.
# shellcheck disable=SC2034  # used by the sourcing scripts
BENCH_AWK_LIB='
function kv(field,   i, a) {
    for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == field) return a[2] }
    return ""
}
function add(key, val) { cnt[key]++; vals[key, cnt[key]] = val }
function median(key,   n, v, i, j, t) {
    n = cnt[key]
    for (i = 1; i <= n; i++) v[i] = vals[key, i]
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
# The CPU table: collect() on every RESULT line (cases in order of appearance in cases[1..ncase]),
# then cpu_header(what) and cpu_row(case, label) per row, which prints the medians and returns
# the median server CPU per message (0 when that label has no run in that case).
function collect(   c, s, sep) {
    c = kv("size") " B x " kv("conns"); s = kv("label")
    if (!(c in seen)) { seen[c] = 1; cases[++ncase] = c }
    add(c SUBSEP s SUBSEP "cpu", kv("server_cpu_us_per_msg"))
    add(c SUBSEP s SUBSEP "rate", kv("msgs_per_s"))
    add(c SUBSEP s SUBSEP "p50", kv("p50_us"))
    add(c SUBSEP s SUBSEP "p99", kv("p99_us"))
    add(c SUBSEP s SUBSEP "sutil", kv("server_util"))
    add(c SUBSEP s SUBSEP "cutil", kv("client_util"))
    sep = ((c SUBSEP s) in all) ? "/" : ""
    all[c SUBSEP s] = all[c SUBSEP s] sep sprintf("%.2f", kv("server_cpu_us_per_msg"))
}
function cpu_header(what) {
    printf "%-16s %-15s %12s %-20s %10s %9s %9s %8s %8s\n", "case", what, "CPU us/msg", "(per round)", "msg/s", "p50 us", "p99 us", "srv use", "gen use"
}
function cpu_row(c, s,   m) {
    if (!((c SUBSEP s SUBSEP "cpu") in cnt)) return 0
    m = median(c SUBSEP s SUBSEP "cpu")
    printf "%-16s %-15s %12.2f %-20s %10.0f %9.1f %9.1f %7.0f%% %7.0f%%\n", c, s, m, all[c SUBSEP s], median(c SUBSEP s SUBSEP "rate"), median(c SUBSEP s SUBSEP "p50"), median(c SUBSEP s SUBSEP "p99"), 100 * median(c SUBSEP s SUBSEP "sutil"), 100 * median(c SUBSEP s SUBSEP "cutil")
    return m
}
'
