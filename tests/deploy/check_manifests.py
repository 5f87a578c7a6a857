#!/usr/bin/env python3
"""Consistency checks for the deployment manifests under deploy/ (Kubernetes + Compose).

usage: python3 tests/deploy/check_manifests.py [REPO_ROOT]

Parses every YAML file under deploy/ and checks that the fields which must agree across files do:
probes vs the grpc container port, metrics port vs ConfigMap and prometheus.io annotations, Services
vs pod labels and port, model volume vs model dir and PVC, grace period vs drain, HPA vs Deployment,
TLS and token files vs the Secret volumes that provide them, Compose (and its TLS override) vs the same
settings. Prints one line per check
and a final "N passed, M failed"; exits 1 when any check fails. Needs python3-yaml.
"""
import os
import re
import sys

try:
    import yaml
except ImportError:  # pragma: no cover
    print("check_manifests: python3-yaml is not installed (apt-get install python3-yaml)")
    print("0 passed, 1 failed")
    sys.exit(1)


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, fn):
        """Runs fn(); it returns a detail string or raises AssertionError/KeyError with the reason."""
        try:
            detail = fn()
        except (AssertionError, KeyError, TypeError, ValueError, IndexError) as e:
            self.failed += 1
            reason = str(e) if isinstance(e, AssertionError) else "%s: %s" % (type(e).__name__, e)
            print("FAIL - %s: %s" % (name, reason))
            return
        self.passed += 1
        print("ok   - %s%s" % (name, " (%s)" % detail if detail else ""))


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


def load_all(deploy_dir):
    """Returns {relative path: [documents]} for every .yaml/.yml under deploy/."""
    docs = {}
    errors = []
    for base, _, files in os.walk(deploy_dir):
        for f in sorted(files):
            if not f.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(base, f)
            rel = os.path.relpath(path, deploy_dir)
            try:
                with open(path, encoding="utf-8") as fh:
                    docs[rel] = [d for d in yaml.safe_load_all(fh) if d is not None]
            except yaml.YAMLError as e:
                errors.append("%s: %s" % (rel, e))
    return docs, errors


def k8s_objects(docs):
    objs = []
    for rel, ds in docs.items():
        if not rel.startswith("k8s" + os.sep):
            continue
        for d in ds:
            if isinstance(d, dict) and "kind" in d:
                objs.append((rel, d))
    return objs


def one(objs, kind, pred=lambda o: True):
    found = [o for _, o in objs if o.get("kind") == kind and pred(o)]
    expect(len(found) == 1, "expected exactly one %s, found %d" % (kind, len(found)))
    return found[0]


def duration_seconds(text):
    """Compose durations: '15s', '1m30s', '500ms' or a bare number of seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text))
    expect(parts and "".join(n + u for n, u in parts) == str(text), "bad duration %r" % text)
    for number, unit in parts:
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
    return total


def flag_value(args, flag):
    """Value of --flag X or --flag=X in an args list, or None."""
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def published_container_port(entry):
    """Container port of a compose ports entry: "9464", "9464:9464", "127.0.0.1:9464:9464/tcp" or
    the long syntax {target: 9464, published: ...}."""
    if isinstance(entry, dict):
        return str(entry.get("target"))
    return str(entry).split(":")[-1].split("/")[0]


def main(argv):
    root = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
    deploy_dir = os.path.join(root, "deploy")
    c = Checker()
    docs, errors = load_all(deploy_dir)

    def parse_all():
        expect(not errors, "YAML errors: " + "; ".join(errors))
        expect(docs, "no YAML files under %s" % deploy_dir)
        return "%d files" % len(docs)

    c.check("every YAML file under deploy/ parses", parse_all)
    if errors or not docs:
        print("%d passed, %d failed" % (c.passed, c.failed))
        return 1

    objs = k8s_objects(docs)
    ctx = {}

    # ---------------------------------------------------------------- kustomization
    def kustomization():
        k = docs.get(os.path.join("k8s", "kustomization.yaml"))
        expect(k, "deploy/k8s/kustomization.yaml is missing")
        listed = set(k[0].get("resources", []))
        present = {os.path.basename(r) for r in docs if r.startswith("k8s" + os.sep)} - {"kustomization.yaml"}
        expect(listed == present, "kustomization resources %s != files %s" % (sorted(listed), sorted(present)))
        return "%d resources" % len(listed)

    c.check("kustomization lists exactly the manifests in deploy/k8s", kustomization)

    # ---------------------------------------------------------------- shared facts
    def facts():
        dep = one(objs, "Deployment")
        pod = dep["spec"]["template"]
        containers = pod["spec"]["containers"]
        expect(len(containers) >= 1, "Deployment has no containers")
        ctr = containers[0]
        ports = ctr.get("ports", [])
        names = [p.get("name") for p in ports]
        expect(len(names) == len(set(names)), "server container port names are not unique: %s" % names)
        grpc_ports = [p for p in ports if p.get("name") == "grpc"]
        expect(len(grpc_ports) == 1, "server container must declare a port named grpc, has %s" % names)
        metrics_ports = [p for p in ports if p.get("name") == "metrics"]
        others = sorted(str(n) for n in names if n not in ("grpc", "metrics"))
        expect(not others, "server container declares ports other than grpc and metrics: %s" % others)
        env_from = [e["configMapRef"]["name"] for e in ctr.get("envFrom", []) if "configMapRef" in e]
        expect(env_from, "server container has no envFrom configMapRef")
        cm = one(objs, "ConfigMap", lambda o: o["metadata"]["name"] == env_from[0])
        ctx.update(dep=dep, pod=pod, ctr=ctr, port=grpc_ports[0], metrics=(metrics_ports or [None])[0],
                   cm=cm["data"])
        return "Deployment %s, ConfigMap %s" % (dep["metadata"]["name"], cm["metadata"]["name"])

    c.check("Deployment and the ConfigMap it reads exist", facts)
    if "dep" not in ctx:
        print("%d passed, %d failed" % (c.passed, c.failed))
        return 1
    dep, pod, ctr, port, cm = ctx["dep"], ctx["pod"], ctx["ctr"], ctx["port"], ctx["cm"]
    metrics_port = ctx["metrics"]
    container_port = port["containerPort"]
    args = [str(a) for a in ctr.get("args", [])] + [str(a) for a in ctr.get("command", [])]

    def config_port():
        expect(container_port == 50051, "containerPort is %s, expected 50051" % container_port)
        cfg = int(cm["WORDBRIDGE_PORT"])
        expect(cfg == container_port, "ConfigMap WORDBRIDGE_PORT %s != containerPort %s" % (cfg, container_port))
        arg = flag_value(args, "--port")
        expect(arg is None or int(arg) == container_port, "args --port %s != containerPort" % arg)
        return "50051"

    c.check("container port grpc 50051 = ConfigMap WORDBRIDGE_PORT", config_port)

    def metrics():
        annotations = pod["metadata"].get("annotations") or {}
        bad = sorted(k for k, v in annotations.items() if not isinstance(v, str))
        expect(not bad, "pod annotations must be strings (quote them): %s" % bad)
        scrape = annotations.get("prometheus.io/scrape")
        if metrics_port is None:
            expect(scrape != "true", "pod is annotated prometheus.io/scrape but declares no port named metrics")
            return "no metrics port"
        mp = metrics_port["containerPort"]
        expect(metrics_port.get("protocol", "TCP") == "TCP", "metrics port protocol %s" % metrics_port.get("protocol"))
        expect(mp != container_port, "metrics port %s is the grpc port" % mp)
        cfg = cm.get("WORDBRIDGE_METRICS_PORT")
        expect(cfg is not None, "a metrics port is declared but the ConfigMap has no WORDBRIDGE_METRICS_PORT")
        expect(int(cfg) == mp, "ConfigMap WORDBRIDGE_METRICS_PORT %s != metrics containerPort %s" % (cfg, mp))
        arg = flag_value(args, "--metrics-port")
        expect(arg is None or int(arg) == mp, "args --metrics-port %s != metrics containerPort %s" % (arg, mp))
        expect(scrape == "true", "pod annotation prometheus.io/scrape is %r, expected \"true\"" % scrape)
        ann_port = annotations.get("prometheus.io/port")
        expect(ann_port is not None and int(ann_port) == mp,
               "pod annotation prometheus.io/port %r != metrics containerPort %s" % (ann_port, mp))
        path = annotations.get("prometheus.io/path", "/metrics")
        expect(path == "/metrics", "pod annotation prometheus.io/path is %r, the server serves /metrics" % path)
        return "%s, annotated for scraping" % mp

    c.check("metrics port = ConfigMap WORDBRIDGE_METRICS_PORT = prometheus.io annotations, != grpc", metrics)

    def probes():
        # HTTP on the side door, not gRPC: the kubelet's gRPC probe cannot speak TLS, and the gRPC port
        # speaks TLS once the wordbridge-tls Secret exists.
        expect(metrics_port is not None, "probes need the metrics port (the HTTP side door)")
        names = []
        for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")):
            p = ctr.get(kind)
            if p is None and kind == "startupProbe":
                continue
            expect(p is not None, "%s is missing" % kind)
            expect("httpGet" in p, "%s is not an httpGet probe (%s)" % (kind, sorted(p)))
            port_ref = p["httpGet"]["port"]
            expect(port_ref in ("metrics", metrics_port["containerPort"]),
                   "%s port %r is not the metrics port" % (kind, port_ref))
            expect(p["httpGet"].get("scheme", "HTTP") == "HTTP", "%s scheme is not HTTP" % kind)
            expect(p["httpGet"]["path"] == path, "%s path %r, expected %s" % (kind, p["httpGet"]["path"], path))
            names.append("%s %s" % (kind, path))
        return ", ".join(names)

    c.check("probes are HTTP /readyz and /healthz on the metrics port", probes)

    def secrets():
        # Each file the ConfigMap names for TLS or the token lies in a read-only mount of a Secret volume
        # that provides it (optional when WORDBRIDGE_SECRETS_OPTIONAL is on, so a plain apply works).
        optional = str(cm.get("WORDBRIDGE_SECRETS_OPTIONAL", "0")).lower() in ("1", "true", "yes", "on")
        vols = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        found = []
        for key in ("WORDBRIDGE_TLS_CERT", "WORDBRIDGE_TLS_KEY", "WORDBRIDGE_TLS_CLIENT_CA", "WORDBRIDGE_AUTH_TOKEN_FILE"):
            path = cm.get(key)
            expect(path, "ConfigMap has no %s" % key)
            directory, name = os.path.split(path)
            mounts = [m for m in ctr.get("volumeMounts", []) if m["mountPath"].rstrip("/") == directory]
            expect(len(mounts) == 1, "%s=%s: no volumeMount at %s" % (key, path, directory))
            expect(mounts[0].get("readOnly") is True, "the mount at %s is not readOnly" % directory)
            vol = vols.get(mounts[0]["name"])
            expect(vol is not None and "secret" in vol, "%s=%s is not mounted from a Secret" % (key, path))
            secret = vol["secret"]
            items = secret.get("items")
            expect(items is None or name in [i["path"] for i in items],
                   "Secret %s's items do not provide %s" % (secret["secretName"], name))
            expect(secret.get("optional", False) == optional,
                   "Secret %s optional=%s but WORDBRIDGE_SECRETS_OPTIONAL=%s" %
                   (secret["secretName"], secret.get("optional", False), optional))
            mode = secret.get("defaultMode", 0o644)
            expect(mode & 0o007 == 0, "Secret %s files are world-readable (defaultMode %o)" % (secret["secretName"], mode))
            found.append("%s <- %s" % (path, secret["secretName"]))
        cert, key = cm["WORDBRIDGE_TLS_CERT"], cm["WORDBRIDGE_TLS_KEY"]
        expect(os.path.dirname(cert) == os.path.dirname(key), "TLS certificate and key come from different mounts")
        expect(str(cm.get("WORDBRIDGE_AUTH_ALL", "0")) in ("0", "1", "true", "false"), "WORDBRIDGE_AUTH_ALL is not 0/1")
        return "; ".join(found)

    c.check("TLS and token files are mounted read-only from (optional) Secrets", secrets)

    def services():
        labels = pod["metadata"]["labels"]
        match = dep["spec"]["selector"]["matchLabels"]
        expect(all(labels.get(k) == v for k, v in match.items()), "Deployment selector does not match its pod labels")
        svcs = [o for _, o in objs if o.get("kind") == "Service"]
        expect(len(svcs) >= 2, "expected a ClusterIP and a headless Service, found %d Services" % len(svcs))
        kinds = []
        for s in svcs:
            name = s["metadata"]["name"]
            sel = s["spec"].get("selector", {})
            expect(sel, "Service %s has no selector" % name)
            expect(all(labels.get(k) == v for k, v in sel.items()),
                   "Service %s selector %s does not select the pod labels %s" % (name, sel, labels))
            for sp in s["spec"]["ports"]:
                tp = sp.get("targetPort", sp["port"])
                expect(tp == container_port or tp == port.get("name"),
                       "Service %s targetPort %r is neither %s nor the port name %r" %
                       (name, tp, container_port, port.get("name")))
            kinds.append("headless" if s["spec"].get("clusterIP") == "None" else s["spec"].get("type", "ClusterIP"))
        expect("headless" in kinds, "no headless Service (clusterIP: None)")
        expect("ClusterIP" in kinds, "no ClusterIP Service")
        return ", ".join(sorted(kinds))

    c.check("Services select the pod labels and target the container port", services)

    def model_volume():
        model_dir = cm["WORDBRIDGE_MODEL_DIR"]
        expect(model_dir == "/models", "ConfigMap WORDBRIDGE_MODEL_DIR is %r, expected /models" % model_dir)
        arg = flag_value(args, "--model-dir")
        expect(arg is None or arg == model_dir, "args --model-dir %s != ConfigMap %s" % (arg, model_dir))
        mounts = [m for m in ctr.get("volumeMounts", []) if m["mountPath"] == model_dir]
        expect(len(mounts) == 1, "no volumeMount at %s" % model_dir)
        expect(not mounts[0].get("readOnly", False), "model volume is mounted read-only")
        vols = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        vol = vols.get(mounts[0]["name"])
        expect(vol is not None, "volume %s is not defined" % mounts[0]["name"])
        expect("persistentVolumeClaim" in vol, "volume %s is not a PVC" % vol["name"])
        claim = vol["persistentVolumeClaim"]["claimName"]
        pvc = one(objs, "PersistentVolumeClaim", lambda o: o["metadata"]["name"] == claim)
        expect("ReadWriteMany" in pvc["spec"]["accessModes"],
               "PVC %s is %s; replicas and the Job share it: needs ReadWriteMany" % (claim, pvc["spec"]["accessModes"]))
        ctx["claim"] = claim
        return "%s <- PVC %s" % (model_dir, claim)

    c.check("model volume at the ConfigMap's model dir comes from the RWX PVC", model_volume)

    def grace():
        drain = int(cm["WORDBRIDGE_DRAIN_SECONDS"])
        grace_s = pod["spec"].get("terminationGracePeriodSeconds", 30)
        pre = 0
        cmd = ctr.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        if cmd and cmd[0].endswith("sleep"):
            pre = int(cmd[1])
        expect(pre > 0, "no preStop sleep: SIGTERM may arrive before the endpoints drop the pod")
        expect(grace_s > drain + pre,
               "terminationGracePeriodSeconds %s <= preStop %ss + WORDBRIDGE_DRAIN_SECONDS %s" % (grace_s, pre, drain))
        liveness = ctr["livenessProbe"]
        window = liveness.get("periodSeconds", 10) * liveness.get("failureThreshold", 3)
        expect(window > drain, "liveness would kill a draining pod: %ss <= drain %ss" % (window, drain))
        return "%ss > %ss preStop + %ss drain" % (grace_s, pre, drain)

    c.check("termination grace period > preStop + drain seconds", grace)

    def resources():
        res = ctr.get("resources", {})
        for part in ("requests", "limits"):
            for key in ("cpu", "memory"):
                expect(key in res.get(part, {}), "resources.%s.%s is missing" % (part, key))
        threads = cm.get("WORDBRIDGE_THREADS")
        cpu = str(res["requests"]["cpu"])
        cpus = float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
        expect(threads and int(threads) <= cpus, "WORDBRIDGE_THREADS %s > CPU request %s" % (threads, cpu))
        return "requests %s, limits %s" % (res["requests"], res["limits"])

    c.check("resources set and threads fit the CPU request", resources)

    def security():
        psc = pod["spec"].get("securityContext", {})
        csc = ctr.get("securityContext", {})
        expect(psc.get("runAsNonRoot") or csc.get("runAsNonRoot"), "runAsNonRoot is not set")
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        expect(uid not in (None, 0), "runAsUser must be a non-zero uid, is %r" % uid)
        expect(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
        return "uid %s" % uid

    c.check("pods run as non-root", security)

    def hpa():
        h = one(objs, "HorizontalPodAutoscaler")
        expect(h["apiVersion"] == "autoscaling/v2", "HPA apiVersion %s, expected autoscaling/v2" % h["apiVersion"])
        ref = h["spec"]["scaleTargetRef"]
        expect(ref["kind"] == "Deployment" and ref["name"] == dep["metadata"]["name"],
               "HPA targets %s/%s, not Deployment/%s" % (ref["kind"], ref["name"], dep["metadata"]["name"]))
        expect(ref.get("apiVersion", "apps/v1") == "apps/v1", "HPA scaleTargetRef apiVersion %s" % ref.get("apiVersion"))
        metrics = [m["resource"]["name"] for m in h["spec"].get("metrics", []) if m.get("type") == "Resource"]
        expect("cpu" in metrics, "HPA has no cpu Resource metric")
        expect(h["spec"]["minReplicas"] <= h["spec"]["maxReplicas"], "minReplicas > maxReplicas")
        return "Deployment/%s on cpu" % ref["name"]

    c.check("HPA targets the Deployment on CPU", hpa)

    def job():
        j = one(objs, "Job")
        jpod = j["spec"]["template"]
        jc = jpod["spec"]["containers"][0]
        expect(jc["image"] == ctr["image"], "Job image %s != Deployment image %s" % (jc["image"], ctr["image"]))
        model_dir = cm["WORDBRIDGE_MODEL_DIR"]
        mounts = [m for m in jc.get("volumeMounts", []) if m["mountPath"] == model_dir]
        expect(mounts, "Job does not mount the model store at %s" % model_dir)
        vols = {v["name"]: v for v in jpod["spec"].get("volumes", [])}
        claim = vols[mounts[0]["name"]].get("persistentVolumeClaim", {}).get("claimName")
        expect(claim == ctx.get("claim"), "Job model volume claim %s != Deployment's %s" % (claim, ctx.get("claim")))
        sel_labels = [s["spec"]["selector"] for _, s in objs if s.get("kind") == "Service"]
        labels = jpod["metadata"].get("labels", {})
        expect(not any(all(labels.get(k) == v for k, v in sel.items()) for sel in sel_labels),
               "a Service selects the training Job's pod")
        expect(jpod["spec"].get("restartPolicy") in ("Never", "OnFailure"), "Job restartPolicy must be Never/OnFailure")
        return "publishes to PVC %s" % claim

    c.check("training Job writes to the same PVC and is not behind a Service", job)

    # ---------------------------------------------------------------- compose
    def compose():
        cd = docs.get("docker-compose.yml") or docs.get("docker-compose.yaml") or docs.get("compose.yaml")
        expect(cd, "deploy/docker-compose.yml is missing")
        svc = cd[0]["services"]["wordbridge"]
        env = svc["environment"]
        port_s = str(env["WORDBRIDGE_PORT"])
        expect(port_s == "50051", "compose WORDBRIDGE_PORT %s" % port_s)
        expect(any(published_container_port(p) == port_s for p in svc["ports"]), "compose publishes no port %s" % port_s)
        hc = svc["healthcheck"]["test"]
        expect(any(("127.0.0.1:%s" % port_s) in str(t) for t in hc) and "health" in hc,
               "compose healthcheck %s does not call health on port %s" % (hc, port_s))
        model_dir = env["WORDBRIDGE_MODEL_DIR"]
        vols = [str(v) for v in svc["volumes"]]
        named = [v.split(":")[0] for v in vols if v.split(":")[1] == model_dir]
        expect(named and named[0] in (cd[0].get("volumes") or {}), "no named volume mounted at %s" % model_dir)
        expect(any(v.split(":")[1] == env["WORDBRIDGE_DATA_DIR"] and v.endswith(":ro") for v in vols),
               "data dir is not a read-only bind mount")
        drain = int(env["WORDBRIDGE_DRAIN_SECONDS"])
        g = duration_seconds(svc.get("stop_grace_period", "10s"))
        expect(g > drain, "compose stop_grace_period %ss <= WORDBRIDGE_DRAIN_SECONDS %s" % (g, drain))
        return "grace %gs > drain %ss" % (g, drain)

    c.check("compose: port, healthcheck, volumes, stop_grace_period > drain", compose)

    def compose_metrics():
        cd = docs.get("docker-compose.yml") or docs.get("docker-compose.yaml") or docs.get("compose.yaml")
        expect(cd, "deploy/docker-compose.yml is missing")
        svc = cd[0]["services"]["wordbridge"]
        env = svc["environment"]
        mp = str(env.get("WORDBRIDGE_METRICS_PORT", "")).strip()
        if mp in ("", "0"):
            return "metrics off"
        expect(int(mp) != int(env["WORDBRIDGE_PORT"]), "compose WORDBRIDGE_METRICS_PORT %s is the grpc port" % mp)
        expect(any(published_container_port(p) == str(int(mp)) for p in svc.get("ports", [])),
               "compose WORDBRIDGE_METRICS_PORT %s is not published (ports: %s)" % (mp, svc.get("ports")))
        return "%s published" % mp

    c.check("compose: WORDBRIDGE_METRICS_PORT is published", compose_metrics)

    def compose_tls():
        # The TLS override: every file it names is inside one of its read-only bind mounts, and its
        # healthcheck trusts the CA (the image's plaintext health check would fail against TLS).
        override = docs.get("docker-compose.tls.yml")
        expect(override, "deploy/docker-compose.tls.yml is missing")
        svc = override[0]["services"]["wordbridge"]
        env = svc["environment"]
        mounts = [str(v).split(":") for v in svc["volumes"]]
        for m in mounts:
            expect(len(m) == 3 and m[2] == "ro", "compose TLS mount %s is not read-only" % ":".join(m))
        names = []
        for key in ("WORDBRIDGE_TLS_CERT", "WORDBRIDGE_TLS_KEY", "WORDBRIDGE_AUTH_TOKEN_FILE"):
            path = env.get(key)
            expect(path, "compose TLS override sets no %s" % key)
            expect(any(os.path.dirname(path) == m[1].rstrip("/") for m in mounts), "%s=%s is in no mount" % (key, path))
            names.append(key)
        hc = [str(t) for t in svc["healthcheck"]["test"]]
        ca = flag_value(hc, "--tls-ca")
        expect(ca and any(os.path.dirname(ca) == m[1].rstrip("/") for m in mounts) and "health" in hc,
               "compose TLS healthcheck %s does not call health with --tls-ca from a mount" % hc)
        return ", ".join(names)

    c.check("compose TLS override: files in read-only mounts, healthcheck with --tls-ca", compose_tls)

    print("%d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
