#!/usr/bin/env bash
# bench/room.sh — the waiting room's own costs: /_usher/status req/s vs nginx serving a
# static file, joins/s, and memory per waiting visitor. One run.
#
#   bash bench/room.sh                         # DURATION=10 ROUNDS=3 WARMUP=3 VISITORS=1000000
#   DURATION=30 ROUNDS=5 bash bench/room.sh
#   VISITORS=200000 bash bench/room.sh         # quicker memory test
#   SKIP_BUILD=1 bash bench/room.sh            # reuse target/release/usher
#
# Layout on a 2-core machine (see bench/README.md):
#   core 0: the server under test (usher OR nginx, one worker)
#   core 1: the load generator (wrk)
#
# Three parts, each with its own usher instance(s) and state directory:
#   1. status: usher with PRE_JOIN visitors waiting in a paused room; wrk polls
#      /_usher/status with one visitor's ticket, vs nginx serving the same bytes as a static
#      file (with and without open_file_cache). Alternating rounds, medians.
#   2. joins: wrk POSTs /_usher/join (no cookie: a new place each time) for DURATION s,
#      against a fresh usher every round. Medians.
#   3. memory: fresh usher, RSS after 1 join (baseline), then VISITORS joins, RSS again;
#      (RSS growth) / (visitors added).
#
# Everything it writes goes under bench/out/room/ (recreated on every run; bench/out/ is
# gitignored). Final report: stdout and bench/out/room-results.md.
set -euo pipefail

# ---------------------------------------------------------------------------- knobs
DURATION=${DURATION:-10}        # seconds per measured run (status, joins)
ROUNDS=${ROUNDS:-3}             # measured runs per server / of joins; medians are reported
WARMUP=${WARMUP:-3}             # seconds of warm-up per server before the status rounds
VISITORS=${VISITORS:-1000000}   # joins for the memory test
PRE_JOIN=${PRE_JOIN:-10000}     # visitors in line before the status test
STATUS_CONNS=${STATUS_CONNS:-64}  # wrk -c for status
JOIN_CONNS=${JOIN_CONNS:-64}      # wrk -c for joins/s
MEM_CONNS=${MEM_CONNS:-16}        # wrk -c for the memory test (few: per-connection buffers)
MEM_TIMEOUT=${MEM_TIMEOUT:-900}   # give up if the VISITORS joins take longer than this (s)
SKIP_BUILD=${SKIP_BUILD:-0}     # 1 = use the existing target/release/usher as is
# Noise control, as in proxy.sh: wait for a quiet machine before each run; a run during
# which more than NOISE_MAX % of a core went to anything but the server and the load
# generator is discarded and repeated (up to NOISE_RETRIES times).
NOISE_MAX=${NOISE_MAX:-10}
NOISE_RETRIES=${NOISE_RETRIES:-3}
QUIET_WAIT=${QUIET_WAIT:-120}

USHER_PORT=18443        # usher TLS listener
NGINX_PORT=18444        # nginx TLS, static file with open_file_cache
NGINX_NOFC_PORT=18445   # nginx TLS, static file, default (no open_file_cache)
ADMIN_PORT=19090        # usher admin (/readyz, /metrics)
UPSTREAM_PORT=18080     # required by usher's config; nothing listens, nothing is proxied

SERVER_CORE=0
LOAD_CORE=1

ROOM=booking
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
WORK=$OUT/room
RESULTS=$OUT/room-results.md
USHER_BIN=$ROOT/target/release/usher
CLK_TCK=$(getconf CLK_TCK)

source "$ROOT/bench/lib.sh"
LOGS=$WORK

# ---------------------------------------------------------------------------- prerequisites
[[ $(nproc) -ge 2 ]] || die "needs at least 2 CPU cores (server on core 0, load on core 1)"
[[ $VISITORS -ge 1000 && $PRE_JOIN -ge 2 ]] || die "VISITORS must be >= 1000 and PRE_JOIN >= 2"

need_tools nginx:nginx wrk:wrk openssl:openssl curl:curl
# Ports must be free: a leftover process would silently be benchmarked instead.
ports_free $USHER_PORT $NGINX_PORT $NGINX_NOFC_PORT $ADMIN_PORT

# Only this script's own output is replaced; bench/out/ may hold proxy.sh's results.
rm -rf "$WORK" "$RESULTS"
mkdir -p "$WORK"/{nginx/html,runs}

build_usher

# ---------------------------------------------------------------------------- certificate
make_cert

# ---------------------------------------------------------------------------- configs
# usher: usher_config in bench/lib.sh (one worker, warn, TLS 1.3, one paused room on "/").
# wrk script for joins: POST /_usher/join without a cookie (a new place each time). It
# checks every 200 answer is a paused place with a ticket (wrk itself counts non-2xx), and
# with a count argument (`-- N`) stops after N answers.
cat >"$WORK/join.lua" <<'EOF'
wrk.method = "POST"
wrk.path = "/_usher/join?room=booking"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  limit = tonumber(args[1] or "0") or 0
  n = 0; bad = 0; firstbad = ""
end
function response(status, headers, body)
  n = n + 1
  if status == 200 and not (string.find(body, '"state":"paused"', 1, true)
                           and string.find(body, '"ticket":"', 1, true)) then
    bad = bad + 1
    if firstbad == "" then firstbad = body end
  end
  if limit > 0 and n >= limit then wrk.thread:stop() end
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("join.lua: answers %d, unexpected 200 bodies %d\n", t:get("n"), t:get("bad")))
    local fb = t:get("firstbad")
    if fb ~= "" then io.write("join.lua: first unexpected body: " .. fb .. "\n") end
  end
end
EOF

# nginx: one worker, TLS 1.3, h2 + http/1.1 by ALPN, keep-alive, no access log, serving
# one small JSON file (written later: the exact bytes of usher's status answer). Two
# servers in the same worker: with open_file_cache (what a tuned static server does; no
# open/fstat/close per request) and with nginx's defaults.
nginx_temp_paths() {
    local t
    for t in client_body proxy fastcgi uwsgi scgi; do echo "    ${t}_temp_path $WORK/nginx/tmp_$t;"; done
}
nginx_server() {  # $1 = port, $2 = extra directives
    cat <<EOF
    server {
        listen 127.0.0.1:$1 ssl http2;
        ssl_certificate     $WORK/cert.pem;
        ssl_certificate_key $WORK/key.pem;
        ssl_protocols       TLSv1.3;
        root $WORK/nginx/html;$2
        location = /status.json { add_header Cache-Control no-store; }
    }
EOF
}
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
$(nginx_temp_paths)
    keepalive_timeout 75s;
    keepalive_requests 10000000;
    types { application/json json; }
$(nginx_server "$NGINX_PORT" '
        open_file_cache max=1000 inactive=60s;
        open_file_cache_valid 60s;')
$(nginx_server "$NGINX_NOFC_PORT" '')
}
EOF

# ---------------------------------------------------------------------------- servers

start_nginx() {  # sets NGINX_MASTER / NGINX_WORKER
    local dir=$WORK/nginx
    nginx -t -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/config-test.log" 2>&1 \
        || { cat "$dir/config-test.log" >&2; die "nginx config $dir/nginx.conf is invalid"; }
    taskset -c "$SERVER_CORE" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
        >"$dir/stdout.log" 2>&1 &
    NGINX_MASTER=$!
    MAIN_PIDS+=("$NGINX_MASTER")
    NGINX_WORKER=""
    for _ in $(seq 100); do
        NGINX_WORKER=$(ps -o pid= --ppid "$NGINX_MASTER" 2>/dev/null | head -1 | tr -d ' ' || true)
        [[ -n $NGINX_WORKER ]] && break
        alive "$NGINX_MASTER" || die "nginx exited: $(cat "$dir/error.log" 2>/dev/null)"
        sleep 0.1
    done
    [[ -n $NGINX_WORKER ]] || die "nginx started no worker"
    EXTRA_PIDS+=("$NGINX_WORKER")
}

stop_nginx() {
    kill -TERM "$NGINX_MASTER" 2>/dev/null || true
    for _ in $(seq 100); do alive "$NGINX_MASTER" || break; sleep 0.1; done
    alive "$NGINX_MASTER" && kill -KILL "$NGINX_MASTER" 2>/dev/null
    alive "$NGINX_WORKER" && kill -KILL "$NGINX_WORKER" 2>/dev/null
    wait "$NGINX_MASTER" 2>/dev/null || true
    forget_pid "$NGINX_MASTER"; forget_pid "$NGINX_WORKER"
}

# ---------------------------------------------------------------------------- helpers
# (the usher, curl, wrk and round helpers are in bench/lib.sh)
status_kb() {  # VmRSS / VmHWM (kB) of pid $1
    awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"
}

# ---------------------------------------------------------------------------- measured runs
RAW=$WORK/raw.tsv
printf '%s\t' test server round rps p50_ms p99_ms cpu_us_per_req requests errors \
    server_cpu_pct loadgen_cpu_pct irq_pct other_pct steal_pct \
    server_core_busy_pct load_core_busy_pct waiting_after | sed 's/\t$/\n/' >"$RAW"

status_cmd() {  # $1 = server, $2 = seconds; the same request bytes except the path
    local url
    case $1 in
        usher)       url="https://127.0.0.1:$USHER_PORT/_usher/status?room=$ROOM" ;;
        nginx)       url="https://127.0.0.1:$NGINX_PORT/status.json" ;;
        nginx-nofc)  url="https://127.0.0.1:$NGINX_NOFC_PORT/status.json" ;;
    esac
    CMD=(wrk -t1 -c"$STATUS_CONNS" -d"$2"s --latency -H "Cookie: usher_ticket=$TICKET" "$url")
}
join_cmd() {  # $1 = seconds, $2 = connections, [$3 = stop after this many answers]
    CMD=(wrk -t1 -c"$2" -d"$1"s --latency -s "$WORK/join.lua" "https://127.0.0.1:$USHER_PORT/")
    [[ -z ${3:-} ]] || CMD+=(-- "$3")
}

JOIN_INSTANCE=0
# measure <status|join> <server> <round>: one measured run; appends a row to raw.tsv.
measure() {
    local test=$1 server=$2 round=$3 pid base
    base=$WORK/runs/$test-$server-r$round
    if [[ $test == join ]]; then
        # A fresh usher (empty line, fresh state dir) for every joins run.
        JOIN_INSTANCE=$((JOIN_INSTANCE + 1))
        start_usher "join-$JOIN_INSTANCE"
        wait_quiet
        join_cmd "$DURATION" "$JOIN_CONNS"
    else
        status_cmd "$server" "$DURATION"
    fi
    if [[ $server == usher ]]; then pid=$USHER_PID; else pid=$NGINX_WORKER; fi
    alive "$pid" || die "$server (pid $pid) is not running"

    local p0 p1 c0 c1 c0b c1b t_start t_end
    p0=$(proc_ticks "$pid")
    c0=$(core_ticks "$SERVER_CORE"); c1=$(core_ticks "$LOAD_CORE")
    t_start=$(now)
    loadgen "$base.log" "${CMD[@]}"
    t_end=$(now)
    p1=$(proc_ticks "$pid")
    c0b=$(core_ticks "$SERVER_CORE"); c1b=$(core_ticks "$LOAD_CORE")

    local rps reqs p50 p99 non2xx sock bad errors waiting="-"
    read -r rps reqs p50 p99 non2xx sock bad < <(parse_wrk "$base.log")
    errors=$((non2xx + sock + bad))
    if [[ $test == join ]]; then
        # Every answered join is a waiting visitor; up to JOIN_CONNS more were in flight
        # when wrk stopped (processed by usher, answer not counted by wrk).
        waiting=$(waiting_settled)
        if [[ $waiting == missing ]] || ((waiting < reqs || waiting > reqs + JOIN_CONNS)); then
            log "WARNING: usher reports $waiting waiting after $reqs answered joins (expected $reqs..$((reqs + JOIN_CONNS)))"
        fi
        stop_usher
    fi

    local wall
    wall=$(awk -v a="$t_start" -v b="$t_end" 'BEGIN {print b - a}')
    awk -v OFS='\t' -v test="$test" -v server="$server" -v round="$round" \
        -v rps="$rps" -v p50="$p50" -v p99="$p99" -v reqs="$reqs" -v errors="$errors" \
        -v p0="$p0" -v p1="$p1" -v hz="$CLK_TCK" -v wall="$wall" -v waiting="$waiting" \
        -v lg="$(loadgen_cpu_s "$base.log")" \
        -v c0="$c0" -v c0b="$c0b" -v c1="$c1" -v c1b="$c1b" '
        BEGIN {
            split(c0, a0, " "); split(c0b, b0, " "); split(c1, a1, " "); split(c1b, b1, " ")
            cpu = (p1 - p0) / hz
            busy = (b0[1] - a0[1] + b1[1] - a1[1]) / hz
            irq = (b0[3] - a0[3] + b1[3] - a1[3]) / hz
            steal = (b0[4] - a0[4] + b1[4] - a1[4]) / hz
            other = busy - cpu - lg
            if (other < 0) other = 0   # tick-granularity rounding
            print test, server, round, rps, p50, p99,
                  sprintf("%.2f", cpu * 1e6 / reqs), reqs, errors,
                  sprintf("%.1f", 100 * cpu / wall),
                  sprintf("%.1f", 100 * lg / wall),
                  sprintf("%.1f", 100 * irq / wall),
                  sprintf("%.1f", 100 * other / wall),
                  sprintf("%.1f", 100 * steal / wall),
                  sprintf("%.1f", 100 * (b0[1] - a0[1]) / (b0[2] - a0[2])),
                  sprintf("%.1f", 100 * (b1[1] - a1[1]) / (b1[2] - a1[2])),
                  waiting
        }' >>"$RAW"
    tail -1 "$RAW" | awk -F'\t' '{printf "  %-6s %-10s round %s: %7.0f req/s  p50 %.3f ms  p99 %.3f ms  %5.1f us/req  err %s | cpu%%: server %s loadgen %s other %s | core busy%%: server %s load %s\n",
        $1, $2, $3, $4, $5, $6, $7, $9, $10, $11, $13, $15, $16}' >&2
    if [[ $errors -ne 0 ]]; then
        log "WARNING: $errors errors in $base.log (non-2xx $non2xx, socket $sock, unexpected bodies $bad)"
    fi
}

# join_until <count> <connections> <log> [trace file]: `count` new visitors with wrk +
# join.lua (stops after `count` answers); ends wrk (SIGINT: it then prints its summary)
# once /metrics shows them all waiting. Sets JOIN_SECS (start until the metric reached the
# target, so ±0.1 s) and JOIN_CPU_S (usher CPU seconds meanwhile). With a trace file,
# samples "seconds waiting VmRSS_kB" every ~0.1 s.
join_until() {
    local count=$1 conns=$2 logf=$3 trace=${4:-} start target t0 p0 w wrk_pid=""
    start=$(waiting_settled)
    target=$((start + count))
    join_cmd "$MEM_TIMEOUT" "$conns" "$count"
    p0=$(proc_ticks "$USHER_PID")
    t0=$(now)
    loadgen_start "$logf" "${CMD[@]}"
    [[ -z $trace ]] || printf 'seconds\twaiting\trss_kb\n' >"$trace"
    while :; do
        [[ -n $wrk_pid ]] || wrk_pid=$(ps -o pid=,comm= --ppid "$LOADGEN_PID" 2>/dev/null | awk '$2 == "wrk" {print $1}')
        w=$(waiting_count)
        [[ -z $trace ]] || printf '%s\t%s\t%s\n' "$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}')" \
            "$w" "$(status_kb "$USHER_PID" VmRSS)" >>"$trace"
        [[ $w != missing ]] && ((w >= target)) && break
        alive "$USHER_PID" || die "usher died during the joins (log: $WORK/usher-$USHER_NAME/usher.log)"
        alive "$LOADGEN_PID" || { loadgen_wait; cat "$logf" >&2; die "wrk ended before $count joins were waiting (waiting: $w, target $target)"; }
        sleep 0.1
    done
    JOIN_SECS=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}')
    JOIN_CPU_S=$(awk -v a="$p0" -v b="$(proc_ticks "$USHER_PID")" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / hz}')
    for _ in $(seq 50); do
        [[ -n $wrk_pid ]] && break
        wrk_pid=$(ps -o pid=,comm= --ppid "$LOADGEN_PID" 2>/dev/null | awk '$2 == "wrk" {print $1}')
        sleep 0.1
    done
    [[ -n $wrk_pid ]] && kill -INT "$wrk_pid" 2>/dev/null
    loadgen_wait
    local rps reqs p50 p99 non2xx sock bad
    read -r rps reqs p50 p99 non2xx sock bad < <(parse_wrk "$logf")
    if ((non2xx + sock + bad)); then
        log "WARNING: joins in $logf: non-2xx $non2xx, socket errors $sock, unexpected bodies $bad"
    fi
    JOIN_ERRORS=$((non2xx + sock + bad))
    JOIN_P50=$p50; JOIN_P99=$p99
}

# ============================================================================ 1. status
log "part 1: /_usher/status vs nginx static file"
start_usher status
# The polling visitor stands in the middle of the line: PRE_JOIN/2 ahead, the rest behind.
join_until $((PRE_JOIN / 2)) 16 "$WORK/runs/prejoin-1.log"
join_one
join_until $((PRE_JOIN - PRE_JOIN / 2 - 1)) 16 "$WORK/runs/prejoin-2.log"
STATUS_WAITING=$(waiting_settled)
STATUS_BODY=$(status_of "$TICKET")
STATUS_AHEAD=$(json_num ahead "$STATUS_BODY")
STATUS_BEHIND=$(json_num behind "$STATUS_BODY")
[[ -n $STATUS_AHEAD && $STATUS_AHEAD -gt 0 && -n $STATUS_BEHIND && $STATUS_BEHIND -gt 0 ]] \
    || die "status answer does not place the visitor mid-line: $STATUS_BODY"
# The Authorization: Bearer form must give the same standing (apps poll this way).
bearer=$(curl_usher "/_usher/status?room=$ROOM" -H "Authorization: Bearer $TICKET")
[[ ${bearer##*|} == 200 && $bearer == *"\"ahead\":$STATUS_AHEAD,"* ]] \
    || die "status with Authorization: Bearer differs: $(printf %q "$bearer")"
log "line: $STATUS_WAITING waiting; the polling visitor: $STATUS_BODY"

# nginx serves the very bytes of usher's status answer.
printf '%s' "$STATUS_BODY" >"$WORK/nginx/html/status.json"
STATIC_BYTES=$(wc -c <"$WORK/nginx/html/status.json")
start_nginx
for port in $NGINX_PORT $NGINX_NOFC_PORT; do
    wait_for "nginx on $port" curl -sf --cacert "$WORK/cert.pem" "https://127.0.0.1:$port/status.json"
    got=$(curl -sS --cacert "$WORK/cert.pem" "https://127.0.0.1:$port/status.json")
    [[ $got == "$STATUS_BODY" ]] || die "nginx on $port served unexpected: $(printf %q "$got")"
done

TLS_INFO=()
for s in usher:$USHER_PORT nginx:$NGINX_PORT; do
    out=$(openssl s_client -connect "127.0.0.1:${s#*:}" -brief </dev/null 2>&1 | tr -d '\0' || true)
    proto=$(awk -F': ' '/^Protocol version/{print $2}' <<<"$out")
    cipher=$(awk -F': ' '/^Ciphersuite/{print $2}' <<<"$out")
    kx=$(awk -F': ' '/^(Server Temp Key|Negotiated TLS1.3 group)/{print $2; exit}' <<<"$out")
    [[ $proto == TLSv1.3 ]] || die "${s%%:*} negotiated '$proto', expected TLSv1.3"
    TLS_INFO+=("${s%%:*}: $proto, $cipher${kx:+, $kx}")
done
log "sanity checks passed: ${TLS_INFO[0]}; ${TLS_INFO[1]}"

SERVERS=(usher nginx nginx-nofc)
log "measuring status: ${ROUNDS} rounds x ${DURATION}s per server, rotating the order"
wait_quiet
for s in "${SERVERS[@]}"; do
    log "warm-up $s (${WARMUP}s)"
    status_cmd "$s" "$WARMUP"
    loadgen "$WORK/runs/status-$s-warmup.log" "${CMD[@]}"
done
for round in $(seq 1 "$ROUNDS"); do
    # Rotate who goes first so slow drift (thermal, neighbours) hits all equally.
    for i in 0 1 2; do
        run_round status "${SERVERS[$(((round - 1 + i) % 3))]}" "$round"
    done
done
# Polling must not have changed anything: same standing, same line.
after=$(status_of "$TICKET")
[[ $(json_num ahead "$after") == "$STATUS_AHEAD" && $(json_num behind "$after") == "$STATUS_BEHIND" ]] \
    || log "WARNING: the polling visitor's standing changed during the status runs: before $STATUS_BODY, after $after"
w=$(waiting_settled)
[[ $w == "$STATUS_WAITING" ]] || log "WARNING: waiting count changed during the status runs: $STATUS_WAITING -> $w"
stop_usher
stop_nginx

# ============================================================================ 2. joins/s
log "part 2: joins/s: ${ROUNDS} rounds x ${DURATION}s, a fresh usher each"
for round in $(seq 1 "$ROUNDS"); do
    run_round join usher "$round"
done

# ============================================================================ 3. memory
log "part 3: memory per waiting visitor ($VISITORS joins, wrk -c$MEM_CONNS)"
start_usher memory
sleep 1
MEM_START_RSS=$(status_kb "$USHER_PID" VmRSS)
join_one
MEM_TICKET=$TICKET
# Open MEM_CONNS connections and poll for 2 s first, so TLS sessions, connection buffers and
# allocator arenas for that many connections are in the baseline, not in the growth.
CMD=(wrk -t1 -c"$MEM_CONNS" -d2s -H "Cookie: usher_ticket=$MEM_TICKET" "https://127.0.0.1:$USHER_PORT/_usher/status?room=$ROOM")
loadgen "$WORK/runs/memory-warm.log" "${CMD[@]}"
sleep 1
MEM_W0=$(waiting_settled)
MEM_RSS0=$(status_kb "$USHER_PID" VmRSS); MEM_HWM0=$(status_kb "$USHER_PID" VmHWM)
log "baseline: $MEM_W0 waiting, VmRSS ${MEM_RSS0} kB, VmHWM ${MEM_HWM0} kB (${MEM_START_RSS} kB right after start)"
wait_quiet
join_until "$VISITORS" "$MEM_CONNS" "$WORK/runs/memory-joins.log" "$WORK/memory-trace.tsv"
MEM_SECS=$JOIN_SECS; MEM_CPU=$JOIN_CPU_S; MEM_ERRORS=$JOIN_ERRORS; MEM_P50=$JOIN_P50; MEM_P99=$JOIN_P99
sleep 1
MEM_W1=$(waiting_settled)
MEM_RSS1=$(status_kb "$USHER_PID" VmRSS); MEM_HWM1=$(status_kb "$USHER_PID" VmHWM)
MEM_ADDED=$((MEM_W1 - MEM_W0))
log "after: $MEM_W1 waiting (+$MEM_ADDED in ${MEM_SECS}s), VmRSS ${MEM_RSS1} kB, VmHWM ${MEM_HWM1} kB"
# The first visitor now has everybody behind them.
first=$(status_of "$MEM_TICKET")
[[ $(json_num ahead "$first") == 0 && $(json_num behind "$first") == $((MEM_W1 - 1)) ]] \
    || log "WARNING: first visitor's standing after $VISITORS joins is unexpected (waiting $MEM_W1): $first"
MEM_STATE_BYTES=$(stat -c %s "$WORK/usher-memory/state/state.json" 2>/dev/null || echo "?")
stop_usher

# ---------------------------------------------------------------------------- report
label() {
    case $1 in
        usher) echo "usher \`GET /_usher/status\`" ;;
        nginx) echo "nginx static file, open_file_cache" ;;
        nginx-nofc) echo "nginx static file, default config" ;;
    esac
}
log_problems=$(cat "${USHER_LOGS[@]}" | grep -cE ' ERROR |panicked' || true)
{
    echo "# usher waiting room — status, joins, memory"
    echo
    about_run
    echo "- nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(openssl version)"
    echo "- wrk: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
    echo "- TLS: ${TLS_INFO[0]}; ${TLS_INFO[1]}"
    echo "- layout: server on core $SERVER_CORE (1 worker); wrk on core $LOAD_CORE; HTTP/1.1 keep-alive over TLS 1.3"
    echo "- room: one room, mode \`paused\` (everybody waits, nobody is called), abandon_after 1h"
    noise_line
    echo "- usher logs: $log_problems ERROR/panic line(s)"
    echo
    echo "## \`/_usher/status\` vs nginx static file"
    echo
    echo "\`wrk -t1 -c$STATUS_CONNS --latency\`, ${ROUNDS} rounds x ${DURATION}s per server (after ${WARMUP}s warm-up), rotating order; **medians**."
    echo "usher: $STATUS_WAITING visitors waiting; the polled ticket (Cookie) stands at ahead $STATUS_AHEAD, behind $STATUS_BEHIND."
    echo "nginx serves the same $STATIC_BYTES-byte JSON body as a file (\`Cache-Control: no-store\` like usher); the same"
    echo "\`Cookie\` header is sent to both. CPU µs/req = server process utime+stime over the run / requests."
    echo
    echo "| server | req/s | p50 ms | p99 ms | CPU µs/req | errors |"
    echo "|---|---:|---:|---:|---:|---:|"
    for s in usher nginx nginx-nofc; do
        printf '| %s | %.0f | %.3f | %.3f | %.1f | %s |\n' "$(label $s)" \
            "$(col status $s rps)" "$(col status $s p50_ms)" "$(col status $s p99_ms)" \
            "$(col status $s cpu_us_per_req)" "$(sum_col status $s errors)"
    done
    echo
    for s in nginx nginx-nofc; do
        awk -v l="$(label $s)" \
            -v ur="$(col status usher rps)" -v nr="$(col status $s rps)" \
            -v u99="$(col status usher p99_ms)" -v n99="$(col status $s p99_ms)" \
            -v uc="$(col status usher cpu_us_per_req)" -v nc="$(col status $s cpu_us_per_req)" \
            'BEGIN {printf "- usher status / %s: rps ratio **%.2f** (target >= 0.80: %s), p99 ratio %.2f, CPU/req ratio %.2f\n",
                    l, ur / nr, (ur / nr >= 0.8 ? "met" : "**NOT met**"), u99 / n99, uc / nc}'
    done
    echo
    echo "| server | server CPU % | wrk CPU % | other % | server core busy % | load core busy % |"
    echo "|---|---:|---:|---:|---:|---:|"
    for s in usher nginx nginx-nofc; do
        printf '| %s | %.0f | %.0f | %.0f | %.0f | %.0f |\n' "$(label $s)" \
            "$(col status $s server_cpu_pct)" "$(col status $s loadgen_cpu_pct)" "$(col status $s other_pct)" \
            "$(col status $s server_core_busy_pct)" "$(col status $s load_core_busy_pct)"
    done
    echo
    for s in usher nginx nginx-nofc; do
        verdict "$(label $s)" "$(col status $s server_core_busy_pct)" "$(col status $s load_core_busy_pct)"
    done
    echo
    echo "## joins/s"
    echo
    echo "\`wrk -t1 -c$JOIN_CONNS --latency\` POSTing \`/_usher/join?room=$ROOM\` without a cookie (every answer a new place),"
    echo "${ROUNDS} rounds x ${DURATION}s, each against a fresh usher (empty line); **medians**. errors = non-2xx + socket"
    echo "errors + 200 answers that are not a paused place with a ticket, summed over rounds."
    echo
    echo "| joins/s | p50 ms | p99 ms | CPU µs/join | errors | waiting after a run | server core busy % | load core busy % |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '| %.0f | %.3f | %.3f | %.1f | %s | %.0f | %.0f | %.0f |\n' \
        "$(col join usher rps)" "$(col join usher p50_ms)" "$(col join usher p99_ms)" \
        "$(col join usher cpu_us_per_req)" "$(sum_col join usher errors)" "$(col join usher waiting_after)" \
        "$(col join usher server_core_busy_pct)" "$(col join usher load_core_busy_pct)"
    echo
    verdict "joins" "$(col join usher server_core_busy_pct)" "$(col join usher load_core_busy_pct)"
    echo
    echo "## memory per waiting visitor"
    echo
    echo "Fresh usher; baseline after 1 join and 2 s of status polling on $MEM_CONNS connections; then $VISITORS joins"
    echo "(\`wrk -t1 -c$MEM_CONNS\`, stopped once /metrics showed them all waiting), 1 s pause, VmRSS/VmHWM from /proc/PID/status."
    echo
    echo "| | waiting | VmRSS kB | VmHWM kB |"
    echo "|---|---:|---:|---:|"
    echo "| right after start | – | $MEM_START_RSS | – |"
    echo "| baseline | $MEM_W0 | $MEM_RSS0 | $MEM_HWM0 |"
    echo "| after the joins | $MEM_W1 | $MEM_RSS1 | $MEM_HWM1 |"
    echo
    awk -v r0="$MEM_RSS0" -v r1="$MEM_RSS1" -v h0="$MEM_HWM0" -v h1="$MEM_HWM1" -v n="$MEM_ADDED" \
        -v t="$MEM_SECS" -v cpu="$MEM_CPU" -v e="$MEM_ERRORS" -v p50="$MEM_P50" -v p99="$MEM_P99" 'BEGIN {
        b = (r1 - r0) * 1024 / n
        printf "- **%.1f bytes per waiting visitor** (VmRSS growth %.1f MiB / %d visitors added; target <= 100: %s)\n",
               b, (r1 - r0) / 1024, n, (b <= 100 ? "met" : "**NOT met**")
        printf "- peak (VmHWM) growth: %.1f bytes per visitor (%.1f MiB)\n", (h1 - h0) * 1024 / n, (h1 - h0) / 1024
        printf "- the %d joins took %.1f s (%.0f joins/s at -c'"$MEM_CONNS"', p50 %.3f ms, p99 %.3f ms), usher CPU %.1f µs/join; errors: %d\n",
               n, t, n / t, p50, p99, cpu * 1e6 / n, e }'
    echo "- state file after the joins: $MEM_STATE_BYTES bytes"
    echo
    echo "Per-run rows: bench/out/room/raw.tsv; wrk output: bench/out/room/runs/; RSS while joining:"
    echo "bench/out/room/memory-trace.tsv."
} >"$RESULTS"

echo
cat "$RESULTS"
log "results written to bench/out/room-results.md"
