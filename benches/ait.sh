#!/usr/bin/env bash
# Replays the AIT alert data set's scenarios (intrusion-detection alerts of eight simulated
# networks under attack; every alert labelled with its attack step or as a false positive)
# through noisegate and prints one table of the scorer's figures: on the embedded default
# config (`default`) and on the generic config for event sources (`events`,
# configs/examples/noisegate-events.yaml). Each scenario is converted once by the data set's
# converter (hands-on attack steps are high urgency, reconnaissance low) into AIT_CACHE.
#
#   benches/ait.sh [SCENARIO...]        (default: all eight)
#
# DATA_DIR defaults to ../shared/data; the converter and scorer are in the tools folder beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
data=${DATA_DIR:-../shared/data}
tools="$data/../tools"
cache=${AIT_CACHE:-$target/ait}
[ -e "$data/ait-ads/alerts_csv.zip" ] || { echo "missing $data/ait-ads (not part of a clone)" >&2; exit 2; }
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(fox harrison russellmitchell santos shaw wardbeck wheeler wilson)
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
events_config=configs/examples/noisegate-events.yaml
printf '%-16s %-8s %7s %11s %10s %10s %10s %12s %s\n' scenario config seconds "PD incidents" "high rec." "low rec." actionable "noise pages" "missed (high)"
for scenario in "${scenarios[@]}"; do
  dir="$cache/$scenario"
  if [ ! -e "$dir/truth.json" ]; then
    mkdir -p "$dir"
    python3 "$tools/ait_to_capture.py" "$scenario" "$dir" --zip "$data/ait-ads/alerts_csv.zip" > /dev/null
  fi
  for config in default events; do
    args=(--topology "$dir/topology.json" --input "$dir/capture.jsonl" --pages-out "$work/pages.jsonl")
    [ "$config" = events ] && args+=(--config "$events_config")
    start=$(date +%s.%N)
    "$target/release/noisegate" replay "${args[@]}" > /dev/null 2>&1
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    python3 "$tools/score_pages.py" "$dir" "$work/pages.jsonl" --json | python3 -c "
import json, sys
r = json.load(sys.stdin)
missed = ','.join(m.split(':')[0] for m in r['missed_high']) or 'none'
print('%-16s %-8s %7.2f %11s %10s %10s %10s %12s %s' % ('$scenario', '$config', $seconds, r['pagerduty_incidents'],
      r['high_recall'], r['low_recall'], r['actionable_ratio'], r['pages_on_noise'], missed))"
  done
done
