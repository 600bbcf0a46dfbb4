#!/usr/bin/env bash
# bench/rush.sh — the rushes of docs/DESIGN.md §1, rehearsed end to end on this machine:
# `usher rush` (simulated visitors over HTTPS) → usher (the proxy, TLS) → the bundled
# booking backend (SQLite, durable commits). Each scenario is a scheduled sale: visitors
# arrive in its pre-queue, the order is drawn at the start, the room calls them at its
# pace, they book.
#
#   bash bench/rush.sh                       # all three scenarios
#   SCENARIOS=coupon bash bench/rush.sh      # one of: coupon ktx tickets
#   SKIP_BUILD=1 bash bench/rush.sh          # reuse target/release/usher
#   RUNS=3 bash bench/rush.sh                # repeat each scenario; medians are reported
#
# Scenarios (the incidents of docs/DESIGN.md §1):
#   coupon  — 1,111 coupons, 100,000 visitors (the coupon event: sold out in 1.89 s, and
#             oversold)
#   ktx     — a KTX train (18 cars × 13 rows × 4 = 936 seats, 2 per booking), 200,000
#             visitors (the KTX holiday booking)
#   tickets — 50,000 tickets, 55,000 visitors (NETicket's 50,000-booking test)
#
# Everything runs on this machine's cores together (rush client, proxy, backend): nothing
# is pinned, so the numbers are what one 2-core box does for the whole chain. After each
# run the database is checked: bookings ≤ capacity, and the rows match what rush saw.
# Output: a table on stdout and bench/out/rush/results.md; each run's JSON summary and
# HTML report under bench/out/rush/<scenario>-<run>/.
set -euo pipefail

SCENARIOS=${SCENARIOS:-"coupon ktx tickets"}
RUNS=${RUNS:-1}
SKIP_BUILD=${SKIP_BUILD:-0}
LEAD=${LEAD:-8}              # seconds between the last arrival and the sale's start
CONNECTIONS=${CONNECTIONS:-16}  # HTTP/2 connections the visitors share

USHER_PORT=18543
ADMIN_PORT=19190
BACKEND_PORT=18180

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$ROOT/bench/out/rush
LOGS=$WORK
USHER_BIN=$ROOT/target/release/usher
CLK_TCK=$(getconf CLK_TCK)
# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"

bench_need_tools curl:curl openssl:openssl jq:jq sqlite3:sqlite3
bench_ports_free $USHER_PORT $ADMIN_PORT $BACKEND_PORT
rm -rf "$WORK"
mkdir -p "$WORK"
bench_build_usher
bench_make_cert
"$USHER_BIN" keygen --out "$WORK/keys" --name pass-bench >/dev/null
ADMIN_TOKEN=$(openssl rand -hex 16)
# The fd limit: visitors share a few HTTP/2 connections, but a reconnecting visitor
# opens its own, and the proxy holds both ends of every one.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# scenario <name> → VISITORS SPIKE QUANTITY MAX_ACTIVE PER_MINUTE LAYOUT TITLE CAPACITY
scenario() {
    case $1 in
    coupon)
        VISITORS=100000 SPIKE=20 QUANTITY=1 MAX_ACTIVE=2000 PER_MINUTE=120000
        LAYOUT='{"kind":"coupon","count":1111}' CAPACITY=1111
        TITLE="11,000 KRW coupon × 1,111" ;;
    ktx)
        VISITORS=200000 SPIKE=40 QUANTITY=2 MAX_ACTIVE=2000 PER_MINUTE=120000
        LAYOUT='{"kind":"train","cars":18,"rows_per_car":13}' CAPACITY=936
        TITLE="KTX Seoul → Busan, Chuseok 07:00" ;;
    tickets)
        VISITORS=55000 SPIKE=20 QUANTITY=1 MAX_ACTIVE=4000 PER_MINUTE=480000
        LAYOUT='{"kind":"coupon","count":50000}' CAPACITY=50000
        TITLE="Ticket open: 50,000 seats" ;;
    *) bench_die "unknown scenario $1 (coupon, ktx, tickets)" ;;
    esac
}

start_backend() {  # $1 = dir
    cat >"$1/backend.toml" <<EOF
listen = "127.0.0.1:$BACKEND_PORT"
database = "$1/backend.db"
admin_token = "$ADMIN_TOKEN"
[passes]
issuer = "usher-bench"
audience = "booking"
public_keys = ["$WORK/keys/pass-bench.pub"]
EOF
    "$USHER_BIN" backend -c "$1/backend.toml" >"$1/backend.log" 2>&1 &
    BACKEND_PID=$!
    MAIN_PIDS+=("$BACKEND_PID")
    bench_wait_for "backend" curl -s -o /dev/null "http://127.0.0.1:$BACKEND_PORT/"
}

create_event() {  # → EVENT_ID
    local body
    body=$(jq -nc --arg t "$TITLE" --argjson l "$LAYOUT" --argjson at "$(($(date +%s) + 86400))" \
        '{title: $t, venue: "bench", starts_at: $at, price: 0, layout: $l}')
    EVENT_ID=$(curl -sf -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \
        -d "$body" "http://127.0.0.1:$BACKEND_PORT/api/admin/events" | jq -r '.id // empty')
    [[ -n $EVENT_ID ]] || bench_die "could not create the event ($body)"
}

start_proxy() {  # $1 = dir, $2 = start (Unix seconds)
    cat >"$1/usher.toml" <<EOF
[listen]
public = "127.0.0.1:$USHER_PORT"
admin = "127.0.0.1:$ADMIN_PORT"
[tls]
cert = "$WORK/cert.pem"
key = "$WORK/key.pem"
[upstream]
servers = ["127.0.0.1:$BACKEND_PORT"]
[passes]
issuer = "usher-bench"
signing_key = "$WORK/keys/pass-bench.key"
[state]
dir = "$1/state"
[log]
level = "warn"
[[rooms]]
# One room for the event; its name is the pass audience the backend checks. When the
# backend answers X-Usher-Sold-Out, the room closes and the line hears it at once.
name = "booking"
paths = ["/api/events/$EVENT_ID"]
close_when_sold_out = true
mode = "queue"
max_active = $MAX_ACTIVE
new_per_minute = $PER_MINUTE
session_idle = "2m"
claim_window = "30s"
abandon_after = "2m"
prequeue_start = "$(date -u -d "@$(($2 - 3600))" +%Y-%m-%dT%H:%M:%SZ)"
start = "$(date -u -d "@$2" +%Y-%m-%dT%H:%M:%SZ)"
EOF
    "$USHER_BIN" check-config -c "$1/usher.toml" >/dev/null || bench_die "bench config refused: $1/usher.toml"
    "$USHER_BIN" proxy -c "$1/usher.toml" >"$1/usher.log" 2>&1 &
    PROXY_PID=$!
    MAIN_PIDS+=("$PROXY_PID")
    bench_wait_for "usher" sh -c "[ \"\$(curl -s http://127.0.0.1:$ADMIN_PORT/readyz)\" = ready ]"
}

stop_all() {
    bench_stop_pid "$PROXY_PID" "usher proxy"
    bench_stop_pid "$BACKEND_PID" "backend"
}

RAW=$WORK/raw.tsv
printf 'scenario\trun\tvisitors\tjoined\tadmitted\tbooked\tunits\tcapacity\tdb_units\toversold\terrors\topen_to_sold_out_s\tfirst_arrival_to_sold_out_s\trequests\tpolls\tjoin_p99_ms\tbook_p99_ms\tduration_s\tcpu\n' >"$RAW"

run_scenario() {  # $1 = scenario, $2 = run
    scenario "$1"
    local dir=$WORK/$1-$2
    mkdir -p "$dir"
    start_backend "$dir"
    create_event
    # The sale starts LEAD seconds after the last arrival (startup included).
    local start=$(($(date +%s) + SPIKE + LEAD))
    start_proxy "$dir" "$start"
    bench_log "$1 run $2: $VISITORS visitors over ${SPIKE}s into the pre-queue; the sale opens at $(date -d "@$start" +%T); event $EVENT_ID ($CAPACITY)"
    local rc=0 p0 b0 p1 b1 rush_cpu user sys
    p0=$(bench_proc_ticks "$PROXY_PID"); b0=$(bench_proc_ticks "$BACKEND_PID")
    # `times` in the subshell: the rush client's own user+sys time.
    ( "$USHER_BIN" rush --target "https://127.0.0.1:$USHER_PORT" --ca "$WORK/cert.pem" \
        --visitors "$VISITORS" --arrival "spike:${SPIKE}s" --event "$EVENT_ID" \
        --quantity "$QUANTITY" --connections "$CONNECTIONS" --timeout 300s \
        --report "$dir/report.html" --json >"$dir/summary.json" 2>"$dir/rush.log"; rc=$?
      times >"$dir/rush.times"; exit $rc ) || rc=$?
    [[ -s $dir/summary.json ]] || bench_die "rush failed (status $rc): $(tail -5 "$dir/rush.log")"
    p1=$(bench_proc_ticks "$PROXY_PID"); b1=$(bench_proc_ticks "$BACKEND_PID")
    stop_all
    read -r user sys < <(sed -n 2p "$dir/rush.times")
    rush_cpu=$(awk -v a="$(bench_secs "$user")" -v b="$(bench_secs "$sys")" 'BEGIN {printf "%.1f", a + b}')
    CPU_LINE="proxy $(awk -v a="$p0" -v b="$p1" -v hz="$CLK_TCK" 'BEGIN {printf "%.1f", (b - a) / hz}') s, backend $(awk -v a="$b0" -v b="$b1" -v hz="$CLK_TCK" 'BEGIN {printf "%.1f", (b - a) / hz}') s, rush client $rush_cpu s"
    # The database after the run: units in confirmed bookings, and the event's own count.
    local db_units remaining
    db_units=$(sqlite3 "$dir/backend.db" \
        "SELECT COALESCE(SUM(quantity), 0) FROM bookings WHERE event_id = $EVENT_ID AND status = 'confirmed'")
    remaining=$(sqlite3 "$dir/backend.db" "SELECT remaining FROM events WHERE id = $EVENT_ID")
    [[ $((db_units + remaining)) -eq $CAPACITY ]] \
        || bench_log "WARNING: bookings ($db_units) + remaining ($remaining) != capacity ($CAPACITY)"
    jq -r --arg s "$1" --arg r "$2" --arg cap "$CAPACITY" --arg db "$db_units" '
        def s(ms): if ms == null then "" else (ms / 1000 | tostring) end;
        [$s, $r, .visitors, .joined, .admitted, .booked, .units, $cap, $db,
         (.oversold // "?"), .errors_total, s(.sold_out_after_open_ms), s(.sold_out_after_ms),
         .requests, .polls, (.latency.join.p99 // ""), (.latency.book.p99 // ""),
         (.duration_ms / 1000), $cpu] | @tsv' --arg cpu "$CPU_LINE" "$dir/summary.json" >>"$RAW"
    tail -1 "$RAW" | awk -F'\t' '{printf "  %s: booked %s (%s units of %s; database %s), oversold %s, errors %s, sale opened → sold out %s s; %s requests in %s s; CPU: %s\n",
        $1, $6, $7, $8, $9, $10, $11, $12, $14, $18, $19}' >&2
    [[ $db_units -le $CAPACITY ]] || bench_log "WARNING: the database holds $db_units units of $CAPACITY"
}

for name in $SCENARIOS; do
    for r in $(seq 1 "$RUNS"); do run_scenario "$name" "$r"; done
done

med() { awk -F'\t' -v s="$1" -v c="$2" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == c) k = i; next}
        $1 == s && $k != "" {print $k}' "$RAW" | bench_median; }
results=$WORK/results.md
{
    echo "# usher rush — the seeds' scenarios"
    echo
    echo "- date: $(bench_date); machine: $(nproc) cores, $(bench_cpu_model)"
    echo "- usher: commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown); rush client, proxy and backend share the machine (nothing pinned)"
    echo "- each: a scheduled sale, visitors arrive in its pre-queue (spike), order drawn at the start; $RUNS run(s), medians"
    echo
    echo "| scenario | visitors | capacity | booked | units | database | oversold | errors | sale opened → sold out | requests | book p99 ms |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for s in $SCENARIOS; do
        scenario "$s"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s s | %s | %s |\n' "$s" "$VISITORS" "$CAPACITY" \
            "$(med "$s" booked)" "$(med "$s" units)" "$(med "$s" db_units)" \
            "$(awk -F'\t' -v s="$s" '$1 == s {o += $10} END {print o + 0}' "$RAW")" \
            "$(awk -F'\t' -v s="$s" '$1 == s {e += $11} END {print e + 0}' "$RAW")" \
            "$(med "$s" open_to_sold_out_s)" "$(med "$s" requests)" "$(med "$s" book_p99_ms)"
    done
    echo
    echo "Per-run rows: bench/out/rush/raw.tsv; summaries and reports: bench/out/rush/<scenario>-<run>/."
} >"$results"
cat "$results"
