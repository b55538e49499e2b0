#!/usr/bin/env python3
"""Play a capture's alerts to Prometheus Alertmanager, time-compressed, and record the pages it sends.

    am_pages.py CAPTURE.jsonl[.gz] PAGES_OUT.jsonl [--speed 120] [--alertmanager BINARY]

Starts a fake PagerDuty (Events API v2 on a free loopback port) and Alertmanager with a
kube-prometheus style configuration whose PagerDuty receivers point at the fake, all of its times
divided by --speed. Each Alertmanager request of the capture is posted to /api/v2/alerts at its
compressed time, with startsAt and endsAt mapped the same way. Every event the fake receives is
written to PAGES_OUT in the pages-file format (DESIGN.md), with the capture's event time at which
it arrived, so that score_pages.py scores it like a noisegate replay.

Alertmanager's PagerDuty details are strings, so the receiver's `details.alerts` template renders
the firing alerts (labels and startsAt) as JSON, which the fake turns back into the list
custom_details.alerts holds in noisegate's pages.
"""
import argparse
import datetime as dt
import gzip
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

# Alertmanager's own durations, before compression (kube-prometheus' defaults).
GROUP_WAIT, GROUP_INTERVAL, REPEAT_INTERVAL, RESOLVE_TIMEOUT = 30, 300, 12 * 3600, 300

# The firing alerts of a notification as a JSON list; Go's %q quoting is JSON's for printable text.
ALERTS_TEMPLATE = (
    '[{{ range $i, $a := .Alerts.Firing }}{{ if $i }},{{ end }}{{ "{" }}"labels":{{ "{" }}'
    '{{ range $j, $p := $a.Labels.SortedPairs }}{{ if $j }},{{ end }}'
    '{{ printf "%q" $p.Name }}:{{ printf "%q" $p.Value }}{{ end }}{{ "}" }},'
    '"startsAt":{{ printf "%q" ($a.StartsAt.UTC.Format "2006-01-02T15:04:05.000Z07:00") }}{{ "}" }}{{ end }}]'
)


def parse_time(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def format_time(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seconds(x):
    return f"{max(round(x * 1000), 10)}ms"  # Prometheus durations take whole units


def alertmanager_config(pd_port, speed):
    receiver = lambda name, severity: {
        "name": name,
        "pagerduty_configs": [
            {
                "routing_key": "bench-routing-key",
                "url": f"http://127.0.0.1:{pd_port}/v2/enqueue",
                "severity": severity,
                "details": {"alerts": ALERTS_TEMPLATE},
            }
        ],
    }
    return {
        "global": {"resolve_timeout": seconds(RESOLVE_TIMEOUT / speed)},
        "route": {
            "receiver": "null",
            "group_by": ["namespace"],
            "group_wait": seconds(GROUP_WAIT / speed),
            "group_interval": seconds(GROUP_INTERVAL / speed),
            "repeat_interval": seconds(REPEAT_INTERVAL / speed),
            "routes": [
                {"matchers": ['alertname = "Watchdog"'], "receiver": "null"},
                {"matchers": ['alertname = "InfoInhibitor"'], "receiver": "null"},
                {"matchers": ['severity = "critical"'], "receiver": "pagerduty-critical"},
                {"matchers": ['severity = "warning"'], "receiver": "pagerduty-warning"},
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity = "critical"'],
                "target_matchers": ['severity =~ "warning|info"'],
                "equal": ["namespace", "alertname"],
            },
            {
                "source_matchers": ['severity = "warning"'],
                "target_matchers": ['severity = "info"'],
                "equal": ["namespace", "alertname"],
            },
            {
                "source_matchers": ['alertname = "InfoInhibitor"'],
                "target_matchers": ['severity = "info"'],
                "equal": ["namespace"],
            },
        ],
        "receivers": [{"name": "null"}, receiver("pagerduty-critical", "critical"), receiver("pagerduty-warning", "warning")],
    }


class Clock:
    """Maps the capture's event time to wall time and back."""

    def __init__(self, event0, speed):
        self.event0, self.speed = event0, speed
        self.wall0 = time.time() + 1.0

    def wall(self, event):
        return self.wall0 + (event - self.event0) / self.speed

    def event(self, wall):
        return self.event0 + (wall - self.wall0) * self.speed

    def sleep_until(self, event):
        delay = self.wall(event) - time.time()
        if delay > 0:
            time.sleep(delay)


def fake_pagerduty(clock, pages, problems):
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            at = clock.event(time.time())
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                event = json.loads(body)
                details = event.get("payload", {}).get("custom_details") or {}
                if isinstance(details.get("alerts"), str):
                    alerts = json.loads(details["alerts"])
                    for a in alerts:
                        a["startsAt"] = format_time(clock.event(parse_time(a["startsAt"])))
                    details["alerts"] = alerts
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                with lock:
                    problems.append(f"{e}: {body[:200]!r}")
                self.send_response(400)
                self.end_headers()
                return
            with lock:
                pages.append({"at": format_time(at), "event": event})
            reply = json.dumps({"status": "success", "dedup_key": event.get("dedup_key")}).encode()
            self.send_response(202)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def wait_ready(url):
    for _ in range(200):
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{url} never answered")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("capture")
    ap.add_argument("pages_out")
    ap.add_argument("--speed", type=float, default=120.0, help="event seconds per wall second")
    ap.add_argument("--alertmanager", default=shutil.which("prometheus-alertmanager") or "alertmanager")
    args = ap.parse_args()

    opener = gzip.open if args.capture.endswith(".gz") else open
    requests = []
    with opener(args.capture, "rt") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("source") == "alertmanager_v2":
                requests.append((parse_time(rec["received_at"]), rec["body"]))
    if not requests:
        sys.exit(f"{args.capture}: no alertmanager_v2 requests")
    requests.sort(key=lambda r: r[0])

    clock = Clock(requests[0][0], args.speed)
    pages, problems = [], []
    pd = fake_pagerduty(clock, pages, problems)
    work = tempfile.mkdtemp()
    config = os.path.join(work, "alertmanager.yml")
    with open(config, "w") as f:
        json.dump(alertmanager_config(pd.server_address[1], args.speed), f)  # JSON is YAML
    port = free_port()
    log = open(os.path.join(work, "alertmanager.log"), "w+")
    am = subprocess.Popen(
        [
            args.alertmanager,
            f"--config.file={config}",
            f"--storage.path={work}/data",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stderr=log,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/-/ready")
        clock.wall0 = time.time() + 0.5
        url = f"http://127.0.0.1:{port}/api/v2/alerts"
        for received, alerts in requests:
            for a in alerts:
                for field in ("startsAt", "endsAt"):
                    if a.get(field):
                        a[field] = format_time(clock.wall(parse_time(a[field])))
            clock.sleep_until(received)
            req = urllib.request.Request(
                url, data=json.dumps(alerts).encode(), headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()
        # Let the last alerts end and their resolves go out.
        clock.sleep_until(requests[-1][0] + RESOLVE_TIMEOUT + 2 * GROUP_INTERVAL)
    finally:
        am.terminate()
        am.wait()
        pd.shutdown()
        log.seek(0)
        failures = [line for line in log if "level=error" in line]
        shutil.rmtree(work, ignore_errors=True)

    pages.sort(key=lambda p: p["at"])
    with open(args.pages_out, "w") as f:
        for p in pages:
            f.write(json.dumps(p) + "\n")
    print(f"alertmanager: {len(requests)} requests at {args.speed:g}x, {len(pages)} PagerDuty events", file=sys.stderr)
    if failures:
        sys.exit(f"alertmanager logged {len(failures)} errors, first: {failures[0]}")
    if problems:
        sys.exit(f"the fake PagerDuty could not read {len(problems)} events, first: {problems[0]}")


if __name__ == "__main__":
    main()
