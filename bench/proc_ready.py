"""Wait until every listener of a Compose project is listening; stdlib only, one process.

    python -I -S bench/proc_ready.py PROJECT '{"app": [["127.0.0.1", 62893]]}' [TIMEOUT_S]

The readiness check a skilled user would script for `docker-compose up -d`, done the fastest
honest way found: the project's containers and their pids come from the engine API over its
unix socket (no CLI start-up, no SDK import), and each container's listening sockets are read
from the host as /proc/<pid>/net/tcp (then tcp6 only if needed), state 0A, polled every 10 ms.
Nothing runs inside a container. Exit 0 once every (address, port) is listening, 1 on timeout.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import time
import urllib.parse

SOCKET = "/var/run/docker.sock"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
POLL_S = 0.01


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def get(conn: UnixHTTP, url: str) -> object:
    conn.request("GET", url)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"GET {url}: {resp.status} {body[:200]!r}")
    return json.loads(body)


def decode(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    return socket.inet_ntop(socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))


def listening(pid: int, name: str) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    try:
        with open(f"/proc/{pid}/net/{name}") as fh:
            next(fh, None)
            for line in fh:
                parts = line.split()
                if len(parts) > 3 and parts[3] == "0A":
                    addr, port = parts[1].rsplit(":", 1)
                    found.add((decode(addr), int(port, 16)))
    except FileNotFoundError:
        pass
    return found


def pids(conn: UnixHTTP, project: str, wanted: set[str]) -> dict[str, int]:
    query = urllib.parse.quote(json.dumps({"label": [f"{PROJECT_LABEL}={project}"]}))
    out: dict[str, int] = {}
    for c in get(conn, f"/containers/json?filters={query}"):  # type: ignore[union-attr]
        svc = c["Labels"].get(SERVICE_LABEL)
        if svc in wanted:
            pid = int(get(conn, f"/containers/{c['Id']}/json")["State"]["Pid"])  # type: ignore[index]
            if pid:
                out[svc] = pid
    return out


def wait(project: str, listeners: dict[str, list[list]], timeout_s: float) -> bool:
    pending = {svc: {(a, int(p)) for a, p in binds} for svc, binds in listeners.items() if binds}
    conn = UnixHTTP(SOCKET)
    known: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    while pending:
        if set(pending) - set(known):
            known.update(pids(conn, project, set(pending) - set(known)))
        for svc in [s for s in pending if s in known]:
            if pending[svc] <= listening(known[svc], "tcp") or pending[svc] <= (
                listening(known[svc], "tcp") | listening(known[svc], "tcp6")
            ):
                del pending[svc]
        if pending:
            if time.monotonic() > deadline:
                print(f"not listening after {timeout_s:g}s: {sorted(pending)}", file=sys.stderr)
                return False
            time.sleep(POLL_S)
    return True


if __name__ == "__main__":
    sys.exit(0 if wait(sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 60) else 1)
