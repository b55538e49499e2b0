#!/usr/bin/env bash
# The pages Prometheus Alertmanager and noisegate send for the same labelled alert storm, scored
# against its ground truth by score_pages.py.
#
#   benches/alertmanager_pages.sh [SPEED] [SCENARIO_DIR]
#
# Alertmanager (installed from Debian when missing) gets the scenario's Alertmanager requests
# played at SPEED event seconds per wall second (default 120: the 12-hour storm in 6 minutes), its
# timers divided alike, a kube-prometheus route and inhibition, and PagerDuty receivers pointed at
# a local fake (benches/am_pages.py). noisegate replays the same capture twice with
# configs/kube-prometheus.yaml: alerts only and without the topology (what Alertmanager sees), then
# the whole capture (alerts and logs) with the topology.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
speed=${1:-120}
scenario=${2:-../shared/data/boutique-12h}
scorer=${SCORER:-$scenario/../../tools/score_pages.py}
for needed in "$scenario/capture.jsonl.gz" "$scenario/topology.json" "$scenario/truth.json" "$scorer"; do
  [ -e "$needed" ] || { echo "missing $needed (the evaluation data is not part of a clone)" >&2; exit 2; }
done
benches/ensure-alertmanager
cargo build --release --quiet --bin noisegate
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

zcat "$scenario/capture.jsonl.gz" | grep '"source":"alertmanager_v2"' >"$work/alerts-only.jsonl"
"$target"/release/noisegate replay --config configs/kube-prometheus.yaml --input "$work/alerts-only.jsonl" \
  --pages-out "$work/noisegate-alerts.jsonl" >/dev/null
"$target"/release/noisegate replay --config configs/kube-prometheus.yaml --topology "$scenario/topology.json" \
  --input "$scenario/capture.jsonl.gz" --pages-out "$work/noisegate-full.jsonl" >/dev/null
python3 benches/am_pages.py "$scenario/capture.jsonl.gz" "$work/alertmanager.jsonl" --speed "$speed"

for run in alertmanager noisegate-alerts noisegate-full; do
  python3 "$scorer" "$scenario" "$work/$run.jsonl" --json >"$work/$run.score.json"
done
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
runs = [("Alertmanager 0.25", "alertmanager"), ("noisegate, alerts only", "noisegate-alerts"),
        ("noisegate, alerts + logs + topology", "noisegate-full")]
scores = [json.load(open(f"{work}/{name}.score.json")) for _, name in runs]
rows = ["pagerduty_incidents", "high_urgency_pages", "noise_reduction", "high_recall", "low_recall",
        "high_precision", "pages_on_noise", "actionable_ratio", "incidents_per_true_incident",
        "median_time_to_page_s", "max_time_to_page_s", "missed_high"]
print("| | " + " | ".join(label for label, _ in runs) + " |")
print("|---|" + "---|" * len(runs))
for row in rows:
    cells = [", ".join(s[row]) or "none" if isinstance(s[row], list) else str(s[row]) for s in scores]
    print(f"| {row} | " + " | ".join(cells) + " |")
PY
