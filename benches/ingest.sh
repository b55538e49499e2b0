#!/usr/bin/env bash
# Whole-system ingest benchmarks against the release binary with its durable store, the load
# generator on the same machine: OTLP/gRPC and OTLP/HTTP log records per second, Alertmanager
# API v2 alerts per second, latency at half the measured Alertmanager maximum, memory per
# active alert with a million alerts held, and OTLP/gRPC and OTLP/HTTP spans per second.
#
#   benches/ingest.sh [seconds per run] [grpc|http|am|memory|traces-grpc|traces-http ...]   (all by default)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
seconds="${1:-15}"
shift || true
only=" ${*:-grpc http am memory traces-grpc traces-http} "
run() { [[ "$only" == *" $1 "* ]]; }
cargo build --release --quiet --bin noisegate --example loadgen
work="$(mktemp -d)"
pid=
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

start() {
  rm -rf "$work/data"
  cat >"$work/config.yaml" <<YAML
server: {http_listen: "127.0.0.1:14318", grpc_listen: "127.0.0.1:14317", admin_listen: "127.0.0.1:19464"}
storage: {dir: "$work/data"}
limits: {max_memory_bytes: 4294967296, max_active_alerts: 3000000, max_active_groups: 1000000}
route: {group_by: [alertname, namespace], group_wait: 30s}
pagerduty: {routing_keys: {}, pages_file: "$work/pages.jsonl"}
YAML
  NOISEGATE_LOG="${log_level:-warn}" "$target"/release/noisegate --log-format json serve --config "$work/config.yaml" \
    2>"$work/stderr" &
  pid=$!
  for _ in $(seq 100); do curl -sf localhost:14318/healthz >/dev/null && return; sleep 0.1; done
  echo "noisegate did not start" >&2; cat "$work/stderr" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
load() { "$target"/release/examples/loadgen --url http://127.0.0.1:14318 --grpc http://127.0.0.1:14317 --pid "$pid" "$@"; }

if run grpc; then
  echo "== OTLP/gRPC: 512-record batches of ~300-byte log records (2% alerts)"
  start; load --protocol otlp-grpc --batch 512 --concurrency 8 --seconds "$seconds"; stop
fi
if run http; then
  echo "== OTLP/HTTP (protobuf): the same"
  start; load --protocol otlp-http --batch 512 --concurrency 8 --seconds "$seconds"; stop
fi
if run traces-grpc; then
  echo "== OTLP/gRPC traces: 300-span requests, ten traces each through a chain of ten services"
  start; load --protocol otlp-traces-grpc --batch 300 --concurrency 8 --seconds "$seconds"; stop
fi
if run traces-http; then
  echo "== OTLP/HTTP traces (protobuf): the same"
  start; load --protocol otlp-traces-http --batch 300 --concurrency 8 --seconds "$seconds"; stop
fi
if run am; then
  echo "== Alertmanager API v2: 256-alert batches, 10,000 kube-prometheus alerts re-sent"
  start
  max=$(load --protocol am --batch 256 --distinct 10000 --concurrency 16 --seconds "$seconds" | tee /dev/stderr |
    sed -n 's/.*ok (\([0-9]*\) requests\/s.*/\1/p')
  echo "== Alertmanager API v2 at half that ($((max / 2)) requests/s): acknowledgement latency"
  load --protocol am --batch 256 --distinct 10000 --concurrency 16 --seconds "$seconds" --rate $((max / 2))
  stop
fi
if run memory; then
  echo "== A million active alerts: memory per alert"
  log_level=warn,noisegate::service::engine_loop=debug start
  base=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  load --protocol am --batch 500 --distinct 1000000 --concurrency 16 --seconds "$seconds" >/dev/null
  active=$(curl -s localhost:14318/metrics | sed -n 's/^noisegate_active_alerts \([0-9]*\).*/\1/p')
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  echo "$active active alerts: RSS $((rss / 1024)) MiB ($(((rss - base) * 1024 / (active > 0 ? active : 1))) bytes per alert over the idle $((base / 1024)) MiB)"
  # Snapshots taken meanwhile: how long each held the engine thread.
  python3 - "$work/stderr" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        fields = json.loads(line).get("fields", {})
    except ValueError:
        continue
    if fields.get("message") == "snapshot taken":
        print(f"snapshot of {fields['bytes'] / 1e6:.0f} MB: {fields['elapsed_ms']} ms of the engine thread")
PY
  stop
fi
