#!/usr/bin/env bash
# bench/cluster.sh — `GET /_usher/status` for ticket holders with the Redis store, one run:
#   (a) ONE usher node on the memory store (baseline)
#   (b) ONE usher node on Redis
#   (c) TWO usher nodes on the same Redis, the load split across both
# req/s, p50/p99, CPU per request of usher and of redis-server, and Redis operations per
# request from Redis's own counters (INFO commandstats / total_commands_processed).
#
#   bash bench/cluster.sh                     # DURATION=10 ROUNDS=3 WARMUP=3 PRE_JOIN=10000
#   DURATION=30 ROUNDS=5 bash bench/cluster.sh
#   SKIP_BUILD=1 bash bench/cluster.sh        # reuse target/release/usher
#   USHER_BIN=/path/to/usher bash bench/cluster.sh   # that binary (e.g. built from a clean HEAD)
#   REDIS_CORE=1 bash bench/cluster.sh        # redis-server next to wrk instead of the nodes
#
# Layout on a 2-core machine (see bench/README.md, "cluster.sh"):
#   core 0: every usher node (1 worker each) + redis-server — the whole server side
#   core 1: wrk (-t2; one thread per node in (c))
# Two nodes on one core cannot show horizontal scaling; see the README for what (c) shows.
#
# Everything it writes goes under bench/out/cluster/ (recreated on every run; bench/out/ is
# gitignored). Final report: stdout and bench/out/cluster-results.md.
set -euo pipefail

# ---------------------------------------------------------------------------- knobs
DURATION=${DURATION:-10}        # seconds per measured run
ROUNDS=${ROUNDS:-3}             # measured runs per configuration; medians are reported
WARMUP=${WARMUP:-3}             # seconds of warm-up per configuration before the rounds
PRE_JOIN=${PRE_JOIN:-10000}     # visitors in line (in each store) before polling
TICKETS=${TICKETS:-1000}        # of those, how many distinct tickets wrk rotates through
CONNS=${CONNS:-64}              # wrk -c (split evenly over the threads)
THREADS=${THREADS:-2}           # wrk -t, in every configuration (so the load side is the same)
IDLE_SECS=${IDLE_SECS:-5}       # length of each idle window measuring Redis's background rate
SKIP_BUILD=${SKIP_BUILD:-0}     # 1 = use the existing target/release/usher as is
# Noise control, as in proxy.sh / room.sh: wait for a quiet machine before each run; a run
# during which more than NOISE_MAX % of a core went to anything but usher, redis-server and
# wrk is discarded and repeated (up to NOISE_RETRIES times).
NOISE_MAX=${NOISE_MAX:-10}
NOISE_RETRIES=${NOISE_RETRIES:-3}
QUIET_WAIT=${QUIET_WAIT:-120}

SERVER_CORE=${SERVER_CORE:-0}           # the usher nodes
REDIS_CORE=${REDIS_CORE:-$SERVER_CORE}  # redis-server
LOAD_CORE=${LOAD_CORE:-1}               # wrk

MEM_PORT=18643 MEM_ADMIN=19290      # (a) node on the memory store
NODE1_PORT=18644 NODE1_ADMIN=19291  # Redis node 1: (b) and (c)
NODE2_PORT=18645 NODE2_ADMIN=19292  # Redis node 2: (c) (idle, only ticking, during (b))
REDIS_PORT=${REDIS_PORT:-18679}
UPSTREAM_PORT=18080                 # required by usher's config; nothing is proxied

ROOM=booking
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
WORK=$OUT/cluster
RESULTS=$OUT/cluster-results.md
OWN_BIN=0
if [[ -n ${USHER_BIN:-} ]]; then OWN_BIN=1; else USHER_BIN=$ROOT/target/release/usher; fi
CLK_TCK=$(getconf CLK_TCK)
CONFIGS=(mem redis1 redis2)

# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"
LOGS=$WORK

# ---------------------------------------------------------------------------- prerequisites
[[ $(nproc) -ge 2 ]] || bench_die "needs at least 2 CPU cores (server side on core 0, wrk on core 1)"
((PRE_JOIN >= 10 && TICKETS >= 1 && TICKETS <= PRE_JOIN)) || bench_die "need PRE_JOIN >= 10 and 1 <= TICKETS <= PRE_JOIN"
bench_need_tools wrk:wrk openssl:openssl curl:curl redis-server:redis-server redis-cli:redis-tools
bench_ports_free $MEM_PORT $MEM_ADMIN $NODE1_PORT $NODE1_ADMIN $NODE2_PORT $NODE2_ADMIN "$REDIS_PORT"

rm -rf "$WORK" "$RESULTS"
mkdir -p "$WORK"/{runs,redis,keys}
bench_build_usher
bench_make_cert

# ---------------------------------------------------------------------------- shared secrets
# Every node (the memory one too, so the three differ only in [store]) signs passes with
# one key and tickets with one secret: a ticket from any Redis node is good on the other.
"$USHER_BIN" keygen --out "$WORK/keys" --name pass-bench >"$WORK/keygen.log" 2>&1 \
    || { cat "$WORK/keygen.log" >&2; bench_die "usher keygen failed"; }
head -c 32 /dev/urandom >"$WORK/keys/ticket.key"
chmod 600 "$WORK/keys/ticket.key"
STATE_LINES="ticket_secret = \"$WORK/keys/ticket.key\""
PASSES="[passes]
signing_key = \"$WORK/keys/pass-bench.key\""
STORE="[store]
url = \"redis://127.0.0.1:$REDIS_PORT/0\""

# ---------------------------------------------------------------------------- redis
# A private redis-server in bench/out/cluster/redis: loopback only, no persistence at all
# (AOF off, no RDB snapshots) — this measures the request path, not disk writes.
redis_cli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
bench_log "starting redis-server on 127.0.0.1:$REDIS_PORT (core $REDIS_CORE, AOF off, no snapshots)"
taskset -c "$REDIS_CORE" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK/redis" \
    --appendonly no --save '' --protected-mode yes --daemonize no \
    --logfile "$WORK/redis/redis.log" >"$WORK/redis/stdout.log" 2>&1 &
REDIS_PID=$!
MAIN_PIDS+=("$REDIS_PID")
bench_wait_for "redis-server" redis_cli ping
[[ $(redis_cli ping) == PONG ]] || bench_die "redis-server does not answer PING (log: $WORK/redis/redis.log)"

# redis_snapshot <file>: "command calls usec failed_calls" per command that ran so far, and
# "_total <total_commands_processed>" (which counts commands run inside scripts too).
redis_snapshot() {
    { redis_cli info commandstats; redis_cli info stats; } | tr -d '\r' | awk -F'[:,=]' '
        /^cmdstat_/ {sub(/^cmdstat_/, "", $1); delete v
                     for (i = 2; i < NF; i += 2) v[$i] = $(i + 1)
                     print $1, v["calls"], v["usec"], v["failed_calls"] + v["rejected_calls"]}
        /^total_commands_processed:/ {print "_total", $2, 0, 0}' >"$1"
}
# redis_delta <before> <after>: the same, for what ran in between. Our own INFO calls are
# left out, from the per-command lines and from _total (commandstats counts them exactly).
redis_delta() {
    awk 'NR == FNR {c[$1] = $2; u[$1] = $3; f[$1] = $4; next}
        {d[$1] = $2 - c[$1]; du[$1] = $3 - u[$1]; df[$1] = $4 - f[$1]}
        END {for (k in d) if (k != "info" && k != "_total" && d[k] > 0) print k, d[k], du[k], df[k]
             print "_total", d["_total"] - d["info"], 0, 0}' "$1" "$2"
}

# ---------------------------------------------------------------------------- nodes
bench_log "starting usher: memory node :$MEM_PORT, Redis nodes :$NODE1_PORT and :$NODE2_PORT (core $SERVER_CORE)"
bench_start_usher memory "$MEM_PORT" "$MEM_ADMIN" "$STATE_LINES" "$PASSES"
MEM_PID=$USHER_PID
bench_start_usher node1 "$NODE1_PORT" "$NODE1_ADMIN" "$STATE_LINES" "$PASSES
$STORE"
NODE1_PID=$USHER_PID
bench_start_usher node2 "$NODE2_PORT" "$NODE2_ADMIN" "$STATE_LINES" "$PASSES
$STORE"
NODE2_PID=$USHER_PID
ALL_USHERS=("$MEM_PID" "$NODE1_PID" "$NODE2_PID")

# ---------------------------------------------------------------------------- the line
# join_many <port> <count> <tickets file>: `count` joins with one curl (one keep-alive
# connection); appends each answer's ticket to the file; dies unless every answer is a
# paused place with a ticket.
join_many() {
    local port=$1 count=$2 out=$3 raw=$WORK/joins-$1.out got
    seq "$count" | sed "s|.*|url = \"https://127.0.0.1:$port/_usher/join?room=$ROOM\"|" >"$WORK/joins-$port.curl"
    taskset -c "$LOAD_CORE" curl -sS --cacert "$WORK/cert.pem" -X POST -w '\n' \
        -K "$WORK/joins-$port.curl" >"$raw" || bench_die "curl joins on :$port failed"
    got=$(grep -c '"state":"paused".*"ticket":"' "$raw" || true)
    ((got == count)) || bench_die "$got of $count joins on :$port were paused places with a ticket (answers: $raw)"
    sed -n 's/.*"ticket":"\([^"]*\)".*/\1/p' "$raw" >>"$out"
}
# spread <all tickets> <n>: n tickets evenly spaced through the line
spread() {
    awk -v n="$2" -v t="$(wc -l <"$1")" 'BEGIN {step = t / n; k = 0; next_line = 1}
        NR == next_line && k < n {print; k++; next_line = int(k * step) + 1}' "$1"
}
# standing <port> <ticket>: "ahead behind" through that node (dies unless 200 + paused)
standing() {
    local b
    b=$(USHER_PORT=$1 bench_status_of "$2")
    echo "$(bench_json_num ahead "$b") $(bench_json_num behind "$b")"
}

bench_log "joining $PRE_JOIN visitors on the memory node, and $PRE_JOIN on Redis (half through each node)"
join_many "$MEM_PORT" "$PRE_JOIN" "$WORK/all-mem.tickets"
join_many "$NODE1_PORT" $((PRE_JOIN / 2)) "$WORK/all-redis.tickets"
join_many "$NODE2_PORT" $((PRE_JOIN - PRE_JOIN / 2)) "$WORK/all-redis.tickets"
for a in $MEM_ADMIN $NODE1_ADMIN $NODE2_ADMIN; do
    w=$(bench_waiting_settled "$a")
    [[ $w == "$PRE_JOIN" ]] || bench_die "node with admin :$a reports $w waiting, expected $PRE_JOIN"
done
spread "$WORK/all-mem.tickets" "$TICKETS" >"$WORK/mem.tickets"
spread "$WORK/all-redis.tickets" "$TICKETS" >"$WORK/redis.tickets"
[[ $(wc -l <"$WORK/redis.tickets") == "$TICKETS" ]] || bench_die "could not pick $TICKETS tickets"

# Sample visitors: the first, middle and last polled ones. One line across Redis nodes:
# each node must give a Redis ticket the same standing, whichever node it joined through.
SAMPLES=(1 $(((TICKETS + 1) / 2)) "$TICKETS")
declare -A BEFORE
for i in "${SAMPLES[@]}"; do
    mt=$(sed -n "${i}p" "$WORK/mem.tickets"); rt=$(sed -n "${i}p" "$WORK/redis.tickets")
    BEFORE[mem$i]=$(standing "$MEM_PORT" "$mt")
    BEFORE[redis$i]=$(standing "$NODE1_PORT" "$rt")
    s2=$(standing "$NODE2_PORT" "$rt")
    [[ ${BEFORE[redis$i]} == "$s2" ]] || bench_die "ticket $i: node 1 says ${BEFORE[redis$i]}, node 2 says $s2"
    read -r ahead behind <<<"${BEFORE[redis$i]}"
    ((ahead + behind + 1 == PRE_JOIN)) || bench_die "ticket $i: ahead $ahead + behind $behind + 1 != $PRE_JOIN"
done
bench_log "line: $PRE_JOIN waiting in each store; $TICKETS tickets polled; sample standings (ahead behind):" \
    "memory ${BEFORE[mem1]} / ${BEFORE[mem${SAMPLES[1]}]} / ${BEFORE[mem$TICKETS]}," \
    "Redis (same on both nodes) ${BEFORE[redis1]} / ${BEFORE[redis${SAMPLES[1]}]} / ${BEFORE[redis$TICKETS]}"
REDIS_MEM_USED=$(redis_cli info memory | tr -d '\r' | awk -F: '$1 == "used_memory_human" {print $2}')

# ---------------------------------------------------------------------------- measured runs
RAW=$WORK/raw.tsv
printf '%s\t' test config round rps p50_ms p99_ms requests errors node1_share \
    usher_us_per_req redis_us_per_req usher_cpu_pct redis_cpu_pct loadgen_cpu_pct \
    idle_nodes_cpu_pct other_pct server_core_busy_pct load_core_busy_pct wall_s \
    | sed 's/\t$/\n/' >"$RAW"
REDIS_RAW=$WORK/redis-commands.tsv   # config round command calls usec failed (per run)
printf 'config\tround\tcommand\tcalls\tusec\tfailed\n' >"$REDIS_RAW"

ports_of() {  # <config> -> the ports wrk spreads its threads over
    case $1 in
        mem) echo "$MEM_PORT" ;;
        redis1) echo "$NODE1_PORT" ;;
        redis2) echo "$NODE1_PORT,$NODE2_PORT" ;;
    esac
}
serving_pids() {  # <config> -> the node(s) answering
    case $1 in
        mem) echo "$MEM_PID" ;;
        redis1) echo "$NODE1_PID" ;;
        redis2) echo "$NODE1_PID $NODE2_PID" ;;
    esac
}
status_cmd() {  # <config> <seconds>: one wrk, THREADS threads spread over the config's nodes
    local store=redis ports
    [[ $1 == mem ]] && store=mem
    ports=$(ports_of "$1")
    CMD=(env STATUS_PORTS="$ports" STATUS_TICKETS="$WORK/$store.tickets" STATUS_ROOM="$ROOM"
         wrk -t"$THREADS" -c"$CONNS" -d"$2"s --latency -s "$ROOT/bench/status.lua"
         "https://127.0.0.1:${ports%%,*}/_usher/status?room=$ROOM")
}
ticks_sum() { local p t=0; for p in "$@"; do t=$((t + $(bench_proc_ticks "$p"))); done; echo "$t"; }
CORES=$(printf '%s\n' "$SERVER_CORE" "$REDIS_CORE" "$LOAD_CORE" | sort -un | paste -sd' ' -)
cores_busy() {  # "busy total" jiffies summed over CORES
    local c
    for c in $CORES; do bench_core_ticks "$c"; done | awk '{b += $1; t += $2} END {print b, t}'
}

# measure <config> <round>: one measured run; appends a row to RAW and its Redis command
# counts to REDIS_RAW.
measure() {
    local config=$1 round=$2 base=$WORK/runs/$1-r$2 serving
    serving=$(serving_pids "$config")
    status_cmd "$config" "$DURATION"
    local s0 s1 a0 a1 r0 r1 cs0 cs1 cl0 cl1 cc0 cc1 t0 t1
    # shellcheck disable=SC2086 # serving is a list of pids
    s0=$(ticks_sum $serving); a0=$(ticks_sum "${ALL_USHERS[@]}"); r0=$(bench_proc_ticks "$REDIS_PID")
    cs0=$(bench_core_ticks "$SERVER_CORE"); cl0=$(bench_core_ticks "$LOAD_CORE"); cc0=$(cores_busy)
    redis_snapshot "$base.redis0"
    t0=$(bench_now)
    bench_loadgen "$base.log" "${CMD[@]}"
    t1=$(bench_now)
    redis_snapshot "$base.redis1"
    # shellcheck disable=SC2086
    s1=$(ticks_sum $serving); a1=$(ticks_sum "${ALL_USHERS[@]}"); r1=$(bench_proc_ticks "$REDIS_PID")
    cs1=$(bench_core_ticks "$SERVER_CORE"); cl1=$(bench_core_ticks "$LOAD_CORE"); cc1=$(cores_busy)

    local parsed rps reqs p50 p99 non2xx sock bad share
    parsed=$(bench_parse_wrk "$base.log")
    read -r rps reqs p50 p99 non2xx sock bad <<<"$parsed"
    share=$(awk -v p="$NODE1_PORT" '/^status.lua: thread/ {t += $NF; if ($5 == p) a += $NF}
        END {printf "%.3f", t ? a / t : 0}' "$base.log")
    # A repeated (disturbed) run replaces the counts of the one bench_run_round discarded.
    awk -F'\t' -v c="$config" -v r="$round" '!($1 == c && $2 == r)' "$REDIS_RAW" >"$REDIS_RAW.tmp"
    redis_delta "$base.redis0" "$base.redis1" | awk -v c="$config" -v r="$round" -v OFS='\t' \
        '{print c, r, $1, $2, $3, $4}' >>"$REDIS_RAW.tmp"
    mv "$REDIS_RAW.tmp" "$REDIS_RAW"

    awk -v OFS='\t' -v config="$config" -v round="$round" -v rps="$rps" -v p50="$p50" \
        -v p99="$p99" -v reqs="$reqs" -v errors=$((non2xx + sock + bad)) -v share="$share" \
        -v s="$((s1 - s0))" -v a="$((a1 - a0))" -v r="$((r1 - r0))" -v hz="$CLK_TCK" \
        -v lg="$(bench_loadgen_cpu_s "$base.log")" -v wall="$(bench_elapsed "$t0" "$t1")" \
        -v cs="$cs0 $cs1" -v cl="$cl0 $cl1" -v cc="$cc0 $cc1" '
        function pct(x) { return sprintf("%.1f", 100 * x / wall) }
        BEGIN {
            split(cs, S, " "); split(cl, L, " "); split(cc, C, " ")
            us = s / hz; idle = (a - s) / hz; rs = r / hz
            other = (C[3] - C[1]) / hz - a / hz - rs - lg
            if (other < 0) other = 0   # tick-granularity rounding
            print "status", config, round, rps, p50, p99, reqs, errors, share,
                  sprintf("%.2f", us * 1e6 / reqs), sprintf("%.2f", rs * 1e6 / reqs),
                  pct(us), pct(rs), pct(lg), pct(idle), pct(other),
                  sprintf("%.1f", 100 * (S[5] - S[1]) / (S[6] - S[2])),
                  sprintf("%.1f", 100 * (L[5] - L[1]) / (L[6] - L[2])),
                  sprintf("%.3f", wall)
        }' >>"$RAW"
    tail -1 "$RAW" | awk -F'\t' '{printf "  %-6s round %s: %7.0f req/s  p50 %.3f ms  p99 %.3f ms  err %s  node1 %s | us/req: usher %s redis %s | cpu%%: usher %s redis %s wrk %s idle-nodes %s other %s | core busy%%: server %s load %s\n",
        $2, $3, $4, $5, $6, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18}' >&2
    ((non2xx + sock + bad == 0)) || bench_log "WARNING: errors in $base.log (non-2xx $non2xx, socket $sock)"
}

# idle_window <name>: Redis commands while nobody polls (the nodes' own ticks) -> IDLE_RAW
IDLE_RAW=$WORK/redis-idle.tsv   # window seconds command calls
printf 'window\tseconds\tcommand\tcalls\n' >"$IDLE_RAW"
idle_window() {
    local t0 t1
    redis_snapshot "$WORK/idle-$1.0"; t0=$(bench_now)
    sleep "$IDLE_SECS"
    redis_snapshot "$WORK/idle-$1.1"; t1=$(bench_now)
    redis_delta "$WORK/idle-$1.0" "$WORK/idle-$1.1" | awk -v w="$1" -v OFS='\t' \
        -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')" '{print w, s, $1, $2}' >>"$IDLE_RAW"
}

declare -A BENCH_LABELS=([mem]="(a) 1 node, memory store" [redis1]="(b) 1 node, Redis" [redis2]="(c) 2 nodes, same Redis")

bench_log "warm-up: ${WARMUP}s per configuration"
bench_wait_quiet
for c in "${CONFIGS[@]}"; do
    status_cmd "$c" "$WARMUP"
    bench_loadgen "$WORK/runs/$c-warmup.log" "${CMD[@]}"
done
bench_log "Redis background (nodes ticking, nobody polling): ${IDLE_SECS}s"
idle_window before
bench_log "measuring: ${ROUNDS} rounds x ${DURATION}s per configuration, rotating the order"
for round in $(seq 1 "$ROUNDS"); do
    # Rotate who goes first so slow drift (thermal, neighbours) hits all equally.
    for i in 0 1 2; do
        bench_run_round measure "${CONFIGS[$(((round - 1 + i) % 3))]}" "$round"
    done
done
bench_log "Redis background again: ${IDLE_SECS}s"
idle_window after

# Polling changes nobody's place: same standings, same line.
for i in "${SAMPLES[@]}"; do
    [[ $(standing "$MEM_PORT" "$(sed -n "${i}p" "$WORK/mem.tickets")") == "${BEFORE[mem$i]}" ]] \
        || bench_log "WARNING: memory ticket $i changed standing during the runs"
    for p in $NODE1_PORT $NODE2_PORT; do
        [[ $(standing "$p" "$(sed -n "${i}p" "$WORK/redis.tickets")") == "${BEFORE[redis$i]}" ]] \
            || bench_log "WARNING: Redis ticket $i changed standing (via :$p) during the runs"
    done
done
for a in $MEM_ADMIN $NODE1_ADMIN $NODE2_ADMIN; do
    w=$(bench_waiting_settled "$a")
    [[ $w == "$PRE_JOIN" ]] || bench_log "WARNING: node with admin :$a reports $w waiting after the runs (was $PRE_JOIN)"
done

# ---------------------------------------------------------------------------- report
# Background rate per command (calls/s), from both idle windows together.
bg_rates() {
    awk -F'\t' 'NR == 1 {next} !($1 in s) {s[$1] = $2; secs += $2} {c[$3] += $4}
        END {for (k in c) print k, c[k] / secs}' "$IDLE_RAW"
}
# redis_per_req <config>: "command calls/req usec/call" net of the background, over all
# rounds of the config; _total = every command Redis ran (inside scripts too).
redis_per_req() {
    local reqs wall
    reqs=$(awk -F'\t' -v c="$1" 'NR > 1 && $2 == c {n += $7} END {print n}' "$RAW")
    wall=$(awk -F'\t' -v c="$1" 'NR > 1 && $2 == c {w += $19} END {print w}' "$RAW")
    awk -F'\t' -v c="$1" -v n="$reqs" -v w="$wall" '
        NR == FNR {split($0, f, " "); bg[f[1]] = f[2]; next}
        FNR > 1 && $1 == c {calls[$3] += $4; usec[$3] += $5; fail[$3] += $6}
        END {for (k in calls) {net = calls[k] - bg[k] * w; if (net < 0) net = 0
             printf "%s %.4f %.2f %d\n", k, net / n, calls[k] ? usec[k] / calls[k] : 0, fail[k]}}' \
        <(bg_rates) "$REDIS_RAW" | LC_ALL=C sort
}
per_req() {  # <config> <command> -> calls per request (net)
    redis_per_req "$1" | awk -v k="$2" '$1 == k {v = $2} END {printf "%.3f", v + 0}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b ? a / b : 0}'; }

log_problems=$(cat "${USHER_LOGS[@]}" | grep -cE ' ERROR |panicked|redis unavailable' || true)
cmdline="DURATION=$DURATION ROUNDS=$ROUNDS bash bench/cluster.sh"
((OWN_BIN)) && cmdline="USHER_BIN=$USHER_BIN $cmdline"
{
    echo "# usher on Redis — \`/_usher/status\` with one and two nodes"
    echo
    echo "Command: \`$cmdline\` (WARMUP=$WARMUP PRE_JOIN=$PRE_JOIN TICKETS=$TICKETS CONNS=$CONNS THREADS=$THREADS)"
    echo
    bench_about_run
    echo "- redis: $(redis-server --version | awk '{print $3}' | sed 's/^v=//'), private instance on loopback, **AOF off, no RDB snapshots**; used_memory with the line: $REDIS_MEM_USED"
    echo "- wrk: $(bench_wrk_version); HTTP/1.1 keep-alive over TLS 1.3 (usher \`tls.min_version = \"1.3\"\`)"
    echo "- layout ($(nproc) cores): usher nodes on core $SERVER_CORE (\`workers = 1\` each, log level warn), redis-server on core $REDIS_CORE, wrk on core $LOAD_CORE"
    echo "- room: one room on \"/\", mode \`paused\` (everybody waits, nobody is called), abandon_after 1h; all three nodes run throughout (an idle node only ticks)"
    bench_noise_line other
    echo "- usher logs: $log_problems ERROR / panic / \"redis unavailable\" line(s)"
    echo
    echo "## \`GET /_usher/status\` for ticket holders"
    echo
    echo "$PRE_JOIN visitors joined each store first (the memory node's line; one Redis line, half of it joined"
    echo "through each Redis node). wrk (\`-t$THREADS -c$CONNS --latency\`, \`bench/status.lua\`) sends every request with the"
    echo "next of $TICKETS different tickets spread evenly through the line (\`Cookie: usher_ticket=…\`); in (c) one wrk"
    echo "thread per node, so each node gets half the connections. ${ROUNDS} rounds x ${DURATION}s per configuration after"
    echo "${WARMUP}s warm-up each, rotating order; **medians**. CPU µs/req = utime+stime of the answering node(s) /"
    echo "of redis-server over the run, divided by requests served."
    echo
    echo "| configuration | req/s | p50 ms | p99 ms | usher CPU µs/req | redis CPU µs/req | EVALSHA/req | Redis commands/req | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for c in "${CONFIGS[@]}"; do
        printf '| %s | %.0f | %.3f | %.3f | %.1f | %.1f | %s | %s | %s |\n' "$(bench_label "$c")" \
            "$(bench_col status "$c" rps)" "$(bench_col status "$c" p50_ms)" "$(bench_col status "$c" p99_ms)" \
            "$(bench_col status "$c" usher_us_per_req)" "$(bench_col status "$c" redis_us_per_req)" \
            "$(per_req "$c" evalsha)" "$(per_req "$c" _total)" "$(bench_sum_col status "$c" errors)"
    done
    echo
    echo "- (c): node 1 got $(awk -v s="$(bench_col status redis2 node1_share)" 'BEGIN {printf "%.0f", 100 * s}')% of the requests (wrk's per-thread counts), node 2 the rest"
    echo "- **(b)/(a) = $(ratio "$(bench_col status redis1 rps)" "$(bench_col status mem rps)")** req/s (Redis store vs memory store, one node);" \
         "p99 ratio $(ratio "$(bench_col status redis1 p99_ms)" "$(bench_col status mem p99_ms)");" \
         "usher CPU/req ratio $(ratio "$(bench_col status redis1 usher_us_per_req)" "$(bench_col status mem usher_us_per_req)")"
    echo "- **(c)/(b) = $(ratio "$(bench_col status redis2 rps)" "$(bench_col status redis1 rps)")** req/s (two nodes vs one, same Redis, same cores);" \
         "p99 ratio $(ratio "$(bench_col status redis2 p99_ms)" "$(bench_col status redis1 p99_ms)");" \
         "Redis commands/req ratio $(ratio "$(per_req redis2 _total)" "$(per_req redis1 _total)")"
    for c in "${CONFIGS[@]}"; do
        awk -v l="$(bench_label "$c")" -v u="$(bench_col status "$c" usher_us_per_req)" -v r="$(bench_col status "$c" redis_us_per_req)" \
            'BEGIN {printf "%s%s %.1f µs", (l ~ /^\(a\)/ ? "- server-side CPU per request (usher + redis-server): " : "; "), l, u + r}'
    done
    echo
    awk -v u="$(bench_col status redis1 usher_us_per_req)" -v r="$(bench_col status redis1 redis_us_per_req)" 'BEGIN {
        printf "- projection from (b)'\''s CPU costs, not measured here: one core of redis-server would answer about %.0f polls/s\n", 1e6 / r
        printf "  (1,000,000 / %.1f µs) for any number of nodes; one node with Redis elsewhere about %.0f polls/s per core (1,000,000 / %.1f µs)\n", r, 1e6 / u, u }'
    echo
    echo "Where the time went (medians; % of one core over the run; idle nodes = the nodes not being polled, ticking):"
    echo
    echo "| configuration | usher % | redis % | wrk % | idle nodes % | other % | core $SERVER_CORE busy % | core $LOAD_CORE busy % |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for c in "${CONFIGS[@]}"; do
        printf '| %s | %.0f | %.0f | %.0f | %.1f | %.1f | %.0f | %.0f |\n' "$(bench_label "$c")" \
            "$(bench_col status "$c" usher_cpu_pct)" "$(bench_col status "$c" redis_cpu_pct)" \
            "$(bench_col status "$c" loadgen_cpu_pct)" "$(bench_col status "$c" idle_nodes_cpu_pct)" \
            "$(bench_col status "$c" other_pct)" "$(bench_col status "$c" server_core_busy_pct)" \
            "$(bench_col status "$c" load_core_busy_pct)"
    done
    echo
    for c in "${CONFIGS[@]}"; do
        bench_verdict "$(bench_label "$c")" "$(bench_col status "$c" server_core_busy_pct)" "$(bench_col status "$c" load_core_busy_pct)"
    done
    echo
    echo "## Redis operations per request"
    echo
    echo "From Redis's own counters: \`INFO commandstats\` and \`total_commands_processed\` before and after every run"
    echo "(our INFO calls left out), summed over the rounds, minus the background the nodes make without any"
    echo "request (each ticks every 100 ms: a tick script and a stats script per room; measured over two idle"
    echo "windows of ${IDLE_SECS}s, $(bg_rates | awk '$1 == "_total" {printf "%.0f", $2}') commands/s), divided by the requests wrk completed. Commands run"
    echo "inside a script are counted by Redis too (\"Redis commands/req\" includes them); only EVALSHA is a round trip."
    echo "(A hair above 1.000: the up to $CONNS requests in flight when wrk stops are served but not counted by wrk.)"
    echo
    echo "| command | (a) calls/req | (b) calls/req | (c) calls/req | µs/call (b) | failed (b+c) |"
    echo "|---|---:|---:|---:|---:|---:|"
    LC_ALL=C join -a1 -a2 -e0 -o 0,1.2,2.2 <(redis_per_req redis1 | awk '{print $1, $2}') \
        <(redis_per_req redis2 | awk '{print $1, $2}') | while read -r k b c; do
        # The ticks' own commands net out to ~0 once the background is subtracted.
        [[ $k == _total ]] || awk -v b="$b" -v c="$c" 'BEGIN {exit !(b < 0.005 && c < 0.005)}' && continue
        fb=$(redis_per_req redis1 | awk -v k="$k" '$1 == k {print $3, $4}')
        fc=$(redis_per_req redis2 | awk -v k="$k" '$1 == k {print $4}')
        printf '| %s | %s | %.3f | %.3f | %s | %s |\n' "$k" "$(per_req mem "$k")" "$b" "$c" \
            "${fb% *}" "$(( ${fb#* } + ${fc:-0} ))"
    done
    printf '| **all commands** | %s | %s | %s | | |\n' "$(per_req mem _total)" "$(per_req redis1 _total)" "$(per_req redis2 _total)"
    echo
    echo "(µs/call is Redis's own execution time; a script's time includes the commands it runs. Commands below"
    echo "0.005 calls/req in (b) and (c) — the ticks' SET, PEXPIRE, ZRANGEBYSCORE… — are left out: they are background.)"
    echo
    echo "Per-run rows: bench/out/cluster/raw.tsv; Redis counts per run: bench/out/cluster/redis-commands.tsv and"
    echo "redis-idle.tsv; wrk output: bench/out/cluster/runs/; node configs and logs: bench/out/cluster/usher-*/."
} >"$RESULTS"

echo
cat "$RESULTS"
bench_log "results written to bench/out/cluster-results.md"
