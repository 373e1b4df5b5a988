"""Running a request: validate it, give every vantage a thread (entered into its network
namespace with setns(2)), run the vantage's probes concurrently, answer in request order."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading

from .core import AGENT, KINDS, ProbeFailed, Vantage
from .kernel import mark_neighbour_overflow, table_fulls
from .net import fd_budget, netns_id

CLONE_NEWNET = 0x40000000


class _RequestError(ValueError):
    """The request as a whole is malformed."""


_libc = None
_libc_lock = threading.Lock()


def enter_netns(path: str) -> None:
    """Move the calling thread into the network namespace at ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns = getattr(os, "setns", None)  # Python >= 3.12
        if setns is not None:
            setns(fd, CLONE_NEWNET)
            return
        global _libc
        with _libc_lock:
            if _libc is None:
                import ctypes

                _libc = ctypes.CDLL(None, use_errno=True)
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            import ctypes

            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


def _fresh(defaults) -> dict:
    return {k: (list(val) if isinstance(val, list) else val) for k, val in defaults.items()}


async def _run_one(v: Vantage, spec: dict) -> dict:
    kind = spec["kind"]
    registered = KINDS.get(kind)
    result = {"id": spec["id"], "kind": kind, "state": "error"}
    result.update(_fresh(registered.defaults if registered else {}))
    result["detail"] = None
    if registered is None:
        result["detail"] = f"unknown probe kind {kind!r} (known: {', '.join(sorted(KINDS))})"
        return result
    try:
        result.update(await registered.run(v, spec))
    except ProbeFailed as e:
        result.update(state="error", detail=str(e))
    except Exception as e:
        result.update(state="error", detail=f"probe failed: {type(e).__name__}: {e}")
    return result


async def _run_vantage(vreq: dict, limit: int, ns_id) -> list:
    """Every probe of one vantage, `limit` at a time, results in request order; a silence heard
    while the host's neighbour table was full is `suspect`. As many workers as sockets may be in
    flight, not a task per probe: a 34,400-cell matrix held 34,400 tasks."""
    v = Vantage(vreq["id"], vreq.get("netns"), vreq.get("root"), limit, ns_id)
    probes = vreq["probes"]
    results: list = [None] * len(probes)
    todo = iter(enumerate(probes))

    async def worker() -> None:
        for i, spec in todo:
            results[i] = await _run_one(v, spec)

    before = table_fulls()
    await asyncio.gather(*(worker() for _ in range(min(limit, len(probes)))))
    after = table_fulls()
    overflows = None if before is None or after is None else after - before
    mark_neighbour_overflow(results, probes, overflows)
    return results


def _vantage_thread(vreq: dict, limit: int, out: list, index: int) -> None:
    answer = {"id": vreq["id"], "error": None, "results": []}
    try:
        netns = vreq.get("netns")
        if netns:
            try:
                enter_netns(netns)
            except OSError as e:
                reason = f"[Errno {e.errno}] {os.strerror(e.errno)}" if e.errno else str(e)
                answer["error"] = f"cannot enter {netns}: {reason}"
                return
        try:
            ns_id = netns_id("/proc/thread-self/ns/net")
        except OSError:  # no /proc: only the sockets probe needs it, and says so
            ns_id = None
        answer["results"] = asyncio.run(_run_vantage(vreq, limit, ns_id))
    except BaseException as e:
        answer["results"] = []
        answer["error"] = f"agent failure: {type(e).__name__}: {e}"
    finally:
        out[index] = answer


def _validate(request) -> None:
    if not isinstance(request, dict):
        raise _RequestError("request must be a JSON object")
    vantages = request.get("vantages")
    if not isinstance(vantages, list):
        raise _RequestError("'vantages' must be a list")
    for i, v in enumerate(vantages):
        where = f"vantages[{i}]"
        if not isinstance(v, dict):
            raise _RequestError(f"{where} must be an object")
        if not isinstance(v.get("id"), str):
            raise _RequestError(f"{where}.id must be a string")
        netns = v.get("netns")
        if netns is not None and (not isinstance(netns, str) or not netns):
            raise _RequestError(f"{where}.netns must be a path or null")
        if v.get("root") is not None and not isinstance(v.get("root"), str):
            raise _RequestError(f"{where}.root must be a path or null")
        probes = v.get("probes")
        if not isinstance(probes, list):
            raise _RequestError(f"{where}.probes must be a list")
        for j, p in enumerate(probes):
            pwhere = f"{where}.probes[{j}]"
            if not isinstance(p, dict):
                raise _RequestError(f"{pwhere} must be an object")
            if not isinstance(p.get("id"), str):
                raise _RequestError(f"{pwhere}.id must be a string")
            if not isinstance(p.get("kind"), str):
                raise _RequestError(f"{pwhere}.kind must be a string")


def run_request(request: dict) -> dict:
    """Run every vantage's probes (vantages in parallel threads); the response dict.

    A malformed request gives ``{"agent": ..., "error": "...", "vantages": []}``.
    """
    try:
        _validate(request)
    except _RequestError as e:
        return {"agent": AGENT, "error": f"malformed request: {e}", "vantages": []}
    vantages = request["vantages"]
    limit = fd_budget(len(vantages), sum(len(v["probes"]) for v in vantages))
    out: list = [None] * len(vantages)
    threads = [
        threading.Thread(
            target=_vantage_thread,
            args=(v, limit, out, i),
            name=f"looplab-vantage-{i}",
            daemon=True,
        )
        for i, v in enumerate(vantages)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"agent": AGENT, "vantages": out}


USAGE = """usage: python -I -S AGENT_DIR [--serve] < request.json     (or: python -m orchestrator.probes.agent)
Reads one probe request (JSON) on stdin, writes one JSON response on stdout.
With --serve: one request per line on stdin, one response per line on stdout, until stdin ends.
Exit 0; 2 when the request is malformed (the response then has "error")."""


def answer_raw(raw: bytes) -> dict:
    """The response to one request as read (bytes of JSON)."""
    try:
        request = json.loads(raw)
    except ValueError as e:
        return {"agent": AGENT, "error": f"malformed request: not JSON: {e}", "vantages": []}
    return run_request(request)


def serve(stdin, stdout) -> int:
    """Answer requests, one JSON object per line, until stdin ends: a launcher's long-lived agent
    (one interpreter per helper for the whole run instead of one per batch)."""
    for line in stdin:
        if line.strip():
            stdout.write(json.dumps(answer_raw(line)).encode() + b"\n")
            stdout.flush()
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if argv == ["--serve"]:
        return serve(sys.stdin.buffer, sys.stdout.buffer)
    elif argv:
        print(
            f"agent: unexpected arguments {' '.join(argv)!r} (one request is read from stdin; --serve reads many)",
            file=sys.stderr,
        )
        return 2
    else:
        raw = sys.stdin.buffer.read()
    response = answer_raw(raw)
    sys.stdout.write(json.dumps(response) + "\n")
    sys.stdout.flush()
    return 2 if response.get("error") else 0
