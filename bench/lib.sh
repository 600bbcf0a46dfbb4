# Shared by bench/*.sh (sourced, not run): logging, cleanup of every process a script
# started (by PID), the measuring helpers, and what several scripts start or report alike.
# Every helper is named bench_*, so that a script's own functions (its `measure`, its
# servers) can never replace one of them by accident.
#
# The sourcing script sets ROOT and LOGS (where its logs are) and fills MAIN_PIDS /
# EXTRA_PIDS / LOADGEN_PID. The other helpers use, from the sourcing script where they
# need them: WORK (its output folder, with cert.pem / key.pem), USHER_BIN, SKIP_BUILD,
# OWN_BIN, ROOM, USHER_PORT / ADMIN_PORT (defaults for the one-node usher helpers),
# UPSTREAM_PORT, SERVER_CORE, LOAD_CORE (taskset lists), RAW (its per-run table), CLK_TCK,
# NOISE_MAX, NOISE_RETRIES, QUIET_WAIT, and BENCH_LABELS (an associative array: the names
# bench_label gives the report's rows).
# shellcheck shell=bash

# Settings a script may change after sourcing this file:
BENCH_NOISE_COLUMN=other_pct      # RAW's column saying how much a run was disturbed (% of a core)
BENCH_NOISE_WHAT="something else" # what that column counts, for the "run disturbed" line
BENCH_QUIET_FIRST=1               # 0 = the script's measure function waits for quiet itself
BENCH_ON_EXIT=""                  # a function of the script's, run once its processes are gone

bench_log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
bench_die() { bench_log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------- cleanup
# MAIN_PIDS get SIGTERM (nginx masters, usher, a running load generator); EXTRA_PIDS
# (nginx workers) are only SIGKILLed if they outlive their master. Everything is by PID.
MAIN_PIDS=()
EXTRA_PIDS=()
LOADGEN_PID=""

bench_alive() {  # true while $1 exists and is not a zombie
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z ]]
}

bench_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    # A load generator still running (interrupted run): kill its children, then it.
    if [[ -n $LOADGEN_PID ]] && bench_alive "$LOADGEN_PID"; then
        for c in $(ps -o pid= --ppid "$LOADGEN_PID" 2>/dev/null); do kill -TERM "$c" 2>/dev/null; done
        kill -TERM "$LOADGEN_PID" 2>/dev/null
    fi
    for pid in "${MAIN_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${MAIN_PIDS[@]}"; do
        for _ in $(seq 50); do bench_alive "$pid" || break; sleep 0.1; done
        bench_alive "$pid" && { bench_log "pid $pid ignored SIGTERM; SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
    done
    for pid in "${EXTRA_PIDS[@]}"; do bench_alive "$pid" && kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
    [[ -z $BENCH_ON_EXIT ]] || "$BENCH_ON_EXIT"
    [[ $rc -ne 0 ]] && bench_log "exited with status $rc; logs are in $LOGS"
    exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_forget_pid() {  # drop $1 from MAIN_PIDS / EXTRA_PIDS once it is gone (PIDs get reused)
    local p keep=()
    for p in "${MAIN_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    MAIN_PIDS=("${keep[@]}")
    keep=()
    for p in "${EXTRA_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    EXTRA_PIDS=("${keep[@]}")
}

bench_stop_pid() {  # <pid> <name>: SIGTERM, wait for it to exit (graceful shutdown), report anything unusual
    local pid=$1 name=$2 rc=0 killed=0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do bench_alive "$pid" || break; sleep 0.1; done
    if bench_alive "$pid"; then
        bench_log "WARNING: $name still running 15 s after SIGTERM (pid $pid); SIGKILL"
        kill -KILL "$pid" 2>/dev/null; killed=1
    fi
    wait "$pid" 2>/dev/null || rc=$?
    ((killed)) || [[ $rc -eq 0 ]] || bench_log "WARNING: $name exited with status $rc after SIGTERM"
    bench_forget_pid "$pid"
}

# ---------------------------------------------------------------------------- measuring
bench_proc_ticks() {  # utime+stime of pid $1 (all threads), in clock ticks
    # Strip "pid (comm) " first: fields then start at state, so utime=$12, stime=$13.
    sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

bench_core_ticks() {  # "busy total irq+softirq steal" jiffies of CPU core $1 from /proc/stat
    # Fields: user nice system idle iowait irq softirq steal. Steal (time the hypervisor
    # gave our vCPU to someone else) counts as busy: the core was not available to us.
    awk -v c="cpu$1" '$1 == c {b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6, $7 + $8, $9}' /proc/stat
}

bench_to_ms() {  # wrk latency "512.00us" / "1.23ms" / "1.01s" -> milliseconds
    awk -v v="$1" 'BEGIN { n = v; sub(/[a-z]+$/, "", n); u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.4f", n }'
}

bench_secs() {  # bash `times` value "1m2.345s" -> seconds
    awk -v v="$1" 'BEGIN { split(v, a, "m"); sub(/s$/, "", a[2]); printf "%.3f", a[1] * 60 + a[2] }'
}

bench_median() {  # numbers on stdin -> median
    sort -g | awk '{a[NR] = $1} END { if (NR == 0) { print "nan"; exit }
        if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

bench_now() { date +%s.%N; }
bench_elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {print b - a}'; }  # <t0> <t1> from bench_now -> seconds

bench_wait_for() {  # $1 = description, rest = command that succeeds once ready
    local what=$1; shift
    for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    bench_die "$what did not become ready (logs in $LOGS)"
}

# Other work on the machine steals CPU from the pinned processes: wait for quiet before a
# run (the sourcing script sets NOISE_MAX, QUIET_WAIT and CLK_TCK).
bench_background_busy() {  # % of one core busy machine-wide over the next second
    local a b
    a=$(awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat)
    sleep 1
    b=$(awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat)
    echo $((100 * (b - a) / CLK_TCK))
}
bench_wait_quiet() {  # also gives the previous run's connections a second to close
    local waited=0 busy
    while :; do
        busy=$(bench_background_busy)
        ((busy <= NOISE_MAX)) && return 0
        if ((waited >= QUIET_WAIT)); then
            bench_log "WARNING: machine still ${busy}% busy after ${QUIET_WAIT}s of waiting; measuring anyway"
            return 0
        fi
        ((waited == 0)) && bench_log "machine is busy (${busy}% of a core, servers idle); waiting up to ${QUIET_WAIT}s for quiet"
        sleep 4
        waited=$((waited + 5))
    done
}

# bench_cpu_split <wall s> <core A before> <core A after> <core B before> <core B after> <item>...
# Where the two cores' time went over a run of <wall> seconds (core snapshots from
# bench_core_ticks). Each item is a process's CPU, as "ticks:<before>:<after>"
# (bench_proc_ticks) or "secs:<seconds>" (the load generator's, from bench_loadgen_cpu_s).
# Prints, tab-separated, in % of one core: each item, irq+softirq, other (busy time on both
# cores charged to no item), steal; then how busy core A and core B were.
bench_cpu_split() {
    local wall=$1 a0=$2 a1=$3 b0=$4 b1=$5; shift 5
    awk -v OFS='\t' -v hz="$CLK_TCK" -v wall="$wall" -v a0="$a0" -v a1="$a1" -v b0="$b0" -v b1="$b1" \
        -v items="$*" '
        function pct(x) { return sprintf("%.1f", 100 * x / wall) }
        BEGIN {
            split(a0, A0, " "); split(a1, A1, " "); split(b0, B0, " "); split(b1, B1, " ")
            busy = (A1[1] - A0[1] + B1[1] - B0[1]) / hz
            irq = (A1[3] - A0[3] + B1[3] - B0[3]) / hz
            steal = (A1[4] - A0[4] + B1[4] - B0[4]) / hz
            n = split(items, it, " "); other = busy; out = ""
            for (i = 1; i <= n; i++) {
                split(it[i], f, ":")
                s = f[1] == "ticks" ? (f[3] - f[2]) / hz : f[2]
                other = other - s
                out = out pct(s) OFS
            }
            if (other < 0) other = 0   # tick-granularity rounding
            print out pct(irq), pct(other), pct(steal),
                  sprintf("%.1f", 100 * (A1[1] - A0[1]) / (A1[2] - A0[2])),
                  sprintf("%.1f", 100 * (B1[1] - B0[1]) / (B1[2] - B0[2]))
        }'
}
bench_us_per_req() {  # <ticks before> <ticks after> <requests> -> CPU µs per request
    awk -v a="$1" -v b="$2" -v n="$3" -v hz="$CLK_TCK" 'BEGIN {cpu = (b - a) / hz; printf "%.2f", cpu * 1e6 / n}'
}

# ---------------------------------------------------------------------------- setup
bench_need_tools() {  # <command>:<apt package>...: install the missing ones, check the basics
    local t need=()
    for t in "$@"; do command -v "${t%%:*}" >/dev/null || need+=("${t#*:}"); done
    if ((${#need[@]})); then
        bench_log "installing: ${need[*]}"
        local sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo
        $sudo apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${need[@]}"
    fi
    for t in taskset ss awk sort; do command -v "$t" >/dev/null || bench_die "missing tool: $t"; done
}

bench_ports_free() {  # <port>...: a leftover process would silently be benchmarked instead
    local p
    for p in "$@"; do
        [[ -z $(ss -Htln "sport = :$p") ]] || bench_die "port $p is in use: $(ss -Htlnp "sport = :$p")"
    done
}

bench_build_usher() {  # cargo build --release (log in $WORK), unless SKIP_BUILD=1 or OWN_BIN=1
    if ((${OWN_BIN:-0})); then
        bench_log "USHER_BIN given: using ${USHER_BIN:?} (not built here)"
    elif [[ $SKIP_BUILD == 1 ]]; then
        bench_log "SKIP_BUILD=1: using the existing $USHER_BIN"
    else
        bench_log "building usher (cargo build --release; log: ${WORK#"$ROOT"/}/cargo-build.log)"
        (cd "$ROOT" && cargo build --release) >"$WORK/cargo-build.log" 2>&1 \
            || { tail -20 "$WORK/cargo-build.log" >&2; bench_die "cargo build failed"; }
    fi
    [[ -x $USHER_BIN ]] || bench_die "$USHER_BIN not found after build"
}

# A server certificate (CA:FALSE, serverAuth), not openssl's default CA one, so strict
# clients (webpki: `usher rush --ca`) accept it as what it is.
bench_make_cert() {  # ECDSA P-256 self-signed certificate: $WORK/cert.pem, $WORK/key.pem
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 2 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
        >"$WORK/openssl.log" 2>&1 \
        || { cat "$WORK/openssl.log" >&2; bench_die "certificate generation failed"; }
}

# bench_tls_probe <port> [openssl s_client options...]: what a TLS handshake with
# 127.0.0.1:<port> negotiated; sets TLS_PROTO, TLS_CIPHER and TLS_KX (the key exchange
# group, when openssl names it).
# shellcheck disable=SC2034 # TLS_* are for the sourcing script
bench_tls_probe() {
    local port=$1 out; shift
    out=$(openssl s_client -connect "127.0.0.1:$port" "$@" -brief </dev/null 2>&1 | tr -d '\0' || true)
    TLS_PROTO=$(awk -F': ' '/^Protocol version/{print $2}' <<<"$out")
    TLS_CIPHER=$(awk -F': ' '/^Ciphersuite/{print $2}' <<<"$out")
    TLS_KX=$(awk -F': ' '/^(Server Temp Key|Negotiated TLS1.3 group)/{print $2; exit}' <<<"$out")
}

# ---------------------------------------------------------------------------- nginx
# nginx keeps everything (pid, logs, temp dirs) under its own directory: nothing in /etc
# or /var is touched.
bench_nginx_common() {  # <dir>: the main context of an nginx.conf, one worker
    cat <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
EOF
}
bench_nginx_temp_paths() {  # <dir>: the http context's temp paths, under <dir>
    local t
    for t in client_body proxy fastcgi uwsgi scgi; do echo "    ${t}_temp_path $1/tmp_$t;"; done
}

bench_first_child() {  # <master pid> <what> <log file>: waits for the master's first child, prints it
    local master=$1 what=$2 logf=$3 child=""
    for _ in $(seq 100); do
        child=$(ps -o pid= --ppid "$master" 2>/dev/null | head -1 | tr -d ' ' || true)
        [[ -n $child ]] && break
        bench_alive "$master" || bench_die "$what exited: $(cat "$logf" 2>/dev/null)"
        sleep 0.1
    done
    [[ -n $child ]] || bench_die "$what started no worker (log: $logf)"
    echo "$child"
}

bench_start_nginx() {  # <dir with nginx.conf> <cores>; sets NGINX_MASTER / NGINX_WORKER
    local dir=$1 core=$2
    nginx -t -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/config-test.log" 2>&1 \
        || { cat "$dir/config-test.log" >&2; bench_die "nginx config $dir/nginx.conf is invalid"; }
    taskset -c "$core" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
        >"$dir/stdout.log" 2>&1 &
    NGINX_MASTER=$!
    MAIN_PIDS+=("$NGINX_MASTER")
    NGINX_WORKER=$(bench_first_child "$NGINX_MASTER" "nginx ($dir)" "$dir/error.log")
    EXTRA_PIDS+=("$NGINX_WORKER")
}

bench_stop_nginx() {  # the one bench_start_nginx started last
    kill -TERM "$NGINX_MASTER" 2>/dev/null || true
    for _ in $(seq 100); do bench_alive "$NGINX_MASTER" || break; sleep 0.1; done
    bench_alive "$NGINX_MASTER" && kill -KILL "$NGINX_MASTER" 2>/dev/null
    bench_alive "$NGINX_WORKER" && kill -KILL "$NGINX_WORKER" 2>/dev/null
    wait "$NGINX_MASTER" 2>/dev/null || true
    bench_forget_pid "$NGINX_MASTER"; bench_forget_pid "$NGINX_WORKER"
}

# ---------------------------------------------------------------------------- usher
# bench_usher_config <state dir> <public port> <admin port> [more [state] lines] [more sections]:
# one worker thread, warn-level logs, TLS 1.3 only, one paused room on every path:
# everybody who joins waits and nobody is called, so the line only grows. abandon_after is
# long so nobody is skipped for not polling during the run.
bench_usher_config() {
    cat <<EOC
[listen]
public = "127.0.0.1:$2"
admin = "127.0.0.1:$3"

[tls]
cert = "$WORK/cert.pem"
key = "$WORK/key.pem"
min_version = "1.3"

[upstream]
servers = ["127.0.0.1:$UPSTREAM_PORT"]

[runtime]
workers = 1

[log]
level = "warn"

[state]
dir = "$1"
${4:-}
${5:-}

[[rooms]]
name = "$ROOM"
paths = ["/"]
mode = "paused"
max_active = 1
abandon_after = "1h"
EOC
}

USHER_PID=""
USHER_NAME=""
USHER_LOGS=()
# bench_start_usher <name> [public port] [admin port] [[state] lines] [more sections]:
# usher on SERVER_CORE with a fresh state dir $WORK/usher-NAME/state; waits for /readyz;
# sets USHER_PID. Ports default to USHER_PORT / ADMIN_PORT.
bench_start_usher() {
    USHER_NAME=$1
    local port=${2:-$USHER_PORT} admin=${3:-$ADMIN_PORT} dir=$WORK/usher-$1
    mkdir -p "$dir"
    bench_usher_config "$dir/state" "$port" "$admin" "${4:-}" "${5:-}" >"$dir/usher.toml"
    for _ in $(seq 100); do [[ -z $(ss -Htln "sport = :$port") ]] && break; sleep 0.1; done
    taskset -c "$SERVER_CORE" "$USHER_BIN" proxy -c "$dir/usher.toml" >"$dir/usher.log" 2>&1 &
    USHER_PID=$!
    MAIN_PIDS+=("$USHER_PID")
    USHER_LOGS+=("$dir/usher.log")
    local ready=0
    for _ in $(seq 100); do
        bench_alive "$USHER_PID" || bench_die "usher ($1) exited: $(cat "$dir/usher.log")"
        [[ $(curl -s "http://127.0.0.1:$admin/readyz") == ready ]] && { ready=1; break; }
        sleep 0.1
    done
    ((ready)) || bench_die "usher ($1) did not report ready"
}

bench_stop_usher() {  # the one bench_start_usher started last
    bench_stop_pid "$USHER_PID" "usher ($USHER_NAME)"
    USHER_PID=""
}

# bench_waiting_count [admin port]: usher_room_visitors{state="waiting"} of ROOM from
# /metrics (refreshed every 100 ms)
bench_waiting_count() {
    local m
    m=$(curl -sf "http://127.0.0.1:${1:-$ADMIN_PORT}/metrics" || true)
    awk -v m="usher_room_visitors{room=\"$ROOM\",state=\"waiting\"}" '$1 == m {print $2; f = 1}
        END {if (!f) print "missing"}' <<<"$m"
}
# shellcheck disable=SC2120 # the admin port is optional
bench_waiting_settled() {  # [admin port]: the waiting count once two reads 0.3 s apart agree
    local a b
    a=$(bench_waiting_count "$@")
    for _ in $(seq 50); do
        sleep 0.3; b=$(bench_waiting_count "$@")
        [[ $a == "$b" ]] && { echo "$b"; return 0; }
        a=$b
    done
    echo "$b"
}

# bench_curl_usher <path> [curl args...]: HTTPS to usher on USHER_PORT, body then "|code"
# on the last line
bench_curl_usher() {
    local path=$1; shift
    curl -sS --cacert "$WORK/cert.pem" -w '\n|%{http_code}' "$@" "https://127.0.0.1:$USHER_PORT$path" || true
}
bench_join_one() {  # one join with curl; sets JOIN_BODY, TICKET; dies on anything unexpected
    local got
    got=$(bench_curl_usher "/_usher/join?room=$ROOM" -X POST)
    JOIN_BODY=${got%$'\n|'*}
    [[ ${got##*|} == 200 && $JOIN_BODY == *'"state":"paused"'* ]] \
        || bench_die "POST /_usher/join?room=$ROOM returned unexpected: $(printf %q "$got")"
    TICKET=$(sed -n 's/.*"ticket":"\([^"]*\)".*/\1/p' <<<"$JOIN_BODY")
    [[ -n $TICKET ]] || bench_die "no ticket in the join answer: $JOIN_BODY"
}
bench_status_of() {  # $1 = ticket; prints the status body; dies unless 200 + paused
    local got
    got=$(bench_curl_usher "/_usher/status?room=$ROOM" -H "Cookie: usher_ticket=$1")
    [[ ${got##*|} == 200 && $got == *'"state":"paused"'* ]] \
        || bench_die "GET /_usher/status?room=$ROOM (cookie ticket) returned unexpected: $(printf %q "$got")"
    printf '%s' "${got%$'\n|'*}"
}
bench_json_num() {  # $1 = key, $2 = json -> number
    sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$2"
}

# ---------------------------------------------------------------------------- load generator
# Load generator on LOAD_CORE; its own CPU time (user+sys, from the subshell's `times`)
# goes to <log>.times. Started in the background so Ctrl-C / SIGTERM reach the trap at once.
bench_loadgen_start() {  # <log> <cmd...>
    local logf=$1; shift
    ( rc=0; taskset -c "$LOAD_CORE" "$@" >"$logf" 2>&1 || rc=$?; times >"$logf.times"; exit "$rc" ) &
    LOADGEN_PID=$!
    LOADGEN_LOG=$logf
    LOADGEN_CMD="$*"
}
bench_loadgen_wait() {
    local rc=0
    wait "$LOADGEN_PID" || rc=$?
    LOADGEN_PID=""
    [[ $rc -eq 0 ]] || { cat "$LOADGEN_LOG" >&2; bench_die "load generator failed (status $rc): $LOADGEN_CMD"; }
}
bench_loadgen() { bench_loadgen_start "$@"; bench_loadgen_wait; }  # <log> <cmd...>: start it, wait for it
bench_loadgen_cpu_s() {  # <log>: the load generator's user+sys seconds (from <log>.times)
    local u s
    read -r u s < <(sed -n 2p "$1.times")
    awk -v a="$(bench_secs "$u")" -v b="$(bench_secs "$s")" 'BEGIN {print a + b}'
}

# wrk output -> "rps requests p50_ms p99_ms non2xx socket_errors bad_bodies" (bad bodies:
# what room.sh's join.lua counted). Call it as `x=$(bench_parse_wrk f)`, not `< <(…)`, so
# that its die stops the script.
bench_parse_wrk() {
    local f=$1 rps reqs p50 p99 non2xx sock bad
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
    reqs=$(awk '/ requests in / {print $1}' "$f")
    p50=$(bench_to_ms "$(awk '$1 == "50%" {print $2}' "$f")")
    p99=$(bench_to_ms "$(awk '$1 == "99%" {print $2}' "$f")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {e += $NF} END {print e + 0}' "$f")
    sock=$(awk '/Socket errors:/ {gsub(/,/, ""); e += $4 + $6 + $8 + $10} END {print e + 0}' "$f")
    bad=$(awk '/^join.lua: answers/ {e += $NF} END {print e + 0}' "$f")
    [[ -n $rps && -n $reqs && $reqs -gt 0 ]] || { cat "$f" >&2; bench_die "could not parse $f"; }
    echo "$rps $reqs $p50 $p99 $non2xx $sock $bad"
}
bench_wrk_version() { wrk -v 2>&1 | head -1 | awk '{print $1, $2}'; }

# ---------------------------------------------------------------------------- rounds
# bench_run_round <measure function> <args...>: `<measure function> <args...>` (the
# script's; it appends one row to RAW, with a BENCH_NOISE_COLUMN column), repeating a run
# that other work disturbed. Waits for a quiet machine first unless BENCH_QUIET_FIRST=0.
RETRIES=0
bench_run_round() {
    local measure=$1 attempt other; shift
    for attempt in $(seq 0 "$NOISE_RETRIES"); do
        if ((BENCH_QUIET_FIRST)); then bench_wait_quiet; fi
        "$measure" "$@"
        other=$(awk -F'\t' -v c="$BENCH_NOISE_COLUMN" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == c) k = i}
            END {print $k}' "$RAW")
        awk -v o="$other" -v m="$NOISE_MAX" 'BEGIN {exit !(o <= m)}' && return 0
        if ((attempt < NOISE_RETRIES)); then
            bench_log "run disturbed: ${other}% of a core went to $BENCH_NOISE_WHAT; discarding it and repeating"
            sed -i '$d' "$RAW"
            RETRIES=$((RETRIES + 1))
        else
            bench_log "WARNING: run still disturbed after $NOISE_RETRIES repeats (other ${other}%); keeping it, flagged in the report"
        fi
    done
}

# ---------------------------------------------------------------------------- report
bench_col() {  # <test> <server> <column name> -> median over rounds (RAW: test, server in $1, $2)
    awk -F'\t' -v t="$1" -v s="$2" -v c="$3" '
        NR == 1 {for (i = 1; i <= NF; i++) if ($i == c) k = i; next}
        $1 == t && $2 == s {print $k}' "$RAW" | bench_median
}
bench_sum_col() {  # <test> <server> <column name> -> sum over rounds
    awk -F'\t' -v t="$1" -v s="$2" -v c="$3" '
        NR == 1 {for (i = 1; i <= NF; i++) if ($i == c) k = i; next}
        $1 == t && $2 == s {e += $k} END {print e + 0}' "$RAW"
}
bench_label() {  # <key> -> its name in the report (BENCH_LABELS; the key itself if none)
    echo "${BENCH_LABELS[$1]-$1}"
}
# bench_verdict <label> <server core busy> <load core busy> [what the server is: server]:
# which side limited the run; a core counts as saturated at >= 90% busy.
bench_verdict() {
    awk -v l="$1" -v pc="$2" -v lc="$3" -v w="${4:-server}" 'BEGIN {
        if (pc >= 90 && lc >= 90) v = "both cores saturated (" w " core " pc "%, load core " lc "%): req/s is limited by both sides"
        else if (pc >= 90) v = w "-bound (" w " core " pc "%, load core " lc "%): req/s is the " w "'\''s capacity"
        else if (lc >= 90) v = "LOAD-BOUND (load core " lc "%, " w " core only " pc "%): req/s is a lower bound for this " w
        else v = "neither core saturated (" w " core " pc "%, load core " lc "%): latency/concurrency bound"
        printf "- %s: %s\n", l, v }'
}
bench_noise_line() {  # <what BENCH_NOISE_COLUMN counts>: "- noise: …" from RAW and RETRIES
    awk -F'\t' -v m="$NOISE_MAX" -v r="$RETRIES" -v c="$BENCH_NOISE_COLUMN" -v w="$1" '
        NR == 1 {for (i = 1; i <= NF; i++) if ($i == c) k = i; next}
        {n++; if ($k > m) d++}
        END {printf "- noise: %d disturbed run(s) repeated; %d of %d kept runs disturbed (%s > %s%% of a core)%s\n",
             r, d, n, w, m, d ? " — **treat these results with suspicion**" : ""}' "$RAW"
}
bench_date() { date -u '+%Y-%m-%d %H:%M:%S UTC'; }
bench_cpu_model() { awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo; }
bench_machine() {  # "N cores, CPU model, kernel K"
    local cpu_model
    cpu_model=$(bench_cpu_model)
    echo "$(nproc) cores, ${cpu_model:-unknown CPU}, kernel $(uname -r)"
}
bench_memory() { awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo; }
bench_commit() {  # what was measured: "commit abc1234 (+ uncommitted changes: …)", or the binary given
    if ((${OWN_BIN:-0})); then
        # A given binary (OWN_BIN=1): the working tree says nothing about its source.
        echo "binary $USHER_BIN (USHER_BIN${USHER_BIN_NOTE:+: $USHER_BIN_NOTE})"
        return
    fi
    local commit
    commit="commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    # Uncommitted changes outside bench/ change what was measured; say so.
    if ! git -C "$ROOT" diff --quiet HEAD -- . ':(exclude)bench' 2>/dev/null; then
        commit="$commit (+ uncommitted changes: $(git -C "$ROOT" diff --name-only HEAD -- . ':(exclude)bench' | paste -sd, -))"
    fi
    echo "$commit"
}
bench_usher_version() { echo "$("$USHER_BIN" --version 2>&1 | head -1), $(rustc --version 2>/dev/null || echo 'rustc ?')"; }
bench_about_run() {  # the report's date / machine / usher lines
    echo "- date: $(bench_date)"
    echo "- machine: $(bench_machine), $(bench_memory)"
    echo "- usher: $(bench_commit), $(bench_usher_version)"
}
