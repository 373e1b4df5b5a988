"""What a skilled user would script instead of looplab, for the same cells (issue 12).

Every baseline probes exactly the cells looplab probes, as plain TCP connects with looplab's
timeout, one interpreter per vantage looping over that vantage's cells:

- (a) `docker exec <vantage> python3 -c LOOP`, one vantage after another;
- (b) the same, every vantage at once;
- (c) `nsenter -t PID -n python3 -c LOOP` per vantage (the host's own interpreter), at once;
- floor: one process, one thread per vantage entering its namespace with setns(2), every
  cell a non-blocking connect, no grace: the physical floor for these cells.

The host vantage runs its loop in a host interpreter in (a)-(c). Each returns its wall time
(process start to the last answer read) and the states it saw, keyed like looplab's cells.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from orchestrator.plan import PlannedCell
from orchestrator.runtime.state import HOST, LabState

# One interpreter per vantage: connect to every (address, port) in turn, print one JSON list of
# states. Same classification as looplab's tcp probe, without its grace read (strictly less work).
LOOP = """\
import errno, json, socket, sys
cells, timeout = json.loads(sys.argv[1]), float(sys.argv[2])
out = []
for a, p in cells:
    s = socket.socket(socket.AF_INET6 if ':' in a else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((a, p)); out.append('open')
    except socket.timeout:
        out.append('filtered')
    except ConnectionRefusedError:
        out.append('closed')
    except OSError as e:
        out.append('unreachable' if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL,
                                                errno.EAFNOSUPPORT) else 'error')
    finally:
        s.close()
print(json.dumps(out))
"""

Key = tuple[str, str, str]


def by_vantage(cells: Sequence[PlannedCell]) -> dict[str, list[PlannedCell]]:
    out: dict[str, list[PlannedCell]] = {}
    for c in cells:
        out.setdefault(c.vantage, []).append(c)
    return out


def _argv(how: str, vantage: str, cells: list[PlannedCell], state: LabState, timeout: float) -> list[str]:
    payload = json.dumps([[c.address, c.port] for c in cells])
    here = [sys.executable, "-I", "-S", "-c", LOOP, payload, str(timeout)]
    if state.namespace_of(vantage) == HOST:
        return here
    member = state.members[state.namespace_of(vantage)]
    if how == "exec":
        return ["docker", "exec", member.container_id, "python3", "-I", "-S", "-c", LOOP, payload, str(timeout)]
    return ["nsenter", "-t", str(member.pid), "-n", *here]


def scripted(how: str, parallel: bool, cells: Sequence[PlannedCell], state: LabState, timeout: float):
    """(seconds, {cell key: state}) for baseline (a) how="exec" parallel=False, (b) exec/True,
    (c) nsenter/True."""
    groups = by_vantage(cells)
    seen: dict[Key, str] = {}
    t0 = time.perf_counter()
    if parallel:
        procs = {
            v: subprocess.Popen(_argv(how, v, cs, state, timeout), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for v, cs in groups.items()
        }
        outputs = {v: p.communicate(timeout=timeout * len(groups[v]) + 120) for v, p in procs.items()}
    else:
        outputs = {}
        for v, cs in groups.items():
            done = subprocess.run(
                _argv(how, v, cs, state, timeout), capture_output=True, timeout=timeout * len(cs) + 120
            )
            outputs[v] = (done.stdout, done.stderr)
    elapsed = time.perf_counter() - t0
    for v, (out, err) in outputs.items():
        try:
            states = json.loads(out)
        except ValueError:  # a baseline that failed is no figure: stop the benchmark, say why
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"baseline {how} from {v} failed: {tail[0]}") from None
        for c, st in zip(groups[v], states, strict=True):
            seen[(c.vantage, c.target, c.proto)] = st
    return elapsed, seen


_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}


def _floor_vantage(cells: list[PlannedCell], pid: int | None, timeout: float, out: dict[Key, str]) -> None:
    if pid:
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        try:
            if _libc.setns(fd, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
        finally:
            os.close(fd)
    sel = selectors.DefaultSelector()
    pending: dict[int, tuple[socket.socket, PlannedCell]] = {}
    for c in cells:
        s = socket.socket(socket.AF_INET6 if ":" in c.address else socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        code = s.connect_ex((c.address, c.port))
        key = (c.vantage, c.target, c.proto)
        if code in (0, errno.EINPROGRESS):
            pending[s.fileno()] = (s, c)
            sel.register(s, selectors.EVENT_WRITE)
        else:
            out[key] = "closed" if code == errno.ECONNREFUSED else "unreachable" if code in _UNREACHABLE else "error"
            s.close()
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for k, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
            s, c = pending.pop(k.fd)
            sel.unregister(s)
            code = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            out[(c.vantage, c.target, c.proto)] = (
                "open" if code == 0 else "closed" if code == errno.ECONNREFUSED else
                "unreachable" if code in _UNREACHABLE else "error"
            )  # fmt: skip
            s.close()
    for s, c in pending.values():
        out[(c.vantage, c.target, c.proto)] = "filtered"
        s.close()
    sel.close()


def floor(cells: Sequence[PlannedCell], state: LabState, timeout: float):
    """(seconds, states): every cell a non-blocking connect, one thread per vantage, no grace."""
    seen: dict[Key, str] = {}
    groups = by_vantage(cells)
    threads = [
        threading.Thread(target=_floor_vantage, args=(cs, state.netns(v).pid, timeout, seen), daemon=True)
        for v, cs in groups.items()
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, seen
