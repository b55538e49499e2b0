#!/usr/bin/env bash
# Kafka consume-and-process throughput: a local tansu broker is filled with OTLP log messages
# (protobuf, `records` log records of ~300 bytes each, 1 in 50 an alert), then noisegate (release
# build, its durable store and the changelog on) consumes them; prints records per second from
# the first record accepted to the last.
#
#   benches/kafka.sh [messages] [records per message] [partitions]
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
messages="${1:-2000}"
records="${2:-250}"
partitions="${3:-4}"
cargo build --release --quiet --bin noisegate --example kafka_load
tansu="$(tools/fetch-tansu)"
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

port=19092
(cd "$work" && exec "$tansu" broker --listener-url "tcp://127.0.0.1:$port" \
  --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ >"$work/tansu.log" 2>&1) &
pids+=($!)
for _ in $(seq 100); do grep -q "ready in" "$work/tansu.log" 2>/dev/null && break; sleep 0.1; done

"$target"/release/examples/kafka_load produce "127.0.0.1:$port" logs "$partitions" "$messages" "$records"

cat >"$work/config.yaml" <<YAML
server: {http_listen: "127.0.0.1:14318", grpc_listen: "127.0.0.1:14317", admin_listen: "127.0.0.1:19464"}
storage: {dir: "$work/data"}
pagerduty: {routing_keys: {}, pages_file: "$work/pages.jsonl"}
kafka:
  brokers: "127.0.0.1:$port"
  group_id: bench
  properties: {session.timeout.ms: "2000", heartbeat.interval.ms: "500"}
  sources: [{topic: logs, encoding: otlp_proto}]
YAML
NOISEGATE_LOG=warn "$target"/release/noisegate serve --config "$work/config.yaml" 2>"$work/stderr" &
pid=$!
pids+=("$pid")
"$target"/release/examples/kafka_load watch http://127.0.0.1:14318/metrics $((messages * records))
echo "peak RSS $(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status") MiB"
