"""Where the scale matrix's probing time goes: the agent's own cost per cell, without an engine
(issue 12).

    python bench/agent_cpu_bench.py [--cells 34400] [--vantages 1,2,16,50] [--reps 3] [--json]

The same cells as the scale benchmark's matrix (34,400 for 50 services: three TCP probes in
four, half of them to a listener, and one UDP probe to a closed port) are probed from this
process's namespace against listeners that a child process holds on 127.0.1.x, so no
container, exec or setns is in the figure: only the agent (`run_request`, as the setns launcher
runs it in-process) spread over V vantage threads, beside the floor — the same cells from one
thread as bare non-blocking sockets on one epoll, no grace. Each repetition runs every row in
rotated order; medians with min–max; every row must give the same states.
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import signal
import socket
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

from orchestrator.probes.agent.runner import run_request

LISTENERS = 20
PORT = 40000


def cells(n: int) -> list[tuple[str, str, int, str]]:
    """(kind, address, port, expected state) for n cells."""
    out = []
    for j in range(n):
        if j % 4 == 3:
            out.append(("udp", f"127.0.2.{j % 200 + 1}", 41000 + j % 5, "closed"))
        elif j % 2 == 0:
            out.append(("tcp", f"127.0.1.{j % LISTENERS + 1}", PORT, "open"))
        else:
            out.append(("tcp", f"127.0.2.{j % 200 + 1}", 41000 + j % 5, "closed"))
    return out


def start_listeners(held_max: int) -> int:
    """A child process accepting on 127.0.1.1-20, holding each connection until the prober closes it."""
    socks = []
    for i in range(LISTENERS):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((f"127.0.1.{i + 1}", PORT))
        s.listen(4096)
        s.setblocking(False)
        socks.append(s)
    child = os.fork()
    if child:
        for s in socks:
            s.close()
        return child
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ep = select.epoll()
    by_fd = {s.fileno(): s for s in socks}
    for fd in by_fd:
        ep.register(fd, select.EPOLLIN)
    held: dict[int, socket.socket] = {}  # accepted, until the prober closes its end (EOF)
    while True:
        for fd, _ in ep.poll():
            if fd not in by_fd:
                ep.unregister(fd)
                held.pop(fd).close()
                continue
            while len(held) < held_max:
                try:
                    conn, _ = by_fd[fd].accept()
                except BlockingIOError:
                    break
                conn.setblocking(False)
                held[conn.fileno()] = conn
                ep.register(conn.fileno(), select.EPOLLIN | select.EPOLLRDHUP)


def agent_row(work: list[tuple[str, str, int, str]], vantages: int) -> tuple[float, list[str]]:
    per = len(work) // vantages
    probes = [
        {"id": str(i), "kind": k, "address": a, "port": p, "timeout": 1.0, "grace": 0.1}
        for i, (k, a, p, _) in enumerate(work[: per * vantages])
    ]
    request = {
        "vantages": [{"id": f"v{i}", "netns": None, "probes": probes[i * per : (i + 1) * per]} for i in range(vantages)]
    }
    t0 = time.perf_counter()
    response = run_request(request)
    took = time.perf_counter() - t0
    return took, [r["state"] for v in response["vantages"] for r in v["results"]]


def floor_row(work: list[tuple[str, str, int, str]]) -> tuple[float, list[str]]:
    """Bare sockets on one epoll, no grace: TCP open on writable without error, UDP closed on
    the ICMP error (ECONNREFUSED on a connected UDP socket), in batches of 1,024."""
    states: list[str] = []
    t0 = time.perf_counter()
    for start in range(0, len(work), 1024):
        batch = work[start : start + 1024]
        ep = select.epoll()
        socks: dict[int, tuple[int, socket.socket, str]] = {}
        out = ["filtered"] * len(batch)
        for i, (kind, addr, port, _) in enumerate(batch):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
            s.setblocking(False)
            if kind == "tcp":
                s.connect_ex((addr, port))
                ep.register(s.fileno(), select.EPOLLOUT)
            else:
                s.connect((addr, port))
                s.send(b"looplab")
                ep.register(s.fileno(), select.EPOLLIN | select.EPOLLERR)
            socks[s.fileno()] = (i, s, kind)
        deadline = time.monotonic() + 1.0
        while socks and time.monotonic() < deadline:
            for fd, _ in ep.poll(max(deadline - time.monotonic(), 0)):
                i, s, kind = socks.pop(fd)
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                out[i] = "closed" if err else "open"
                ep.unregister(fd)
                s.close()
        for _, s, _ in socks.values():
            s.close()
        ep.close()
        states += out
    return time.perf_counter() - t0, states


def run(args: argparse.Namespace) -> dict:
    work = cells(args.cells)
    expected = [w[3] for w in work]
    counts = [int(v) for v in args.vantages.split(",")]
    rows = [f"agent, {v} vantage thread{'s' if v > 1 else ''}" for v in counts] + ["floor: one epoll, no grace"]
    samples: dict[str, list[float]] = {r: [] for r in rows}
    mismatches: dict[str, int] = {r: 0 for r in rows}
    child = start_listeners(held_max=resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 64)
    env = C.environment()
    try:
        for rep in range(args.reps):
            order = rows[rep % len(rows) :] + rows[: rep % len(rows)]
            for row in order:
                if row.startswith("floor"):
                    took, states = floor_row(work)
                else:
                    took, states = agent_row(work, counts[rows.index(row)])
                samples[row].append(took)
                mismatches[row] += sum(a != b for a, b in zip(states, expected, strict=False))
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    return {
        "benchmark": "agent-cpu",
        "env": env,
        "cells": args.cells,
        "rows": {r: {**C.summary(samples[r]), "not_as_expected": mismatches[r]} for r in rows},
        "states": dict(Counter(expected)),
        "leftovers": [],
    }


def render(result: dict) -> str:
    floor = result["rows"]["floor: one epoll, no grace"]["median"]
    body = [
        [
            row,
            f"{C.fmt_s(s['median'])} s ({C.fmt_s(s['min'])}–{C.fmt_s(s['max'])})",
            f"{result['cells'] / s['median']:,.0f}",
            f"{s['median'] / floor:.1f}×",
            str(s["not_as_expected"]),
        ]
        for row, s in result["rows"].items()
    ]
    head = ["way", f"{result['cells']:,} cells", "cells/s", "vs floor", "not as expected"]
    return C.md_table(head, body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=34400)
    parser.add_argument("--vantages", default="1,2,16,50")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    return C.bench_main(parser, run, render, argv)


if __name__ == "__main__":
    sys.exit(main())
