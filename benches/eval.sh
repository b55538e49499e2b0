#!/usr/bin/env bash
# Replays every labelled sample through noisegate, as a new user would run it, and prints one
# table: rows per sample with the scorer's figures and what it missed. Each sample is replayed
# three ways: CONFIG with the sample's topology file (`file`), CONFIG without it (`learned`:
# the inventory learned from the capture's telemetry and alerts), and the embedded default
# config without it (`learned, default config`).
#
#   benches/eval.sh [CONFIG] [DATA_DIR]
#
# CONFIG defaults to configs/kube-prometheus.yaml. DATA_DIR defaults to ../shared/data; every
# folder in it that holds capture.jsonl.gz, topology.json and truth.json is a sample (samples
# added later are found the same way). The scorer is score_pages.py in the tools folder beside
# DATA_DIR (SCORER overrides it). PAGES_DIR, when set, keeps each sample's pages file there.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
config=${1:-configs/kube-prometheus.yaml}
data=${2:-../shared/data}
scorer=${SCORER:-$data/../tools/score_pages.py}
[ -d "$data" ] || { echo "missing $data (the evaluation data is not part of a clone)" >&2; exit 2; }
[ -e "$scorer" ] || { echo "missing $scorer" >&2; exit 2; }
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pages_dir=${PAGES_DIR:-$work}
mkdir -p "$pages_dir"
found=0
for sample in "$data"/*/; do
  sample=${sample%/}
  name=$(basename "$sample")
  [ -e "$sample/capture.jsonl.gz" ] && [ -e "$sample/topology.json" ] && [ -e "$sample/truth.json" ] || continue
  found=$((found + 1))
  for inventory in file learned default; do
    args=(--config "$config" --topology "$sample/topology.json")
    case $inventory in
      learned) args=(--config "$config") ;;
      default) args=() ;;
    esac
    pages="$pages_dir/$name.pages.jsonl"
    [ "$inventory" = file ] || pages="$pages_dir/$name.$inventory.pages.jsonl"
    "$target"/release/noisegate replay "${args[@]}" --input "$sample/capture.jsonl.gz" --pages-out "$pages" \
      2>"$work/$name.log" || { cat "$work/$name.log" >&2; exit 1; }
    printf '%s\t%s\t' "$name" "$inventory" >>"$work/scores.tsv"
    python3 "$scorer" "$sample" "$pages" --json >>"$work/scores.tsv"
  done
done
[ "$found" -gt 0 ] || { echo "no labelled sample in $data" >&2; exit 2; }
python3 - "$work/scores.tsv" <<'EOF'
import json, sys

rows = []
for line in open(sys.argv[1]):
    name, inventory, scores = line.rstrip("\n").split("\t", 2)
    inventory = {"default": "learned, default config"}.get(inventory, inventory)
    rows.append((name, inventory, json.loads(scores)))
columns = [
    ("high recall", "high_recall"),
    ("low recall", "low_recall"),
    ("high precision", "high_precision"),
    ("actionable", "actionable_ratio"),
    ("PD inc / real", "incidents_per_true_incident"),
    ("median page s", "median_time_to_page_s"),
    ("noise red. vs ideal", "noise_reduction_vs_ideal"),
    ("PD incidents", "pagerduty_incidents"),
]
header = ["sample", "inventory"] + [title for title, _ in columns] + ["missed"]
table = []
for name, inventory, scores in rows:
    missed = scores["missed_high"] + scores["missed_low"]
    cells = [name, inventory] + ["-" if scores.get(key) is None else str(scores[key]) for _, key in columns]
    table.append(cells + [", ".join(missed) or "none"])
widths = [max(len(row[index]) for row in [header] + table) for index in range(len(header))]
for row in [header] + table:
    print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
EOF
