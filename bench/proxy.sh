#!/usr/bin/env bash
# bench/proxy.sh — usher vs nginx vs HAProxy as an HTTPS (TLS 1.3) reverse proxy, same
# upstream, one run.
#
#   bash bench/proxy.sh                 # DURATION=10 ROUNDS=3 WARMUP=3
#   DURATION=30 ROUNDS=5 bash bench/proxy.sh
#   SKIP_BUILD=1 bash bench/proxy.sh   # reuse target/release/usher
#   PROXIES="usher haproxy" bash bench/proxy.sh   # a subset
#
# Layout on a 2-core machine (see bench/README.md):
#   core 0: the proxy under test (usher, nginx OR haproxy; one worker / thread)
#   core 1: the upstream nginx (plain HTTP) + the load generator (wrk / h2load)
#
# Everything it writes goes under bench/out/ (gitignored), recreated on every run.
# Final table: stdout and bench/out/proxy-results.md.
set -euo pipefail

# ---------------------------------------------------------------------------- knobs
DURATION=${DURATION:-10}      # seconds per measured run
ROUNDS=${ROUNDS:-3}           # measured runs per (protocol, proxy); medians are reported
WARMUP=${WARMUP:-3}           # seconds of warm-up per (protocol, proxy) before the rounds
H1_CONNS=${H1_CONNS:-64}      # wrk -c
H2_CLIENTS=${H2_CLIENTS:-16}  # h2load -c
H2_STREAMS=${H2_STREAMS:-8}   # h2load -m
# Which proxies to measure, in this order in the report (any of usher, nginx, haproxy).
PROXIES=${PROXIES:-usher nginx haproxy}
# 1 = nginx and HAProxy also add the headers usher adds (X-Forwarded-*, Forwarded, Via,
# X-Request-Id), so all proxies do the same header work. 0 = their bare proxy configs.
# NGINX_HEADER_PARITY is the old name, still honoured.
HEADER_PARITY=${HEADER_PARITY:-${NGINX_HEADER_PARITY:-1}}
SKIP_BUILD=${SKIP_BUILD:-0}   # 1 = use the existing target/release/usher as is
# Noise control: a run during which more than NOISE_MAX % of a core went to anything but
# the proxy, the load generator and the upstream is discarded and repeated (up to
# NOISE_RETRIES times). Before each run we also wait (up to QUIET_WAIT s) for the machine
# to be idle.
NOISE_MAX=${NOISE_MAX:-10}
NOISE_RETRIES=${NOISE_RETRIES:-3}
QUIET_WAIT=${QUIET_WAIT:-120}

USHER_PORT=18443      # usher TLS listener
NGINX_PORT=18444      # nginx TLS listener
HAPROXY_PORT=18445    # HAProxy TLS listener
UPSTREAM_PORT=18080   # upstream nginx, plain HTTP
ADMIN_PORT=19090      # usher admin (/readyz)

PROXY_CORE=0
LOAD_CORE=1           # load generator and upstream share this core

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
USHER_BIN=$ROOT/target/release/usher
CLK_TCK=$(getconf CLK_TCK)

# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"
LOGS=$OUT

# ---------------------------------------------------------------------------- prerequisites
[[ $(nproc) -ge 2 ]] || bench_die "needs at least 2 CPU cores (proxy on core 0, load on core 1)"

read -ra PROXY_LIST <<<"$PROXIES"
((${#PROXY_LIST[@]})) || bench_die "PROXIES is empty (want any of: usher nginx haproxy)"
seen=" "
for proxy in "${PROXY_LIST[@]}"; do
    case $proxy in usher|nginx|haproxy) ;; *) bench_die "unknown proxy '$proxy' in PROXIES (want any of: usher nginx haproxy)";; esac
    [[ $seen != *" $proxy "* ]] || bench_die "'$proxy' is twice in PROXIES"
    seen+="$proxy "
done
selected() { [[ " ${PROXY_LIST[*]} " == *" $1 "* ]]; }

tools=(nginx:nginx)   # the upstream is nginx whatever PROXIES says
selected haproxy && tools+=(haproxy:haproxy)
bench_need_tools "${tools[@]}" wrk:wrk h2load:nghttp2-client openssl:openssl curl:curl

ports=("$UPSTREAM_PORT")
selected usher   && ports+=("$USHER_PORT" "$ADMIN_PORT")
selected nginx   && ports+=("$NGINX_PORT")
selected haproxy && ports+=("$HAPROXY_PORT")
bench_ports_free "${ports[@]}"

# Only this script's own files: room.sh keeps its results in the same folder.
rm -rf "$OUT"/{upstream,nginx,usher,haproxy,runs} "$OUT"/raw.tsv "$OUT"/proxy-results.md
mkdir -p "$OUT"/{upstream,nginx,usher,haproxy,runs}

if selected usher; then
    WORK=$OUT bench_build_usher
fi

# ---------------------------------------------------------------------------- certificate
# One ECDSA P-256 self-signed cert for all proxies. `req -newkey ec` writes a PKCS#8 key,
# which both rustls and OpenSSL read. HAProxy wants certificate and key in one PEM file.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$OUT/key.pem" -out "$OUT/cert.pem" -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$OUT/openssl.log" 2>&1 \
    || { cat "$OUT/openssl.log" >&2; bench_die "certificate generation failed"; }
(umask 077 && cat "$OUT/cert.pem" "$OUT/key.pem" >"$OUT/haproxy/cert+key.pem")

# ---------------------------------------------------------------------------- configs
# nginx (bench_nginx_common): everything under its own directory. keepalive_requests is
# raised everywhere because nginx's default (1000) would close client and upstream
# connections every 1000 requests — a reconnect + TLS handshake cost usher never pays (it
# has no per-connection request cap).

# Upstream: tiny fixed body, keep-alive, no logging.
{
    bench_nginx_common "$OUT/upstream"
    cat <<EOF
http {
    access_log off;
$(bench_nginx_temp_paths "$OUT/upstream")
    keepalive_timeout 75s;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        location / {
            default_type text/plain;
            return 200 "hello from upstream\n";
        }
    }
}
EOF
} >"$OUT/upstream/nginx.conf"

if [[ $HEADER_PARITY == 1 ]]; then
    # What usher adds per request (src/proxy/headers.rs): X-Forwarded-For/-Proto/-Host,
    # Forwarded, Via and X-Request-Id upstream; Via and X-Request-Id on the response.
    # shellcheck disable=SC2016  # nginx variables, not shell ones
    NGINX_PARITY_HEADERS='
            proxy_set_header X-Forwarded-For   $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host  $host;
            proxy_set_header Forwarded         "for=$remote_addr;proto=$scheme;host=$host";
            proxy_set_header Via               "$server_protocol nginx";
            proxy_set_header X-Request-Id      $request_id;
            add_header       Via               "$server_protocol nginx";
            add_header       X-Request-Id      $request_id;'
else
    NGINX_PARITY_HEADERS=''
fi

# nginx as the proxy under test: one worker, TLS 1.3 only, h2 + http/1.1 by ALPN,
# pooled keep-alive to the upstream.
{
    bench_nginx_common "$OUT/nginx"
    cat <<EOF
http {
    access_log off;
$(bench_nginx_temp_paths "$OUT/nginx")
    keepalive_timeout 75s;
    keepalive_requests 10000000;
    upstream backend {
        server 127.0.0.1:$UPSTREAM_PORT;
        keepalive 64;
        keepalive_requests 10000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT ssl http2;
        ssl_certificate     $OUT/cert.pem;
        ssl_certificate_key $OUT/key.pem;
        ssl_protocols       TLSv1.3;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;$NGINX_PARITY_HEADERS
        }
    }
}
EOF
} >"$OUT/nginx/nginx.conf"

# usher: one worker thread, warn-level logs (no per-request access lines), TLS 1.3 only.
cat >"$OUT/usher/usher.toml" <<EOF
[listen]
public = "127.0.0.1:$USHER_PORT"
admin = "127.0.0.1:$ADMIN_PORT"

[tls]
cert = "$OUT/cert.pem"
key = "$OUT/key.pem"
min_version = "1.3"

[upstream]
servers = ["127.0.0.1:$UPSTREAM_PORT"]
host_header = "preserve"

[runtime]
workers = 1

[log]
level = "warn"
EOF

# HAProxy as the proxy under test: master-worker in the foreground (-W, like nginx's master
# + one worker), one thread, TLS 1.3 only, h2 + http/1.1 by ALPN, keep-alive on both sides
# with idle upstream connections shared between all client connections (`http-reuse
# always`: nginx's `keepalive` pool and usher's pool do the same). No `log` line: nothing is
# logged. Timeouts are long enough never to fire during a run; 75 s keep-alive like nginx.
# There is no per-connection request cap to lift (nginx's keepalive_requests).
if [[ $HEADER_PARITY == 1 ]]; then
    # The same headers as usher / nginx above. HAProxy 2.6 has no `option forwarded` (2.8+),
    # so Forwarded is set by hand, in usher's format. req.ver is "1.1" or "2.0"; res.ver is
    # the upstream's version, which is what usher puts in the response's Via.
    HAPROXY_PARITY_HEADERS='
    option forwardfor
    unique-id-format %{+X}o\ %Ts-%pid-%rt
    unique-id-header X-Request-Id
    http-request  set-header X-Forwarded-Proto https
    http-request  set-header X-Forwarded-Host  %[req.hdr(host)]
    http-request  set-header Forwarded         "for=%[src];proto=https;host=\"%[req.hdr(host)]\""
    http-request  set-header Via               "%[req.ver] haproxy"
    http-response set-header Via               "%[res.ver] haproxy"
    http-response set-header X-Request-Id      %[unique-id]'
else
    HAPROXY_PARITY_HEADERS=''
fi
cat >"$OUT/haproxy/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
    pidfile $OUT/haproxy/haproxy.pid

defaults
    mode http
    option http-keep-alive
    http-reuse always
    maxconn 4096
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-request 300s
    timeout http-keep-alive 75s

frontend proxy
    bind 127.0.0.1:$HAPROXY_PORT ssl crt $OUT/haproxy/cert+key.pem alpn h2,http/1.1 ssl-min-ver TLSv1.3$HAPROXY_PARITY_HEADERS
    default_backend upstream

backend upstream
    server upstream 127.0.0.1:$UPSTREAM_PORT
EOF

# ---------------------------------------------------------------------------- start servers

bench_log "starting upstream nginx on 127.0.0.1:$UPSTREAM_PORT (core $LOAD_CORE)"
bench_start_nginx "$OUT/upstream" "$LOAD_CORE"
UPSTREAM_WORKER=$NGINX_WORKER
bench_wait_for "upstream" curl -sf "http://127.0.0.1:$UPSTREAM_PORT/"

if selected nginx; then
    bench_log "starting nginx proxy on 127.0.0.1:$NGINX_PORT (core $PROXY_CORE)"
    bench_start_nginx "$OUT/nginx" "$PROXY_CORE"
    NGINX_PID=$NGINX_WORKER   # CPU is measured on the worker; the master only supervises
    bench_wait_for "nginx proxy" curl -sf --cacert "$OUT/cert.pem" "https://127.0.0.1:$NGINX_PORT/"
fi

if selected haproxy; then
    bench_log "starting HAProxy on 127.0.0.1:$HAPROXY_PORT (core $PROXY_CORE)"
    hdir=$OUT/haproxy
    haproxy -c -f "$hdir/haproxy.cfg" >"$hdir/config-test.log" 2>&1 \
        || { cat "$hdir/config-test.log" >&2; bench_die "HAProxy config $hdir/haproxy.cfg is invalid"; }
    # A warning means HAProxy changed or ignored something in the config: not what we meant.
    ! grep -q WARNING "$hdir/config-test.log" \
        || { cat "$hdir/config-test.log" >&2; bench_die "HAProxy warns about $hdir/haproxy.cfg"; }
    # -W: master-worker in the foreground (no -D); SIGTERM to the master stops both.
    taskset -c "$PROXY_CORE" haproxy -W -f "$hdir/haproxy.cfg" >"$hdir/haproxy.log" 2>&1 &
    HAPROXY_MASTER=$!
    MAIN_PIDS+=("$HAPROXY_MASTER")
    HAPROXY_PID=$(bench_first_child "$HAPROXY_MASTER" "HAProxy" "$hdir/haproxy.log")
    EXTRA_PIDS+=("$HAPROXY_PID")   # CPU is measured on the worker, as for nginx
    bench_wait_for "HAProxy" curl -sf --cacert "$OUT/cert.pem" "https://127.0.0.1:$HAPROXY_PORT/"
fi

if selected usher; then
    bench_log "starting usher on 127.0.0.1:$USHER_PORT (core $PROXY_CORE)"
    taskset -c "$PROXY_CORE" "$USHER_BIN" proxy -c "$OUT/usher/usher.toml" >"$OUT/usher/usher.log" 2>&1 &
    USHER_PID=$!
    MAIN_PIDS+=("$USHER_PID")
    usher_ready() { bench_alive "$USHER_PID" || bench_die "usher exited: $(cat "$OUT/usher/usher.log")"
                    [[ $(curl -s "http://127.0.0.1:$ADMIN_PORT/readyz") == ready ]]; }
    for _ in $(seq 100); do usher_ready && break; sleep 0.1; done
    usher_ready || bench_die "usher did not report ready"
fi

# ---------------------------------------------------------------------------- sanity checks
# Every proxy must return the upstream body over h1 and h2, with TLS 1.3, and the
# certificate must verify — otherwise we would be benchmarking error pages.
port_of() {
    case $1 in usher) echo "$USHER_PORT";; nginx) echo "$NGINX_PORT";; haproxy) echo "$HAPROXY_PORT";; esac
}
pid_of() {  # the process whose CPU is measured
    case $1 in usher) echo "$USHER_PID";; nginx) echo "$NGINX_PID";; haproxy) echo "$HAPROXY_PID";; esac
}

TLS_INFO=()
for proxy in "${PROXY_LIST[@]}"; do
    port=$(port_of "$proxy")
    for v in 1.1 2; do
        got=$(curl -sS --cacert "$OUT/cert.pem" --http"$v" -w '|%{http_code}|%{http_version}' \
              "https://127.0.0.1:$port/")
        [[ $got == $'hello from upstream\n|200|'"$v" ]] \
            || bench_die "$proxy over HTTP/$v returned unexpected: $(printf %q "$got")"
    done
    bench_tls_probe "$port" -alpn h2
    [[ $TLS_PROTO == TLSv1.3 ]] || bench_die "$proxy negotiated '$TLS_PROTO', expected TLSv1.3"
    TLS_INFO+=("$proxy: $TLS_PROTO, $TLS_CIPHER${TLS_KX:+, $TLS_KX}")
done
TLS_SUMMARY=$(printf '%s; ' "${TLS_INFO[@]}"); TLS_SUMMARY=${TLS_SUMMARY%; }
bench_log "sanity checks passed: $TLS_SUMMARY"

# ---------------------------------------------------------------------------- measurement helpers
# (bench_loadgen runs the load generator on LOAD_CORE, its own CPU time in <log>.times)

# The load-generator command lines, built into the array CMD (no word-splitting surprises).
h1_cmd() {  # $1 = port, $2 = seconds
    CMD=(wrk -t1 -c"$H1_CONNS" -d"$2"s --latency "https://127.0.0.1:$1/")
}
h2_cmd() {  # $1 = port, $2 = seconds, $3 = per-request log file
    CMD=(h2load -t1 -c"$H2_CLIENTS" -m"$H2_STREAMS" -D "$2" --log-file="$3" "https://127.0.0.1:$1/")
}

RAW=$OUT/raw.tsv
# Per-round rows. CPU percentages are of one core over the run's wall time. "other" is busy
# time on both cores not charged to proxy + load generator + upstream: other processes,
# steal, and kernel softirq work done outside our processes (irq/softirq that runs while one
# of them is on the CPU is charged to it). It should stay small on a quiet machine.
printf '%s\t' protocol proxy round rps p50_ms p99_ms cpu_us_per_req requests errors \
    proxy_cpu_pct loadgen_cpu_pct upstream_cpu_pct irq_pct other_pct steal_pct \
    proxy_core_busy_pct load_core_busy_pct | sed 's/\t$/\n/' >"$RAW"

# measure <h1|h2> <proxy> <round>: one measured run; appends a row to raw.tsv.
measure() {
    local proto=$1 proxy=$2 round=$3
    local port pid base
    port=$(port_of "$proxy"); pid=$(pid_of "$proxy")
    base=$OUT/runs/$proto-$proxy-r$round
    bench_alive "$pid" || bench_die "$proxy (pid $pid) is not running"

    local p0 u0 c0 c1 p1 u1 c0b c1b t_start t_end
    p0=$(bench_proc_ticks "$pid"); u0=$(bench_proc_ticks "$UPSTREAM_WORKER")
    c0=$(bench_core_ticks "$PROXY_CORE"); c1=$(bench_core_ticks "$LOAD_CORE")
    t_start=$(bench_now)
    if [[ $proto == h1 ]]; then h1_cmd "$port" "$DURATION"; else h2_cmd "$port" "$DURATION" "$base.reqlog"; fi
    bench_loadgen "$base.log" "${CMD[@]}"
    t_end=$(bench_now)
    p1=$(bench_proc_ticks "$pid"); u1=$(bench_proc_ticks "$UPSTREAM_WORKER")
    c0b=$(bench_core_ticks "$PROXY_CORE"); c1b=$(bench_core_ticks "$LOAD_CORE")

    local rps p50 p99 reqs errors parsed non2xx sock
    if [[ $proto == h1 ]]; then
        parsed=$(bench_parse_wrk "$base.log")
        read -r rps reqs p50 p99 non2xx sock _ <<<"$parsed"
        # Non-2xx/3xx responses + socket errors (connect, read, write, timeout).
        errors=$((non2xx + sock))
    else
        grep -q '^Application protocol: h2' "$base.log" || bench_die "h2load did not negotiate h2 ($base.log)"
        rps=$(awk '/^finished in/ {print $4}' "$base.log")
        reqs=$(awk '/^requests:/ {for (i = 2; i <= NF; i++) if ($i == "succeeded,") print $(i - 1)}' "$base.log")
        errors=$(awk '/^requests:/ {for (i = 2; i <= NF; i++) if ($i ~ /^(failed|errored|timeout)/) e += $(i - 1)}
                      /^status codes:/ {for (i = 2; i <= NF; i++) if ($i ~ /^[345]xx/) e += $(i - 1)}
                      END {print e + 0}' "$base.log")
        # Percentiles from the per-request log (col 2 = status, col 3 = µs to response end),
        # nearest-rank, successful requests only.
        read -r p50 p99 < <(awk -F'\t' '$2 >= 200 && $2 < 300 {print $3}' "$base.reqlog" | sort -n |
            awk '{a[NR] = $1} END { if (NR == 0) { print "nan nan"; exit }
                 i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
                 printf "%.4f %.4f\n", a[i50] / 1000, a[i99] / 1000 }')
        gzip -f "$base.reqlog"   # keep it, but small
    fi
    [[ -n $rps && -n $reqs && $reqs -gt 0 ]] || { cat "$base.log" >&2; bench_die "could not parse $base.log"; }

    # proxy, load generator, upstream, then irq, other, steal and how busy each core was
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$proto" "$proxy" "$round" "$rps" "$p50" "$p99" \
        "$(bench_us_per_req "$p0" "$p1" "$reqs")" "$reqs" "$errors" \
        "$(bench_cpu_split "$(bench_elapsed "$t_start" "$t_end")" "$c0" "$c0b" "$c1" "$c1b" \
            "ticks:$p0:$p1" "secs:$(bench_loadgen_cpu_s "$base.log")" "ticks:$u0:$u1")" >>"$RAW"
    tail -1 "$RAW" | awk -F'\t' '{printf "  %-2s %-7s round %s: %7.0f req/s  p50 %.3f ms  p99 %.3f ms  %5.1f us/req  err %s | cpu%%: proxy %s loadgen %s upstream %s other %s | core busy%%: proxy %s load %s\n",
        $1, $2, $3, $4, $5, $6, $7, $9, $10, $11, $12, $14, $16, $17}' >&2
    if [[ $errors -ne 0 ]]; then bench_log "WARNING: $errors errors in $base.log"; fi
}

warmup() {  # <h1|h2> <proxy>: short unmeasured run
    local proto=$1 proxy=$2 port
    port=$(port_of "$proxy")
    bench_log "warm-up $proto $proxy (${WARMUP}s)"
    if [[ $proto == h1 ]]; then h1_cmd "$port" "$WARMUP"; else h2_cmd "$port" "$WARMUP" /dev/null; fi
    bench_loadgen "$OUT/runs/$proto-$proxy-warmup.log" "${CMD[@]}"
}

# ---------------------------------------------------------------------------- run
# Other work on the machine (a build, a test suite) steals CPU from the pinned processes and
# skews the comparison. Wait for quiet before each run, and repeat runs that were disturbed.

# bench_run_round: measure, repeating a run that other work disturbed.

NPROXIES=${#PROXY_LIST[@]}
bench_log "measuring: ${ROUNDS} rounds x ${DURATION}s per proxy and protocol, rotating ${PROXY_LIST[*]}"
for proto in h1 h2; do
    bench_wait_quiet
    for proxy in "${PROXY_LIST[@]}"; do warmup "$proto" "$proxy"; done
    for round in $(seq 1 "$ROUNDS"); do
        # Rotate the order (round 1: a b c, round 2: b c a, round 3: c a b, …) so that slow
        # drift (thermal, neighbours) and "who ran right after whom" hit all proxies equally.
        for i in $(seq 0 $((NPROXIES - 1))); do
            bench_run_round measure "$proto" "${PROXY_LIST[$(((round - 1 + i) % NPROXIES))]}" "$round"
        done
    done
done

# ---------------------------------------------------------------------------- report
# (bench_col <proto> <proxy> <column name>: median over rounds)
declare -A BENCH_LABELS=([h1]="HTTP/1.1" [h2]="HTTP/2")
results=$OUT/proxy-results.md
{
    echo "# usher vs nginx vs HAProxy — HTTPS reverse proxy benchmark"
    echo
    echo "- date: $(bench_date)"
    echo "- machine: $(bench_machine)"
    echo "- proxies measured: ${PROXY_LIST[*]}"
    if selected usher; then
        echo "- usher: $(bench_commit), $(bench_usher_version)"
    fi
    echo "- nginx$(selected nginx || echo ' (upstream only)'): $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(openssl version)"
    if selected haproxy; then
        echo "- HAProxy: $(haproxy -v 2>&1 | awk '/ version / {print $3; exit}'), $(haproxy -vv 2>&1 |
            awk -F': ' '/^Running on OpenSSL version/ {print $2; exit}')"
    fi
    echo "- wrk: $(bench_wrk_version); h2load: $(h2load --version 2>&1 | head -1)"
    echo "- TLS: $TLS_SUMMARY"
    echo "- layout: proxy on core $PROXY_CORE (1 worker / thread); upstream nginx + load generator on core $LOAD_CORE"
    echo "- load: HTTP/1.1 \`wrk -t1 -c$H1_CONNS --latency\`; HTTP/2 \`h2load -t1 -c$H2_CLIENTS -m$H2_STREAMS\`; keep-alive"
    echo "- ${ROUNDS} rounds x ${DURATION}s per proxy and protocol (after ${WARMUP}s warm-up), order rotated each round; **medians** shown"
    bench_noise_line other
    echo "- header parity (nginx and HAProxy add usher's X-Forwarded-*/Forwarded/Via/X-Request-Id): $([[ $HEADER_PARITY == 1 ]] && echo on || echo off)"
    echo
    echo "Latency: HTTP/1.1 from wrk's --latency distribution; HTTP/2 from h2load's per-request log"
    echo "(--log-file, nearest-rank). CPU µs/req = proxy process utime+stime over the run / requests completed."
    echo
    echo "| protocol | proxy | req/s | p50 ms | p99 ms | CPU µs/req |"
    echo "|---|---|---:|---:|---:|---:|"
    for proto in h1 h2; do
        for proxy in "${PROXY_LIST[@]}"; do
            printf '| %s | %s | %.0f | %.3f | %.3f | %.1f |\n' "$(bench_label $proto)" "$proxy" \
                "$(bench_col $proto "$proxy" rps)" "$(bench_col $proto "$proxy" p50_ms)" \
                "$(bench_col $proto "$proxy" p99_ms)" "$(bench_col $proto "$proxy" cpu_us_per_req)"
        done
    done
    echo
    for proto in h1 h2; do
        for other in nginx haproxy; do
            if ! selected usher || ! selected "$other"; then continue; fi
            awk -v l="$(bench_label $proto)" -v o="$other" \
                -v ur="$(bench_col $proto usher rps)" -v nr="$(bench_col $proto "$other" rps)" \
                -v u99="$(bench_col $proto usher p99_ms)" -v n99="$(bench_col $proto "$other" p99_ms)" \
                -v uc="$(bench_col $proto usher cpu_us_per_req)" -v nc="$(bench_col $proto "$other" cpu_us_per_req)" \
                'BEGIN {printf "- %s usher/%s: rps ratio **%.2f**, p99 ratio **%.2f**, CPU/req ratio %.2f\n",
                        l, o, ur / nr, u99 / n99, uc / nc}'
        done
    done
    if selected usher && ((NPROXIES > 1)); then echo; fi
    echo "Where the time went (medians; % of one core over the run):"
    echo
    echo "| protocol | proxy | errors | proxy CPU % | load gen CPU % | upstream CPU % | other % | proxy core busy % | load core busy % |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    for proto in h1 h2; do
        for proxy in "${PROXY_LIST[@]}"; do
            printf '| %s | %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |\n' "$(bench_label $proto)" "$proxy" \
                "$(awk -F'\t' -v p=$proto -v x="$proxy" '$1 == p && $2 == x {e += $9} END {print e + 0}' "$RAW")" \
                "$(bench_col $proto "$proxy" proxy_cpu_pct)" "$(bench_col $proto "$proxy" loadgen_cpu_pct)" \
                "$(bench_col $proto "$proxy" upstream_cpu_pct)" \
                "$(bench_col $proto "$proxy" other_pct)" "$(bench_col $proto "$proxy" proxy_core_busy_pct)" \
                "$(bench_col $proto "$proxy" load_core_busy_pct)"
        done
    done
    echo
    # Which side limited the run? A core counts as saturated at >= 90% busy. When the load
    # core (load generator + upstream) is saturated, the faster proxy is held back and the
    # req/s ratio is squeezed toward 1; CPU µs/req stays a fair comparison either way.
    for proto in h1 h2; do
        for proxy in "${PROXY_LIST[@]}"; do
            bench_verdict "$(bench_label $proto) $proxy" "$(bench_col $proto "$proxy" proxy_core_busy_pct)" \
                "$(bench_col $proto "$proxy" load_core_busy_pct)" proxy
        done
    done
    echo
    echo "Per-round rows: bench/out/raw.tsv; tool output: bench/out/runs/."
} >"$results"

echo
cat "$results"
bench_log "results written to bench/out/proxy-results.md"
