#!/usr/bin/env python3
"""Converts one scenario of the AIT alert data set (AIT-ADS, CSV form) into a noisegate capture
file: the alerts of each second become one Alertmanager API v2 request, received at that second.
Each IDS alert is a point event: it starts at its time and ends five minutes later (endsAt), so
re-raised alerts of the same kind, host and source keep one alert firing.

    benches/ait_to_capture.py ../shared/data/ait-ads/alerts_csv.zip fox capture-fox.jsonl.gz
"""

import csv
import datetime
import gzip
import io
import json
import sys
import zipfile


def rfc3339(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(archive, scenario, output):
    with zipfile.ZipFile(archive) as zipped, gzip.open(output, "wt", compresslevel=1) as out:
        name = next(entry for entry in zipped.namelist() if entry.endswith(f"/{scenario}_alerts.txt"))
        rows = csv.DictReader(io.TextIOWrapper(zipped.open(name), encoding="utf-8"))
        second, batch, alerts, requests = None, [], 0, 0

        def flush():
            nonlocal requests
            if batch:
                line = {"received_at": rfc3339(second), "source": "alertmanager_v2", "body": batch}
                out.write(json.dumps(line, separators=(",", ":")) + "\n")
                requests += 1

        for row in rows:
            time = int(float(row["time"]))
            if time != second:
                flush()
                second, batch = time, []
            source = row["name"].split(":", 1)[0].strip().lower()
            batch.append({
                "labels": {
                    "alertname": row["short"],
                    "source": source,
                    "host": row["host"],
                    "ip": row["ip"],
                    "severity": "warning",
                },
                "annotations": {"summary": row["name"]},
                "startsAt": rfc3339(time),
                "endsAt": rfc3339(time + 300),
            })
            alerts += 1
        flush()
    print(f"{alerts} alerts in {requests} requests -> {output}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
