# Shared by bench/*.sh (sourced, not run): logging, cleanup of every process a script
# started (by PID), and the small measuring helpers. The sourcing script sets ROOT and
# LOGS (where its logs are) and fills MAIN_PIDS / EXTRA_PIDS / LOADGEN_PID.
#
# The waiting-room helpers further down (room.sh, cluster.sh) also use, from the sourcing
# script: WORK (its output folder, with cert.pem / key.pem), USHER_BIN, SKIP_BUILD, ROOM,
# USHER_PORT / ADMIN_PORT (defaults for the one-node helpers), UPSTREAM_PORT, SERVER_CORE,
# LOAD_CORE, RAW (its per-run table), NOISE_RETRIES.
# shellcheck shell=bash

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------- cleanup
# MAIN_PIDS get SIGTERM (nginx masters, usher, a running load generator); EXTRA_PIDS
# (nginx workers) are only SIGKILLed if they outlive their master. Everything is by PID.
MAIN_PIDS=()
EXTRA_PIDS=()
LOADGEN_PID=""

alive() {  # true while $1 exists and is not a zombie
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && $st != Z ]]
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    # A load generator still running (interrupted run): kill its children, then it.
    if [[ -n $LOADGEN_PID ]] && alive "$LOADGEN_PID"; then
        for c in $(ps -o pid= --ppid "$LOADGEN_PID" 2>/dev/null); do kill -TERM "$c" 2>/dev/null; done
        kill -TERM "$LOADGEN_PID" 2>/dev/null
    fi
    for pid in "${MAIN_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${MAIN_PIDS[@]}"; do
        for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && { log "pid $pid ignored SIGTERM; SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
    done
    for pid in "${EXTRA_PIDS[@]}"; do alive "$pid" && kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
    [[ $rc -ne 0 ]] && log "exited with status $rc; logs are in $LOGS"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


proc_ticks() {  # utime+stime of pid $1 (all threads), in clock ticks
    # Strip "pid (comm) " first: fields then start at state, so utime=$12, stime=$13.
    sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

core_ticks() {  # "busy total irq+softirq steal" jiffies of CPU core $1 from /proc/stat
    # Fields: user nice system idle iowait irq softirq steal. Steal (time the hypervisor
    # gave our vCPU to someone else) counts as busy: the core was not available to us.
    awk -v c="cpu$1" '$1 == c {b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6, $7 + $8, $9}' /proc/stat
}

to_ms() {  # wrk latency "512.00us" / "1.23ms" / "1.01s" -> milliseconds
    awk -v v="$1" 'BEGIN { n = v; sub(/[a-z]+$/, "", n); u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.4f", n }'
}

secs() {  # bash `times` value "1m2.345s" -> seconds
    awk -v v="$1" 'BEGIN { split(v, a, "m"); sub(/s$/, "", a[2]); printf "%.3f", a[1] * 60 + a[2] }'
}

median() {  # numbers on stdin -> median
    sort -g | awk '{a[NR] = $1} END { if (NR == 0) { print "nan"; exit }
        if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

wait_for() {  # $1 = description, rest = command that succeeds once ready
    local what=$1; shift
    for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    die "$what did not become ready (logs in $LOGS)"
}

# Other work on the machine steals CPU from the pinned processes: wait for quiet before a
# run (the sourcing script sets NOISE_MAX, QUIET_WAIT and CLK_TCK).
background_busy() {  # % of one core busy machine-wide over the next second
    local a b
    a=$(awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat)
    sleep 1
    b=$(awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat)
    echo $((100 * (b - a) / CLK_TCK))
}
wait_quiet() {  # also gives the previous run's connections a second to close
    local waited=0 busy
    while :; do
        busy=$(background_busy)
        ((busy <= NOISE_MAX)) && return 0
        if ((waited >= QUIET_WAIT)); then
            log "WARNING: machine still ${busy}% busy after ${QUIET_WAIT}s of waiting; measuring anyway"
            return 0
        fi
        ((waited == 0)) && log "machine is busy (${busy}% of a core, servers idle); waiting up to ${QUIET_WAIT}s for quiet"
        sleep 4
        waited=$((waited + 5))
    done
}

# ---------------------------------------------------------------------------- setup
need_tools() {  # <command>:<apt package>...: install the missing ones, check the basics
    local t need=()
    for t in "$@"; do command -v "${t%%:*}" >/dev/null || need+=("${t#*:}"); done
    if ((${#need[@]})); then
        log "installing: ${need[*]}"
        local sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo
        $sudo apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${need[@]}"
    fi
    for t in taskset ss awk sort; do command -v "$t" >/dev/null || die "missing tool: $t"; done
}

ports_free() {  # <port>...: a leftover process would silently be benchmarked instead
    local p
    for p in "$@"; do
        [[ -z $(ss -Htln "sport = :$p") ]] || die "port $p is in use: $(ss -Htlnp "sport = :$p")"
    done
}

build_usher() {  # cargo build --release (log in $WORK), unless SKIP_BUILD=1 or OWN_BIN=1
    if ((${OWN_BIN:-0})); then
        log "USHER_BIN given: using ${USHER_BIN:?} (not built here)"
    elif [[ $SKIP_BUILD == 1 ]]; then
        log "SKIP_BUILD=1: using the existing $USHER_BIN"
    else
        log "building usher (cargo build --release; log: ${WORK#"$ROOT"/}/cargo-build.log)"
        (cd "$ROOT" && cargo build --release) >"$WORK/cargo-build.log" 2>&1 \
            || { tail -20 "$WORK/cargo-build.log" >&2; die "cargo build failed"; }
    fi
    [[ -x $USHER_BIN ]] || die "$USHER_BIN not found after build"
}

# A server certificate (CA:FALSE, serverAuth), not openssl's default CA one, so strict
# clients (webpki: `usher rush --ca`) accept it as what it is.
make_cert() {  # ECDSA P-256 self-signed certificate: $WORK/cert.pem, $WORK/key.pem
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 2 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
        >"$WORK/openssl.log" 2>&1 \
        || { cat "$WORK/openssl.log" >&2; die "certificate generation failed"; }
}

forget_pid() {  # drop $1 from MAIN_PIDS / EXTRA_PIDS once it is gone (PIDs get reused)
    local p keep=()
    for p in "${MAIN_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    MAIN_PIDS=("${keep[@]}")
    keep=()
    for p in "${EXTRA_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    EXTRA_PIDS=("${keep[@]}")
}

# ---------------------------------------------------------------------------- usher
# usher_config <state dir> <public port> <admin port> [more [state] lines] [more sections]:
# one worker thread, warn-level logs, TLS 1.3 only, one paused room on every path:
# everybody who joins waits and nobody is called, so the line only grows. abandon_after is
# long so nobody is skipped for not polling during the run.
usher_config() {
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
# start_usher <name> [public port] [admin port] [[state] lines] [more sections]: usher on
# SERVER_CORE with a fresh state dir $WORK/usher-NAME/state; waits for /readyz; sets
# USHER_PID. Ports default to USHER_PORT / ADMIN_PORT.
start_usher() {
    USHER_NAME=$1
    local port=${2:-$USHER_PORT} admin=${3:-$ADMIN_PORT} dir=$WORK/usher-$1
    mkdir -p "$dir"
    usher_config "$dir/state" "$port" "$admin" "${4:-}" "${5:-}" >"$dir/usher.toml"
    for _ in $(seq 100); do [[ -z $(ss -Htln "sport = :$port") ]] && break; sleep 0.1; done
    taskset -c "$SERVER_CORE" "$USHER_BIN" proxy -c "$dir/usher.toml" >"$dir/usher.log" 2>&1 &
    USHER_PID=$!
    MAIN_PIDS+=("$USHER_PID")
    USHER_LOGS+=("$dir/usher.log")
    local ready=0
    for _ in $(seq 100); do
        alive "$USHER_PID" || die "usher ($1) exited: $(cat "$dir/usher.log")"
        [[ $(curl -s "http://127.0.0.1:$admin/readyz") == ready ]] && { ready=1; break; }
        sleep 0.1
    done
    ((ready)) || die "usher ($1) did not report ready"
}

stop_usher() {  # SIGTERM, wait for it to exit (graceful shutdown), report anything unusual
    local rc=0 killed=0
    kill -TERM "$USHER_PID" 2>/dev/null || true
    for _ in $(seq 150); do alive "$USHER_PID" || break; sleep 0.1; done
    if alive "$USHER_PID"; then
        log "WARNING: usher ($USHER_NAME, pid $USHER_PID) still running 15 s after SIGTERM; SIGKILL"
        kill -KILL "$USHER_PID" 2>/dev/null; killed=1
    fi
    wait "$USHER_PID" 2>/dev/null || rc=$?
    ((killed)) || [[ $rc -eq 0 ]] || log "WARNING: usher ($USHER_NAME) exited with status $rc after SIGTERM"
    forget_pid "$USHER_PID"
    USHER_PID=""
}

# waiting_count [admin port]: usher_room_visitors{state="waiting"} of ROOM from /metrics
# (refreshed every 100 ms)
waiting_count() {
    local m
    m=$(curl -sf "http://127.0.0.1:${1:-$ADMIN_PORT}/metrics" || true)
    awk -v m="usher_room_visitors{room=\"$ROOM\",state=\"waiting\"}" '$1 == m {print $2; f = 1}
        END {if (!f) print "missing"}' <<<"$m"
}
# shellcheck disable=SC2120 # the admin port is optional
waiting_settled() {  # [admin port]: the waiting count once two reads 0.3 s apart agree
    local a b
    a=$(waiting_count "$@")
    for _ in $(seq 50); do
        sleep 0.3; b=$(waiting_count "$@")
        [[ $a == "$b" ]] && { echo "$b"; return 0; }
        a=$b
    done
    echo "$b"
}
now() { date +%s.%N; }

# curl_usher <path> [curl args...]: HTTPS to usher on USHER_PORT, body then "|code" on the
# last line
curl_usher() {
    local path=$1; shift
    curl -sS --cacert "$WORK/cert.pem" -w '\n|%{http_code}' "$@" "https://127.0.0.1:$USHER_PORT$path" || true
}
join_one() {  # one join with curl; sets JOIN_BODY, TICKET; dies on anything unexpected
    local got
    got=$(curl_usher "/_usher/join?room=$ROOM" -X POST)
    JOIN_BODY=${got%$'\n|'*}
    [[ ${got##*|} == 200 && $JOIN_BODY == *'"state":"paused"'* ]] \
        || die "POST /_usher/join?room=$ROOM returned unexpected: $(printf %q "$got")"
    TICKET=$(sed -n 's/.*"ticket":"\([^"]*\)".*/\1/p' <<<"$JOIN_BODY")
    [[ -n $TICKET ]] || die "no ticket in the join answer: $JOIN_BODY"
}
status_of() {  # $1 = ticket; prints the status body; dies unless 200 + paused
    local got
    got=$(curl_usher "/_usher/status?room=$ROOM" -H "Cookie: usher_ticket=$1")
    [[ ${got##*|} == 200 && $got == *'"state":"paused"'* ]] \
        || die "GET /_usher/status?room=$ROOM (cookie ticket) returned unexpected: $(printf %q "$got")"
    printf '%s' "${got%$'\n|'*}"
}
json_num() {  # $1 = key, $2 = json -> number
    sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$2"
}

# ---------------------------------------------------------------------------- load generator
# Load generator on LOAD_CORE; its own CPU time (user+sys, from the subshell's `times`)
# goes to <log>.times. Started in the background so Ctrl-C / SIGTERM reach the trap at once.
loadgen_start() {  # <log> <cmd...>
    local logf=$1; shift
    ( rc=0; taskset -c "$LOAD_CORE" "$@" >"$logf" 2>&1 || rc=$?; times >"$logf.times"; exit "$rc" ) &
    LOADGEN_PID=$!
    LOADGEN_LOG=$logf
    LOADGEN_CMD="$*"
}
loadgen_wait() {
    local rc=0
    wait "$LOADGEN_PID" || rc=$?
    LOADGEN_PID=""
    [[ $rc -eq 0 ]] || { cat "$LOADGEN_LOG" >&2; die "load generator failed (status $rc): $LOADGEN_CMD"; }
}
loadgen() { loadgen_start "$@"; loadgen_wait; }
loadgen_cpu_s() {  # <log>: the load generator's user+sys seconds (from <log>.times)
    local u s
    read -r u s < <(sed -n 2p "$1.times")
    awk -v a="$(secs "$u")" -v b="$(secs "$s")" 'BEGIN {print a + b}'
}

# wrk output -> "rps requests p50_ms p99_ms non2xx socket_errors bad_bodies"
parse_wrk() {
    local f=$1 rps reqs p50 p99 non2xx sock bad
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
    reqs=$(awk '/ requests in / {print $1}' "$f")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$f")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$f")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {e += $NF} END {print e + 0}' "$f")
    sock=$(awk '/Socket errors:/ {gsub(/,/, ""); e += $4 + $6 + $8 + $10} END {print e + 0}' "$f")
    bad=$(awk '/^join.lua: answers/ {e += $NF} END {print e + 0}' "$f")
    [[ -n $rps && -n $reqs && $reqs -gt 0 ]] || { cat "$f" >&2; die "could not parse $f"; }
    echo "$rps $reqs $p50 $p99 $non2xx $sock $bad"
}

# ---------------------------------------------------------------------------- rounds
# run_round <args...>: `measure <args...>` (the sourcing script's; it appends one row with an
# other_pct column to RAW), repeating a run that other work disturbed.
RETRIES=0
run_round() {
    local attempt other
    for attempt in $(seq 0 "$NOISE_RETRIES"); do
        wait_quiet
        measure "$@"
        other=$(awk -F'\t' 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "other_pct") k = i}
            END {print $k}' "$RAW")
        awk -v o="$other" -v m="$NOISE_MAX" 'BEGIN {exit !(o <= m)}' && return 0
        if ((attempt < NOISE_RETRIES)); then
            log "run disturbed: ${other}% of a core went to something else; discarding it and repeating"
            sed -i '$d' "$RAW"
            RETRIES=$((RETRIES + 1))
        else
            log "WARNING: run still disturbed after $NOISE_RETRIES repeats (other ${other}%); keeping it, flagged in the report"
        fi
    done
}

# ---------------------------------------------------------------------------- report
col() {  # <test> <server> <column name> -> median over rounds (RAW: test, server in $1, $2)
    awk -F'\t' -v t="$1" -v s="$2" -v c="$3" '
        NR == 1 {for (i = 1; i <= NF; i++) if ($i == c) k = i; next}
        $1 == t && $2 == s {print $k}' "$RAW" | median
}
sum_col() {  # <test> <server> <column name> -> sum over rounds
    awk -F'\t' -v t="$1" -v s="$2" -v c="$3" '
        NR == 1 {for (i = 1; i <= NF; i++) if ($i == c) k = i; next}
        $1 == t && $2 == s {e += $k} END {print e + 0}' "$RAW"
}
verdict() {  # <label> <server core busy> <load core busy>
    awk -v l="$1" -v pc="$2" -v lc="$3" 'BEGIN {
        if (pc >= 90 && lc >= 90) v = "both cores saturated (server core " pc "%, load core " lc "%): req/s is limited by both sides"
        else if (pc >= 90) v = "server-bound (server core " pc "%, load core " lc "%): req/s is the server'\''s capacity"
        else if (lc >= 90) v = "LOAD-BOUND (load core " lc "%, server core only " pc "%): req/s is a lower bound for this server"
        else v = "neither core saturated (server core " pc "%, load core " lc "%): latency/concurrency bound"
        printf "- %s: %s\n", l, v }'
}
noise_line() {  # "- noise: …" from RAW's other_pct column and RETRIES
    awk -F'\t' -v m="$NOISE_MAX" -v r="$RETRIES" '
        NR == 1 {for (i = 1; i <= NF; i++) if ($i == "other_pct") k = i; next}
        {n++; if ($k > m) d++}
        END {printf "- noise: %d disturbed run(s) repeated; %d of %d kept runs disturbed (other > %s%% of a core)%s\n",
             r, d, n, m, d ? " — **treat these results with suspicion**" : ""}' "$RAW"
}
about_run() {  # the report's date / machine / usher lines
    local commit cpu_model
    commit="commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if ((${OWN_BIN:-0})); then
        # A given binary (OWN_BIN=1): the working tree says nothing about its source.
        commit="binary $USHER_BIN (USHER_BIN${USHER_BIN_NOTE:+: $USHER_BIN_NOTE})"
    # Uncommitted changes outside bench/ change what was measured; say so.
    elif ! git -C "$ROOT" diff --quiet HEAD -- . ':(exclude)bench' 2>/dev/null; then
        commit="$commit (+ uncommitted changes: $(git -C "$ROOT" diff --name-only HEAD -- . ':(exclude)bench' | paste -sd, -))"
    fi
    cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- machine: $(nproc) cores, ${cpu_model:-unknown CPU}, kernel $(uname -r), $(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "- usher: $commit, $("$USHER_BIN" --version 2>&1 | head -1), $(rustc --version 2>/dev/null || echo 'rustc ?')"
}
