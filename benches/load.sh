#!/usr/bin/env bash
# Ingest under load, with the durable store: sustained throughput of re-sent alerts, then an
# alert storm far above what the memory ceiling holds. Prints the load generator's report, the
# peak resident memory and whether /healthz answered throughout.
#
#   benches/load.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
seconds="${1:-20}"
cargo build --release --quiet --bin noisegate --example loadgen
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

run() { # name, memory ceiling, clients, alerts per request, distinct alerts
  local name="$1" ceiling="$2" clients="$3" per_request="$4" distinct="$5"
  rm -rf "$work/data"
  cat >"$work/config.yaml" <<EOF
server: {http_listen: "127.0.0.1:4318", grpc_listen: "127.0.0.1:4317", admin_listen: "127.0.0.1:9464"}
storage: {dir: "$work/data"}
limits: {max_memory_bytes: $ceiling}
route: {group_by: [alertname], group_wait: 30s}
pagerduty: {routing_keys: {}, pages_file: "$work/pages.jsonl"}
EOF
  NOISEGATE_LOG=warn "$target"/release/noisegate serve --config "$work/config.yaml" 2>"$work/stderr" &
  pid=$!
  for _ in $(seq 50); do curl -sf localhost:4318/healthz >/dev/null && break; sleep 0.1; done
  local peak=0 health_failures=0
  (
    while kill -0 "$pid" 2>/dev/null; do
      rss=$(awk '/VmRSS/ {print $2 * 1024}' "/proc/$pid/status" 2>/dev/null || echo 0)
      echo "$rss" >>"$work/rss"
      curl -sf -m 1 localhost:4318/healthz >/dev/null || echo fail >>"$work/health"
      sleep 0.2
    done
  ) &
  local sampler=$!
  : >"$work/rss"; : >"$work/health"
  echo "== $name: $clients clients, $per_request alerts/request, $distinct distinct alerts, ceiling $ceiling bytes"
  "$target"/release/examples/loadgen --protocol am --url http://127.0.0.1:4318 --seconds "$seconds" \
    --concurrency "$clients" --batch "$per_request" --distinct "$distinct"
  peak=$(sort -n "$work/rss" | tail -1)
  health_failures=$(wc -l <"$work/health")
  echo "peak RSS $((peak / 1048576)) MiB; failed health checks: $health_failures"
  curl -s localhost:4318/metrics | grep -E '^noisegate_(limit_hits_total|active_alerts|memory_bytes)' || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
}

# Steady state: 10k alerts re-sent (deduplicated), every request committed before its 200.
run steady 2147483648 32 50 10000
# Storm: every alert new, ten times the state the 256 MiB ceiling allows.
run storm 268435456 64 200 100000000
