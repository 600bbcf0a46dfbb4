# Shared by bench/*.sh (sourced, not run): logging, cleanup of every process a script
# started (by PID), and the small measuring helpers. The sourcing script sets ROOT and
# LOGS (where its logs are) and fills MAIN_PIDS / EXTRA_PIDS / LOADGEN_PID.
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
