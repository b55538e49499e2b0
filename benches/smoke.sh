#!/usr/bin/env bash
# A short, small run of the load generator over every protocol against a debug build, to prove
# they still work together (CI runs it; no figure is checked, only that requests are accepted).
#
#   benches/smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --quiet --bin noisegate --example loadgen
work="$(mktemp -d)"
pid=
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
cat >"$work/config.yaml" <<YAML
server: {http_listen: "127.0.0.1:14318", grpc_listen: "127.0.0.1:14317", admin_listen: "127.0.0.1:19464"}
storage: {dir: "$work/data"}
pagerduty: {routing_keys: {}, pages_file: "$work/pages.jsonl"}
YAML
NOISEGATE_LOG=warn "$target"/debug/noisegate serve --config "$work/config.yaml" 2>"$work/stderr" &
pid=$!
for _ in $(seq 100); do curl -sf localhost:14318/healthz >/dev/null && break; sleep 0.1; done
for protocol in am otlp-http otlp-grpc otlp-traces-http otlp-traces-grpc; do
  out=$("$target"/debug/examples/loadgen --protocol "$protocol" --url http://127.0.0.1:14318 \
    --grpc http://127.0.0.1:14317 --seconds 2 --concurrency 2 --batch 20 --pid "$pid")
  echo "$out"
  grep -q ' 0 other, 0 errors' <<<"$out" && ! grep -q ': 0 ok' <<<"$out" ||
    { echo "smoke: $protocol failed" >&2; cat "$work/stderr" >&2; exit 1; }
done
echo "smoke: the load generator works over every protocol"
