"""`agent --serve`: the long-lived agent a helper keeps for the run. One request per line in,
one answer per line out, in order, until stdin ends; a bad line is answered, not fatal."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

AGENT = Path(__file__).resolve().parents[2] / "orchestrator" / "probes" / "agent"


def _closed_loopback_port() -> int:
    with socket.socket() as s:  # bound, never listening: a connect is refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_each_line_in_order_and_survives_a_bad_one():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        open_port = listening.getsockname()[1]
        closed_port = _closed_loopback_port()

        def request(port: int) -> bytes:
            probe = {"id": f"p{port}", "kind": "tcp", "address": "127.0.0.1", "port": port, "timeout": 2, "grace": 0}
            return json.dumps({"vantages": [{"id": "here", "netns": None, "probes": [probe]}]}).encode()

        lines = b"\n".join([request(open_port), b"{not json", request(closed_port), b""]) + b"\n"
        done = subprocess.run(
            [sys.executable, "-I", "-S", str(AGENT), "--serve"], input=lines, capture_output=True, timeout=60
        )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == 3, done.stdout  # the blank line is no request
    first, bad, last = answers
    assert first["vantages"][0]["results"][0]["state"] == "open"
    assert bad["error"].startswith("malformed request: not JSON")
    assert last["vantages"][0]["results"][0]["state"] == "closed"


def test_serve_ends_quietly_when_stdin_ends():
    done = subprocess.run([sys.executable, "-I", "-S", str(AGENT), "--serve"], input=b"", capture_output=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
