#!/bin/sh
# Entrypoint of the simd23 image: the first argument is the role to run, or `simd23` for the CLI.
# Node runs as PID 1 through exec, so SIGTERM reaches the role's graceful shutdown directly.
set -eu

usage() {
  cat <<'USAGE'
usage: <image> ROLE [ARGS…]   run one simd23 role
       <image> simd23 ARGS…   run the simd23 command-line tool

roles: proposer, leader, executor, vote-aggregator, bank-hash-verifier
Configuration is read from SIMD23_* environment variables (see docs/kubernetes.md).
SIMD23_CLUSTER_SEED_FILE, when set and SIMD23_CLUSTER_SEED is not, names a file holding the seed.
USAGE
}

# Docker secrets and shared volumes hand the seed over as a file.
if [ -z "${SIMD23_CLUSTER_SEED:-}" ] && [ -n "${SIMD23_CLUSTER_SEED_FILE:-}" ]; then
  SIMD23_CLUSTER_SEED=$(cat "$SIMD23_CLUSTER_SEED_FILE")
  export SIMD23_CLUSTER_SEED
fi
unset SIMD23_CLUSTER_SEED_FILE

role=${1:-}
case "$role" in
  proposer | leader | executor | vote-aggregator | bank-hash-verifier)
    shift
    # A proposer registers where its peers reach it; on Kubernetes the chart passes the pod IP,
    # elsewhere (Docker Compose, scaled replicas) the container's own address is the answer.
    if [ "$role" = proposer ] && [ -z "${SIMD23_ADVERTISE_ADDRESS:-}" ]; then
      # hostname -I lists the container's addresses without loopback; the first is its own network's.
      address=$(hostname -I 2>/dev/null | cut -d ' ' -f 1)
      case "$address" in
        *:*) address="[$address]" ;;
      esac
      if [ -n "$address" ]; then
        SIMD23_ADVERTISE_ADDRESS="$address:${SIMD23_GRPC_PORT:-50051}"
        export SIMD23_ADVERTISE_ADDRESS
      fi
    fi
    exec node "/app/services/$role/dist/main.js" "$@"
    ;;
  simd23)
    shift
    exec node /app/packages/client/dist/cli/main.js "$@"
    ;;
  -h | --help | help)
    usage
    ;;
  *)
    echo "unknown role: ${role:-(none)}" >&2
    usage >&2
    exit 64
    ;;
esac
