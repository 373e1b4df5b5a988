"""Lifecycle benchmark: looplab up-to-ready + down beside docker-compose, same file, same run.

    python bench/lifecycle_bench.py [--services 10] [--reps 5] [--no-plain-down] [--json]

One generated lab (N toolbox services, 3 TCP listeners each, one network, no `name:`):

- looplab: `orchestrator.session.up(path, RunOptions())` (returns once every declared
  listener is seen listening in its namespace), then `started.handle.teardown()`;
- docker-compose 1.29: `docker-compose -p <unique> -f FILE up -d`, then wait until every
  listener is listening, then `docker-compose -p <unique> -f FILE down -t 0`.

Compose's readiness check is the fastest honest one available to a script: the container pids
come from the engine API (one inspect per container, in-process, no CLI start-up) and the
listening sockets are read from the host as /proc/<pid>/net/tcp{,6} (state 0A), polled every
10 ms. No process is started per check. Plain `down` (stop with the default 10 s grace) is
timed once at the end unless --no-plain-down.

A third run, the engine floor (unless --no-floor), does the same lab with the bare Docker SDK:
one network, the containers created and started from 16 threads, the same readiness check,
a parallel force-remove. It is the lower bound for any orchestrator on this engine.

The runs rotate (who goes first changes each repetition) after one discarded warm-up each;
figures are medians of --reps. looplab's stages (preflight, networks, containers,
inspect, readiness, teardown) are timed by wrapping its functions in this process only.
"""

from __future__ import annotations

import argparse
import functools
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import docker

from orchestrator import session
from orchestrator.probes.launchers import setns as setns_launcher
from orchestrator.runtime import docker as docker_runtime
from orchestrator.runtime.docker import lifecycle, removal
from orchestrator.runtime.docker.engine import connect

BASE_PORT = 43000
POLL_S = 0.01
READY_TIMEOUT_S = 60.0


# -- looplab, with its stages timed -------------------------------------------------------------
class StageClock:
    """Records (stage, start, end) for wrapped calls; thread-safe; off unless armed."""

    def __init__(self) -> None:
        self.events: list[tuple[str, float, float]] = []
        self.counts: dict[str, int] = {}
        self.armed = False
        self.rebuilt = False
        self._lock = threading.Lock()

    def wrap(self, owner, attr: str, stage: str) -> None:
        fn = getattr(owner, attr, None)
        if fn is None:
            return  # renamed upstream: that stage is simply not broken out
        clock = self

        @functools.wraps(fn)
        def timed_call(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                if clock.armed:
                    with clock._lock:
                        clock.events.append((stage, t0, time.perf_counter()))
                        clock.counts[stage] = clock.counts.get(stage, 0) + 1

        setattr(owner, attr, timed_call)

    def reset(self) -> None:
        self.events.clear()
        self.counts.clear()
        self.rebuilt = False

    def span(self, stage: str) -> float:
        """Wall time covered by a stage's calls (first start to last end; they may overlap)."""
        ev = [(a, b) for s, a, b in self.events if s == stage]
        return (max(b for _, b in ev) - min(a for a, _ in ev)) if ev else 0.0

    def durations(self, stage: str) -> list[float]:
        return [b - a for s, a, b in self.events if s == stage]

    def per_call(self, stage: str) -> float:
        d = self.durations(stage)
        return statistics.median(d) if d else 0.0

    def _within(self, stage: str, outer: str) -> list[float]:
        lo, hi = self.first(outer), self.last(outer)
        if lo is None or hi is None:
            return []
        return [b - a for s, a, b in self.events if s == stage and lo <= a <= hi]

    def count_within(self, stage: str, outer: str) -> int:
        return len(self._within(stage, outer))

    def sum_within(self, stage: str, outer: str) -> float:
        return sum(self._within(stage, outer))

    def first(self, stage: str) -> float | None:
        ev = [a for s, a, _ in self.events if s == stage]
        return min(ev) if ev else None

    def last(self, stage: str) -> float | None:
        ev = [b for s, _, b in self.events if s == stage]
        return max(ev) if ev else None


def instrument() -> StageClock:
    clock = StageClock()
    for attr, stage in (("load_lab", "load"), ("wait_ready", "readiness")):
        clock.wrap(session, attr, stage)
    for attr, stage in (
        ("connect", "connect"),
        ("engine_info", "engine_info"),
        ("check_images", "check_images"),
        ("check_host_ports", "check_ports"),
    ):
        clock.wrap(docker_runtime, attr, stage)
    original_ensure = docker_runtime.ensure_toolbox

    def ensure(*a, **kw):
        t0 = time.perf_counter()
        out = original_ensure(*a, **kw)
        if clock.armed:
            clock.events.append(("toolbox", t0, time.perf_counter()))
            clock.rebuilt = clock.rebuilt or bool(getattr(out, "built", False))
        return out

    docker_runtime.ensure_toolbox = ensure
    runner = lifecycle.LabRunner
    for attr, stage in (
        ("start", "start"),
        ("_create_network", "network"),
        ("_start_service", "container"),
        ("_start_observer", "container"),
        ("refresh", "inspect"),
    ):
        clock.wrap(runner, attr, stage)
    clock.wrap(removal, "_remove_container", "rm_container")
    clock.wrap(removal, "_remove_network", "rm_network")
    clock.wrap(setns_launcher.SetnsLauncher, "run", "agent_run")
    api = docker.APIClient
    for attr, stage in (
        ("create_container", "api_create"),
        ("start", "api_start"),
        ("inspect_container", "api_inspect"),
        ("remove_container", "api_remove"),
    ):
        clock.wrap(api, attr, stage)
    return clock


def looplab_once(path: Path, clock: StageClock) -> dict:
    clock.reset()
    clock.armed = True
    started = None
    try:
        t0 = time.perf_counter()
        started = session.up(str(path), session.RunOptions())
        t1 = time.perf_counter()
    finally:
        if started is not None:
            td0 = time.perf_counter()
            started.handle.teardown()
            t2 = time.perf_counter()
        clock.armed = False
    # containers phase: from the first container create to the last start (all levels)
    stages = {
        "preflight": (clock.first("start") or t0) - t0,  # load, connect, toolbox check, images, ports
        "toolbox_check": clock.span("toolbox"),
        "networks": clock.span("network"),
        "containers": clock.span("container"),
        "inspect": clock.span("inspect"),
        "readiness": clock.span("readiness"),
        "readiness_agent_runs": clock.counts.get("agent_run", 0),
        "readiness_agent_s": sum(clock.durations("agent_run")),
        "readiness_first_poll": clock.first("agent_run") - (clock.first("readiness") or 0.0)
        if clock.first("agent_run")
        else 0.0,
        "readiness_inspects": clock.count_within("api_inspect", "readiness"),
        "readiness_inspect_s": clock.sum_within("api_inspect", "readiness"),
        "api_create_per_call": clock.per_call("api_create"),
        "api_start_per_call": clock.per_call("api_start"),
        "api_remove_per_call": clock.per_call("api_remove"),
        "teardown_list": ((clock.first("rm_container") or t2) - td0),
        "teardown_containers": clock.span("rm_container"),
        "teardown_networks": clock.span("rm_network"),
    }
    containers = len(started.state.members) if started is not None else 0
    networks = len(started.state.networks) if started is not None else 0
    return {
        "up": t1 - t0,
        "down": t2 - t1,
        "total": t2 - t0,
        "stages": stages,
        "rebuilt": clock.rebuilt,
        "containers": containers,
        "networks": networks,
    }


# -- docker-compose, with a /proc readiness check ------------------------------------------------
def _decode(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def listening(pid: int, files: tuple[str, ...] = ("tcp", "tcp6")) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket in pid's network namespace, read from the host.

    Each read walks the kernel's global TCP hash (~5 ms here), so callers read tcp6 only when
    tcp alone does not settle the question.
    """
    found: set[tuple[str, int]] = set()
    for name in files:
        try:
            with open(f"/proc/{pid}/net/{name}") as fh:
                next(fh, None)
                for line in fh:
                    parts = line.split()
                    if len(parts) > 3 and parts[3] == "0A":
                        addr, port = parts[1].rsplit(":", 1)
                        found.add((_decode(addr), int(port, 16)))
        except FileNotFoundError:
            continue
    return found


def compose(project: str, path: Path, *args: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["docker-compose", "-p", project, "-f", str(path), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"docker-compose {' '.join(args)} failed: {proc.stderr.strip()[-400:]}")
    return time.perf_counter() - t0


def compose_wait_ready(
    client,
    project: str,
    lab: C.GeneratedLab,
    *,
    label_key: str = C.COMPOSE_PROJECT_LABEL,
    service_key: str = "com.docker.compose.service",
) -> None:
    label = f"{label_key}={project}"
    pids: dict[str, int] = {}
    deadline = time.monotonic() + READY_TIMEOUT_S
    pending = {svc: set(binds) for svc, binds in lab.listeners.items()}
    while True:
        if len(pids) < len(lab.listeners):
            for c in client.api.containers(filters={"label": label}):
                svc = c["Labels"].get(service_key)
                if svc in pending and svc not in pids:
                    pid = int(client.api.inspect_container(c["Id"])["State"]["Pid"])
                    if pid:
                        pids[svc] = pid
        for svc in list(pending):
            if svc in pids and (pending[svc] <= listening(pids[svc], ("tcp",)) or pending[svc] <= listening(pids[svc])):
                del pending[svc]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"compose lab not listening after {READY_TIMEOUT_S:g}s: {sorted(pending)}")
        time.sleep(POLL_S)


def compose_once(
    client, path: Path, lab: C.GeneratedLab, project: str, projects: list[str], *, plain_down: bool = False
) -> dict:
    projects.append(project)
    try:
        t0 = time.perf_counter()
        up_s = compose(project, path, "up", "-d")
        t1 = time.perf_counter()
        compose_wait_ready(client, project, lab)
        t2 = time.perf_counter()
        down_s = compose(project, path, "down") if plain_down else compose(project, path, "down", "-t", "0")
        t3 = time.perf_counter()
    except BaseException:
        subprocess.run(
            ["docker-compose", "-p", project, "-f", str(path), "down", "-t", "0"],
            capture_output=True,
            timeout=300,
            check=False,
        )
        raise
    return {
        "up": t2 - t0,
        "down": t3 - t2,
        "total": t3 - t0,
        "stages": {"up_d": up_s, "readiness": t2 - t1, "down": down_s},
    }


# -- the engine floor: the bare SDK, everything in parallel ---------------------------------------
FLOOR_LABEL = "org.looplab.bench.floor"
FLOOR_SERVICE = "org.looplab.bench.service"


def floor_once(client, lab: C.GeneratedLab, project: str, projects: list[str]) -> dict:
    """What the engine itself needs for the same lab: 1 network, N containers, all calls parallel.

    No preflight, no observers, no toolbox check: a lower bound for any orchestrator on this
    engine (same readiness check as the compose run)."""
    from concurrent.futures import ThreadPoolExecutor

    api = client.api
    labels = {FLOOR_LABEL: project}
    projects.append(project)
    ids: list[str] = []

    def start(svc: str) -> None:
        binds = lab.listeners[svc]
        cmd = ["serve", *(f"tcp://{a}:{p}" for a, p in binds)]
        cid = api.create_container(
            C.TOOLBOX,
            command=cmd,
            name=f"{project}_{svc}",
            detach=True,
            labels={**labels, FLOOR_SERVICE: svc},
            host_config=api.create_host_config(network_mode=f"{project}_lan"),
            networking_config=api.create_networking_config(
                {f"{project}_lan": api.create_endpoint_config(aliases=[svc])}
            ),
        )["Id"]
        ids.append(cid)
        api.start(cid)

    def remove() -> None:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda c: api.remove_container(c, force=True, v=True), list(ids)))
        api.remove_network(f"{project}_lan")

    try:
        t0 = time.perf_counter()
        api.create_network(f"{project}_lan", driver="bridge", labels=labels)
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(start, lab.listeners))
        t1 = time.perf_counter()
        compose_wait_ready(client, project, lab, label_key=FLOOR_LABEL, service_key=FLOOR_SERVICE)
        t2 = time.perf_counter()
        remove()
        t3 = time.perf_counter()
    except BaseException:
        for c in api.containers(all=True, filters={"label": f"{FLOOR_LABEL}={project}"}):
            api.remove_container(c["Id"], force=True, v=True)
        for n in api.networks(filters={"label": f"{FLOOR_LABEL}={project}"}):
            api.remove_network(n["Id"])
        raise
    return {
        "up": t2 - t0,
        "down": t3 - t2,
        "total": t3 - t0,
        "stages": {"start": t1 - t0, "readiness": t2 - t1, "down": t3 - t2},
    }


# -- the run -----------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict:
    env = C.environment()
    tag = secrets.token_hex(3)
    clock = instrument()
    client = connect()
    projects: list[str] = []
    result: dict = {"benchmark": "lifecycle", "env": env}
    with tempfile.TemporaryDirectory(prefix="looplab-bench-") as tmp:
        lab = C.write_lab(Path(tmp), f"benchlife{tag}", args.services, base_port=BASE_PORT, networks=("lan",))
        result["lab"] = {"name": lab.name, "services": args.services, "listeners_per_service": 3, "networks": ["lan"]}
        tools = ["looplab", "compose"] + ([] if args.no_floor else ["floor"])
        samples: dict[str, list[dict]] = {t: [] for t in tools}
        warmups: dict[str, dict] = {}
        try:
            with C.sigterm_as_interrupt():
                result["lab"]["toolbox_rebuilt_first"] = C.ensure_toolbox_elsewhere()  # outside the timings
                warmups["looplab"] = looplab_once(lab.path, clock)
                warmups["compose"] = compose_once(client, lab.path, lab, f"{lab.name}w", projects)
                rep, extra = 0, 0
                if not args.no_floor:
                    warmups["floor"] = floor_once(client, lab, f"{lab.name}fw", projects)
                while rep < args.reps:
                    order = tools[rep % len(tools) :] + tools[: rep % len(tools)]  # rotate who goes first
                    for tool in order:
                        if tool == "looplab":
                            s = looplab_once(lab.path, clock)
                            if s["rebuilt"] and extra < 3:  # someone changed the toolbox: not a fair sample
                                extra += 1
                                s = looplab_once(lab.path, clock)
                        elif tool == "compose":
                            s = compose_once(client, lab.path, lab, f"{lab.name}c{rep}", projects)
                        else:
                            s = floor_once(client, lab, f"{lab.name}f{rep}", projects)
                        samples[tool].append(s)
                    rep += 1
                if not args.no_plain_down:
                    result["compose_plain_down"] = compose_once(
                        client, lab.path, lab, f"{lab.name}p", projects, plain_down=True
                    )
        finally:
            for p in projects:  # compose_once already downs its project; this is belt and braces
                if C.leftovers(client, projects=[p]):
                    subprocess.run(
                        ["docker-compose", "-p", p, "-f", str(lab.path), "down", "-t", "0"],
                        capture_output=True,
                        timeout=300,
                        check=False,
                    )
            for p in projects:
                for c in client.api.containers(all=True, filters={"label": f"{FLOOR_LABEL}={p}"}):
                    client.api.remove_container(c["Id"], force=True, v=True)
                for n in client.api.networks(filters={"label": f"{FLOOR_LABEL}={p}"}):
                    client.api.remove_network(n["Id"])
            result["leftovers"] = C.remove_leftovers(
                client,
                lab_names=[lab.name],
                projects=projects,
                name_prefixes=[f"looplab-{lab.name}-", *(f"{p}_" for p in projects)],
            )
    result["env"]["loadavg_end"] = C.loadavg()
    out: dict = {}
    for tool, runs in samples.items():
        out[tool] = {k: C.summary([r[k] for r in runs]) for k in ("up", "down", "total")}
        out[tool]["stages"] = {k: statistics.median([r["stages"][k] for r in runs]) for k in runs[0]["stages"]}
    out["looplab"]["containers"] = samples["looplab"][0]["containers"]
    out["looplab"]["networks"] = samples["looplab"][0]["networks"]
    out["looplab"]["rebuilt_samples"] = sum(r["rebuilt"] for r in samples["looplab"])
    out["ratio_looplab_over_compose"] = {
        k: out["looplab"][k]["median"] / out["compose"][k]["median"] for k in ("up", "down", "total")
    }
    if "floor" in out:
        out["ratio_floor_over_compose"] = {
            k: out["floor"][k]["median"] / out["compose"][k]["median"] for k in ("up", "down", "total")
        }
    out["warmup"] = {t: {k: round(w[k], 3) for k in ("up", "down", "total")} for t, w in warmups.items()}
    result.update(out)
    return result


def render(result: dict) -> str:
    ll, cp, ratio = result["looplab"], result["compose"], result["ratio_looplab_over_compose"]
    n = ll["total"]["n"]

    def cell(s: dict) -> str:
        return f"{C.fmt_s(s['median'])} ({C.fmt_s(s['min'])}–{C.fmt_s(s['max'])})"

    fl = result.get("floor")
    rows = [
        [label, cell(ll[k]), cell(cp[k]), f"{ratio[k]:.2f}"]
        + ([cell(fl[k]), f"{result['ratio_floor_over_compose'][k]:.2f}"] if fl else [])
        for k, label in (("up", "up to ready"), ("down", "down"), ("total", "up + ready + down"))
    ]
    lab = result["lab"]
    header = ["phase", "looplab s", "docker-compose s", "looplab / compose"]
    if fl:
        header += ["engine floor s", "floor / compose"]
    out = [
        f"### Lifecycle: {lab['services']} services × 3 listeners, 1 network (median of {n}, s)",
        "",
        C.md_table(header, rows),
        "",
    ]
    st = ll["stages"]
    out.append(
        f"- looplab `up` starts {ll['containers']} containers and {ll['networks']} network(s) (observers and "
        f"the `@outside` network start on first use); compose starts {lab['services']} containers and 1 network."
    )
    out.append(
        f"- looplab stages (medians): preflight {st['preflight']:.2f} (toolbox check {st['toolbox_check']:.2f}), "
        f"networks {st['networks']:.2f}, containers {st['containers']:.2f}, inspect {st['inspect']:.2f}, "
        f"readiness {st['readiness']:.2f} ({st['readiness_agent_runs']:.0f} agent runs taking "
        f"{st['readiness_agent_s']:.2f}, {st['readiness_inspects']:.0f} container inspects taking "
        f"{st['readiness_inspect_s']:.2f}); per call: create {st['api_create_per_call']:.2f}, start "
        f"{st['api_start_per_call']:.2f}, remove {st['api_remove_per_call']:.2f}; teardown: listing "
        f"{st['teardown_list']:.2f}, containers {st['teardown_containers']:.2f}, networks "
        f"{st['teardown_networks']:.2f}."
    )
    cs = cp["stages"]
    out.append(
        f"- compose stages (medians): `up -d` {cs['up_d']:.2f}, readiness {cs['readiness']:.2f} "
        f"(/proc/<pid>/net/tcp from the host, pids via the engine API), `down -t 0` {cs['down']:.2f}."
    )
    if fl:
        fs = fl["stages"]
        out.append(
            f"- engine floor (bare SDK: 1 network, {lab['services']} containers created and started from 16 "
            f"threads, same readiness check, parallel force-remove): start {fs['start']:.2f}, readiness "
            f"{fs['readiness']:.2f}, down {fs['down']:.2f}. No orchestrator on this engine can go below it."
        )
    if "compose_plain_down" in result:
        pd = result["compose_plain_down"]
        out.append(
            f"- compose with plain `down` (10 s stop grace), once: up to ready {pd['up']:.2f}, down {pd['down']:.2f}."
        )
    if ll.get("rebuilt_samples"):
        out.append(f"- {ll['rebuilt_samples']} looplab sample(s) rebuilt the toolbox image mid-run.")
    out.append(
        f"- warm-up (discarded): looplab {result['warmup']['looplab']['total']:.2f}, compose "
        f"{result['warmup']['compose']['total']:.2f}; leftovers: {', '.join(result['leftovers']) or 'none'}; "
        f"load average {result['env']['loadavg_start']} → {result['env']['loadavg_end']}."
    )
    return "\n".join(out)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=10)
    p.add_argument("--reps", type=int, default=5, help="timed repetitions of each tool (after one warm-up each)")
    p.add_argument("--no-plain-down", action="store_true", help="skip the one compose run with plain `down`")
    p.add_argument("--no-floor", action="store_true", help="skip the bare-SDK engine floor")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return p


def main(argv: list[str] | None = None) -> int:
    return C.bench_main(parser(), run, render, argv)


if __name__ == "__main__":
    sys.exit(main())
