#!/usr/bin/env python3
"""Two `kai` binaries on the workflow runner's step throughput, in
alternating pairs (A B, then B A), as bench/scripts/ab.sh does for HTTP
loads: each measurement starts a fresh server on an empty data folder,
saves a line of ten `transform` nodes, queues RUNS runs of it at once
through the REST API and waits until all have succeeded. Prints every
measurement (steps/s and the server's CPU per step), then each side's
medians and the ratio B/A.

Usage: bench/scripts/ab-workflows.py A B [pairs]   (default 6 pairs)
  RUNS   runs per measurement (default 300, as kai-bench queues)
Example: bench/scripts/ab-workflows.py /tmp/kai-before target/release/kai 8
"""

import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = int(os.environ.get("RUNS", "300"))
NODES = 10
HZ = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class Api:
    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port)
        self.headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}

    def call(self, method, path, body=None):
        self.conn.request(method, path, json.dumps(body) if body is not None else None, self.headers)
        response = self.conn.getresponse()
        data = json.loads(response.read() or b"null")
        if response.status >= 300:
            raise RuntimeError(f"{method} {path} answered {response.status}: {data}")
        return data


def line(nodes):
    return {
        "name": f"line of {nodes}",
        "nodes": [
            {"id": f"t{i}", "kind": "transform", "config": {"expression": "{n: (.n + 1)}"}}
            for i in range(nodes)
        ],
        "edges": [{"from": f"t{i - 1}", "to": f"t{i}"} for i in range(1, nodes)],
    }


def measure(binary):
    """One fresh server: returns (steps per second, CPU microseconds per step)."""
    work = tempfile.mkdtemp()
    port = free_port()
    os.makedirs(f"{work}/plugins")
    server = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", f"{work}/data",
         "--plugins-dir", f"{work}/plugins"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    try:
        for _ in range(600):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        with open(f"{work}/data/admin.token") as f:
            api = Api(port, f.read().strip())
        workflow = api.call("POST", "/api/v1/workflows", line(NODES))["id"]
        before = cpu_ticks(server.pid)
        started = time.monotonic()
        for n in range(RUNS):
            last = api.call("POST", f"/api/v1/workflows/{workflow}/executions", {"input": {"n": n}})["id"]
        # Runs drain in the order they came, so the last one ends (nearly)
        # last; polling it alone keeps the polling's own cost small.
        runs = f"/api/v1/workflows/{workflow}/executions"
        while True:
            status = api.call("GET", f"{runs}/{last}")["status"]
            if status == "failed":
                raise RuntimeError("a run failed")
            if status == "succeeded":
                if api.call("GET", f"{runs}?status=failed&limit=1")["items"]:
                    raise RuntimeError("a run failed")
                if len(api.call("GET", f"{runs}?status=succeeded&limit=1000")["items"]) == RUNS:
                    break
            if time.monotonic() - started > 600:
                raise RuntimeError("the runs did not finish in 600 s")
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        cpu_us = (cpu_ticks(server.pid) - before) * 1e6 / HZ
        steps = RUNS * NODES
        return steps / elapsed, cpu_us / steps
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sides = {"A": sys.argv[1], "B": sys.argv[2]}
    pairs = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    results = {"A": [], "B": []}
    print(f"{RUNS} runs of {NODES} transform nodes per measurement, {pairs} pairs")
    for pair in range(1, pairs + 1):
        for side in ("A", "B") if pair % 2 else ("B", "A"):
            rate, cpu = measure(sides[side])
            results[side].append((rate, cpu))
            print(f"  pair {pair}, {side}: {rate:7.0f} steps/s, CPU {cpu:7.1f} us per step", flush=True)
    medians = {
        side: (statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs))
        for side, runs in results.items()
    }
    for side, (rate, cpu) in medians.items():
        print(f"{side} ({sides[side]}): median {rate:.0f} steps/s, CPU {cpu:.1f} us per step")
    print(f"B/A: throughput {medians['B'][0] / medians['A'][0]:.3f}x, "
          f"CPU per step {medians['B'][1] / medians['A'][1]:.3f}x")


if __name__ == "__main__":
    main()
