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
