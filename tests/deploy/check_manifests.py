#!/usr/bin/env python3
"""Consistency checks for the deployment manifests under deploy/ (Kubernetes + Compose).

usage: python3 tests/deploy/check_manifests.py [REPO_ROOT]

Parses every YAML file under deploy/ and checks that the fields which must agree across files do.
The Kubernetes objects are the files directly in deploy/k8s/ (the kustomize base; deploy/overlays/
holds only overlays on it). For both Deployments - the translation replicas (component server) and the
trainer (component trainer) - it checks probes vs the grpc container port, metrics port vs ConfigMap and
prometheus.io annotations, model and data volumes vs their dirs and the RWX PVCs, grace period vs drain,
resources vs threads, non-root, TLS and token files vs the Secret volumes that provide them. Then: who
trains (the server has no replicas and WORDBRIDGE_MAX_TRAINING_JOBS 0, the one Recreate trainer takes
jobs), the kustomization vs the files (the training Job is left out so `kubectl apply -k` never re-runs
it), Services vs pod labels and port, the HPA vs the server Deployment, the training Job vs the PVCs,
ConfigMaps and Services, Compose (and its TLS override) vs the same settings. Prints one line per check
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

COMPONENT = "app.kubernetes.io/component"
# The example training Job: in deploy/k8s/ but not in the kustomization (created with kubectl create -f).
JOB_FILE = "training-job.yaml"
DATA_CLAIM = "wordbridge-data"
ROLES = ("server", "trainer")  # the two Deployments, by their pods' app.kubernetes.io/component


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, fn):
        """Runs fn(); it returns a detail string or raises AssertionError/KeyError with the reason."""
        try:
            detail = fn()
        except (AssertionError, KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            self.failed += 1
            reason = str(e) if isinstance(e, AssertionError) else "%s: %s" % (type(e).__name__, e)
            print("FAIL - %s: %s" % (name, reason))
            return False
        self.passed += 1
        print("ok   - %s%s" % (name, " (%s)" % detail if detail else ""))
        return True


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
    """(relative path, object) for the Kubernetes objects in the files directly in deploy/k8s/ - not in
    deploy/overlays/, whose kustomizations only patch these."""
    objs = []
    for rel, ds in sorted(docs.items()):
        if os.path.dirname(rel) != "k8s":
            continue
        for d in ds:
            if isinstance(d, dict) and "kind" in d and d.get("kind") != "Kustomization":
                objs.append((rel, d))
    return objs


def one(objs, kind, pred=lambda o: True):
    found = [o for _, o in objs if o.get("kind") == kind and pred(o)]
    expect(len(found) == 1, "expected exactly one %s, found %d" % (kind, len(found)))
    return found[0]


def pod_labels(workload):
    """Labels of the pods a Deployment or Job creates."""
    meta = ((workload.get("spec") or {}).get("template") or {}).get("metadata") or {}
    return meta.get("labels") or {}


def selects(selector, labels):
    """True when a non-empty equality selector matches the labels."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def container_env(ctr):
    """{name: value} of a container's env entries that have a literal value."""
    return {e["name"]: e["value"] for e in ctr.get("env", []) if "value" in e}


def object_name(o):
    meta = o.get("metadata") or {}
    return meta.get("name") or "%s*" % meta.get("generateName", "?")


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


def deployment_facts(dep, objs):
    """The container, its ports and the environment it gets: the ConfigMaps of envFrom, then env."""
    pod = dep["spec"]["template"]
    containers = pod["spec"]["containers"]
    expect(len(containers) >= 1, "Deployment has no containers")
    ctr = containers[0]
    ports = ctr.get("ports", [])
    names = [p.get("name") for p in ports]
    expect(len(names) == len(set(names)), "container port names are not unique: %s" % names)
    grpc_ports = [p for p in ports if p.get("name") == "grpc"]
    expect(len(grpc_ports) == 1, "the container must declare a port named grpc, has %s" % names)
    metrics_ports = [p for p in ports if p.get("name") == "metrics"]
    others = sorted(str(n) for n in names if n not in ("grpc", "metrics"))
    expect(not others, "the container declares ports other than grpc and metrics: %s" % others)
    env_from = [e["configMapRef"]["name"] for e in ctr.get("envFrom", []) if "configMapRef" in e]
    expect(env_from, "the container has no envFrom configMapRef")
    env = {}
    for name in env_from:
        cm = one(objs, "ConfigMap", lambda o, name=name: o["metadata"]["name"] == name)
        env.update({k: str(v) for k, v in (cm.get("data") or {}).items()})
    env.update(container_env(ctr))
    args = [str(a) for a in ctr.get("args", [])] + [str(a) for a in ctr.get("command", [])]
    return dict(dep=dep, name=dep["metadata"]["name"], pod=pod, ctr=ctr, port=grpc_ports[0],
                metrics=(metrics_ports or [None])[0], env=env, config_maps=env_from, args=args)


def deployment_checks(c, role, info, objs):
    """The checks every wordbridge-server Deployment passes; records the claims it mounts in info."""
    dep, pod, ctr, port, env, args = info["dep"], info["pod"], info["ctr"], info["port"], info["env"], info["args"]
    metrics_port = info["metrics"]
    container_port = port["containerPort"]
    vols = {v["name"]: v for v in pod["spec"].get("volumes", [])}

    def config_port():
        expect(container_port == 50051, "containerPort is %s, expected 50051" % container_port)
        cfg = int(env["WORDBRIDGE_PORT"])
        expect(cfg == container_port, "ConfigMap WORDBRIDGE_PORT %s != containerPort %s" % (cfg, container_port))
        arg = flag_value(args, "--port")
        expect(arg is None or int(arg) == container_port, "args --port %s != containerPort" % arg)
        return "50051"

    c.check("%s: container port grpc 50051 = ConfigMap WORDBRIDGE_PORT" % role, config_port)

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
        cfg = env.get("WORDBRIDGE_METRICS_PORT")
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

    c.check("%s: metrics port = ConfigMap WORDBRIDGE_METRICS_PORT = prometheus.io annotations, != grpc" % role,
            metrics)

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

    c.check("%s: probes are HTTP /readyz and /healthz on the metrics port" % role, probes)

    def secrets():
        # Each file the ConfigMap names for TLS or the token lies in a read-only mount of a Secret volume
        # that provides it (optional when WORDBRIDGE_SECRETS_OPTIONAL is on, so a plain apply works).
        optional = str(env.get("WORDBRIDGE_SECRETS_OPTIONAL", "0")).lower() in ("1", "true", "yes", "on")
        found = []
        for key in ("WORDBRIDGE_TLS_CERT", "WORDBRIDGE_TLS_KEY", "WORDBRIDGE_TLS_CLIENT_CA", "WORDBRIDGE_AUTH_TOKEN_FILE"):
            path = env.get(key)
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
        cert, key = env["WORDBRIDGE_TLS_CERT"], env["WORDBRIDGE_TLS_KEY"]
        expect(os.path.dirname(cert) == os.path.dirname(key), "TLS certificate and key come from different mounts")
        expect(str(env.get("WORDBRIDGE_AUTH_ALL", "0")) in ("0", "1", "true", "false"), "WORDBRIDGE_AUTH_ALL is not 0/1")
        return "; ".join(found)

    c.check("%s: TLS and token files are mounted read-only from (optional) Secrets" % role, secrets)

    def claim_mounted_at(directory):
        """The PVC mounted at directory, its mount and the claim object; fails on anything but one RWX PVC."""
        mounts = [m for m in ctr.get("volumeMounts", []) if m["mountPath"].rstrip("/") == directory]
        expect(len(mounts) == 1, "no volumeMount at %s" % directory)
        vol = vols.get(mounts[0]["name"])
        expect(vol is not None, "volume %s is not defined" % mounts[0]["name"])
        expect("emptyDir" not in vol, "volume %s at %s is an emptyDir: lost with the pod, not shared" %
               (vol["name"], directory))
        expect("persistentVolumeClaim" in vol, "volume %s is not a PVC" % vol["name"])
        claim = vol["persistentVolumeClaim"]["claimName"]
        expect(not vol["persistentVolumeClaim"].get("readOnly", False), "the claim %s is attached readOnly" % claim)
        pvc = one(objs, "PersistentVolumeClaim", lambda o: o["metadata"]["name"] == claim)
        expect("ReadWriteMany" in pvc["spec"]["accessModes"],
               "PVC %s is %s; the replicas, the trainer and the Job share it: needs ReadWriteMany" %
               (claim, pvc["spec"]["accessModes"]))
        return mounts[0], claim

    def model_volume():
        model_dir = env["WORDBRIDGE_MODEL_DIR"]
        expect(model_dir == "/models", "ConfigMap WORDBRIDGE_MODEL_DIR is %r, expected /models" % model_dir)
        arg = flag_value(args, "--model-dir")
        expect(arg is None or arg == model_dir, "args --model-dir %s != ConfigMap %s" % (arg, model_dir))
        mount, claim = claim_mounted_at(model_dir)
        expect(not mount.get("readOnly", False), "model volume is mounted read-only")
        info["models_claim"] = claim
        return "%s <- PVC %s" % (model_dir, claim)

    c.check("%s: model volume at the ConfigMap's model dir comes from the RWX PVC" % role, model_volume)

    def data_volume():
        # Corpora and uploads: UploadCorpus through any pod must be readable by the trainer.
        data_dir = env.get("WORDBRIDGE_DATA_DIR")
        expect(data_dir == "/data", "ConfigMap WORDBRIDGE_DATA_DIR is %r, expected /data" % data_dir)
        arg = flag_value(args, "--data-dir")
        expect(arg is None or arg == data_dir, "args --data-dir %s != ConfigMap %s" % (arg, data_dir))
        mount, claim = claim_mounted_at(data_dir)
        expect(claim == DATA_CLAIM, "the data dir comes from PVC %s, expected %s" % (claim, DATA_CLAIM))
        expect(not mount.get("readOnly", False), "the data volume is mounted read-only: uploads would fail")
        expect(claim != info.get("models_claim"), "the data dir and the model dir share the claim %s" % claim)
        info["data_claim"] = claim
        return "%s <- PVC %s, writable" % (data_dir, claim)

    c.check("%s: data dir (WORDBRIDGE_DATA_DIR) is a writable mount of the RWX PVC %s" % (role, DATA_CLAIM),
            data_volume)

    def grace():
        drain = int(env["WORDBRIDGE_DRAIN_SECONDS"])
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

    c.check("%s: termination grace period > preStop + drain seconds" % role, grace)

    def resources():
        res = ctr.get("resources", {})
        for part in ("requests", "limits"):
            for key in ("cpu", "memory"):
                expect(key in res.get(part, {}), "resources.%s.%s is missing" % (part, key))
        cpu = str(res["requests"]["cpu"])
        cpus = float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
        threads = env.get("WORDBRIDGE_THREADS")
        expect(threads and int(threads) <= cpus, "WORDBRIDGE_THREADS %s > CPU request %s" % (threads, cpu))
        training = env.get("WORDBRIDGE_TRAINING_THREADS")
        expect(not training or int(training) <= cpus,
               "WORDBRIDGE_TRAINING_THREADS %s > CPU request %s" % (training, cpu))
        return "requests %s, limits %s" % (res["requests"], res["limits"])

    c.check("%s: resources set and threads fit the CPU request" % role, resources)

    def security():
        psc = pod["spec"].get("securityContext", {})
        csc = ctr.get("securityContext", {})
        expect(psc.get("runAsNonRoot") or csc.get("runAsNonRoot"), "runAsNonRoot is not set")
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        expect(uid not in (None, 0), "runAsUser must be a non-zero uid, is %r" % uid)
        expect(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
        return "uid %s" % uid

    c.check("%s: pods run as non-root" % role, security)


def configmap_refs(workload):
    """(ConfigMap name, key or None, optional, where) for each ConfigMap a workload's pods read."""
    refs = []
    spec = workload["spec"]["template"]["spec"]
    for ctr in spec.get("initContainers", []) + spec.get("containers", []):
        for e in ctr.get("envFrom", []):
            if "configMapRef" in e:
                r = e["configMapRef"]
                refs.append((r["name"], None, r.get("optional", False), "%s envFrom" % ctr["name"]))
        for e in ctr.get("env", []):
            r = (e.get("valueFrom") or {}).get("configMapKeyRef")
            if r:
                refs.append((r["name"], r["key"], r.get("optional", False), "%s env %s" % (ctr["name"], e["name"])))
    for v in spec.get("volumes", []):
        if "configMap" in v:
            r = v["configMap"]
            keys = [i["key"] for i in r.get("items", [])] or [None]
            for k in keys:
                refs.append((r["name"], k, r.get("optional", False), "volume %s" % v["name"]))
    return refs


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
    kust_docs = docs.get(os.path.join("k8s", "kustomization.yaml")) or [{}]
    kust = kust_docs[0] if isinstance(kust_docs[0], dict) else {}
    listed = [str(r) for r in (kust.get("resources") or [])]
    # What `kubectl apply -k deploy/k8s` creates: the objects of the files the kustomization lists.
    base = [(rel, o) for rel, o in objs if os.path.basename(rel) in listed]

    # ---------------------------------------------------------------- kustomizations
    def kustomization():
        expect(os.path.join("k8s", "kustomization.yaml") in docs, "deploy/k8s/kustomization.yaml is missing")
        expect(len(listed) == len(set(listed)), "kustomization lists a resource twice: %s" % listed)
        present = {os.path.basename(r) for r in docs if os.path.dirname(r) == "k8s"} - {"kustomization.yaml", JOB_FILE}
        expect(set(listed) == present, "kustomization resources %s != files %s" % (sorted(listed), sorted(present)))
        return "%d resources" % len(listed)

    c.check("kustomization lists exactly the manifests in deploy/k8s but %s" % JOB_FILE, kustomization)

    def job_not_listed():
        expect(JOB_FILE not in listed, "%s is in the kustomization's resources: every `kubectl apply -k` would "
               "re-run (or, with a generateName, fail to apply) the training Job; create it with kubectl create -f" %
               JOB_FILE)
        return "created on demand with kubectl create -f"

    c.check("kustomization leaves out %s (apply -k must not re-run the training Job)" % JOB_FILE, job_not_listed)

    def overlays():
        overlay_root = os.path.join(deploy_dir, "overlays")
        if not os.path.isdir(overlay_root):
            return "no overlays"
        names = sorted(d for d in os.listdir(overlay_root) if os.path.isdir(os.path.join(overlay_root, d)))
        for name in names:
            k = docs.get(os.path.join("overlays", name, "kustomization.yaml"))
            expect(k, "deploy/overlays/%s has no kustomization.yaml" % name)
            expect(k[0].get("kind") == "Kustomization", "deploy/overlays/%s/kustomization.yaml is a %s" %
                   (name, k[0].get("kind")))
            resources = [str(r).rstrip("/") for r in (k[0].get("resources") or [])]
            expect("../../k8s" in resources, "deploy/overlays/%s does not build on ../../k8s (resources %s)" %
                   (name, resources))
        return ", ".join(names) or "no overlays"

    c.check("each overlay in deploy/overlays builds on the base ../../k8s", overlays)

    # ---------------------------------------------------------------- the two Deployments
    deps = {}

    def find_deployments():
        all_deps = [o for _, o in objs if o.get("kind") == "Deployment"]
        found = []
        for role in ROLES:
            matching = [o for o in all_deps if pod_labels(o).get(COMPONENT) == role]
            expect(len(matching) == 1, "expected exactly one Deployment whose pods are %s: %s, found %s" %
                   (COMPONENT, role, [object_name(o) for o in matching]))
            info = deployment_facts(matching[0], objs)
            deps[role] = info
            found.append("%s %s (ConfigMap %s)" % (role, info["name"], ", ".join(info["config_maps"])))
        others = [object_name(o) for o in all_deps if pod_labels(o).get(COMPONENT) not in ROLES]
        expect(not others, "Deployments that are neither server nor trainer: %s" % others)
        return "; ".join(found)

    c.check("Deployments server and trainer (by %s) and the ConfigMap they read exist" % COMPONENT,
            find_deployments)
    if "server" not in deps:
        print("%d passed, %d failed" % (c.passed, c.failed))
        return 1
    for role in ROLES:
        if role in deps:
            deployment_checks(c, role, deps[role], objs)
    server = deps["server"]

    def server_replicas():
        expect("replicas" not in server["dep"]["spec"],
               "Deployment %s sets spec.replicas %s: every apply would reset the HPA's count" %
               (server["name"], server["dep"]["spec"].get("replicas")))
        return "left to the HPA"

    c.check("server: no spec.replicas (the HPA owns the count)", server_replicas)

    def server_no_training():
        value = container_env(server["ctr"]).get("WORDBRIDGE_MAX_TRAINING_JOBS")
        expect(value == "0", "server container env WORDBRIDGE_MAX_TRAINING_JOBS is %r, expected \"0\": a replica "
               "the HPA removes would take its training job with it" % value)
        return "Train goes to the trainer"

    c.check("server: container env WORDBRIDGE_MAX_TRAINING_JOBS \"0\" (replicas do not train)", server_no_training)

    def trainer_singleton():
        t = deps["trainer"]["dep"]
        expect(t["spec"].get("replicas") == 1, "trainer replicas is %r, expected 1" % t["spec"].get("replicas"))
        strategy = (t["spec"].get("strategy") or {}).get("type", "RollingUpdate")
        expect(strategy == "Recreate", "trainer strategy is %s, expected Recreate: a rollout would run two "
               "trainers at once" % strategy)
        return "1 replica, Recreate"

    c.check("trainer: replicas 1 and strategy Recreate", trainer_singleton)

    def trainer_trains():
        value = container_env(deps["trainer"]["ctr"]).get("WORDBRIDGE_MAX_TRAINING_JOBS")
        expect(value is not None and int(value) >= 1,
               "trainer container env WORDBRIDGE_MAX_TRAINING_JOBS is %r, expected >= \"1\"" % value)
        return "%s job(s) at once" % value

    c.check("trainer: container env WORDBRIDGE_MAX_TRAINING_JOBS >= 1", trainer_trains)

    def shared_claims():
        t = deps["trainer"]
        for key in ("models_claim", "data_claim"):
            expect(key in server and key in t, "the %s of a Deployment is unknown (see its volume check)" % key)
            expect(server[key] == t[key], "server %s %s != trainer's %s" % (key, server[key], t[key]))
        return "%s, %s" % (server["models_claim"], server["data_claim"])

    c.check("server and trainer mount the same model and data PVCs", shared_claims)

    def deployment_selectors():
        job_pods = [pod_labels(o) for _, o in objs if o.get("kind") == "Job"]
        for role, info in deps.items():
            match = info["dep"]["spec"]["selector"]["matchLabels"]
            expect(selects(match, pod_labels(info["dep"])),
                   "Deployment %s selector %s does not match its pod labels" % (info["name"], match))
            for other_role, other in deps.items():
                expect(other_role == role or not selects(match, pod_labels(other["dep"])),
                       "Deployment %s selector %s also matches the %s pods" % (info["name"], match, other_role))
            expect(not any(selects(match, labels) for labels in job_pods),
                   "Deployment %s selector %s matches the training Job's pods" % (info["name"], match))
        return "disjoint"

    c.check("each Deployment's selector matches its own pods only", deployment_selectors)

    # ---------------------------------------------------------------- Services
    def services():
        svcs = [o for _, o in objs if o.get("kind") == "Service"]
        roles = {}
        for s in svcs:
            name = s["metadata"]["name"]
            sel = s["spec"].get("selector", {})
            expect(sel, "Service %s has no selector" % name)
            hits = [role for role, info in deps.items() if selects(sel, pod_labels(info["dep"]))]
            expect(len(hits) == 1, "Service %s selector %s selects the pods of %s, expected exactly one "
                   "Deployment's" % (name, sel, " and ".join(hits) or "no Deployment"))
            info = deps[hits[0]]
            for sp in s["spec"]["ports"]:
                tp = sp.get("targetPort", sp["port"])
                expect(tp == info["port"]["containerPort"] or tp == info["port"].get("name"),
                       "Service %s targetPort %r is neither %s nor the port name %r" %
                       (name, tp, info["port"]["containerPort"], info["port"].get("name")))
            kind = "headless" if s["spec"].get("clusterIP") == "None" else s["spec"].get("type", "ClusterIP")
            roles[name] = (hits[0], kind)
        server_name = server["name"]
        expect(roles.get(server_name) == ("server", "ClusterIP"),
               "Service %s (ClusterIP) should select the server pods: %s" % (server_name, roles.get(server_name)))
        headless = [n for n, (_, kind) in roles.items() if kind == "headless"]
        expect(headless, "no headless Service (clusterIP: None)")
        for n in headless:
            expect(roles[n][0] == "server", "headless Service %s selects the %s pods, not the server's" %
                   (n, roles[n][0]))
        trainer_svc = deps["trainer"]["name"]
        expect(roles.get(trainer_svc, ("none",))[0] == "trainer",
               "no Service %s selecting the trainer pods (%s)" % (trainer_svc, roles.get(trainer_svc)))
        return ", ".join("%s %s -> %s" % (n, kind, role) for n, (role, kind) in sorted(roles.items()))

    c.check("Services select one Deployment's pods each and target its container port", services)

    def hpa():
        h = one(objs, "HorizontalPodAutoscaler")
        expect(h["apiVersion"] == "autoscaling/v2", "HPA apiVersion %s, expected autoscaling/v2" % h["apiVersion"])
        ref = h["spec"]["scaleTargetRef"]
        expect(ref["kind"] == "Deployment" and ref["name"] == server["name"],
               "HPA targets %s/%s, not Deployment/%s" % (ref["kind"], ref["name"], server["name"]))
        expect(ref.get("apiVersion", "apps/v1") == "apps/v1", "HPA scaleTargetRef apiVersion %s" % ref.get("apiVersion"))
        metrics = [m["resource"]["name"] for m in h["spec"].get("metrics", []) if m.get("type") == "Resource"]
        expect("cpu" in metrics, "HPA has no cpu Resource metric")
        expect(h["spec"]["minReplicas"] <= h["spec"]["maxReplicas"], "minReplicas > maxReplicas")
        return "Deployment/%s on cpu" % ref["name"]

    c.check("HPA targets the server Deployment on CPU", hpa)

    def trainer_not_scaled():
        trainer_name = deps["trainer"]["name"]
        for _, h in objs:
            if h.get("kind") == "HorizontalPodAutoscaler":
                ref = h["spec"]["scaleTargetRef"]
                expect(not (ref.get("kind") == "Deployment" and ref.get("name") == trainer_name),
                       "HPA %s scales the trainer: a scale-down would stop its training job" % object_name(h))
        return "no HPA on Deployment/%s" % trainer_name

    c.check("trainer: not the target of an HPA", trainer_not_scaled)

    # ---------------------------------------------------------------- the training Job
    def find_job():
        jobs = [(rel, o) for rel, o in objs if o.get("kind") == "Job"]
        expect(len(jobs) == 1, "expected exactly one Job, found %d" % len(jobs))
        rel, j = jobs[0]
        expect(os.path.basename(rel) == JOB_FILE, "the Job is in %s, expected k8s/%s" % (rel, JOB_FILE))
        return j

    def job():
        j = find_job()
        meta = j["metadata"]
        expect(meta.get("generateName") and "name" not in meta,
               "the Job must have metadata.generateName and no name (each kubectl create -f is a new run)")
        jpod = j["spec"]["template"]
        jc = jpod["spec"]["containers"][0]
        ctr = server["ctr"]
        expect(jc["image"] == ctr["image"], "Job image %s != Deployment image %s" % (jc["image"], ctr["image"]))
        vols = {v["name"]: v for v in jpod["spec"].get("volumes", [])}

        def claim_at(directory):
            mounts = [m for m in jc.get("volumeMounts", []) if m["mountPath"].rstrip("/") == directory]
            expect(mounts, "Job does not mount %s" % directory)
            return mounts[0], vols[mounts[0]["name"]].get("persistentVolumeClaim", {}).get("claimName")

        model_dir = server["env"]["WORDBRIDGE_MODEL_DIR"]
        mount, claim = claim_at(model_dir)
        expect(claim == server.get("models_claim"),
               "Job model volume claim %s != Deployment's %s" % (claim, server.get("models_claim")))
        expect(not mount.get("readOnly", False), "the Job mounts the model store read-only: it cannot publish")
        data_dir = server["env"]["WORDBRIDGE_DATA_DIR"]
        mount, data_claim = claim_at(data_dir)
        expect(data_claim == DATA_CLAIM, "Job data volume claim %s, expected %s" % (data_claim, DATA_CLAIM))
        expect(mount.get("readOnly") is True, "the Job mounts the data volume at %s writable; it only reads corpora"
               % data_dir)
        sel_labels = [s["spec"]["selector"] for _, s in objs if s.get("kind") == "Service"]
        labels = pod_labels(j)
        expect(not any(selects(sel, labels) for sel in sel_labels), "a Service selects the training Job's pod")
        expect(jpod["spec"].get("restartPolicy") in ("Never", "OnFailure"), "Job restartPolicy must be Never/OnFailure")
        return "%s publishes to PVC %s, reads %s" % (object_name(j), claim, data_claim)

    c.check("training Job (generateName) writes to the same PVC, reads the data PVC and is not behind a Service", job)

    def job_threads():
        # With `set -u` an unset or empty WORDBRIDGE_THREADS must leave --threads out, as the entrypoint does
        # (an empty value would be passed as --threads "" and the server would refuse it).
        jc = find_job()["spec"]["template"]["spec"]["containers"][0]
        script = "\n".join(str(a) for a in jc.get("command", []) + jc.get("args", []))
        guarded = '${WORDBRIDGE_THREADS:+--threads "$WORDBRIDGE_THREADS"}'
        rest = script.replace(guarded, "")
        bare = re.findall(r'(?<![\w-])--threads[= ]+"?\$\{?WORDBRIDGE_THREADS\b[^\s]*', rest)
        expect(not bare, "the Job script passes %s unguarded; use %s" % (", ".join(bare), guarded))
        return "guarded with ${WORDBRIDGE_THREADS:+...}" if guarded in script else "no --threads"

    c.check("training Job passes --threads only when WORDBRIDGE_THREADS is set", job_threads)

    def job_config_maps():
        by_name = {o["metadata"]["name"]: o for _, o in base if o.get("kind") == "ConfigMap"}
        workloads = [info["dep"] for info in deps.values()] + [find_job()]
        found = set()
        for w in workloads:
            for name, key, optional, where in configmap_refs(w):
                if optional:
                    continue
                expect(name in by_name, "%s %s (%s) reads ConfigMap %s, which the kustomization does not create" %
                       (w["kind"], object_name(w), where, name))
                expect(key is None or key in (by_name[name].get("data") or {}),
                       "%s %s (%s) reads key %s of ConfigMap %s, which has no such key" %
                       (w["kind"], object_name(w), where, key, name))
                found.add(name)
        return ", ".join(sorted(found))

    c.check("ConfigMaps the Deployments and the training Job read (envFrom, configMapKeyRef, volumes) are in the "
            "kustomization", job_config_maps)

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
