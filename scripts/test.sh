#!/usr/bin/env bash
# The test command (README "Test it"; .ci/run calls it too). The tests start real programs,
# so on a fresh Debian machine with only the Rust toolchain this installs the missing ones
# first (apt-get as root, or through sudo), then runs `cargo test --locked` with the
# arguments given.
#
#   bash scripts/test.sh                   # every test
#   bash scripts/test.sh --test cluster    # one integration test binary (tests/cluster.rs)
#   bash scripts/test.sh --lib room        # the unit tests whose names contain "room"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# <command>:<Debian package>, one per program the tests start:
#   redis-server  the Redis store and several nodes (tests/common/redis.rs,
#                 src/store/redis/tests/server.rs)
#   chromium      the waiting page and the web UI, headless (tests/common/cdp.rs)
#   kill          signals to the real binary and to redis-server (tests/binary.rs,
#                 src/store/redis/tests/server.rs); slim images lack procps
#   curl          no test starts it; the README's examples and bench/ use it
needs=(redis-server:redis-server chromium:chromium kill:procps curl:curl)

missing=()
# type -P: the program on PATH (Rust's Command::new runs that, never bash's builtin kill).
for need in "${needs[@]}"; do
    type -P "${need%%:*}" >/dev/null || missing+=("${need#*:}")
done

if ((${#missing[@]})); then
    fail() {
        echo "scripts/test.sh: the tests need ${missing[*]}, not installed here; $1." >&2
        echo "Install them (Debian/Ubuntu: apt-get install ${missing[*]}), then run this again." >&2
        exit 1
    }
    command -v apt-get >/dev/null 2>&1 || fail "this machine has no apt-get"
    if [[ $(id -u) -eq 0 ]]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        fail "installing needs root, and there is no sudo"
    fi
    echo "== installing ${missing[*]} (apt-get${as_root[*]:+ through sudo})"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        || fail "apt-get update failed"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
        || fail "apt-get install failed"
    for need in "${needs[@]}"; do
        type -P "${need%%:*}" >/dev/null \
            || fail "${need%%:*} is still not on PATH after installing ${need#*:}"
    done
fi

echo "== cargo test --locked $*"
exec cargo test --locked "$@"
