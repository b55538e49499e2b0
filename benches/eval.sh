#!/usr/bin/env bash
# Replays the labelled 12-hour Online-Boutique alert storm through noisegate with the
# kube-prometheus config and scores the pages against the ground truth.
#
#   benches/eval.sh [SCENARIO_DIR] [CONFIG]
#
# SCENARIO_DIR defaults to ../shared/data/boutique-12h (capture.jsonl.gz, topology.json,
# truth.json); the scorer is ../shared/tools/score_pages.py next to it.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
scenario=${1:-../shared/data/boutique-12h}
config=${2:-configs/kube-prometheus.yaml}
scorer=${SCORER:-$scenario/../../tools/score_pages.py}
for needed in "$scenario/capture.jsonl.gz" "$scenario/topology.json" "$scenario/truth.json" "$scorer"; do
  [ -e "$needed" ] || { echo "missing $needed (the evaluation data is not part of a clone)" >&2; exit 2; }
done
cargo build --release --quiet
pages=$(mktemp --suffix=.jsonl)
trap 'rm -f "$pages"' EXIT
"$target"/release/noisegate replay --config "$config" --topology "$scenario/topology.json" \
  --input "$scenario/capture.jsonl.gz" --pages-out "$pages"
python3 "$scorer" "$scenario" "$pages"
