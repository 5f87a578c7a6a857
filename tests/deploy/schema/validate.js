#!/usr/bin/env node
// Schema check of the Kubernetes manifests: every object in the YAML files directly in deploy/k8s/
// (all documents; kustomization.yaml is skipped) is validated against the Kubernetes API schema of its
// apiVersion and kind with kubernetes-models (offline once installed). A kind this script does not map
// fails: add it to MODELS below. When kubectl is on PATH, `kubectl kustomize` builds deploy/k8s and each
// deploy/overlays/* too, and the objects built are validated the same way (the overlays' patches land
// in them); without kubectl that part is skipped with a note.
//
// usage: node tests/deploy/schema/validate.js [REPO_ROOT]
// Needs `npm ci` in tests/deploy/schema (scripts/setup runs it). Prints one line per object and a final
// "N passed, M failed"; exits 1 when anything fails, 77 (ctest: skipped) when the npm packages are not
// installed - scripts/setup warns when it cannot reach the npm registry to install them.
// Unknown fields are not reported (the schemas allow additional properties); check_manifests.py checks
// what the files must agree on.
"use strict";

const fs = require("fs");
const path = require("path");
const { spawnSync } = require("child_process");

let YAML;
try {
  YAML = require("yaml");
  require.resolve("kubernetes-models/package.json");
} catch (e) {
  if (e.code !== "MODULE_NOT_FOUND") throw e;
  console.error("validate.js: the npm packages are not installed (" + e.message.split("\n")[0] + "):");
  console.error("run npm ci in tests/deploy/schema (scripts/setup does); skipped");
  process.exit(77);
}

// apiVersion/kind -> module of kubernetes-models exporting a class of that kind.
const MODELS = {
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "v1/PersistentVolumeClaim": "kubernetes-models/v1/PersistentVolumeClaim",
  "v1/Service": "kubernetes-models/v1/Service",
  "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment",
  "autoscaling/v2/HorizontalPodAutoscaler": "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler",
  "batch/v1/Job": "kubernetes-models/batch/v1/Job",
};

const root = path.resolve(process.argv[2] || path.join(__dirname, "..", "..", ".."));
const k8sDir = path.join(root, "deploy", "k8s");
const overlaysDir = path.join(root, "deploy", "overlays");
let passed = 0;
let failed = 0;

function ok(what) {
  passed++;
  console.log("ok   - " + what);
}

function fail(what, why) {
  failed++;
  console.log("FAIL - " + what + ": " + why);
}

// All documents of a YAML stream. YAML 1.1, as Kubernetes reads manifests: 0440 is octal (288), yes/on
// are booleans. Throws on syntax errors and duplicate keys.
function parseDocuments(text) {
  const docs = YAML.parseAllDocuments(text, { version: "1.1" });
  const out = [];
  for (const doc of docs) {
    if (doc.errors && doc.errors.length) throw new Error(doc.errors.map((e) => e.message).join("; "));
    const value = doc.toJS({ maxAliasCount: 100 });
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

// Validates one object; source names where it comes from (a file or a kustomize build).
function validate(source, obj) {
  if (typeof obj !== "object" || Array.isArray(obj)) {
    fail(source, "a document is not a mapping");
    return;
  }
  const meta = obj.metadata || {};
  const label = `${source}: ${obj.apiVersion} ${obj.kind} ${meta.name || (meta.generateName || "?") + "*"}`;
  const key = `${obj.apiVersion}/${obj.kind}`;
  const modulePath = MODELS[key];
  if (!modulePath) {
    fail(label, `unknown apiVersion/kind ${key} (known: ${Object.keys(MODELS).join(", ")})`);
    return;
  }
  if (!meta.name && !meta.generateName) {
    fail(label, "metadata.name (or generateName) is required");
    return;
  }
  const Model = require(modulePath)[obj.kind];
  try {
    new Model(obj).validate();
  } catch (e) {
    fail(label, e.message);
    return;
  }
  ok(label);
}

function validateFiles() {
  const files = fs
    .readdirSync(k8sDir, { withFileTypes: true })
    .filter((d) => d.isFile() && /\.ya?ml$/.test(d.name) && d.name !== "kustomization.yaml")
    .map((d) => d.name)
    .sort();
  if (!files.length) fail("deploy/k8s", "no YAML files");
  for (const file of files) {
    const rel = "deploy/k8s/" + file;
    let docs;
    try {
      docs = parseDocuments(fs.readFileSync(path.join(k8sDir, file), "utf8"));
    } catch (e) {
      fail(rel, "YAML: " + e.message);
      continue;
    }
    if (!docs.length) fail(rel, "no documents");
    for (const obj of docs) {
      if (obj && obj.kind === "Kustomization") continue;
      validate(rel, obj);
    }
  }
}

// The kubectl on PATH, or null.
function findKubectl() {
  for (const dir of (process.env.PATH || "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, "kubectl");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch (e) {
      // not here
    }
  }
  return null;
}

function validateBuilds() {
  const kubectl = findKubectl();
  if (!kubectl) {
    console.log("note - kubectl is not on PATH: the kustomize builds of deploy/k8s and deploy/overlays/* are not checked");
    return;
  }
  const version = spawnSync(kubectl, ["version", "--client"], { encoding: "utf8", timeout: 60000 });
  if (version.status !== 0) {
    console.log(`note - ${kubectl} version --client failed: the kustomize builds are not checked`);
    return;
  }
  const dirs = ["deploy/k8s"];
  if (fs.existsSync(overlaysDir)) {
    for (const d of fs.readdirSync(overlaysDir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (d.isDirectory()) dirs.push("deploy/overlays/" + d.name);
    }
  }
  for (const dir of dirs) {
    const what = "kubectl kustomize " + dir;
    const build = spawnSync(kubectl, ["kustomize", path.join(root, dir)], {
      encoding: "utf8",
      timeout: 120000,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (build.error || build.status !== 0) {
      fail(what, (build.error ? build.error.message : "") + (build.stderr || "").trim() || "exit " + build.status);
      continue;
    }
    let docs;
    try {
      docs = parseDocuments(build.stdout);
    } catch (e) {
      fail(what, "YAML: " + e.message);
      continue;
    }
    if (!docs.length) fail(what, "built no objects");
    for (const obj of docs) validate(what, obj);
  }
}

if (!fs.existsSync(k8sDir)) {
  fail(k8sDir, "no such directory");
} else {
  validateFiles();
  validateBuilds();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
