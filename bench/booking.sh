#!/usr/bin/env bash
# bench/booking.sh — booking throughput of the bundled backend with durable commits
# (SQLite WAL + synchronous=FULL, group commit), DIRECT (plain HTTP to `usher backend`)
# and THROUGH THE PROXY (`usher proxy`, TLS 1.3, an `open` room guarding "/").
#
#   bash bench/booking.sh                    # DURATION=10 ROUNDS=3 CONNS=64 HIGH_CONNS=256
#   DURATION=30 ROUNDS=5 bash bench/booking.sh
#   SKIP_BUILD=1 bash bench/booking.sh      # reuse target/release/usher
#
# Layout on a 2-core machine (see bench/README.md):
#   core 0: usher backend (1 tokio worker + the SQLite writer thread) and usher proxy (1 worker)
#   core 1: wrk (+ bench/booking.lua)
#
# Every request is `POST /api/events/ID/bookings` with its own Idempotency-Key, body
# {"quantity":1}, and a valid usher pass, on a coupon event that cannot sell out. Every
# measured run gets a fresh backend and an empty database on disk (not tmpfs), and is
# checked afterwards: one confirmed booking in the database per 201 (plus at most the
# requests still in flight when wrk stopped), remaining + bookings = count.
#
# Output: bench/out/booking/ (recreated on every run; bench/out/ is gitignored); final
# report: stdout and bench/out/booking-results.md.
set -euo pipefail

# ---------------------------------------------------------------------------- knobs
DURATION=${DURATION:-10}          # seconds per measured run
ROUNDS=${ROUNDS:-3}               # measured runs per mode (direct, proxied); medians reported
WARMUP=${WARMUP:-2}               # seconds of warm-up per mode before the rounds
CONNS=${CONNS:-64}                # wrk -c for the measured rounds
HIGH_CONNS=${HIGH_CONNS:-256}     # one extra run per mode at this concurrency; 0 = skip
PASSES=${PASSES:-8}               # passes (different visitors) the requests rotate through
COUPONS=${COUPONS:-1000000000}    # the event's count: far more than a run can book
PROXY_PASS_VIA=${PROXY_PASS_VIA:-cookie}  # proxied runs send the pass as `cookie` or `header`
FSYNC_STATS=${FSYNC_STATS:-auto}  # one extra (unmeasured) direct run counting fsyncs with perf: auto|1|0
SKIP_BUILD=${SKIP_BUILD:-0}       # 1 = use the existing target/release/usher as is
# USHER_BIN=/path/to/usher: benchmark that binary instead (no build; e.g. one built from a
# clean `git archive HEAD` while the working tree has unrelated changes in progress);
# USHER_BIN_NOTE adds a remark to the report, e.g. the commit it was built from.
DB_PARENT=${DB_PARENT:-/var/tmp}  # databases go in a temp dir under this (must not be tmpfs)
KEEP_DB=${KEEP_DB:-0}             # 1 = keep the databases (and their temp dir) afterwards
SERVER_CPUS=${SERVER_CPUS:-0}     # taskset list for the backend (and the proxy, unless PROXY_CPUS)
PROXY_CPUS=${PROXY_CPUS:-$SERVER_CPUS}  # taskset list for the proxy
LOAD_CPUS=${LOAD_CPUS:-1}         # taskset list for wrk
# Noise control, as in proxy.sh: wait for a quiet machine before each run; a run during
# which other programs (user time not spent by backend, proxy or wrk) plus hypervisor steal
# took more than NOISE_MAX % of a core is discarded and repeated (up to NOISE_RETRIES times).
NOISE_MAX=${NOISE_MAX:-10}
NOISE_RETRIES=${NOISE_RETRIES:-3}
QUIET_WAIT=${QUIET_WAIT:-120}

PROXY_PORT=18543     # usher proxy, TLS
BACKEND_PORT=18580   # usher backend, plain HTTP
ADMIN_PORT=19190     # usher proxy admin (/readyz)

ROOM=booking
ISSUER=usher-bench
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
WORK=$OUT/booking
RESULTS=$OUT/booking-results.md
LUA=$ROOT/bench/booking.lua
OWN_BIN=0
if [[ -n ${USHER_BIN:-} ]]; then OWN_BIN=1; SKIP_BUILD=1; else USHER_BIN=$ROOT/target/release/usher; fi
CPUS_ALL=0-$(($(nproc) - 1))
CLK_TCK=$(getconf CLK_TCK)

# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"
LOGS=$WORK
LOAD_CORE=$LOAD_CPUS   # where bench_loadgen pins wrk (a taskset list)
# A run is judged disturbed by noise_pct (see measure), and measure waits for a quiet
# machine itself, once its fresh backend is up.
BENCH_NOISE_COLUMN=noise_pct
BENCH_NOISE_WHAT="other programs or steal"
BENCH_QUIET_FIRST=0

DB_DIR=""
# bench_cleanup stops every process by PID; the temporary database directory goes after.
drop_db_dir() {
    if [[ -n $DB_DIR && -d $DB_DIR ]]; then
        if [[ $KEEP_DB == 1 ]]; then bench_log "databases kept in $DB_DIR"; else rm -rf "$DB_DIR"; fi
    fi
}
BENCH_ON_EXIT=drop_db_dir

# ---------------------------------------------------------------------------- prerequisites
[[ $(nproc) -ge 2 ]] || bench_die "needs at least 2 CPU cores (servers on core 0, wrk on core 1)"
[[ $PROXY_PASS_VIA == cookie || $PROXY_PASS_VIA == header ]] || bench_die "PROXY_PASS_VIA must be cookie or header"
((PASSES >= 1 && CONNS >= 1)) || bench_die "PASSES and CONNS must be >= 1"

bench_need_tools wrk:wrk curl:curl openssl:openssl
command -v dd >/dev/null || bench_die "missing tool: dd"
HAVE_SQLITE=0
if command -v sqlite3 >/dev/null; then HAVE_SQLITE=1; else
    bench_log "sqlite3 CLI not found: the database check uses the API (remaining) only"
fi

bench_ports_free $PROXY_PORT $BACKEND_PORT $ADMIN_PORT

# Only this script's own output is replaced; bench/out/ may hold the other scripts' results.
rm -rf "$WORK" "$RESULTS"
mkdir -p "$WORK"/{runs,keys,state}

bench_build_usher

# What the backend promises (src/backend/db.rs); say so if the source no longer matches.
# (With USHER_BIN this reads the working tree, not the binary's source; check_db checks the
# database file is in WAL mode, and the fsync diagnostic shows commits reaching fsync.)
DURABILITY="journal_mode=WAL, synchronous=FULL"
grep -q '"synchronous", "FULL"' "$ROOT/src/backend/db.rs" \
    || { DURABILITY="UNKNOWN: src/backend/db.rs no longer sets synchronous=FULL"; bench_log "WARNING: $DURABILITY"; }

# ---------------------------------------------------------------------------- the database disk
# fsync must be real: a database on tmpfs would measure memory, not durable commits.
mkdir -p "$DB_PARENT"
DB_DIR=$(mktemp -d "$DB_PARENT/usher-booking.XXXXXX")
DB_FS=$(stat -f -c %T "$DB_DIR")
DB_MOUNT=$(findmnt -n -o SOURCE,FSTYPE,OPTIONS -T "$DB_DIR" 2>/dev/null | awk '{print $1 " (" $2 ", " $3 ")"}' || true)
case $DB_FS in
    tmpfs|ramfs) bench_die "DB_PARENT=$DB_PARENT is on $DB_FS: fsync would be free; choose a directory on disk" ;;
esac
# How long one small synchronous write takes on that disk: a floor for one group commit.
FSYNC_PROBE_MS=$(dd if=/dev/zero of="$DB_DIR/probe" bs=4k count=500 oflag=dsync 2>&1 |
    awk '/copied/ {for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/) t = $(i - 1); printf "%.3f", t * 1000 / 500}')
rm -f "$DB_DIR/probe"
bench_log "databases in $DB_DIR on ${DB_MOUNT:-$DB_FS}; 4 KiB O_DSYNC write: ${FSYNC_PROBE_MS} ms"

# ---------------------------------------------------------------------------- keys, configs
"$USHER_BIN" keygen --out "$WORK/keys" --name pass-bench >"$WORK/keygen.log" 2>&1 \
    || { cat "$WORK/keygen.log" >&2; bench_die "usher keygen failed"; }
ADMIN_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

backend_config() {  # $1 = database file
    cat <<EOF
listen = "127.0.0.1:$BACKEND_PORT"
database = "$1"
admin_token = "$ADMIN_TOKEN"
webhook = ""
seed_demo = false

[passes]
issuer = "$ISSUER"
audience = "$ROOM"
public_keys = ["$WORK/keys/pass-bench.pub"]
EOF
}

# The proxy: one worker, warn-level logs, TLS 1.3 (self-signed), one room in `open` mode on
# every path — everybody is let in at once and gets a pass. Sessions last long enough that no
# pass is renewed or expires during a run (renewal starts at half of session_idle).
cat >"$WORK/usher.toml" <<EOF
[listen]
public = "127.0.0.1:$PROXY_PORT"
admin = "127.0.0.1:$ADMIN_PORT"

[tls]
self_signed_names = ["localhost", "127.0.0.1"]
min_version = "1.3"

[upstream]
servers = ["127.0.0.1:$BACKEND_PORT"]

[runtime]
workers = 1

[log]
level = "warn"

[passes]
issuer = "$ISSUER"
signing_key = "$WORK/keys/pass-bench.key"

[state]
dir = "$WORK/state"

[[rooms]]
name = "$ROOM"
paths = ["/"]
mode = "open"
max_active = 1000000
session_idle = "12h"
session_max = "24h"
EOF
"$USHER_BIN" check-config -c "$WORK/usher.toml" >"$WORK/check-config.log" 2>&1 \
    || { cat "$WORK/check-config.log" >&2; bench_die "the generated proxy config is invalid"; }

# ---------------------------------------------------------------------------- servers
PROXY_PID=""
start_proxy() {
    taskset -c "$PROXY_CPUS" "$USHER_BIN" proxy -c "$WORK/usher.toml" >"$WORK/proxy.log" 2>&1 &
    PROXY_PID=$!
    MAIN_PIDS+=("$PROXY_PID")
    for _ in $(seq 100); do
        bench_alive "$PROXY_PID" || bench_die "usher proxy exited: $(cat "$WORK/proxy.log")"
        [[ $(curl -s "http://127.0.0.1:$ADMIN_PORT/readyz") == ready ]] && return 0
        sleep 0.1
    done
    bench_die "usher proxy did not report ready"
}

BACKEND_PID=""
BACKEND_NAME=""
BACKEND_DB=""
BACKEND_LOGS=()
start_backend() {  # $1 = name: a fresh database $DB_DIR/NAME.db
    BACKEND_NAME=$1
    BACKEND_DB=$DB_DIR/$1.db
    local dir=$WORK/backend-$1
    mkdir -p "$dir"
    backend_config "$BACKEND_DB" >"$dir/backend.toml"
    for _ in $(seq 100); do [[ -z $(ss -Htln "sport = :$BACKEND_PORT") ]] && break; sleep 0.1; done
    env -u USHER_BACKEND_ADMIN_TOKEN RUST_BACKTRACE=0 \
        taskset -c "$SERVER_CPUS" "$USHER_BIN" backend -c "$dir/backend.toml" >"$dir/backend.log" 2>&1 &
    BACKEND_PID=$!
    MAIN_PIDS+=("$BACKEND_PID")
    BACKEND_LOGS+=("$dir/backend.log")
    for _ in $(seq 100); do
        bench_alive "$BACKEND_PID" || bench_die "usher backend ($1) exited: $(cat "$dir/backend.log")"
        curl -sf "http://127.0.0.1:$BACKEND_PORT/healthz" >/dev/null && return 0
        sleep 0.1
    done
    bench_die "usher backend ($1) did not answer /healthz"
}

stop_backend() {  # SIGTERM, wait; the database file stays until drop_db
    bench_stop_pid "$BACKEND_PID" "backend ($BACKEND_NAME)"
    BACKEND_PID=""
}

drop_db() {  # $1 = database file
    [[ $KEEP_DB == 1 ]] || rm -f "$1" "$1-wal" "$1-shm"
}

# ---------------------------------------------------------------------------- HTTP helpers
# body then "|code" on the last line
direct() {  # <method> <path> [curl args...]
    local m=$1 path=$2; shift 2
    curl -sS -X "$m" -w '\n|%{http_code}' "$@" "http://127.0.0.1:$BACKEND_PORT$path" || true
}
proxied() {  # <method> <path> [curl args...]
    local m=$1 path=$2; shift 2
    curl -sSk -X "$m" -w '\n|%{http_code}' "$@" "https://127.0.0.1:$PROXY_PORT$path" || true
}
code_of() { printf '%s' "${1##*|}"; }
body_of() { printf '%s' "${1%$'\n|'*}"; }

EVENT_ID=""
create_event() {  # a coupon event with COUPONS coupons, starting in 30 days; sets EVENT_ID
    local got
    got=$(direct POST /api/admin/events -H "Authorization: Bearer $ADMIN_TOKEN" \
        -H 'Content-Type: application/json' \
        -d "{\"title\":\"bench coupons\",\"venue\":\"Online\",\"starts_at\":$(($(date +%s) + 30 * 86400)),\"price\":0,\"layout\":{\"kind\":\"coupon\",\"count\":$COUPONS}}")
    [[ $(code_of "$got") == 201 ]] || bench_die "POST /api/admin/events returned unexpected: $(printf %q "$got")"
    EVENT_ID=$(body_of "$got" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
    [[ -n $EVENT_ID ]] || bench_die "no event id in: $got"
}

remaining() {  # remaining coupons of EVENT_ID, through the API
    local got
    got=$(direct GET "/api/events/$EVENT_ID" -H "X-Usher-Pass: $FIRST_PASS")
    [[ $(code_of "$got") == 200 ]] || { echo "error"; return 0; }
    body_of "$got" | sed -n 's/.*"remaining":\([0-9]*\).*/\1/p'
}
remaining_settled() {  # once two reads 0.3 s apart agree (in-flight bookings have landed)
    local a b
    a=$(remaining)
    for _ in $(seq 50); do
        sleep 0.3; b=$(remaining)
        [[ $a == "$b" ]] && { echo "$b"; return 0; }
        a=$b
    done
    echo "$b"
}

book_one() {  # <direct|proxied> <key> <curl pass args...>: one booking; prints the booking id
    local how=$1 key=$2 got; shift 2
    got=$($how POST "/api/events/$EVENT_ID/bookings" -H "Idempotency-Key: $key" \
        -H 'Content-Type: application/json' -d '{"quantity":1}' "$@")
    [[ $(code_of "$got") == 201 && $got == *'"status":"confirmed"'* ]] \
        || bench_die "booking ($how, key $key) returned unexpected: $(printf %q "$got")"
    body_of "$got" | sed -n 's/^{"id":\([0-9]*\),.*/\1/p'
}

# ---------------------------------------------------------------------------- CPU accounting
cpus_list() {  # taskset list "0,2-3" -> "0 2 3"
    local part parts
    IFS=, read -ra parts <<<"$1"
    for part in "${parts[@]}"; do
        if [[ $part == *-* ]]; then seq "${part%-*}" "${part#*-}"; else echo "$part"; fi
    done
}
cpus_ticks() {  # "busy total irq steal" summed over the cores of taskset list $1
    local c
    for c in $(cpus_list "$1"); do bench_core_ticks "$c"; done |
        awk '{b += $1; t += $2; i += $3; s += $4} END {print b, t, i, s}'
}
kthread_snap() {  # "pid ticks" (utime+stime) of every kernel thread (children of kthreadd)
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } |   # processes may exit meanwhile
        awk '{pid = $1; sub(/^.*\) /, ""); if ($2 == 2) print pid, $12 + $13}'
}
kthread_delta() {  # $1, $2 = snapshots: ticks spent in between by kernel threads alive at the end
    awk 'NR == FNR {a[$1] = $2; next} {d += $2 - ($1 in a ? a[$1] : 0)} END {print d + 0}' \
        <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}
proc_uticks() {  # utime of pid $1 (all threads)
    sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12}'
}
cpus_uticks() {  # user+nice jiffies summed over the cores of taskset list $1
    local c
    for c in $(cpus_list "$1"); do awk -v c="cpu$c" '$1 == c {print $2 + $3}' /proc/stat; done |
        awk '{u += $1} END {print u + 0}'
}
thread_ticks() {  # utime+stime of the threads of pid $1 named $2
    { cat /proc/"$1"/task/*/stat 2>/dev/null || true; } |
        awk -v n="($2)" '{c = $0; sub(/^[0-9]+ /, "", c); sub(/\) .*$/, ")", c)
                         if (c == n) {sub(/^.*\) /, ""); s += $12 + $13}} END {print s + 0}'
}

# ---------------------------------------------------------------------------- load generator
# (bench_loadgen runs wrk on LOAD_CPUS; its own CPU time goes to <log>.times)
wrk_cmd() {  # <direct|proxied> <seconds> <conns> <run tag>
    local url via
    if [[ $1 == direct ]]; then url="http://127.0.0.1:$BACKEND_PORT/"; via=header
    else url="https://127.0.0.1:$PROXY_PORT/"; via=$PROXY_PASS_VIA; fi
    CMD=(wrk -t1 -c"$3" -d"$2"s --timeout 10s --latency -s "$LUA" "$url" -- "$EVENT_ID" "$4" "$WORK/passes.txt" "$via")
}

# wrk output with booking.lua's counts -> "secs answered p50_ms p99_ms sent created other
# socket_errors". Call it as `x=$(parse_booking_wrk f)`, not `< <(…)`, so that its die
# stops the script.
parse_booking_wrk() {
    local f=$1 secs answered p50 p99 sent created other sock
    read -r answered secs < <(awk '/ requests in / {t = $4; sub(/,$/, "", t); print $1, t}' "$f")
    secs=$(awk -v ms="$(bench_to_ms "$secs")" 'BEGIN {printf "%.3f", ms / 1000}')
    p50=$(bench_to_ms "$(awk '$1 == "50%" {print $2}' "$f")")
    p99=$(bench_to_ms "$(awk '$1 == "99%" {print $2}' "$f")")
    read -r sent created other < <(awk '/^booking.lua: thread/ {s += $5; c += $9; o += $11}
        END {print s + 0, c + 0, o + 0}' "$f")
    sock=$(awk '/Socket errors:/ {gsub(/,/, ""); e += $4 + $6 + $8 + $10} END {print e + 0}' "$f")
    # (a run may end with nothing answered — a stalled server — and is reported as such)
    [[ -n $answered && -n $secs && -n $sent && -n $p50 && -n $p99 ]] || { cat "$f" >&2; bench_die "could not parse $f"; }
    echo "$secs $answered $p50 $p99 $sent $created $other $sock"
}

# ---------------------------------------------------------------------------- checking the database
# After a run: remaining (API, backend still up), then the backend is stopped and the database
# counted with sqlite3 (when installed). Sets DB_BOOKINGS, DB_CHECK ("ok" or what failed),
# DB_BYTES.
check_db() {  # <created> <sent> <run name>
    local created=$1 sent=$2 name=$3 rem bookings keys outbox problems=()
    rem=$(remaining_settled)
    stop_backend
    [[ $rem =~ ^[0-9]+$ ]] || bench_die "could not read the event's remaining count after $name (got '$rem')"
    # (the -wal file is gone when the backend closed its connections before exiting)
    DB_BYTES=$({ stat -c %s "$BACKEND_DB" "$BACKEND_DB-wal" 2>/dev/null || true; } | awk '{s += $1} END {print s + 0}')
    if ((HAVE_SQLITE)); then
        local counts journal
        counts=$(sqlite3 -separator ' ' "$BACKEND_DB" \
            "SELECT (SELECT count(*) FROM bookings WHERE event_id = $EVENT_ID AND status = 'confirmed'),
                    (SELECT count(*) FROM idempotency WHERE status = 201),
                    (SELECT count(*) FROM outbox WHERE topic = 'booking.confirmed'),
                    (SELECT journal_mode FROM pragma_journal_mode);" 2>&1) \
            || bench_die "sqlite3 could not read $BACKEND_DB: $counts"
        read -r bookings keys outbox journal <<<"$counts"
        [[ $bookings =~ ^[0-9]+$ && $keys =~ ^[0-9]+$ && $outbox =~ ^[0-9]+$ ]] \
            || bench_die "unexpected sqlite3 answer for $BACKEND_DB: $counts"
        # WAL is recorded in the file (synchronous is per connection: see the fsync count).
        [[ $journal == wal ]] || problems+=("journal_mode is '$journal', not wal")
        ((COUPONS - rem == bookings)) || problems+=("remaining $rem + bookings $bookings != count $COUPONS")
        ((keys == bookings)) || problems+=("idempotency keys with a 201: $keys, bookings: $bookings")
        ((outbox == bookings)) || problems+=("outbox rows: $outbox, bookings: $bookings")
    else
        bookings=$((COUPONS - rem))
    fi
    # Every 201 is a booking in the database; beyond those, only requests wrk sent but whose
    # answer it never read (in flight when it stopped) may have been committed.
    ((bookings >= created)) || problems+=("only $bookings bookings for $created answers 201")
    ((bookings <= sent)) || problems+=("$bookings bookings but only $sent requests sent")
    DB_BOOKINGS=$bookings
    if ((${#problems[@]})); then
        DB_CHECK="FAIL: $(IFS=';'; echo "${problems[*]}")"
        bench_log "DATABASE CHECK FAILED ($name): $DB_CHECK"
    else
        DB_CHECK=ok
    fi
    drop_db "$BACKEND_DB"
}

# ---------------------------------------------------------------------------- measured runs
RAW=$WORK/raw.tsv
printf '%s\t' set mode round conns rps p50_ms p99_ms errors answered created sent in_flight \
    db_bookings db_check backend_us_per_booking proxy_us_per_booking backend_cpu_pct \
    writer_cpu_pct proxy_cpu_pct wrk_cpu_pct kthread_pct irq_pct other_pct steal_pct \
    server_busy_pct load_busy_pct db_mb noise_pct | sed 's/\t$/\n/' >"$RAW"

RUN_N=0
# measure <set> <direct|proxied> <round> <conns>: fresh backend + database + event, one wrk
# run, the database check; appends a row to raw.tsv.
measure() {
    local set=$1 mode=$2 round=$3 conns=$4 base tag
    RUN_N=$((RUN_N + 1))
    base=$WORK/runs/$set-$mode-r$round
    tag=$set-$mode-r$round-$RUN_N
    start_backend "$tag"
    create_event
    bench_wait_quiet
    wrk_cmd "$mode" "$DURATION" "$conns" "$tag"

    # Core counters innermost, so the snapshots' own small cost stays outside them.
    local b0 w0 x0 k0 s0 l0 t0 b1 w1 x1 k1 s1 l1 t1 u0 u1
    b0=$(bench_proc_ticks "$BACKEND_PID"); w0=$(thread_ticks "$BACKEND_PID" usher-db-writer)
    x0=$(bench_proc_ticks "$PROXY_PID"); k0=$(kthread_snap)
    u0="$(proc_uticks "$BACKEND_PID") $(proc_uticks "$PROXY_PID") $(cpus_uticks "$CPUS_ALL")"
    s0=$(cpus_ticks "$SERVER_CPUS"); l0=$(cpus_ticks "$LOAD_CPUS")
    t0=$(bench_now)
    bench_loadgen "$base.log" "${CMD[@]}"
    t1=$(bench_now)
    s1=$(cpus_ticks "$SERVER_CPUS"); l1=$(cpus_ticks "$LOAD_CPUS")
    u1="$(proc_uticks "$BACKEND_PID") $(proc_uticks "$PROXY_PID") $(cpus_uticks "$CPUS_ALL")"
    b1=$(bench_proc_ticks "$BACKEND_PID"); w1=$(thread_ticks "$BACKEND_PID" usher-db-writer)
    x1=$(bench_proc_ticks "$PROXY_PID"); k1=$(kthread_snap)

    local parsed secs answered p50 p99 sent created other sock errors rps
    parsed=$(parse_booking_wrk "$base.log")
    read -r secs answered p50 p99 sent created other sock <<<"$parsed"
    errors=$((other + sock))
    rps=$(awk -v c="$created" -v s="$secs" 'BEGIN {printf "%.0f", c / s}')
    check_db "$created" "$sent" "$tag"

    local lg_user lg overlap=0
    read -r lg_user _ < <(sed -n 2p "$base.log.times")
    lg=$(bench_loadgen_cpu_s "$base.log")
    [[ $SERVER_CPUS == "$LOAD_CPUS" ]] && overlap=1
    awk -v OFS='\t' -v set="$set" -v mode="$mode" -v round="$round" -v conns="$conns" \
        -v rps="$rps" -v p50="$p50" -v p99="$p99" -v errors="$errors" -v answered="$answered" \
        -v created="$created" -v sent="$sent" -v dbb="$DB_BOOKINGS" -v dbc="$DB_CHECK" \
        -v b0="$b0" -v b1="$b1" -v w0="$w0" -v w1="$w1" -v x0="$x0" -v x1="$x1" -v kt="$(kthread_delta "$k0" "$k1")" \
        -v s0="$s0" -v s1="$s1" -v l0="$l0" -v l1="$l1" -v lg="$lg" -v overlap="$overlap" \
        -v u0="$u0" -v u1="$u1" -v lgu="$(bench_secs "$lg_user")" \
        -v hz="$CLK_TCK" -v wall="$(bench_elapsed "$t0" "$t1")" \
        -v dbmb="$(awk -v b="$DB_BYTES" 'BEGIN {printf "%.1f", b / 1048576}')" '
        BEGIN {
            split(s0, as, " "); split(s1, bs, " "); split(l0, al, " "); split(l1, bl, " ")
            be = (b1 - b0) / hz; wr = (w1 - w0) / hz; px = (x1 - x0) / hz; kt = kt / hz
            busy = (bs[1] - as[1]) / hz + (overlap ? 0 : (bl[1] - al[1]) / hz)
            irq = (bs[3] - as[3] + (overlap ? 0 : bl[3] - al[3])) / hz
            steal = (bs[4] - as[4] + (overlap ? 0 : bl[4] - al[4])) / hz
            other = busy - be - px - lg - kt
            if (other < 0) other = 0   # tick-granularity rounding
            # Noise: user time nobody of ours spent (other programs: builds, tests) + steal.
            # Softirq work for our own loopback traffic that lands while a core idles is in
            # "other" but not here, so this is what decides whether a run was disturbed.
            split(u0, ua, " "); split(u1, ub, " ")
            noise = (ub[3] - ua[3] - (ub[1] - ua[1]) - (ub[2] - ua[2])) / hz - lgu
            if (noise < 0) noise = 0
            noise += steal
            n = created > 0 ? created : 1
            print set, mode, round, conns, rps, p50, p99, errors, answered, created, sent,
                  sent - answered, dbb, dbc,
                  sprintf("%.1f", be * 1e6 / n), sprintf("%.1f", px * 1e6 / n),
                  sprintf("%.1f", 100 * be / wall), sprintf("%.1f", 100 * wr / wall),
                  sprintf("%.1f", 100 * px / wall), sprintf("%.1f", 100 * lg / wall),
                  sprintf("%.1f", 100 * kt / wall), sprintf("%.1f", 100 * irq / wall),
                  sprintf("%.1f", 100 * other / wall), sprintf("%.1f", 100 * steal / wall),
                  sprintf("%.1f", 100 * (bs[1] - as[1]) / (bs[2] - as[2])),
                  sprintf("%.1f", 100 * (bl[1] - al[1]) / (bl[2] - al[2])), dbmb,
                  sprintf("%.1f", 100 * noise / wall)
        }' >>"$RAW"
    tail -1 "$RAW" | awk -F'\t' '{printf "  %-5s %-7s r%s c%-4s %6.0f bookings/s  p50 %7.2f ms  p99 %7.2f ms  err %s  db %s (%s) | cpu%%: backend %s (writer %s) proxy %s wrk %s kthreads %s other %s (noise %s) | busy%%: server %s load %s\n",
        $1, $2, $3, $4, $5, $6, $7, $8, $13, $14, $17, $18, $19, $20, $21, $23, $28, $25, $26}' >&2
    if ((errors)); then bench_log "WARNING: $errors errors in $base.log (non-201 answers $other, socket errors $sock)"; fi
    # wrk builds one request more than it has connections (observed: up to conns + 1 unanswered)
    if ((sent - answered > conns + 1)); then
        bench_log "WARNING: $((sent - answered)) requests unanswered at the end of $base.log (more than the $conns connections)"
    fi
    if ((created == 0)); then bench_log "WARNING: not one booking answered in $base.log: the server side stalled"; fi
}

# ============================================================================ setup
bench_log "starting usher proxy on 127.0.0.1:$PROXY_PORT (cpus $PROXY_CPUS) and a setup backend on 127.0.0.1:$BACKEND_PORT (cpus $SERVER_CPUS)"
start_proxy
start_backend setup

# Passes: in an `open` room every GET without a pass is let in and gets one (a new visitor each).
: >"$WORK/passes.txt"
for i in $(seq "$PASSES"); do
    p=$({ curl -sSk -D - -o /dev/null "https://127.0.0.1:$PROXY_PORT/" || true; } | tr -d '\r' |
        sed -n 's/^[Ss]et-[Cc]ookie: usher_pass=\([^;]*\);.*/\1/p')
    [[ -n $p ]] || bench_die "GET / through the proxy set no usher_pass cookie (pass $i)"
    echo "$p" >>"$WORK/passes.txt"
done
FIRST_PASS=$(head -1 "$WORK/passes.txt")
[[ $(sort -u "$WORK/passes.txt" | wc -l) -eq $PASSES ]] || bench_die "the $PASSES passes are not all different"

# Sanity: the backend refuses requests without a pass; a pass works directly (X-Usher-Pass)
# and through the proxy (cookie and header); a repeated key gets the same booking back.
create_event
got=$(direct POST "/api/events/$EVENT_ID/bookings" -H 'Idempotency-Key: nopass' -H 'Content-Type: application/json' -d '{"quantity":1}')
[[ $(code_of "$got") == 401 ]] || bench_die "a booking without a pass was not refused with 401: $(printf %q "$got")"
id1=$(book_one direct sanity-1 -H "X-Usher-Pass: $FIRST_PASS")
id2=$(book_one proxied sanity-2 -H "Cookie: usher_pass=$FIRST_PASS")
id3=$(book_one proxied sanity-3 -H "X-Usher-Pass: $FIRST_PASS")
id1b=$(book_one direct sanity-1 -H "X-Usher-Pass: $FIRST_PASS")
[[ $id1 == "$id1b" && $id1 != "$id2" && $id2 != "$id3" ]] \
    || bench_die "idempotency keys misbehave: bookings $id1/$id1b (same key), $id2, $id3"
[[ $(remaining) == $((COUPONS - 3)) ]] || bench_die "after 3 bookings remaining is $(remaining), expected $((COUPONS - 3))"
bench_tls_probe "$PROXY_PORT"
TLS_INFO="$TLS_PROTO, $TLS_CIPHER"
bench_log "sanity checks passed ($PASSES passes; proxy: $TLS_INFO)"

bench_wait_quiet
for mode in direct proxied; do
    bench_log "warm-up $mode (${WARMUP}s)"
    wrk_cmd "$mode" "$WARMUP" "$CONNS" "warmup-$mode"
    bench_loadgen "$WORK/runs/warmup-$mode.log" "${CMD[@]}"
done
stop_backend
drop_db "$BACKEND_DB"

# ============================================================================ rounds
bench_log "measuring: $ROUNDS rounds x ${DURATION}s per mode at -c$CONNS, alternating direct/proxied, a fresh database each"
for round in $(seq 1 "$ROUNDS"); do
    if ((round % 2)); then order="direct proxied"; else order="proxied direct"; fi
    for mode in $order; do bench_run_round measure main "$mode" "$round" "$CONNS"; done
done
if ((HIGH_CONNS > 0)); then
    bench_log "one run per mode at -c$HIGH_CONNS"
    for mode in direct proxied; do bench_run_round measure high "$mode" 1 "$HIGH_CONNS"; done
fi

# ============================================================================ fsync count (diagnostic)
# Counting fsync syscalls shows how many bookings share one commit. Syscall tracepoints slow
# every syscall of the backend a little, so this run is reported separately.
FSYNC_LINE=""
if [[ $FSYNC_STATS == auto ]]; then
    FSYNC_STATS=0
    command -v perf >/dev/null && perf stat -e syscalls:sys_enter_fsync -- true >/dev/null 2>&1 && FSYNC_STATS=1
fi
if [[ $FSYNC_STATS == 1 ]]; then
    bench_log "diagnostic run: direct at -c$CONNS with fsyncs counted (perf stat)"
    RUN_N=$((RUN_N + 1))
    start_backend "fsync-$RUN_N"
    create_event
    bench_wait_quiet
    wrk_cmd direct "$DURATION" "$CONNS" "fsync-$RUN_N"
    perf stat -x, -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync -p "$BACKEND_PID" \
        -o "$WORK/runs/fsync.perf" -- sleep $((DURATION + 2)) &
    perf_pid=$!
    MAIN_PIDS+=("$perf_pid")
    sleep 0.5
    bench_loadgen "$WORK/runs/fsync.log" "${CMD[@]}"
    wait "$perf_pid" 2>/dev/null || true
    bench_forget_pid "$perf_pid"
    parsed=$(parse_booking_wrk "$WORK/runs/fsync.log")
    read -r f_secs _ f_p50 f_p99 f_sent f_created _ _ <<<"$parsed"
    check_db "$f_created" "$f_sent" "fsync-$RUN_N"
    syncs=$(awk -F, '$3 ~ /sys_enter_f(data)?sync/ {s += $1} END {print s + 0}' "$WORK/runs/fsync.perf")
    FSYNC_LINE=$(awk -v c="$f_created" -v t="$f_secs" -v f="$syncs" -v p50="$f_p50" -v p99="$f_p99" -v db="$DB_CHECK" \
        -v span="$((DURATION + 2))" 'BEGIN {
        printf "%.0f bookings/s (p50 %.2f ms, p99 %.2f ms; database check %s) with %d fsync calls in the %d s window: about %.0f fsyncs/s, **%.1f bookings per fsync** (commits and WAL checkpoints both fsync, so bookings per commit is somewhat higher)",
            c / t, p50, p99, db, f, span, f / t, (f > 0 ? c / f : 0) }')
    bench_log "fsync diagnostic: $FSYNC_LINE"
fi

# ============================================================================ report
# (bench_col / bench_sum_col <set> <mode> <column>: median / sum over the rounds)
checks() {  # <set> <mode> -> "ok" if every run's database check passed
    awk -F'\t' -v s="$1" -v m="$2" 'NR > 1 && $1 == s && $2 == m {n++; if ($14 != "ok") bad++}
        END {print (bad ? bad " of " n " FAILED" : "ok (" n "/" n ")")}' "$RAW"
}
declare -A BENCH_LABELS=([direct]="direct (HTTP)" [proxied]="through the proxy (TLS)")
booking_verdict() {  # <mode label> <server busy> <load busy>: as bench_verdict, in bookings/s of a server side on its cores
    awk -v l="$1" -v pc="$2" -v lc="$3" 'BEGIN {
        if (pc >= 90 && lc >= 90) v = "both sides saturated (server cores " pc "%, load " lc "%)"
        else if (pc >= 90) v = "server-bound (server cores " pc "%, load " lc "%): bookings/s is what the server side manages on its core(s)"
        else if (lc >= 90) v = "LOAD-BOUND (load " lc "%, server cores only " pc "%): bookings/s is a lower bound"
        else v = "neither side saturated (server cores " pc "%, load " lc "%): latency/concurrency bound (waiting on commits?)"
        printf "- %s: %s\n", l, v }'
}

commit=$(bench_commit)
((OWN_BIN)) || [[ $SKIP_BUILD != 1 ]] || commit="$commit — SKIP_BUILD=1: the binary may predate these sources"
log_problems=$(cat "${BACKEND_LOGS[@]}" "$WORK/proxy.log" | grep -cE ' ERROR |panicked' || true)
cmdline="DURATION=$DURATION ROUNDS=$ROUNDS CONNS=$CONNS HIGH_CONNS=$HIGH_CONNS PASSES=$PASSES"
[[ $PROXY_PASS_VIA == cookie ]] || cmdline+=" PROXY_PASS_VIA=$PROXY_PASS_VIA"
[[ $SERVER_CPUS == 0 && $PROXY_CPUS == 0 && $LOAD_CPUS == 1 ]] \
    || cmdline+=" SERVER_CPUS=$SERVER_CPUS PROXY_CPUS=$PROXY_CPUS LOAD_CPUS=$LOAD_CPUS"
((OWN_BIN)) && cmdline="USHER_BIN=$USHER_BIN $cmdline"
cmdline+=" bash bench/booking.sh"
{
    echo "# usher backend — durable bookings/s, direct and through the proxy"
    echo
    echo "- date: $(bench_date)"
    echo "- command: \`$cmdline\`"
    echo "- machine: $(bench_machine), $(bench_memory)"
    echo "- usher: $commit, $(bench_usher_version)"
    echo "- wrk: $(bench_wrk_version); proxy TLS: $TLS_INFO"
    echo "- database: SQLite ($DURABILITY), group-commit writer; a fresh database per run in $DB_PARENT on ${DB_MOUNT:-$DB_FS}; 4 KiB O_DSYNC write ${FSYNC_PROBE_MS} ms (dd)"
    echo "- layout: backend (tokio workers: one per allowed cpu, + the writer thread) on cpu $SERVER_CPUS; proxy (1 worker) on cpu $PROXY_CPUS; wrk on cpu $LOAD_CPUS"
    echo "- load: \`wrk -t1 --timeout 10s --latency -s bench/booking.lua\`, keep-alive; each request \`POST /api/events/ID/bookings\` {\"quantity\":1}, its own Idempotency-Key, one of $PASSES passes (direct: X-Usher-Pass; proxied: $([[ $PROXY_PASS_VIA == cookie ]] && echo 'usher_pass cookie' || echo 'X-Usher-Pass'))"
    echo "- $ROUNDS rounds x ${DURATION}s per mode (after ${WARMUP}s warm-up), alternating; **medians** shown"
    bench_noise_line "user time of other programs + steal"
    echo "- server logs: $log_problems ERROR/panic line(s)"
    echo
    echo "bookings/s = 201 answers / wrk's run time. Latency: wrk --latency. errors = non-201 answers + socket"
    echo "errors (summed over rounds). Database check, per run: one confirmed booking per 201 (at most the"
    echo "requests still in flight when wrk stopped on top), remaining + bookings = count, one idempotency key and"
    echo "one outbox row per booking, WAL mode. CPU µs/booking = process utime+stime over the run / bookings."
    echo
    echo "| mode | conns | bookings/s | p50 ms | p99 ms | errors | database check | backend CPU µs/booking | proxy CPU µs/booking |"
    echo "|---|---:|---:|---:|---:|---:|---|---:|---:|"
    for set in main high; do
        [[ $set == high ]] && ((HIGH_CONNS == 0)) && continue
        for mode in direct proxied; do
            conns=$([[ $set == main ]] && echo "$CONNS" || echo "$HIGH_CONNS")
            printf '| %s%s | %s | %.0f | %.2f | %.2f | %s | %s | %.1f | %s |\n' "$(bench_label $mode)" \
                "$([[ $set == high ]] && echo ' (1 run)')" "$conns" \
                "$(bench_col $set $mode rps)" "$(bench_col $set $mode p50_ms)" "$(bench_col $set $mode p99_ms)" \
                "$(bench_sum_col $set $mode errors)" "$(checks $set $mode)" \
                "$(bench_col $set $mode backend_us_per_booking)" \
                "$([[ $mode == proxied ]] && printf '%.1f' "$(bench_col $set $mode proxy_us_per_booking)" || echo –)"
        done
    done
    echo
    for mode in direct proxied; do
        awk -v l="$(bench_label $mode)" -v r="$(bench_col main $mode rps)" -v p="$(bench_col main $mode p99_ms)" -v c="$CONNS" 'BEGIN {
            ok = (r >= 10000 && p < 100)
            printf "- target (>= 10,000 bookings/s with p99 < 100 ms), %s at -c%s: %s (%.0f bookings/s, p99 %.2f ms)\n",
                l, c, (ok ? "**met**" : "**NOT met**"), r, p }'
    done
    [[ -z $FSYNC_LINE ]] || echo "- group commit (diagnostic run, not in the table): $FSYNC_LINE"
    echo
    echo "Where the time went (medians; % of one core over the run; writer = the backend's SQLite writer thread,"
    echo "included in backend; kthreads = kernel threads such as writeback; other = busy time charged to none of"
    echo "these, mostly softirq for loopback traffic handled while a core idled; noise = user time of other"
    echo "programs + hypervisor steal):"
    echo
    echo "| mode | conns | backend % | writer % | proxy % | wrk % | kthreads % | other % | of which noise % | cpu $SERVER_CPUS busy % | cpu $LOAD_CPUS busy % | database after the run |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for set in main high; do
        [[ $set == high ]] && ((HIGH_CONNS == 0)) && continue
        for mode in direct proxied; do
            conns=$([[ $set == main ]] && echo "$CONNS" || echo "$HIGH_CONNS")
            printf '| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f MB |\n' "$(bench_label $mode)" "$conns" \
                "$(bench_col $set $mode backend_cpu_pct)" "$(bench_col $set $mode writer_cpu_pct)" "$(bench_col $set $mode proxy_cpu_pct)" \
                "$(bench_col $set $mode wrk_cpu_pct)" "$(bench_col $set $mode kthread_pct)" "$(bench_col $set $mode other_pct)" "$(bench_col $set $mode noise_pct)" \
                "$(bench_col $set $mode server_busy_pct)" "$(bench_col $set $mode load_busy_pct)" "$(bench_col $set $mode db_mb)"
        done
    done
    echo
    for mode in direct proxied; do
        booking_verdict "$(bench_label $mode) at -c$CONNS" "$(bench_col main $mode server_busy_pct)" "$(bench_col main $mode load_busy_pct)"
    done
    echo
    echo "Per-run rows: bench/out/booking/raw.tsv; wrk output: bench/out/booking/runs/."
} >"$RESULTS"

echo
cat "$RESULTS"
bench_log "results written to bench/out/booking-results.md"
