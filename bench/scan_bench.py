"""Scan benchmark: a full TCP connect scan (ports 1-65535) of one container's 127.0.0.1.

    python bench/scan_bench.py [--reps 3] [--json]

Starts a one-service lab (`s00` listening on 0.0.0.0:41000, 127.0.0.1:41001, 0.0.0.0:41002:
inside the ephemeral port range on purpose, where TCP self-connects happen) with
`orchestrator.session.up`, then, from inside s00's network namespace, times:

- looplab: the agent call `looplab scan --from s00 127.0.0.1` makes (the setns launcher:
  agent process start, setns, the scan, JSON back), and the scan's own `seconds`;
- `nmap -sT -n -Pn -p1-65535 127.0.0.1` (connect scan, the same question) and
  `nmap -sS ...` (SYN scan: raw packets, no full handshake), each run with
  `nsenter --net=/proc/PID/ns/net`. `-n` is not optional: nmap must not ask a DNS server.

Median of --reps runs each, ratios nmap / looplab, and whether every run found the same
open ports. If nmap is not installed it says so (`apt-get install -y nmap`) and reports
looplab alone. Every address scanned is the container's own loopback. The lab is always
torn down; leftovers are checked at the end.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

from orchestrator.probes.launchers import Batch, SetnsLauncher
from orchestrator.probes.protocol import ProbeSpec
from orchestrator.session import RunOptions, up

BASE_PORT = 41000
SERVICE = "s00"
ADDRESS = "127.0.0.1"  # the container's own loopback: nothing else is ever scanned
PORTS = "1-65535"
NMAP_FLAGS = {"nmap -sT": ["-sT"], "nmap -sS": ["-sS"]}


def looplab_once(started, timeout: float) -> tuple[float, dict]:
    """One agent call, exactly as `ondemand.scan` makes it (minus attach and inventory)."""
    state = started.state
    spec = ProbeSpec("scan", "scan", address=ADDRESS, ports=((1, 65535),), timeout=timeout)
    batch = Batch(SERVICE, state.netns(SERVICE), [spec])
    launcher = SetnsLauncher()
    t0 = time.perf_counter()
    outcome = launcher.run([batch], deadline_s=600)[SERVICE]
    dt = time.perf_counter() - t0
    if outcome.error or not outcome.results[0].ok:
        raise RuntimeError(f"looplab scan failed: {outcome.error or outcome.results[0]}")
    return dt, dict(outcome.results[0].extra)


def nmap_once(pid: int, flags: list[str]) -> tuple[float, list[int]]:
    argv = ["nsenter", f"--net=/proc/{pid}/ns/net", "nmap", *flags, "-n", "-Pn", f"-p{PORTS}", "-oG", "-", ADDRESS]
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    dt = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[:300]}")
    ports: list[int] = []
    for line in done.stdout.splitlines():
        if "Ports:" not in line:
            continue
        for entry in line.split("Ports:", 1)[1].split("\t")[0].split(","):
            fields = entry.strip().split("/")
            if len(fields) > 1 and fields[1] == "open":
                ports.append(int(fields[0]))
    return dt, sorted(ports)


def run(args: argparse.Namespace) -> dict:
    env = C.environment()
    tag = secrets.token_hex(3)
    result: dict = {"benchmark": "scan", "env": env, "reps": args.reps, "address": ADDRESS, "ports": PORTS}
    nmap = shutil.which("nmap")
    result["nmap"] = nmap
    from orchestrator.runtime.docker.engine import connect

    client = connect()
    with tempfile.TemporaryDirectory(prefix="looplab-bench-") as tmp:
        lab_file = C.write_lab(Path(tmp), f"benchscan{tag}", 1, base_port=BASE_PORT)
        result["listening"] = lab_file.listeners[SERVICE]
        started = None
        try:
            with C.sigterm_as_interrupt():
                C.ensure_toolbox_elsewhere()
                started = up(str(lab_file.path), RunOptions())
                timeout = started.lab.probe.timeout_s
                pid = started.state.members[SERVICE].pid
                runs: dict[str, list[float]] = {"looplab": []}
                inner: list[float] = []
                found: dict[str, set[tuple[int, ...]]] = {"looplab": set()}
                extra: dict[str, int] = {"self_connects": 0}
                tools = list(NMAP_FLAGS) if nmap else []
                for name in tools:
                    runs[name], found[name] = [], set()
                for _ in range(args.reps):  # interleaved, so load drifts hit every tool alike
                    dt, r = looplab_once(started, timeout)
                    runs["looplab"].append(dt)
                    inner.append(r["seconds"])
                    found["looplab"].add(tuple(r["open"]))
                    extra["self_connects"] += r["self_connects"]
                    extra["concurrency"] = r["concurrency"]
                    for name in tools:
                        dt, ports = nmap_once(pid, NMAP_FLAGS[name])
                        runs[name].append(dt)
                        found[name].add(tuple(ports))
                result["seconds"] = {k: C.summary(v) for k, v in runs.items()}
                result["looplab_scan_only"] = C.summary(inner)
                result["looplab_extra"] = extra
                result["open_ports"] = {k: [list(p) for p in sorted(v)] for k, v in found.items()}
                result["agree"] = len({p for v in found.values() for p in v}) == 1
                base = statistics.median(runs["looplab"])
                result["ratio_over_looplab"] = {
                    k: statistics.median(v) / base for k, v in runs.items() if k != "looplab"
                }
        finally:
            if started is not None:
                started.handle.teardown()
            result["leftovers"] = C.remove_leftovers(
                client, lab_names=[lab_file.name], name_prefixes=[f"looplab-{lab_file.name}-"]
            )
    result["env"]["loadavg_end"] = C.loadavg()
    return result


def markdown(result: dict) -> str:
    out = [
        f"Full TCP scan of a container's {result['address']} (ports {result['ports']}), from inside its "
        f"namespace; median of {result['reps']} (interleaved runs).",
        "",
    ]
    rows = []
    base = result["seconds"]["looplab"]["median"]
    for name, s in result["seconds"].items():
        ratio = "1.00" if name == "looplab" else f"{s['median'] / base:.2f}"
        what = {
            "looplab": "`looplab scan` agent call (process start + setns + scan + JSON)",
            "nmap -sT": "`nmap -sT -n -Pn` (connect scan)",
            "nmap -sS": "`nmap -sS -n -Pn` (SYN scan, raw packets)",
        }[name]
        rows.append([what, f"{C.fmt_s(s['median'])} s", f"{C.fmt_s(s['min'])}–{C.fmt_s(s['max'])} s", f"{ratio}×"])
    inner = result["looplab_scan_only"]
    rows.append(
        [
            "looplab scan loop alone (the agent's `seconds`)",
            f"{C.fmt_s(inner['median'])} s",
            f"{C.fmt_s(inner['min'])}–{C.fmt_s(inner['max'])} s",
            "—",
        ]
    )
    out.append(C.md_table(["what", "median", "range", "time / looplab"], rows))
    out.append("")
    if not result["nmap"]:
        out.append("- **nmap is not installed** (`apt-get install -y nmap`): only looplab's figure is reported.")
    opens = result["open_ports"]
    listening = ", ".join(f"{a}:{p}" for a, p in result["listening"])
    out.append(
        f"- listening: {listening}; open ports found: "
        + "; ".join(f"{k} {v}" for k, v in opens.items())
        + (" — all runs agree" if result["agree"] else " — **runs DISAGREE**")
    )
    extra = result["looplab_extra"]
    out.append(
        f"- looplab: {extra.get('concurrency')} sockets in flight at most; "
        f"{extra['self_connects']} TCP self-connect(s) discarded over all runs"
    )
    env = result["env"]
    out.append(
        f"- {env['date']}, Docker {env['engine']}, {env['cores']} cores, Python {env['python']}, kernel "
        f"{env['kernel']}; load average {env['loadavg_start']} → {env['loadavg_end']}; leftovers: "
        f"{', '.join(result['leftovers']) or 'none'}"
    )
    return "\n".join(out)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=3, help="runs of each tool (median reported)")
    p.add_argument("--json", action="store_true", help="print the raw result as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not shutil.which("nmap"):
        print("scan_bench: nmap is not installed (apt-get install -y nmap); timing looplab alone", file=sys.stderr)
    result = run(args)
    print(json.dumps(result, indent=2, default=list) if args.json else markdown(result))
    return 1 if result["leftovers"] else 0


if __name__ == "__main__":
    sys.exit(main())
