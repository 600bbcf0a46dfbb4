#!/usr/bin/env bash
# Validates the deploy kit: docker compose, Prometheus config and alert rules (with their
# unit tests), the Grafana dashboard, the Kubernetes manifests (structure and OpenAPI
# schemas), the systemd units, the Dockerfile, and the usher configs they ship (with
# `usher check-config` when a built binary is at hand). Installs what it needs on first
# run (Debian: docker-compose, prometheus for promtool; PyPI: kubernetes-validate in a
# cached virtualenv); after that it takes a few seconds. Non-interactive; exits non-zero
# on any problem; the last line is "deploy: N passed, N failed, N skipped".
#
#   bash deploy/check.sh            # from anywhere; USHER_BIN=path/to/usher to pick a binary
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0 skipped=0

step() { echo "== deploy: $*"; }
ok() { echo "  ok   $*"; passed=$((passed + 1)); }
fail() { echo "  FAIL $*"; failed=$((failed + 1)); }
skip() { echo "  skip $*"; skipped=$((skipped + 1)); }

apt_updated=
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "  FAIL need root to apt-get install $* (or install it yourself)"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  echo "  installing $* (Debian)"
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- tools -------------------------------------------------------------------------------
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  command -v docker-compose >/dev/null 2>&1 || apt_install docker-compose
  compose=(docker-compose)
fi
# Debian's prometheus package ships promtool (the server is installed but not started).
command -v promtool >/dev/null 2>&1 || apt_install prometheus
command -v python3 >/dev/null 2>&1 || apt_install python3 python3-yaml
if ! python3 -c 'import yaml, tomllib' >/dev/null 2>&1; then
  if [ "$(command -v python3)" = /usr/bin/python3 ]; then
    apt_install python3-yaml
  else
    python3 -m pip install -q pyyaml
  fi
fi

# --- compose -----------------------------------------------------------------------------
step "docker compose config ($("${compose[@]}" version --short 2>/dev/null || "${compose[@]}" version | head -1))"
if "${compose[@]}" -f deploy/docker-compose.yml config -q; then
  ok "deploy/docker-compose.yml: services $("${compose[@]}" -f deploy/docker-compose.yml config --services | sort | tr '\n' ' ')"
else
  fail "deploy/docker-compose.yml does not validate"
fi

# --- static checks (metric names, dashboard, k8s, compose wiring) --------------------------
step "structure and metric names (deploy/check.py)"
rc=0
out=$(python3 deploy/check.py "$root" --dashboard-rules "$tmp/dashboard-rules.yml" \
  --proxy-configs "$tmp/configs" 2>&1) || rc=$?
echo "$out"
passed=$((passed + $(grep -c '^  ok ' <<<"$out" || true)))
failed=$((failed + $(grep -c '^  FAIL ' <<<"$out" || true)))
[ $rc = 0 ] || grep -q '^  FAIL ' <<<"$out" || fail "deploy/check.py exited with $rc"

# --- Kubernetes OpenAPI schemas (kubernetes-validate from PyPI bundles them; no cluster) ----
step "kubernetes-validate --strict (k8s 1.30 schemas)"
kv_venv=${XDG_CACHE_HOME:-$HOME/.cache}/usher-deploy-check/kv-1.37.0
if [ ! -x "$kv_venv/bin/kubernetes-validate" ]; then
  rm -rf "$kv_venv"
  { python3 -m venv "$kv_venv" && "$kv_venv/bin/pip" install -q --disable-pip-version-check \
      kubernetes-validate==1.37.0; } >"$tmp/kv-install.log" 2>&1 || rm -rf "$kv_venv"
fi
if [ -x "$kv_venv/bin/kubernetes-validate" ]; then
  k8s_files=()
  for f in deploy/k8s/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || k8s_files+=("$f")
  done
  if out=$("$kv_venv/bin/kubernetes-validate" --strict --quiet -k 1.30.0 "${k8s_files[@]}" 2>&1); then
    ok "deploy/k8s: every object validates strictly against the Kubernetes 1.30 OpenAPI schemas"
  else
    echo "$out"; fail "deploy/k8s: schema validation"
  fi
else
  skip "could not install kubernetes-validate from PyPI (see above for the structural checks)"
fi

# --- Prometheus --------------------------------------------------------------------------
step "promtool $(promtool --version 2>&1 | head -1 | awk '{print $3}')"
if out=$(promtool check rules deploy/prometheus/alerts.yml 2>&1); then
  ok "alerts.yml: $(echo "$out" | grep -o '[0-9]* rules found')"
else
  echo "$out"; fail "promtool check rules deploy/prometheus/alerts.yml"
fi
if out=$(promtool test rules deploy/prometheus/alerts_test.yml 2>&1); then
  ok "alerts_test.yml: $(grep -c '^  - name:' deploy/prometheus/alerts_test.yml) unit tests pass (each alert fires, and only where it should)"
else
  echo "$out"; fail "promtool test rules deploy/prometheus/alerts_test.yml"
fi
# The compose config loads alerts.yml from beside itself, as it is mounted.
mkdir -p "$tmp/prom"
cp deploy/compose/prometheus.yml deploy/prometheus/alerts.yml "$tmp/prom/"
if out=$(promtool check config "$tmp/prom/prometheus.yml" 2>&1); then
  ok "compose/prometheus.yml: config and its rule files"
else
  echo "$out"; fail "promtool check config deploy/compose/prometheus.yml"
fi
if [ -s "$tmp/dashboard-rules.yml" ]; then
  if out=$(promtool check rules "$tmp/dashboard-rules.yml" 2>&1); then
    ok "grafana/usher.json: every query parses as PromQL ($(echo "$out" | grep -o '[0-9]* rules found' | cut -d' ' -f1) queries)"
  else
    echo "$out"; fail "a dashboard query is not valid PromQL"
  fi
fi

# --- the init-secrets script, for real, in a scratch directory ------------------------------
step "compose/install-secrets.sh"
sh -n deploy/compose/install-secrets.sh || fail "install-secrets.sh: syntax"
if [ "$(id -u)" = 0 ]; then
  s="$tmp/secrets"
  mkdir -p "$s/in" "$s/out/pass-keys" "$s/out/public-keys"
  sed "s#/in\b#$s/in#g; s#/out/#$s/out/#g" deploy/compose/install-secrets.sh > "$s/run.sh"
  if sh "$s/run.sh" >/dev/null 2>&1; then fail "install-secrets.sh accepted an empty keys directory"; fi
  printf 'k%.0s' $(seq 64) > "$s/in/pass-1.key"; echo pub > "$s/in/pass-1.pub"
  head -c 32 /dev/urandom > "$s/in/ticket.key"
  if sh "$s/run.sh" >/dev/null \
     && [ -f "$s/out/pass-keys/pass-1.key" ] && [ ! -e "$s/out/public-keys/pass-1.key" ] \
     && [ -f "$s/out/public-keys/pass-1.pub" ] && [ ! -e "$s/out/public-keys/ticket.key" ] \
     && [ "$(stat -c %u:%a "$s/out/pass-keys/ticket.key")" = 65532:400 ]; then
    ok "refuses missing keys; proxies get keys + ticket secret (65532, 0400), the backend public keys only"
  else
    fail "install-secrets.sh did not install the secrets as expected"
  fi
else
  skip "functional test (needs root for chown)"
fi

# --- usher check-config on the shipped proxy configs ----------------------------------------
step "usher check-config"
bin=${USHER_BIN:-}
if [ -z "$bin" ]; then
  for b in target/debug/usher target/release/usher; do
    if [ -x "$b" ] && { [ -z "$bin" ] || [ "$b" -nt "$bin" ]; }; then bin=$b; fi
  done
fi
if [ -n "$bin" ] && [ -d "$tmp/configs" ]; then
  # The configs name container paths: give them real files under a scratch root.
  sandbox="$tmp/root"
  mkdir -p "$sandbox/etc/usher/keys" "$sandbox/etc/usher/tls" "$sandbox/var/lib/usher"
  "$bin" keygen --out "$sandbox/etc/usher/keys" --name pass-1 >/dev/null \
    || fail "$bin keygen failed"
  touch "$sandbox/etc/usher/tls/tls.crt" "$sandbox/etc/usher/tls/tls.key"
  head -c 32 /dev/urandom > "$sandbox/etc/usher/keys/ticket.key"
  for f in "$tmp"/configs/*.toml; do
    sed -i "s#\"/etc/usher/#\"$sandbox/etc/usher/#g; s#\"/var/lib/usher#\"$sandbox/var/lib/usher#g" "$f"
    name=$(basename "$f")
    where=$([ "$name" = k8s-usher.toml ] && echo "k8s/configmap.yaml usher.toml" || echo "compose/proxy/usher.toml")
    if out=$("$bin" check-config -c "$f" 2>&1); then
      ok "$where (with $bin)"
    else
      echo "$out" | sed "s#$tmp/configs/##g"; fail "$where: usher check-config"
    fi
  done
else
  skip "no usher binary (cargo build, or run after cargo test; or set USHER_BIN)"
fi

# --- systemd -------------------------------------------------------------------------------
step "systemd units"
if command -v systemd-analyze >/dev/null 2>&1; then
  for u in deploy/systemd/*.service; do
    # verify wants the ExecStart binary to exist: point it at a stand-in.
    sed "s#/usr/local/bin/usher#/bin/true#g" "$u" > "$tmp/$(basename "$u")"
    if out=$(systemd-analyze verify "$tmp/$(basename "$u")" 2>&1) && [ -z "$out" ]; then
      ok "$u"
    else
      echo "$out"; fail "systemd-analyze verify $u"
    fi
  done
else
  skip "systemd-analyze not installed"
fi
for u in deploy/systemd/*.service; do
  for d in NoNewPrivileges=yes ProtectSystem=strict StateDirectory= "ExecReload=/bin/kill -HUP \$MAINPID"; do
    case "$u:$d" in *usher-backend.service:ExecReload*) continue ;; esac
    grep -qF "$d" "$u" || fail "$u lacks $d"
  done
done

# --- Dockerfile ------------------------------------------------------------------------------
step "Dockerfile"
df_ok=1
[ "$(grep -c '^FROM ' Dockerfile)" -ge 2 ] || { fail "Dockerfile is not multi-stage"; df_ok=0; }
grep -q '^USER ' Dockerfile || { fail "Dockerfile sets no USER"; df_ok=0; }
grep -q '^USER \(root\|0\)' Dockerfile && { fail "Dockerfile runs as root"; df_ok=0; }
for k in HEALTHCHECK EXPOSE ENTRYPOINT CMD; do
  grep -q "^$k " Dockerfile || { fail "Dockerfile lacks $k"; df_ok=0; }
done
for p in .git target 'deploy'; do
  grep -qx "$p" .dockerignore || { fail ".dockerignore does not exclude $p"; df_ok=0; }
done
[ $df_ok = 1 ] && ok "multi-stage, non-root USER, HEALTHCHECK, EXPOSE, ENTRYPOINT/CMD; .dockerignore keeps keys and target out"

# The closing line in the form CI reads: "N passed, N failed, N skipped".
if [ $failed != 0 ]; then
  echo "== deploy: FAILED (see FAIL lines above)"
fi
echo "deploy: $passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]
