#!/usr/bin/env bash
# bench/scripts.sh — what each hot queue script costs inside Redis (µs per EVALSHA, Redis's
# own `INFO commandstats`), for the working tree's scripts and, side by side in the same
# run, those of another revision. With several nodes on one Redis, Redis is the shared
# part: its time per status poll bounds how many polls the whole cluster answers.
#
#   bash bench/scripts.sh                 # working tree vs HEAD
#   REF=0fb72fd bash bench/scripts.sh     # working tree vs that commit
#   CALLS=400000 ROUNDS=5 bash bench/scripts.sh
#
# A private redis-server (no persistence) on loopback, pinned to core 0; redis-benchmark
# (one connection, no pipelining: like one node's round trips) on core 1. The line holds
# LINE visitors; the polled place stands in the middle of it. Each round runs every
# script of both versions once, in rotated order; the report gives medians of µs/call.
# Scripts measured: poll (a ticket holder's status poll), prequeue (a pre-queue visitor's
# poll before the start) and join (a new visitor; the line grows by CALLS per round).
set -euo pipefail

REF=${REF:-HEAD}
CALLS=${CALLS:-200000}
ROUNDS=${ROUNDS:-3}
LINE=${LINE:-10000}
PORT=${PORT:-18379}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$ROOT/bench/out/scripts
LOGS=$WORK
# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"

bench_need_tools redis-server:redis-server redis-benchmark:redis-tools redis-cli:redis-tools
bench_ports_free "$PORT"
rm -rf "$WORK"
mkdir -p "$WORK/new" "$WORK/old"

LUA=src/store/redis/lua
OLD_LUA=src/store/lua # where the scripts were before the Redis store became a folder
for f in common poll prequeue join settings; do
    cp "$ROOT/$LUA/$f.lua" "$WORK/new/$f.lua"
    git -C "$ROOT" show "$REF:$LUA/$f.lua" >"$WORK/old/$f.lua" 2>/dev/null \
        || git -C "$ROOT" show "$REF:$OLD_LUA/$f.lua" >"$WORK/old/$f.lua" \
        || bench_die "no $LUA/$f.lua at $REF"
done

taskset -c 0 redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no >"$WORK/redis.log" 2>&1 &
MAIN_PIDS+=($!)
cli() { redis-cli -p "$PORT" "$@"; }
bench_wait_for redis sh -c "redis-cli -p $PORT ping | grep -q PONG"

# load <version> <script> → SHA1 of common.lua + the script, as src/store/redis/mod.rs builds it.
load() { cli SCRIPT LOAD "$(printf '%s\n%s' "$(cat "$WORK/$1/common.lua")" "$(cat "$WORK/$1/$2.lua")")"; }
# keys <room> → the room's 10 keys, in common.lua's order.
keys() {
    local p
    for p in meta waiting seen called recall state sessions calls lease revoked; do
        printf '{usher:%s}:%s ' "$1" "$p"
    done
}

now_ms=$(($(date +%s) * 1000))
# Each version gets two rooms of its own with the same state: "line" (a paused room with
# LINE visitors waiting) and "pre" (a sale starting in an hour, LINE visitors pre-queued).
for v in new old; do
    # settings set: mode max_active new_per_minute idle_ms max_ms claim_ms abandon_ms recall_ms ev_pre ev_start ev_end
    # shellcheck disable=SC2046
    cli EVALSHA "$(load $v settings)" 10 $(keys "$v-line") set paused 1000 6000 600000 3600000 30000 3600000 300000 '' '' '' >/dev/null
    # shellcheck disable=SC2046
    cli EVALSHA "$(load $v settings)" 10 $(keys "$v-pre") set queue 1000 6000 600000 3600000 30000 3600000 300000 \
        $((now_ms / 1000 - 60)) $((now_ms / 1000 + 3600)) '' >/dev/null
    join=$(load $v join)
    for room in line pre; do
        # shellcheck disable=SC2046
        redis-benchmark -p "$PORT" -c 1 -n "$LINE" EVALSHA "$join" 10 $(keys "$v-$room") "$now_ms" s 7 >/dev/null
    done
done

RAW=$WORK/raw.tsv
printf 'round\tversion\tscript\tcalls\tusec\tusec_per_call\n' >"$RAW"
evalsha_stats() {  # usec and calls of evalsha so far
    cli INFO commandstats | tr -d '\r' | awk -F'[:,=]' '/^cmdstat_evalsha:/ {print $5, $3}'
}
run() {  # round version script
    local sha args u0 c0 u1 c1
    sha=$(load "$2" "$3")
    case $3 in
        poll) args="$(keys "$2-line") $now_ms $((LINE / 2)) 0" ;;
        prequeue) args="$(keys "$2-pre") $now_ms 7" ;;
        join) args="$(keys "$2-line") $now_ms s 7" ;;
    esac
    read -r u0 c0 < <(evalsha_stats)
    # shellcheck disable=SC2086
    taskset -c 1 redis-benchmark -p "$PORT" -c 1 -n "$CALLS" EVALSHA "$sha" 10 $args >/dev/null
    read -r u1 c1 < <(evalsha_stats)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" $((c1 - c0)) $((u1 - u0)) \
        "$(awk -v u=$((u1 - u0)) -v c=$((c1 - c0)) 'BEGIN {printf "%.2f", u / c}')" >>"$RAW"
    bench_log "round $1: $2 $3: $(tail -1 "$RAW" | cut -f6) µs/call"
}
# The poll must find a waiting place and the prequeue no draw: check once, both versions.
for v in new old; do
    # shellcheck disable=SC2046
    r=$(cli EVALSHA "$(load $v poll)" 10 $(keys "$v-line") "$now_ms" $((LINE / 2)) 0 | head -2 | tr '\n' ' ')
    [[ $r == "1 $((LINE / 2)) " ]] || bench_die "$v poll: expected paused with $((LINE / 2)) ahead, got: $r"
done
for round in $(seq 1 "$ROUNDS"); do
    if ((round % 2)); then order="new old"; else order="old new"; fi
    for s in poll prequeue join; do
        for v in $order; do run "$round" "$v" "$s"; done
    done
done

med() { awk -F'\t' -v v="$1" -v s="$2" '$2 == v && $3 == s {print $6}' "$RAW" | bench_median; }
results=$ROOT/bench/out/scripts-results.md
{
    echo "# Queue scripts in Redis: µs per call"
    echo
    echo "- date: $(bench_date); machine: $(nproc) cores, $(bench_cpu_model)"
    echo "- redis: $(redis-server --version | awk '{print $3}' | tr -d 'v='), private, no persistence, core 0; redis-benchmark -c 1 on core 1"
    echo "- new: the working tree of $(git -C "$ROOT" rev-parse --short HEAD); old: $REF ($(git -C "$ROOT" rev-parse --short "$REF"))"
    echo "- $ROUNDS rounds × $CALLS calls per script and version, order alternated; **medians** of Redis's own usec/calls"
    echo "- state: $LINE visitors in a paused line (poll: the ticket in the middle); $LINE in a pre-queue (prequeue)"
    echo
    echo "| script | new µs/call | old µs/call | new/old |"
    echo "|---|---:|---:|---:|"
    for s in poll prequeue join; do
        n=$(med new $s) o=$(med old $s)
        printf '| %s | %s | %s | %s |\n' "$s" "$n" "$o" "$(awk -v n="$n" -v o="$o" 'BEGIN {printf "%.2f", n / o}')"
    done
    echo
    echo "Per-round rows: bench/out/scripts/raw.tsv."
} >"$results"
cat "$results"
