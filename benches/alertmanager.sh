#!/usr/bin/env bash
# noisegate and Prometheus Alertmanager side by side on this machine, in the same run: the same
# stream of kube-prometheus alerts (256 a request, 10,000 distinct, re-sent) posted to each one's
# /api/v2/alerts by the same load generator, one after the other; prints both throughputs and
# their ratio. Installs Debian's prometheus-alertmanager when it is missing.
#
#   benches/alertmanager.sh [seconds per run]
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
seconds="${1:-15}"
benches/ensure-alertmanager
cargo build --release --quiet --bin noisegate --example loadgen
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

wait_for() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return; sleep 0.1; done; echo "$1 never answered" >&2; exit 1; }
load() { "$target"/release/examples/loadgen --protocol am --batch 256 --distinct 10000 --concurrency 16 --seconds "$seconds" "$@"; }
rate() { sed -n 's/.*requests\/s, \([0-9]*\) alerts\/s.*/\1/p'; }

# Alertmanager: the grouping kube-prometheus uses, a receiver that sends nowhere.
cat >"$work/alertmanager.yml" <<YAML
route:
  receiver: "null"
  group_by: [alertname, namespace]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 12h
receivers:
  - name: "null"
YAML
prometheus-alertmanager --config.file="$work/alertmanager.yml" --storage.path="$work/am-data" \
  --web.listen-address=127.0.0.1:19093 --cluster.listen-address= --log.level=warn 2>"$work/am.log" &
am=$!
pids+=("$am")
wait_for http://127.0.0.1:19093/-/ready
echo "== Prometheus Alertmanager $(prometheus-alertmanager --version 2>&1 | head -1 | awk '{print $3}')"
am_rate=$(load --url http://127.0.0.1:19093 --pid "$am" | tee /dev/stderr | rate)
kill "$am"; wait "$am" 2>/dev/null || true

cat >"$work/noisegate.yaml" <<YAML
server: {http_listen: "127.0.0.1:14318", grpc_listen: "127.0.0.1:14317", admin_listen: "127.0.0.1:19464"}
storage: {dir: "$work/ng-data"}
route: {group_by: [alertname, namespace], group_wait: 30s, group_interval: 5m, repeat_interval: 12h}
pagerduty: {routing_keys: {}, pages_file: "$work/pages.jsonl"}
YAML
NOISEGATE_LOG=warn "$target"/release/noisegate serve --config "$work/noisegate.yaml" 2>"$work/ng.log" &
ng=$!
pids+=("$ng")
wait_for http://127.0.0.1:14318/healthz
echo "== noisegate (durable: every request in the write-ahead log before its answer)"
ng_rate=$(load --url http://127.0.0.1:14318 --pid "$ng" | tee /dev/stderr | rate)
echo "noisegate / Alertmanager: $(awk -v a="$ng_rate" -v b="$am_rate" 'BEGIN { printf "%.1fx", (b > 0 ? a / b : 0) }')"
