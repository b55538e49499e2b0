#!/usr/bin/env python3
"""Peak memory of a restart in the middle of a PagerDuty outage, with its backlog in the outbox.

    restart_backlog.py [--binary target/release/noisegate] [--pages 30000]

Starts noisegate on a fresh data directory with PagerDuty unreachable (a loopback port nothing
listens on), posts PAGES distinct critical alerts (one incident, one page each), waits until every
incident opened (so every page waits in the outbox), stops it with SIGTERM, starts it again on
the same directory (PagerDuty still down) and prints the peak RSS of each run once it serves:
what the restart costs beyond the first run is the state read back (snapshot and log) and the
outbox handed to the delivery lanes.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config(port, nobody):
    return f"""
server:
  grpc_listen: "127.0.0.1:0"
  http_listen: "127.0.0.1:{port}"
  admin_listen: "127.0.0.1:0"
  shutdown_grace: 1s
storage:
  dir: data
route:
  group_by: [alertname]
  group_wait: 0s
pagerduty:
  url: "http://127.0.0.1:{nobody}"
  routing_keys:
    default: {{ value: "0123456789abcdef0123456789abcdef" }}
  retry: {{initial_backoff: 100ms, max_backoff: 1s}}
"""


class Service:
    def __init__(self, binary, workdir, port):
        self.url = f"http://127.0.0.1:{port}"
        log = open(os.path.join(workdir, "noisegate.log"), "a")
        self.process = subprocess.Popen(
            [binary, "serve", "--config", "noisegate.yaml"], cwd=workdir, stdout=subprocess.DEVNULL, stderr=log
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                self.metric("noisegate_incidents_opened_total")
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"noisegate did not start: see {workdir}/noisegate.log")
                time.sleep(0.1)

    def metric(self, name):
        text = urllib.request.urlopen(f"{self.url}/metrics", timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def peak_mib(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default="target/release/noisegate")
    parser.add_argument("--pages", type=int, default=30000)
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    with tempfile.TemporaryDirectory() as workdir:
        port = free_port()
        with open(os.path.join(workdir, "noisegate.yaml"), "w") as file:
            file.write(config(port, free_port()))
        service = Service(binary, workdir, port)
        for first in range(0, args.pages, 500):
            alerts = [
                {
                    "labels": {"alertname": f"Backlog{kind}", "severity": "critical", "service": f"s{kind % 50}"},
                    "annotations": {"summary": f"backlog alert {kind}: " + "details " * 25},
                }
                for kind in range(first, min(args.pages, first + 500))
            ]
            request = urllib.request.Request(
                f"{service.url}/api/v2/alerts", json.dumps(alerts).encode(), {"content-type": "application/json"}
            )
            urllib.request.urlopen(request, timeout=60).read()
        while service.metric("noisegate_incidents_opened_total") < args.pages:
            time.sleep(0.2)
        first_run = service.peak_mib()
        service.stop()

        service = Service(binary, workdir, port)
        # Serving means the outbox was handed to the lanes: the backlog has been read by then.
        restart = service.peak_mib()
        service.stop()
    print(f"{args.pages} pages waiting in the outbox: peak RSS {first_run:.0f} MiB in the run that decided them, "
          f"{restart:.0f} MiB after the restart")


if __name__ == "__main__":
    main()
