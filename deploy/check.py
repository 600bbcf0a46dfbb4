#!/usr/bin/env python3
"""Static checks of the deploy kit (run by deploy/check.sh; needs python3 >= 3.11 + PyYAML).

- Metric names: every `usher_*` name in the alert rules, their annotations and the Grafana
  dashboard is registered in src/ (or listed in PENDING below), and every label matcher and
  `by (...)` label is one of that metric family's labels, with values that occur in src/.
- Alert rules: schema (alert, expr, for, labels.severity, annotations.summary/runbook), and
  every runbook anchor exists in deploy/README.md.
- Grafana dashboard: parses; every panel has a datasource and targets with exprs; writes
  the exprs as recording rules for `promtool check rules` (PromQL syntax).
- Kubernetes manifests (check.sh adds strict OpenAPI schema validation): kinds and
  apiVersions; Deployment probes, resources, security
  context, topology spread; Services, PDB and HPA point at the Deployment; the ConfigMap's
  usher.toml matches the mounts and ports.
- Compose: services, healthchecks, Redis AOF, shared keys, one state volume per proxy,
  Prometheus targets and rules, Grafana provisioning; the proxy and backend configs agree.
- No private key material is committed under deploy/.

Usage: check.py ROOT [--dashboard-rules OUT.yml] [--proxy-configs OUT_DIR]
"""

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

import yaml

# Metrics that in-flight work is adding, used by the alert rules or the dashboard before
# src/ registers them: name -> {"labels": {...}, "values": {...}}. Reported as a warning
# while pending; delete the entry once src/ registers the metric (the check says so).
PENDING: dict[str, dict] = {}
# Labels Prometheus adds to every scraped series, and the histogram bucket label.
TARGET_LABELS = {"instance", "job"}
BUILTIN_METRICS = {"up", "vector", "scrape_duration_seconds", "scrape_samples_scraped"}

errors: list[str] = []
warnings: list[str] = []


def err(where: str, msg: str) -> None:
    errors.append(f"{where}: {msg}")


def ok(msg: str) -> None:
    print(f"  ok   {msg}")


# ---------------------------------------------------------------------------------------
# Metrics registered in src/
# ---------------------------------------------------------------------------------------

def registered_metrics(root: Path) -> tuple[dict, set]:
    """{name: {"labels": set, "histogram": bool}} and every plain string literal in src/."""
    metrics: dict[str, dict] = {}
    literals: set[str] = set()
    for f in sorted((root / "src").rglob("*.rs")):
        text = f.read_text()
        literals.update(re.findall(r'"([A-Za-z0-9_.+-]+)"', text))
        for m in re.finditer(r'(\w+)::new\(\s*"(usher_[a-z0-9_]+)"', text):
            kind, name = m.group(1), m.group(2)
            labels: set[str] = set()
            if kind in ("Opts", "HistogramOpts"):
                rest = text[m.end():]
                nxt = rest.find('"usher_')
                window = rest if nxt < 0 else rest[:nxt]
                lm = re.search(r"&\[([^\]]*)\]", window)
                if lm:
                    labels = set(re.findall(r'"([a-z_][a-z0-9_]*)"', lm.group(1)))
            histogram = kind in ("HistogramOpts", "Histogram")
            metrics[name] = {"labels": labels | ({"le"} if histogram else set()),
                             "histogram": histogram}
    return metrics, literals


class MetricChecker:
    def __init__(self, metrics: dict, literals: set):
        self.metrics = metrics
        self.literals = literals
        self.used: set[str] = set()
        self.pending_used: set[str] = set()
        self.all_labels = set(TARGET_LABELS)
        for m in metrics.values():
            self.all_labels |= m["labels"]
        for name, p in PENDING.items():
            if name not in metrics:
                self.all_labels |= p["labels"]

    def family(self, name: str):
        """(family name, labels, values or None) for a series name, or None if unknown."""
        if name in self.metrics:
            return name, self.metrics[name]["labels"], None
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[: -len(suffix)] if name.endswith(suffix) else None
            if base and base in self.metrics and self.metrics[base]["histogram"]:
                labels = self.metrics[base]["labels"]
                if suffix != "_bucket":
                    labels = labels - {"le"}
                return base, labels, None
        if name in PENDING:
            self.pending_used.add(name)
            return name, PENDING[name]["labels"], PENDING[name]["values"]
        return None

    def check_text(self, where: str, text: str) -> None:
        """usher_* names mentioned in prose (annotations, descriptions) must exist."""
        for name in set(re.findall(r"\busher_[a-z0-9_]+", text)):
            if self.family(name) is None:
                err(where, f"mentions {name}, which src/ does not register")

    def check_expr(self, where: str, expr: str) -> None:
        # Template variables are not PromQL: give them neutral values first.
        e = re.sub(r"\$\{?__\w+\}?", "1m", expr)
        for m in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?", e):
            name, sel = m.group(1), m.group(2)
            if not name.startswith("usher_"):
                continue
            fam = self.family(name)
            if fam is None:
                err(where, f"uses {name}, which src/ does not register")
                continue
            base, labels, pending_values = fam
            self.used.add(base)
            for lname, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', sel or ""):
                if lname not in labels and lname not in TARGET_LABELS:
                    err(where, f"{name} has no label {lname!r} (it has {sorted(labels)})")
                    continue
                if lname in TARGET_LABELS or "$" in value:
                    continue
                words = value.split("|") if op in ("=~", "!~") else [value]
                if op in ("=~", "!~") and not all(re.fullmatch(r"[A-Za-z0-9_+.]+", w) for w in words):
                    continue  # a real regex: nothing to compare
                known = pending_values if pending_values is not None else self.literals
                for w in words:
                    if w not in known:
                        err(where, f'{name}{{{lname}{op}"{value}"}}: {w!r} never occurs in src/ as a label value')
        for grp in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", e):
            for lname in [x.strip() for x in grp.split(",") if x.strip()]:
                if lname not in self.all_labels:
                    err(where, f"groups by {lname!r}, which no usher metric has")


# ---------------------------------------------------------------------------------------
# Alert rules
# ---------------------------------------------------------------------------------------

def readme_anchors(root: Path) -> set[str]:
    readme = root / "deploy" / "README.md"
    anchors = set()
    if readme.is_file():
        for line in readme.read_text().splitlines():
            m = re.match(r"#+\s+(.*)", line)
            if m:
                a = m.group(1).strip().lower()
                a = re.sub(r"[^\w\- ]", "", a).replace(" ", "-")
                anchors.add(a)
    return anchors


def check_alerts(root: Path, mc: MetricChecker) -> None:
    path = root / "deploy/prometheus/alerts.yml"
    where = str(path.relative_to(root))
    doc = yaml.safe_load(path.read_text())
    anchors = readme_anchors(root)
    names = []
    for g in doc.get("groups") or []:
        if not g.get("name") or not g.get("rules"):
            err(where, f"group without name or rules: {g.get('name')}")
        for r in g.get("rules") or []:
            a = r.get("alert")
            w = f"{where}: {a or r.get('record')}"
            if not a:
                err(w, "not an alerting rule (no `alert`)")
                continue
            names.append(a)
            if not re.fullmatch(r"Usher[A-Z][A-Za-z0-9]+", a):
                err(w, "alert names are CamelCase and start with Usher")
            for k in ("expr", "for"):
                if not r.get(k):
                    err(w, f"missing `{k}`")
            if r.get("for") and not re.fullmatch(r"\d+[smhd]", str(r["for"])):
                err(w, f"`for: {r['for']}` is not a duration")
            sev = (r.get("labels") or {}).get("severity")
            if sev not in ("critical", "warning", "info"):
                err(w, f"labels.severity is {sev!r}; use critical, warning or info")
            ann = r.get("annotations") or {}
            if not ann.get("summary"):
                err(w, "missing annotations.summary")
            rb = ann.get("runbook", "")
            m = re.fullmatch(r"deploy/README\.md#([\w-]+)", rb)
            if not m:
                err(w, "annotations.runbook must be deploy/README.md#<section>")
            elif m.group(1) not in anchors:
                err(w, f"deploy/README.md has no section #{m.group(1)}")
            mc.check_expr(w, r.get("expr", ""))
            for k, v in ann.items():
                mc.check_text(f"{w} annotations.{k}", str(v))
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        err(where, f"duplicate alert names {sorted(dup)}")
    ok(f"{where}: {len(names)} alerts with alert/expr/for/severity/summary/runbook; metric names and labels exist in src/")


# ---------------------------------------------------------------------------------------
# Grafana dashboard
# ---------------------------------------------------------------------------------------

def check_dashboard(root: Path, mc: MetricChecker, rules_out: Path | None) -> None:
    path = root / "deploy/grafana/usher.json"
    where = str(path.relative_to(root))
    try:
        dash = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        err(where, f"not JSON: {e}")
        return
    for k in ("uid", "title", "panels", "schemaVersion"):
        if k not in dash:
            err(where, f"missing {k}")
    variables = {v.get("name"): v for v in (dash.get("templating") or {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource":
        err(where, "needs a `datasource` variable of type datasource")
    for v in variables.values():
        if v.get("type") == "query":
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", q or "")
            if not m:
                err(where, f"variable {v.get('name')}: query {q!r} is not label_values(metric, label)")
                continue
            fam = mc.family(m.group(1))
            if fam is None or (m.group(2) not in fam[1] and m.group(2) not in TARGET_LABELS):
                err(where, f"variable {v.get('name')}: {m.group(1)} has no label {m.group(2)}")
    panels = []
    for p in dash.get("panels", []):
        panels.append(p)
        panels.extend(p.get("panels", []))
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)) or None in ids:
        err(where, "panel ids must be present and unique")
    rules = []
    n_targets = 0
    for p in panels:
        if p.get("type") == "row":
            continue
        w = f"{where}: panel {p.get('id')} {p.get('title')!r}"
        if "gridPos" not in p:
            err(w, "no gridPos")
        ds = p.get("datasource")
        if not isinstance(ds, dict) or not ds.get("uid") or ds.get("type") != "prometheus":
            err(w, "no prometheus datasource")
        targets = p.get("targets") or []
        if not targets:
            err(w, "no targets")
        for t in targets:
            expr = t.get("expr")
            if not expr:
                err(w, f"target {t.get('refId')} has no expr")
                continue
            if not isinstance(t.get("datasource"), dict):
                err(w, f"target {t.get('refId')} has no datasource")
            for var in re.findall(r"\$\{?(\w+)", expr):
                if not var.startswith("__") and var not in variables:
                    err(w, f"uses ${var}, which is not a dashboard variable")
            mc.check_expr(w, expr)
            n_targets += 1
            promql = re.sub(r"\$\{?__\w+\}?", "5m", expr)
            promql = re.sub(r"\$\{?\w+\}?", ".*", promql)
            rules.append({"record": f"dashboard:panel{p.get('id')}:{t.get('refId', 'A').lower()}",
                          "expr": promql})
        mc.check_text(f"{w} description", p.get("description", ""))
    if rules_out:
        rules_out.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    ok(f"{where}: {len(panels)} panels, {n_targets} queries, each with a datasource; metric names and labels exist in src/")


# ---------------------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------------------

API = {
    "Namespace": "v1", "ConfigMap": "v1", "Secret": "v1", "Service": "v1",
    "Deployment": "apps/v1", "StatefulSet": "apps/v1",
    "PodDisruptionBudget": "policy/v1", "HorizontalPodAutoscaler": "autoscaling/v2",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
}
REQUIRED = ["Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget",
            "HorizontalPodAutoscaler"]


def matches(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_k8s(root: Path) -> dict:
    kdir = root / "deploy/k8s"
    docs = []
    for f in sorted(kdir.glob("*.yaml")):
        for d in yaml.safe_load_all(f.read_text()):
            if d:
                docs.append((f.name, d))
    by_kind: dict[str, list] = {}
    for fname, d in docs:
        kind, api = d.get("kind"), d.get("apiVersion")
        w = f"deploy/k8s/{fname}: {kind}"
        if kind not in API:
            err(w, "unexpected kind")
            continue
        if api != API[kind]:
            err(w, f"apiVersion {api!r}; expected {API[kind]!r}")
        if kind != "Kustomization":
            if not (d.get("metadata") or {}).get("name"):
                err(w, "no metadata.name")
            if kind != "Namespace" and (d.get("metadata") or {}).get("namespace") != "usher":
                err(w, "metadata.namespace should be usher")
        by_kind.setdefault(kind, []).append((fname, d))
    for k in REQUIRED:
        if k not in by_kind:
            err("deploy/k8s", f"no {k}")
    if any(k not in by_kind for k in REQUIRED):
        return {}

    kust = by_kind.get("Kustomization", [(None, {})])[0][1]
    for r in kust.get("resources", []):
        if not (kdir / r).is_file():
            err("deploy/k8s/kustomization.yaml", f"resource {r} does not exist")
    if "secret.yaml" in kust.get("resources", []):
        err("deploy/k8s/kustomization.yaml", "must not apply the secret template")

    _, dep = by_kind["Deployment"][0]
    w = "deploy/k8s: Deployment"
    spec = dep["spec"]
    tmpl = spec["template"]
    labels = tmpl["metadata"]["labels"]
    pod = tmpl["spec"]
    if spec.get("replicas") != 2:
        err(w, "replicas should be 2")
    if not matches(spec["selector"]["matchLabels"], labels):
        err(w, "selector does not match the pod labels")
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        err(w, "pod securityContext.runAsNonRoot must be true")
    if not pod.get("topologySpreadConstraints"):
        err(w, "no topologySpreadConstraints")
    for t in pod.get("topologySpreadConstraints", []):
        if not matches(t.get("labelSelector", {}).get("matchLabels", {}), labels):
            err(w, "a topology spread constraint does not select the pods")
    c = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        hg = (c.get(probe) or {}).get("httpGet") or {}
        if hg.get("path") != path:
            err(w, f"{probe} should GET {path}")
        if hg.get("port") not in ports or ports.get(hg.get("port")) != 9090:
            err(w, f"{probe} should use the admin port")
    res = c.get("resources") or {}
    if not (res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory")
            and res.get("limits", {}).get("memory")):
        err(w, "needs cpu and memory requests and a memory limit (the HPA needs the cpu request)")
    sc = c.get("securityContext") or {}
    if sc.get("readOnlyRootFilesystem") is not True or sc.get("allowPrivilegeEscalation") is not False \
            or "ALL" not in (sc.get("capabilities") or {}).get("drop", []):
        err(w, "container securityContext: readOnlyRootFilesystem, no privilege escalation, drop ALL")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {}
    for m in c.get("volumeMounts", []):
        if m["name"] not in volumes:
            err(w, f"mount {m['mountPath']} names no volume {m['name']}")
        mounts[m["mountPath"]] = m
    cms = {d["metadata"]["name"]: d for _, d in by_kind["ConfigMap"]}
    secrets = {d["metadata"]["name"]: d for _, d in by_kind["Secret"]}
    for v in volumes.values():
        if "configMap" in v and v["configMap"]["name"] not in cms:
            err(w, f"volume {v['name']}: no ConfigMap {v['configMap']['name']}")
        if "secret" in v and v["secret"]["secretName"] not in secrets and v["secret"]["secretName"] != "usher-tls":
            err(w, f"volume {v['name']}: no Secret {v['secret']['secretName']}")

    # The config file: -c PATH under the ConfigMap mount, and consistent with the pod.
    args = c.get("args", [])
    cfg_path = args[args.index("-c") + 1] if "-c" in args else None
    cfg = None
    for mp, m in mounts.items():
        v = volumes.get(m["name"], {})
        if cfg_path and "configMap" in v and cfg_path.startswith(mp.rstrip("/") + "/"):
            key = cfg_path[len(mp.rstrip("/")) + 1:]
            data = cms[v["configMap"]["name"]].get("data", {})
            if key not in data:
                err(w, f"ConfigMap {v['configMap']['name']} has no {key}")
            else:
                cfg = data[key]
    if args[:1] != ["proxy"] or cfg is None:
        err(w, "args should be proxy -c <a file of the ConfigMap>")
        return {}
    try:
        conf = tomllib.loads(cfg)
    except tomllib.TOMLDecodeError as e:
        err("deploy/k8s/configmap.yaml", f"usher.toml is not TOML: {e}")
        return {}
    wc = "deploy/k8s/configmap.yaml usher.toml"
    lis = conf.get("listen", {})
    for field, port_name in (("public", "https"), ("admin", "admin"), ("plain", "http")):
        addr = lis.get(field)
        if addr and (not addr.startswith("0.0.0.0:") or int(addr.rsplit(":", 1)[1]) != ports.get(port_name)):
            err(wc, f"listen.{field} = {addr!r} should be 0.0.0.0:<the {port_name} containerPort>")

    def under_mount(path: str, kind: str) -> tuple[str, dict] | None:
        for mp, m in mounts.items():
            if path.startswith(mp.rstrip("/") + "/") and kind in volumes.get(m["name"], {}):
                return path[len(mp.rstrip("/")) + 1:], volumes[m["name"]][kind]
        return None

    for table, field in (("passes", "signing_key"), ("state", "ticket_secret")):
        path = conf.get(table, {}).get(field, "")
        hit = under_mount(path, "secret") if path else None
        if not hit:
            err(wc, f"{table}.{field} {path!r} is not in a mounted Secret (every replica needs the same one)")
        elif hit[1]["secretName"] in secrets:
            sec = secrets[hit[1]["secretName"]]
            if hit[0] not in {**sec.get("data", {}), **sec.get("stringData", {})}:
                err("deploy/k8s/secret.yaml", f"has no {hit[0]} ({table}.{field})")
    for field in ("cert", "key"):
        p = conf.get("tls", {}).get(field)
        if p and not under_mount(p, "secret"):
            err(wc, f"tls.{field} {p!r} is not in a mounted Secret")
    state = conf.get("state", {}).get("dir", "data")
    if state not in mounts or "emptyDir" not in volumes[mounts[state]["name"]]:
        err(wc, f"state.dir {state!r} should be the emptyDir mount (the root filesystem is read-only)")
    if not conf.get("store", {}).get("url", "").startswith("redis://"):
        err(wc, "[store] url should name the shared Redis")

    workloads = [d for k in ("Deployment", "StatefulSet") for _, d in by_kind.get(k, [])]
    for fname, s in by_kind["Service"]:
        ws = f"deploy/k8s/{fname}: Service {s['metadata']['name']}"
        pods = [d["spec"]["template"] for d in workloads
                if matches(s["spec"].get("selector", {}), d["spec"]["template"]["metadata"]["labels"])]
        if not pods:
            err(ws, "selector matches no Deployment's or StatefulSet's pods")
            continue
        names = {p["name"] for c in pods[0]["spec"]["containers"] for p in c.get("ports", [])}
        for p in s["spec"].get("ports", []):
            if p.get("targetPort") not in names:
                err(ws, f"targetPort {p.get('targetPort')!r} is not a container port name")
    svc_ports = {(s["metadata"]["name"], p["port"], p.get("targetPort")) for _, s in by_kind["Service"] for p in s["spec"]["ports"]}
    if not any(port == 443 and tp == "https" for _, port, tp in svc_ports):
        err("deploy/k8s/service.yaml", "no public port 443 -> https")
    if not any(port == 9090 and tp == "admin" for _, port, tp in svc_ports):
        err("deploy/k8s/service.yaml", "no admin port 9090 -> admin")
    _, pdb = by_kind["PodDisruptionBudget"][0]
    if pdb["spec"].get("minAvailable") != 1 or not matches(pdb["spec"]["selector"]["matchLabels"], labels):
        err("deploy/k8s/pdb.yaml", "minAvailable 1 for the Deployment's pods")
    _, hpa = by_kind["HorizontalPodAutoscaler"][0]
    ref = hpa["spec"]["scaleTargetRef"]
    if ref.get("kind") != "Deployment" or ref.get("name") != dep["metadata"]["name"]:
        err("deploy/k8s/hpa.yaml", "scaleTargetRef should be the Deployment")
    if hpa["spec"].get("minReplicas", 1) < 2:
        err("deploy/k8s/hpa.yaml", "minReplicas below the Deployment's 2")
    if not any(m.get("resource", {}).get("name") == "cpu" for m in hpa["spec"].get("metrics", [])):
        err("deploy/k8s/hpa.yaml", "no cpu metric")
    kinds = ", ".join(f"{k} {API[k]}" for k in sorted(by_kind))
    ok(f"deploy/k8s: {len(docs)} objects ({kinds})")
    ok("deploy/k8s: Deployment probes/resources/securityContext/spread; Services, PDB, HPA select it; ConfigMap usher.toml matches ports and mounts")
    return conf


# ---------------------------------------------------------------------------------------
# Compose
# ---------------------------------------------------------------------------------------

def check_compose(root: Path) -> tuple[dict, dict]:
    path = root / "deploy/docker-compose.yml"
    w = "deploy/docker-compose.yml"
    doc = yaml.safe_load(path.read_text())
    svcs = doc.get("services", {})
    expected = ("redis", "init-secrets", "backend", "usher-a", "usher-b", "prometheus", "grafana")
    for name in expected:
        if name not in svcs:
            err(w, f"no service {name}")
    if any(name not in svcs for name in expected):
        return {}, {}
    for name, s in svcs.items():
        if name == "init-secrets":
            continue
        if not (s.get("healthcheck") or {}).get("test"):
            err(w, f"{name} has no healthcheck")
    redis = " ".join(map(str, svcs["redis"].get("command", [])))
    for flag in ("--appendonly yes", "--appendfsync everysec"):
        if flag not in redis:
            err(w, f"redis should run with {flag}")
    if not any(str(v).endswith(":/data") for v in svcs["redis"].get("volumes", [])):
        err(w, "redis has no volume for /data")

    def vols(s):
        out = {}
        for v in s.get("volumes", []):
            parts = v.split(":")
            out[parts[1]] = parts[0]
        return out

    proxies = [svcs["usher-a"], svcs["usher-b"]]
    cmds = [p.get("command") for p in proxies]
    if cmds[0] != cmds[1] or cmds[0][:1] != ["proxy"]:
        err(w, "usher-a and usher-b should run the same `proxy -c FILE` command")
    va, vb = vols(proxies[0]), vols(proxies[1])
    if va.get("/etc/usher/keys") != vb.get("/etc/usher/keys") or not va.get("/etc/usher/keys"):
        err(w, "both proxies must mount the same pass-keys volume at /etc/usher/keys")
    if va.get("/var/lib/usher") == vb.get("/var/lib/usher"):
        err(w, "each proxy needs its own state volume")
    init = vols(svcs["init-secrets"])
    for v in (va.get("/etc/usher/keys"), vols(svcs["backend"]).get("/etc/usher/keys")):
        if v not in init.values():
            err(w, f"init-secrets does not fill volume {v}")
    if not (root / "deploy/compose/keys/.gitignore").is_file():
        err(w, "deploy/compose/keys/.gitignore is missing (keys must never be committed)")

    # The proxy config, through its mount.
    cfg_path = cmds[0][cmds[0].index("-c") + 1]
    host_cfg = None
    for target, src in va.items():
        if cfg_path.startswith(target.rstrip("/") + "/") and src.startswith("./"):
            host_cfg = root / "deploy" / src[2:] / cfg_path[len(target.rstrip("/")) + 1:]
        elif cfg_path == target and src.startswith("./"):
            host_cfg = root / "deploy" / src[2:]
    if not host_cfg or not host_cfg.is_file():
        err(w, f"{cfg_path} is not a mounted file")
        return {}, {}
    proxy = tomllib.loads(host_cfg.read_text())
    bcmd = svcs["backend"]["command"]
    bcfg = bcmd[bcmd.index("-c") + 1]
    host_b = next((root / "deploy" / s[2:] for t, s in vols(svcs["backend"]).items() if t == bcfg), None)
    if not host_b or not host_b.is_file():
        err(w, f"backend config {bcfg} is not a mounted file")
        return proxy, {}
    backend = tomllib.loads(host_b.read_text())
    wp = str(host_cfg.relative_to(root))
    if proxy.get("listen", {}).get("admin") != "0.0.0.0:9090":
        err(wp, "listen.admin should be 0.0.0.0:9090 (scraped over the compose network)")
    if proxy.get("store", {}).get("url") != "redis://redis:6379/0":
        err(wp, '[store] url should be "redis://redis:6379/0"')
    for table, field in (("passes", "signing_key"), ("state", "ticket_secret")):
        if not proxy.get(table, {}).get(field, "").startswith("/etc/usher/keys/"):
            err(wp, f"{table}.{field} should be in /etc/usher/keys (the shared pass-keys volume)")
    if proxy.get("state", {}).get("dir") != "/var/lib/usher":
        err(wp, "state.dir should be /var/lib/usher (the node's state volume)")
    bport = backend.get("listen", "").rsplit(":", 1)[-1]
    if f"backend:{bport}" not in proxy.get("upstream", {}).get("servers", []):
        err(wp, f"upstream.servers should be backend:{bport}")
    if backend.get("passes", {}).get("issuer") != proxy.get("passes", {}).get("issuer", "usher"):
        err(str(host_b.relative_to(root)), "[passes] issuer differs from the proxies'")
    rooms = {r.get("name") for r in proxy.get("rooms", [])}
    if backend.get("passes", {}).get("audience") not in rooms:
        err(str(host_b.relative_to(root)), f"[passes] audience is not one of the proxies' rooms {sorted(rooms)}")
    sk = Path(proxy["passes"]["signing_key"]).stem
    if sk not in {Path(k).stem for k in backend.get("passes", {}).get("public_keys", [])}:
        err(str(host_b.relative_to(root)), f"public_keys lacks {sk}.pub, the proxies' signing key")
    # Backend fields exist in the reference config/backend.toml (it has no check-config).
    ref = (root / "config/backend.toml").read_text()
    for table, keys in [("", backend)] + [(k, v) for k, v in backend.items() if isinstance(v, dict)]:
        for k, v in keys.items():
            if isinstance(v, dict):
                continue
            if not re.search(rf"^#?\s*{re.escape(k)}\s*=", ref, re.M):
                err(str(host_b.relative_to(root)), f"{(table + '.') if table else ''}{k} is not a field of config/backend.toml")

    # Prometheus scrapes both proxies' admin ports and loads the mounted rules.
    prom = yaml.safe_load((root / "deploy/compose/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom.get("scrape_configs", [])}
    targets = {t for sc in jobs.get("usher", {}).get("static_configs", []) for t in sc.get("targets", [])}
    if targets != {"usher-a:9090", "usher-b:9090"}:
        err("deploy/compose/prometheus.yml", f"job usher should scrape usher-a:9090 and usher-b:9090, not {sorted(targets)}")
    pv = vols(svcs["prometheus"])
    for rf in prom.get("rule_files", []):
        mounted = "/etc/prometheus/" + rf if not rf.startswith("/") else rf
        if pv.get(mounted) != "./prometheus/alerts.yml":
            err(w, f"prometheus rule file {rf} is not deploy/prometheus/alerts.yml")
    gv = vols(svcs["grafana"])
    if gv.get("/etc/grafana/provisioning") != "./compose/grafana/provisioning" or \
            gv.get("/etc/grafana/dashboards") != "./grafana":
        err(w, "grafana should mount compose/grafana/provisioning and grafana/ (the dashboard)")
    dsdoc = yaml.safe_load((root / "deploy/compose/grafana/provisioning/datasources/prometheus.yml").read_text())
    dash = json.loads((root / "deploy/grafana/usher.json").read_text())
    dsvar = next((v for v in dash["templating"]["list"] if v["name"] == "datasource"), {})
    if dsvar.get("current", {}).get("value") not in {d.get("uid") for d in dsdoc.get("datasources", [])}:
        err("deploy/compose/grafana", "the dashboard's default datasource uid is not provisioned")
    dbdoc = yaml.safe_load((root / "deploy/compose/grafana/provisioning/dashboards/usher.yml").read_text())
    if dbdoc["providers"][0]["options"]["path"] != "/etc/grafana/dashboards":
        err("deploy/compose/grafana", "dashboard provider path is not the mounted /etc/grafana/dashboards")
    ok(f"{w}: {len(svcs)} services with healthchecks, Redis AOF everysec, shared keys, one state volume per proxy")
    ok("deploy/compose: proxy and backend configs agree (issuer, audience, key, upstream); Prometheus scrapes both admin ports; Grafana provisioned")
    return proxy, backend


def check_no_secrets(root: Path) -> None:
    bad = []
    for f in (root / "deploy").rglob("*"):
        if f.is_file() and "compose/keys" not in str(f.relative_to(root)):
            try:
                if "PRIVATE KEY-----" in f.read_text(errors="ignore") and "REPLACE" not in f.read_text(errors="ignore"):
                    bad.append(str(f.relative_to(root)))
            except OSError:
                pass
    if bad:
        err("deploy", f"private key material in {bad}")
    else:
        ok("deploy/: no private key material outside the git-ignored deploy/compose/keys/")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--dashboard-rules", type=Path)
    ap.add_argument("--proxy-configs", type=Path,
                    help="write the compose and k8s usher.toml here for `usher check-config`")
    a = ap.parse_args()
    root = a.root.resolve()
    metrics, literals = registered_metrics(root)
    if not metrics:
        err("src/", "found no registered usher_ metrics")
    mc = MetricChecker(metrics, literals)
    ok(f"src/: {len(metrics)} metric families registered: {', '.join(sorted(metrics))}")
    check_alerts(root, mc)
    check_dashboard(root, mc, a.dashboard_rules)
    k8s_conf = check_k8s(root)
    proxy, _ = check_compose(root)
    check_no_secrets(root)
    for name in sorted(mc.pending_used):
        warnings.append(f"{name} is used by the alerts/dashboard but not registered in src/ yet "
                        f"(PENDING in deploy/check.py; remove it there once src/ registers it)")
    for name in sorted(PENDING):
        if name in metrics:
            warnings.append(f"{name} is registered in src/ now: delete it from PENDING in deploy/check.py")
    unused = sorted(set(metrics) - mc.used)
    if unused:
        print(f"  note metrics neither alerted on nor charted: {', '.join(unused)}")
    if a.proxy_configs and proxy:
        a.proxy_configs.mkdir(parents=True, exist_ok=True)
        (a.proxy_configs / "compose-usher.toml").write_text((root / "deploy/compose/proxy/usher.toml").read_text())
        if k8s_conf:
            cm = yaml.safe_load((root / "deploy/k8s/configmap.yaml").read_text())
            (a.proxy_configs / "k8s-usher.toml").write_text(cm["data"]["usher.toml"])
    for wmsg in warnings:
        print(f"  warn {wmsg}")
    for e in errors:
        print(f"  FAIL {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
