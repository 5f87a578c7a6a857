#!/bin/sh
# Container entrypoint: turns WORDBRIDGE_* environment variables into wordbridge-server flags, passes any
# extra arguments through, and execs the server so SIGTERM from `docker/podman stop` or Kubernetes reaches
# it directly (it then drains: NOT_SERVING on grpc.health.v1, wait --drain-seconds, shut down).
#   (no args) / flags only ("--foo ...")  -> wordbridge-server <flags from env> <args>
#   wordbridge-server [args]               -> same
#   anything else (wordbridge ..., bash)   -> exec'd as is
set -eu

# True when $1 (0/1/true/false/yes/no/on/off, empty = false) is on; exits for anything else ($2 names it).
is_on() {
  case "$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" in
    1|true|yes|on) return 0 ;;
    0|false|no|off|"") return 1 ;;
    *) echo "docker-entrypoint: $2 must be 0/1/true/false, got '$1'" >&2; exit 64 ;;
  esac
}

# True when the file flag for variable $1 (path $2) should be passed. An empty variable passes nothing.
# With WORDBRIDGE_SECRETS_OPTIONAL on (the Kubernetes manifests mount optional Secrets), a file that
# does not exist leaves its flag out, so the feature is off until the Secret is created; otherwise the
# flag is passed and the server refuses to start without the file.
use_file() {
  [ -n "$2" ] || return 1
  [ -e "$2" ] && return 0
  if is_on "${WORDBRIDGE_SECRETS_OPTIONAL:-0}" WORDBRIDGE_SECRETS_OPTIONAL; then
    echo "docker-entrypoint: $1=$2 does not exist (its optional Secret is absent); not used" >&2
    return 1
  fi
  return 0
}

if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
  set -- wordbridge-server "$@"
fi

if [ "$1" = "wordbridge-server" ] || [ "$1" = "/usr/local/bin/wordbridge-server" ]; then
  shift
  # Optional flags go in front of the user's arguments; prefer env vars over repeating a flag.
  if [ -n "${WORDBRIDGE_THREADS:-}" ]; then
    set -- --threads "$WORDBRIDGE_THREADS" "$@"
  fi
  if [ -n "${WORDBRIDGE_RELOAD_SECONDS:-}" ]; then
    set -- --reload-seconds "$WORDBRIDGE_RELOAD_SECONDS" "$@"
  fi
  if [ -n "${WORDBRIDGE_KEEP_VERSIONS:-}" ]; then
    set -- --keep-versions "$WORDBRIDGE_KEEP_VERSIONS" "$@"
  fi
  if [ -n "${WORDBRIDGE_MAX_TRAINING_JOBS:-}" ]; then
    set -- --max-training-jobs "$WORDBRIDGE_MAX_TRAINING_JOBS" "$@"
  fi
  if [ -n "${WORDBRIDGE_TRAINING_THREADS:-}" ]; then
    set -- --training-threads "$WORDBRIDGE_TRAINING_THREADS" "$@"
  fi
  if [ -n "${WORDBRIDGE_MAX_UPLOAD_BYTES:-}" ]; then
    set -- --max-upload-bytes "$WORDBRIDGE_MAX_UPLOAD_BYTES" "$@"
  fi
  if [ -n "${WORDBRIDGE_MAX_UPLOAD_TOTAL_BYTES:-}" ]; then
    set -- --max-upload-total-bytes "$WORDBRIDGE_MAX_UPLOAD_TOTAL_BYTES" "$@"
  fi
  if [ -n "${WORDBRIDGE_WORKERS:-}" ]; then
    set -- --workers "$WORDBRIDGE_WORKERS" "$@"
  fi
  if [ -n "${WORDBRIDGE_THREADS_PER_WORKER:-}" ]; then
    set -- --threads-per-worker "$WORDBRIDGE_THREADS_PER_WORKER" "$@"
  fi
  if [ -n "${WORDBRIDGE_COMPUTE_TYPE:-}" ]; then
    set -- --compute-type "$WORDBRIDGE_COMPUTE_TYPE" "$@"
  fi
  if [ -n "${WORDBRIDGE_QUEUE_CAPACITY:-}" ]; then
    set -- --queue-capacity "$WORDBRIDGE_QUEUE_CAPACITY" "$@"
  fi
  if [ -n "${WORDBRIDGE_BATCH_TIMEOUT_MICROS:-}" ]; then
    set -- --batch-timeout-micros "$WORDBRIDGE_BATCH_TIMEOUT_MICROS" "$@"
  fi
  # HTTP /metrics (Prometheus), /healthz and /readyz on --host; 0 = off.
  if [ -n "${WORDBRIDGE_METRICS_PORT:-}" ]; then
    set -- --metrics-port "$WORDBRIDGE_METRICS_PORT" "$@"
  fi
  if is_on "${WORDBRIDGE_BOOTSTRAP_TOY:-0}" WORDBRIDGE_BOOTSTRAP_TOY; then
    set -- --bootstrap-toy "$@"
  fi
  # TLS (certificate and key, PEM), client certificates (mTLS) and the bearer token: paths inside the
  # container. The server never prints the token.
  if use_file WORDBRIDGE_TLS_CERT "${WORDBRIDGE_TLS_CERT:-}"; then
    set -- --tls-cert "$WORDBRIDGE_TLS_CERT" "$@"
  fi
  if use_file WORDBRIDGE_TLS_KEY "${WORDBRIDGE_TLS_KEY:-}"; then
    set -- --tls-key "$WORDBRIDGE_TLS_KEY" "$@"
  fi
  if use_file WORDBRIDGE_TLS_CLIENT_CA "${WORDBRIDGE_TLS_CLIENT_CA:-}"; then
    set -- --tls-client-ca "$WORDBRIDGE_TLS_CLIENT_CA" "$@"
  fi
  if use_file WORDBRIDGE_AUTH_TOKEN_FILE "${WORDBRIDGE_AUTH_TOKEN_FILE:-}"; then
    set -- --auth-token-file "$WORDBRIDGE_AUTH_TOKEN_FILE" "$@"
  fi
  if is_on "${WORDBRIDGE_AUTH_ALL:-0}" WORDBRIDGE_AUTH_ALL; then
    set -- --auth-all "$@"
  fi
  # The model store must be writable by this uid (publishing, pins, job records) and so must the data
  # directory when it exists (uploads). fsGroup in Kubernetes does not reach NFS and many RWX drivers,
  # so say what is wrong here instead of failing at the first publish.
  writable() {
    probe="$1/.wordbridge-write-test.$$"
    ( : > "$probe" ) 2>/dev/null && rm -f "$probe"
  }
  model_dir="${WORDBRIDGE_MODEL_DIR:-/models}" data_dir="${WORDBRIDGE_DATA_DIR:-/data}"
  if [ -d "$model_dir" ] && ! writable "$model_dir"; then
    echo "docker-entrypoint: uid $(id -u) (gid $(id -g)) cannot write $model_dir: give it to $(id -u):$(id -g)" \
         "(chown on the volume or its NFS export; deploy/overlays/volume-permissions does it with an init" \
         "container) or make it group-writable for gid $(id -g)" >&2
    exit 73
  fi
  if [ -d "$data_dir" ] && ! writable "$data_dir"; then
    echo "docker-entrypoint: $data_dir is read-only for uid $(id -u): corpora there can be trained on, uploads" \
         "(UploadCorpus) will fail" >&2
  fi
  # 0.0.0.0 by default here, unlike the binary's 127.0.0.1: a container is reached through its
  # published ports or its pod IP, never through its own loopback.
  exec wordbridge-server \
    --host "${WORDBRIDGE_HOST:-0.0.0.0}" \
    --port "${WORDBRIDGE_PORT:-50051}" \
    --model-dir "${WORDBRIDGE_MODEL_DIR:-/models}" \
    --data-dir "${WORDBRIDGE_DATA_DIR:-/data}" \
    --drain-seconds "${WORDBRIDGE_DRAIN_SECONDS:-10}" \
    "$@"
fi

exec "$@"
