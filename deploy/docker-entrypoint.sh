#!/bin/sh
# Container entrypoint: turns WORDBRIDGE_* environment variables into wordbridge-server flags, passes any
# extra arguments through, and execs the server so SIGTERM from `docker/podman stop` or Kubernetes reaches
# it directly (it then drains: NOT_SERVING on grpc.health.v1, wait --drain-seconds, shut down).
#   (no args) / flags only ("--foo ...")  -> wordbridge-server <flags from env> <args>
#   wordbridge-server [args]               -> same
#   anything else (wordbridge ..., bash)   -> exec'd as is
set -eu

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
  case "$(printf '%s' "${WORDBRIDGE_BOOTSTRAP_TOY:-0}" | tr '[:upper:]' '[:lower:]')" in
    1|true|yes|on) set -- --bootstrap-toy "$@" ;;
    0|false|no|off|"") ;;
    *) echo "docker-entrypoint: WORDBRIDGE_BOOTSTRAP_TOY must be 0/1/true/false, got '$WORDBRIDGE_BOOTSTRAP_TOY'" >&2
       exit 64 ;;
  esac
  exec wordbridge-server \
    --host "${WORDBRIDGE_HOST:-0.0.0.0}" \
    --port "${WORDBRIDGE_PORT:-50051}" \
    --model-dir "${WORDBRIDGE_MODEL_DIR:-/models}" \
    --data-dir "${WORDBRIDGE_DATA_DIR:-/data}" \
    --drain-seconds "${WORDBRIDGE_DRAIN_SECONDS:-10}" \
    "$@"
fi

exec "$@"
