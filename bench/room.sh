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

# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"
LOGS=$WORK

# ---------------------------------------------------------------------------- prerequisites
[[ $(nproc) -ge 2 ]] || bench_die "needs at least 2 CPU cores (server on core 0, load on core 1)"
[[ $VISITORS -ge 1000 && $PRE_JOIN -ge 2 ]] || bench_die "VISITORS must be >= 1000 and PRE_JOIN >= 2"

bench_need_tools nginx:nginx wrk:wrk openssl:openssl curl:curl
# Ports must be free: a leftover process would silently be benchmarked instead.
bench_ports_free $USHER_PORT $NGINX_PORT $NGINX_NOFC_PORT $ADMIN_PORT

# Only this script's own output is replaced; bench/out/ may hold proxy.sh's results.
rm -rf "$WORK" "$RESULTS"
mkdir -p "$WORK"/{nginx/html,runs}

bench_build_usher

# ---------------------------------------------------------------------------- certificate
bench_make_cert

# ---------------------------------------------------------------------------- configs
# usher: bench_usher_config in bench/lib.sh (one worker, warn, TLS 1.3, one paused room on "/").
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
{
    bench_nginx_common "$WORK/nginx"
    cat <<EOF
http {
    access_log off;
$(bench_nginx_temp_paths "$WORK/nginx")
    keepalive_timeout 75s;
    keepalive_requests 10000000;
    types { application/json json; }
$(nginx_server "$NGINX_PORT" '
        open_file_cache max=1000 inactive=60s;
        open_file_cache_valid 60s;')
$(nginx_server "$NGINX_NOFC_PORT" '')
}
EOF
} >"$WORK/nginx/nginx.conf"

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
        bench_start_usher "join-$JOIN_INSTANCE"
        bench_wait_quiet
        join_cmd "$DURATION" "$JOIN_CONNS"
    else
        status_cmd "$server" "$DURATION"
    fi
    if [[ $server == usher ]]; then pid=$USHER_PID; else pid=$NGINX_WORKER; fi
    bench_alive "$pid" || bench_die "$server (pid $pid) is not running"

    local p0 p1 c0 c1 c0b c1b t_start t_end
    p0=$(bench_proc_ticks "$pid")
    c0=$(bench_core_ticks "$SERVER_CORE"); c1=$(bench_core_ticks "$LOAD_CORE")
    t_start=$(bench_now)
    bench_loadgen "$base.log" "${CMD[@]}"
    t_end=$(bench_now)
    p1=$(bench_proc_ticks "$pid")
    c0b=$(bench_core_ticks "$SERVER_CORE"); c1b=$(bench_core_ticks "$LOAD_CORE")

    local parsed rps reqs p50 p99 non2xx sock bad errors waiting="-"
    parsed=$(bench_parse_wrk "$base.log")
    read -r rps reqs p50 p99 non2xx sock bad <<<"$parsed"
    errors=$((non2xx + sock + bad))
    if [[ $test == join ]]; then
        # Every answered join is a waiting visitor; up to JOIN_CONNS more were in flight
        # when wrk stopped (processed by usher, answer not counted by wrk).
        waiting=$(bench_waiting_settled)
        if [[ $waiting == missing ]] || ((waiting < reqs || waiting > reqs + JOIN_CONNS)); then
            bench_log "WARNING: usher reports $waiting waiting after $reqs answered joins (expected $reqs..$((reqs + JOIN_CONNS)))"
        fi
        bench_stop_usher
    fi

    # server, load generator, then irq, other, steal and how busy each core was
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$test" "$server" "$round" "$rps" "$p50" "$p99" \
        "$(bench_us_per_req "$p0" "$p1" "$reqs")" "$reqs" "$errors" \
        "$(bench_cpu_split "$(bench_elapsed "$t_start" "$t_end")" "$c0" "$c0b" "$c1" "$c1b" \
            "ticks:$p0:$p1" "secs:$(bench_loadgen_cpu_s "$base.log")")" "$waiting" >>"$RAW"
    tail -1 "$RAW" | awk -F'\t' '{printf "  %-6s %-10s round %s: %7.0f req/s  p50 %.3f ms  p99 %.3f ms  %5.1f us/req  err %s | cpu%%: server %s loadgen %s other %s | core busy%%: server %s load %s\n",
        $1, $2, $3, $4, $5, $6, $7, $9, $10, $11, $13, $15, $16}' >&2
    if [[ $errors -ne 0 ]]; then
        bench_log "WARNING: $errors errors in $base.log (non-2xx $non2xx, socket $sock, unexpected bodies $bad)"
    fi
}

# join_until <count> <connections> <log> [trace file]: `count` new visitors with wrk +
# join.lua (stops after `count` answers); ends wrk (SIGINT: it then prints its summary)
# once /metrics shows them all waiting. Sets JOIN_SECS (start until the metric reached the
# target, so ±0.1 s) and JOIN_CPU_S (usher CPU seconds meanwhile). With a trace file,
# samples "seconds waiting VmRSS_kB" every ~0.1 s.
join_until() {
    local count=$1 conns=$2 logf=$3 trace=${4:-} start target t0 p0 w wrk_pid=""
    start=$(bench_waiting_settled)
    target=$((start + count))
    join_cmd "$MEM_TIMEOUT" "$conns" "$count"
    p0=$(bench_proc_ticks "$USHER_PID")
    t0=$(bench_now)
    bench_loadgen_start "$logf" "${CMD[@]}"
    [[ -z $trace ]] || printf 'seconds\twaiting\trss_kb\n' >"$trace"
    while :; do
        [[ -n $wrk_pid ]] || wrk_pid=$(ps -o pid=,comm= --ppid "$LOADGEN_PID" 2>/dev/null | awk '$2 == "wrk" {print $1}')
        w=$(bench_waiting_count)
        [[ -z $trace ]] || printf '%s\t%s\t%s\n' "$(awk -v a="$t0" -v b="$(bench_now)" 'BEGIN {printf "%.2f", b - a}')" \
            "$w" "$(status_kb "$USHER_PID" VmRSS)" >>"$trace"
        [[ $w != missing ]] && ((w >= target)) && break
        bench_alive "$USHER_PID" || bench_die "usher died during the joins (log: $WORK/usher-$USHER_NAME/usher.log)"
        bench_alive "$LOADGEN_PID" || { bench_loadgen_wait; cat "$logf" >&2; bench_die "wrk ended before $count joins were waiting (waiting: $w, target $target)"; }
        sleep 0.1
    done
    JOIN_SECS=$(awk -v a="$t0" -v b="$(bench_now)" 'BEGIN {printf "%.2f", b - a}')
    JOIN_CPU_S=$(awk -v a="$p0" -v b="$(bench_proc_ticks "$USHER_PID")" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / hz}')
    for _ in $(seq 50); do
        [[ -n $wrk_pid ]] && break
        wrk_pid=$(ps -o pid=,comm= --ppid "$LOADGEN_PID" 2>/dev/null | awk '$2 == "wrk" {print $1}')
        sleep 0.1
    done
    [[ -n $wrk_pid ]] && kill -INT "$wrk_pid" 2>/dev/null
    bench_loadgen_wait
    local parsed rps reqs p50 p99 non2xx sock bad
    parsed=$(bench_parse_wrk "$logf")
    read -r rps reqs p50 p99 non2xx sock bad <<<"$parsed"
    if ((non2xx + sock + bad)); then
        bench_log "WARNING: joins in $logf: non-2xx $non2xx, socket errors $sock, unexpected bodies $bad"
    fi
    JOIN_ERRORS=$((non2xx + sock + bad))
    JOIN_P50=$p50; JOIN_P99=$p99
}

# ============================================================================ 1. status
bench_log "part 1: /_usher/status vs nginx static file"
bench_start_usher status
# The polling visitor stands in the middle of the line: PRE_JOIN/2 ahead, the rest behind.
join_until $((PRE_JOIN / 2)) 16 "$WORK/runs/prejoin-1.log"
bench_join_one
join_until $((PRE_JOIN - PRE_JOIN / 2 - 1)) 16 "$WORK/runs/prejoin-2.log"
STATUS_WAITING=$(bench_waiting_settled)
STATUS_BODY=$(bench_status_of "$TICKET")
STATUS_AHEAD=$(bench_json_num ahead "$STATUS_BODY")
STATUS_BEHIND=$(bench_json_num behind "$STATUS_BODY")
[[ -n $STATUS_AHEAD && $STATUS_AHEAD -gt 0 && -n $STATUS_BEHIND && $STATUS_BEHIND -gt 0 ]] \
    || bench_die "status answer does not place the visitor mid-line: $STATUS_BODY"
# The Authorization: Bearer form must give the same standing (apps poll this way).
bearer=$(bench_curl_usher "/_usher/status?room=$ROOM" -H "Authorization: Bearer $TICKET")
[[ ${bearer##*|} == 200 && $bearer == *"\"ahead\":$STATUS_AHEAD,"* ]] \
    || bench_die "status with Authorization: Bearer differs: $(printf %q "$bearer")"
bench_log "line: $STATUS_WAITING waiting; the polling visitor: $STATUS_BODY"

# nginx serves the very bytes of usher's status answer.
printf '%s' "$STATUS_BODY" >"$WORK/nginx/html/status.json"
STATIC_BYTES=$(wc -c <"$WORK/nginx/html/status.json")
bench_start_nginx "$WORK/nginx" "$SERVER_CORE"
for port in $NGINX_PORT $NGINX_NOFC_PORT; do
    bench_wait_for "nginx on $port" curl -sf --cacert "$WORK/cert.pem" "https://127.0.0.1:$port/status.json"
    got=$(curl -sS --cacert "$WORK/cert.pem" "https://127.0.0.1:$port/status.json")
    [[ $got == "$STATUS_BODY" ]] || bench_die "nginx on $port served unexpected: $(printf %q "$got")"
done

TLS_INFO=()
for s in usher:$USHER_PORT nginx:$NGINX_PORT; do
    bench_tls_probe "${s#*:}"
    [[ $TLS_PROTO == TLSv1.3 ]] || bench_die "${s%%:*} negotiated '$TLS_PROTO', expected TLSv1.3"
    TLS_INFO+=("${s%%:*}: $TLS_PROTO, $TLS_CIPHER${TLS_KX:+, $TLS_KX}")
done
bench_log "sanity checks passed: ${TLS_INFO[0]}; ${TLS_INFO[1]}"

SERVERS=(usher nginx nginx-nofc)
bench_log "measuring status: ${ROUNDS} rounds x ${DURATION}s per server, rotating the order"
bench_wait_quiet
for s in "${SERVERS[@]}"; do
    bench_log "warm-up $s (${WARMUP}s)"
    status_cmd "$s" "$WARMUP"
    bench_loadgen "$WORK/runs/status-$s-warmup.log" "${CMD[@]}"
done
for round in $(seq 1 "$ROUNDS"); do
    # Rotate who goes first so slow drift (thermal, neighbours) hits all equally.
    for i in 0 1 2; do
        bench_run_round measure status "${SERVERS[$(((round - 1 + i) % 3))]}" "$round"
    done
done
# Polling must not have changed anything: same standing, same line.
after=$(bench_status_of "$TICKET")
[[ $(bench_json_num ahead "$after") == "$STATUS_AHEAD" && $(bench_json_num behind "$after") == "$STATUS_BEHIND" ]] \
    || bench_log "WARNING: the polling visitor's standing changed during the status runs: before $STATUS_BODY, after $after"
w=$(bench_waiting_settled)
[[ $w == "$STATUS_WAITING" ]] || bench_log "WARNING: waiting count changed during the status runs: $STATUS_WAITING -> $w"
bench_stop_usher
bench_stop_nginx

# ============================================================================ 2. joins/s
bench_log "part 2: joins/s: ${ROUNDS} rounds x ${DURATION}s, a fresh usher each"
for round in $(seq 1 "$ROUNDS"); do
    bench_run_round measure join usher "$round"
done

# ============================================================================ 3. memory
bench_log "part 3: memory per waiting visitor ($VISITORS joins, wrk -c$MEM_CONNS)"
bench_start_usher memory
sleep 1
MEM_START_RSS=$(status_kb "$USHER_PID" VmRSS)
bench_join_one
MEM_TICKET=$TICKET
# Open MEM_CONNS connections and poll for 2 s first, so TLS sessions, connection buffers and
# allocator arenas for that many connections are in the baseline, not in the growth.
CMD=(wrk -t1 -c"$MEM_CONNS" -d2s -H "Cookie: usher_ticket=$MEM_TICKET" "https://127.0.0.1:$USHER_PORT/_usher/status?room=$ROOM")
bench_loadgen "$WORK/runs/memory-warm.log" "${CMD[@]}"
sleep 1
MEM_W0=$(bench_waiting_settled)
MEM_RSS0=$(status_kb "$USHER_PID" VmRSS); MEM_HWM0=$(status_kb "$USHER_PID" VmHWM)
bench_log "baseline: $MEM_W0 waiting, VmRSS ${MEM_RSS0} kB, VmHWM ${MEM_HWM0} kB (${MEM_START_RSS} kB right after start)"
bench_wait_quiet
join_until "$VISITORS" "$MEM_CONNS" "$WORK/runs/memory-joins.log" "$WORK/memory-trace.tsv"
MEM_SECS=$JOIN_SECS; MEM_CPU=$JOIN_CPU_S; MEM_ERRORS=$JOIN_ERRORS; MEM_P50=$JOIN_P50; MEM_P99=$JOIN_P99
sleep 1
MEM_W1=$(bench_waiting_settled)
MEM_RSS1=$(status_kb "$USHER_PID" VmRSS); MEM_HWM1=$(status_kb "$USHER_PID" VmHWM)
MEM_ADDED=$((MEM_W1 - MEM_W0))
bench_log "after: $MEM_W1 waiting (+$MEM_ADDED in ${MEM_SECS}s), VmRSS ${MEM_RSS1} kB, VmHWM ${MEM_HWM1} kB"
# The first visitor now has everybody behind them.
first=$(bench_status_of "$MEM_TICKET")
[[ $(bench_json_num ahead "$first") == 0 && $(bench_json_num behind "$first") == $((MEM_W1 - 1)) ]] \
    || bench_log "WARNING: first visitor's standing after $VISITORS joins is unexpected (waiting $MEM_W1): $first"
MEM_STATE_BYTES=$(stat -c %s "$WORK/usher-memory/state/state.json" 2>/dev/null || echo "?")
bench_stop_usher

# ---------------------------------------------------------------------------- report
declare -A BENCH_LABELS=([usher]="usher \`GET /_usher/status\`" [nginx]="nginx static file, open_file_cache"
    [nginx-nofc]="nginx static file, default config")
log_problems=$(cat "${USHER_LOGS[@]}" | grep -cE ' ERROR |panicked' || true)
{
    echo "# usher waiting room — status, joins, memory"
    echo
    bench_about_run
    echo "- nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(openssl version)"
    echo "- wrk: $(bench_wrk_version)"
    echo "- TLS: ${TLS_INFO[0]}; ${TLS_INFO[1]}"
    echo "- layout: server on core $SERVER_CORE (1 worker); wrk on core $LOAD_CORE; HTTP/1.1 keep-alive over TLS 1.3"
    echo "- room: one room, mode \`paused\` (everybody waits, nobody is called), abandon_after 1h"
    bench_noise_line other
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
        printf '| %s | %.0f | %.3f | %.3f | %.1f | %s |\n' "$(bench_label $s)" \
            "$(bench_col status $s rps)" "$(bench_col status $s p50_ms)" "$(bench_col status $s p99_ms)" \
            "$(bench_col status $s cpu_us_per_req)" "$(bench_sum_col status $s errors)"
    done
    echo
    for s in nginx nginx-nofc; do
        awk -v l="$(bench_label $s)" \
            -v ur="$(bench_col status usher rps)" -v nr="$(bench_col status $s rps)" \
            -v u99="$(bench_col status usher p99_ms)" -v n99="$(bench_col status $s p99_ms)" \
            -v uc="$(bench_col status usher cpu_us_per_req)" -v nc="$(bench_col status $s cpu_us_per_req)" \
            'BEGIN {printf "- usher status / %s: rps ratio **%.2f** (target >= 0.80: %s), p99 ratio %.2f, CPU/req ratio %.2f\n",
                    l, ur / nr, (ur / nr >= 0.8 ? "met" : "**NOT met**"), u99 / n99, uc / nc}'
    done
    echo
    echo "| server | server CPU % | wrk CPU % | other % | server core busy % | load core busy % |"
    echo "|---|---:|---:|---:|---:|---:|"
    for s in usher nginx nginx-nofc; do
        printf '| %s | %.0f | %.0f | %.0f | %.0f | %.0f |\n' "$(bench_label $s)" \
            "$(bench_col status $s server_cpu_pct)" "$(bench_col status $s loadgen_cpu_pct)" "$(bench_col status $s other_pct)" \
            "$(bench_col status $s server_core_busy_pct)" "$(bench_col status $s load_core_busy_pct)"
    done
    echo
    for s in usher nginx nginx-nofc; do
        bench_verdict "$(bench_label $s)" "$(bench_col status $s server_core_busy_pct)" "$(bench_col status $s load_core_busy_pct)"
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
        "$(bench_col join usher rps)" "$(bench_col join usher p50_ms)" "$(bench_col join usher p99_ms)" \
        "$(bench_col join usher cpu_us_per_req)" "$(bench_sum_col join usher errors)" "$(bench_col join usher waiting_after)" \
        "$(bench_col join usher server_core_busy_pct)" "$(bench_col join usher load_core_busy_pct)"
    echo
    bench_verdict "joins" "$(bench_col join usher server_core_busy_pct)" "$(bench_col join usher load_core_busy_pct)"
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
bench_log "results written to bench/out/room-results.md"
