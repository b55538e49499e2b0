#!/usr/bin/env bash
# The soak (examples/soak.rs): noisegate for a long while at about half its Alertmanager-API
# capacity, with OTLP logs and traces beside, through kill -9s, a PagerDuty outage, a config
# reload and an overload burst; then every incident of its own checked (paged once, resolved),
# the memory bound, and the figures printed. Exits non-zero when a check fails.
#
#   benches/soak.sh                      # 30 minutes, release build
#   benches/soak.sh 600 --kills 2        # shorter; any option of examples/soak.rs after it
#   PROFILE=debug benches/soak.sh 90 --alert-requests 10 --log-requests 5 --trace-requests 5 \
#     --kills 1 --outage-pages 400       # the CI smoke: small, on the test build
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-1800}"
shift || true
target="${CARGO_TARGET_DIR:-target}"
case "${PROFILE:-release}" in
  release) cargo build --release --locked --quiet --bin noisegate --example loadgen --example soak; built=release ;;
  debug) cargo build --locked --quiet --bin noisegate --example loadgen --example soak; built=debug ;;
  *) echo "PROFILE is release or debug" >&2; exit 2 ;;
esac
exec "$target/$built/examples/soak" --seconds "$seconds" --noisegate "$target/$built/noisegate" \
  --loadgen "$target/$built/examples/loadgen" "$@"
