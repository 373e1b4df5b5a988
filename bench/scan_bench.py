"""Scan benchmark: `looplab scan` as a process against `nmap` as a process, same namespace (issue 12).

    python bench/scan_bench.py [--reps 3] [--json]

Starts a one-service lab with `looplab up` (`s00` listening on 0.0.0.0:41000, 127.0.0.1:41001,
0.0.0.0:41002: inside the ephemeral port range on purpose, where TCP self-connects happen),
then per repetition, in rotated order after one discarded warm-up round, times each of these
from spawn to exit — a full TCP scan (ports 1-65535) of s00's own 127.0.0.1, from inside s00's
network namespace:

- looplab: `looplab scan --lab NAME --from s00 127.0.0.1 --format json` (interpreter start,
  attach to the running lab, the scan, JSON out);
- nmap -sT: `nsenter --net=/proc/PID/ns/net nmap -sT -n -Pn -p1-65535 -oG - 127.0.0.1` (connect
  scan: the same question; `-n` is not optional: nmap must not ask a DNS server);
- nmap -sS: the same with a SYN scan (raw packets, no full handshake), secondary;
- in-process (secondary): `orchestrator.ondemand.scan(...)`, the call the CLI makes, timed in
  this process: no interpreter start or imports, a warm process.

Medians with min-max, ratios against the looplab process, and whether every run found the same
open ports. nmap missing: said so (`apt-get install -y nmap`), looplab alone is timed. Every
address scanned is the container's own loopback. The lab is removed by `looplab down NAME` (its
name is unique to this run) also on Ctrl-C/SIGTERM; leftovers are checked at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

from orchestrator import ondemand
from orchestrator.runtime.docker.engine import connect

BASE_PORT = 41000
SERVICE = "s00"
ADDRESS = "127.0.0.1"  # the container's own loopback: nothing else is ever scanned
PORTS = "1-65535"
WAYS = ("looplab", "nmap -sT", "nmap -sS", "in-process")
LABELS = {
    "looplab": "`looplab scan --from s00 127.0.0.1` (process)",
    "nmap -sT": "`nsenter --net=… nmap -sT -n -Pn -p1-65535` (process)",
    "nmap -sS": "`nsenter --net=… nmap -sS -n -Pn -p1-65535` (process, SYN scan)",
    "in-process": "`ondemand.scan` in a warm process (secondary: no interpreter start)",
}


def looplab_argv() -> list[str]:
    script = Path(sys.executable).with_name("looplab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "orchestrator"]


def parse_grepable(text: str) -> list[int]:
    ports: list[int] = []
    for line in text.splitlines():
        if "Ports:" not in line:
            continue
        for entry in line.split("Ports:", 1)[1].split("\t")[0].split(","):
            fields = entry.strip().split("/")
            if len(fields) > 1 and fields[1] == "open":
                ports.append(int(fields[0]))
    return sorted(ports)


def once(way: str, lab: str, pid: int, env: dict[str, str]) -> tuple[float, list[int], dict]:
    """(seconds, open ports, extra) for one scan."""
    if way == "in-process":
        t0 = time.perf_counter()
        answer = ondemand.scan(lab, SERVICE, ADDRESS, None, "auto")
        dt = time.perf_counter() - t0
        doc = answer.to_json()
        return dt, sorted(doc["open"]), {k: doc.get(k) for k in ("seconds", "self_connects", "concurrency")}
    if way == "looplab":
        argv = [*looplab_argv(), "scan", "--lab", lab, "--from", SERVICE, ADDRESS, "--format", "json"]
    else:
        flag = way.split()[1]
        argv = ["nsenter", f"--net=/proc/{pid}/ns/net", "nmap", flag, "-n", "-Pn", f"-p{PORTS}", "-oG", "-", ADDRESS]
    done = C.run_process(argv, env=env, timeout=600)
    if done.code:
        raise RuntimeError(f"{' '.join(argv)} exited {done.code}: {done.stderr.strip()[-300:]}")
    if way == "looplab":
        doc = json.loads(done.stdout)
        return done.seconds, sorted(doc["open"]), {k: doc.get(k) for k in ("seconds", "self_connects", "concurrency")}
    return done.seconds, parse_grepable(done.stdout), {}


def member_pid(client, lab: str) -> int:
    found = client.api.containers(filters={"label": ["org.looplab.lab=" + lab, "org.looplab.member=" + SERVICE]})
    if len(found) != 1:
        raise RuntimeError(f"expected one {SERVICE} container of lab {lab}, found {len(found)}")
    return int(client.api.inspect_container(found[0]["Id"])["State"]["Pid"])


def rotated(ways: list[str], rep: int) -> list[str]:
    k = rep % len(ways)
    return [*ways[k:], *ways[:k]]


def run(args: argparse.Namespace) -> dict:
    env = C.environment()
    result: dict = {"benchmark": "scan", "env": env, "reps": args.reps, "address": ADDRESS, "ports": PORTS}
    result["nmap"] = shutil.which("nmap")
    result["ways"] = LABELS
    ways = [w for w in WAYS if result["nmap"] or not w.startswith("nmap")]
    client = connect()
    child_env = {**os.environ, "LOOPLAB_PULL": "never"}
    with tempfile.TemporaryDirectory(prefix="looplab-bench-") as tmp:
        lab = C.write_lab(Path(tmp), f"benchscan{secrets.token_hex(3)}", 1, base_port=BASE_PORT)
        result["listening"] = lab.listeners[SERVICE]
        is_up = False
        try:
            with C.sigterm_as_interrupt():
                C.ensure_toolbox_elsewhere()
                is_up = True  # from here on `down` runs (a half-started `up` removes itself; down then finds 0)
                up = C.run_process([*looplab_argv(), "up", str(lab.path)], env=child_env, timeout=300)
                if up.code:
                    raise RuntimeError(f"looplab up exited {up.code}: {up.stderr.strip()[-300:]}")
                result["up_s"] = up.seconds
                pid = member_pid(client, lab.name)
                times: dict[str, list[float]] = {w: [] for w in ways}
                found: dict[str, set[tuple[int, ...]]] = {w: set() for w in ways}
                extra: dict[str, list[dict]] = {w: [] for w in ways}
                for rep in range(args.reps + 1):  # rep 0 warms every way (page cache, imports)
                    for way in rotated(ways, rep):
                        dt, ports, more = once(way, lab.name, pid, child_env)
                        found[way].add(tuple(ports))
                        if rep:
                            times[way].append(dt)
                            extra[way].append({**more, "load1": round(os.getloadavg()[0], 2)})
        finally:
            if is_up:
                down = C.run_process([*looplab_argv(), "down", lab.name], env=child_env, timeout=300)
                result["down"] = {"code": down.code, "seconds": down.seconds, "stderr": down.stderr.strip()[-300:]}
            result["leftovers"] = C.remove_leftovers(
                client, lab_names=[lab.name], name_prefixes=[f"looplab-{lab.name}-"]
            )
    env["loadavg_end"] = C.loadavg()
    result["seconds"] = {w: C.summary(v) for w, v in times.items()}
    result["extra"] = extra
    scan_only = [e["seconds"] for w in ("looplab", "in-process") for e in extra[w] if e.get("seconds") is not None]
    result["looplab_scan_loop"] = C.summary(scan_only)
    result["open_ports"] = {w: [list(p) for p in sorted(v)] for w, v in found.items()}
    result["agree"] = len({p for v in found.values() for p in v}) == 1
    base = statistics.median(times["looplab"])
    result["ratio_over_looplab"] = {w: statistics.median(v) / base for w, v in times.items() if w != "looplab"}
    return result


def render(result: dict) -> str:
    s = result["seconds"]
    rows = []
    for way, m in s.items():
        ratio = "1.00×" if way == "looplab" else f"{result['ratio_over_looplab'][way]:.2f}×"
        rows.append([LABELS[way], f"{C.fmt_s(m['median'])} s", f"{C.fmt_s(m['min'])}–{C.fmt_s(m['max'])} s", ratio])
    loop = result["looplab_scan_loop"]
    rows.append(
        [
            "looplab's scan loop alone (the agent's `seconds`, both looplab rows)",
            f"{C.fmt_s(loop['median'])} s",
            f"{C.fmt_s(loop['min'])}–{C.fmt_s(loop['max'])} s",
            "—",
        ]
    )
    n = s["looplab"]["n"]
    out = [
        f"Full TCP scan of a container's {result['address']} (ports {result['ports']}) from inside its namespace; "
        f"median of {n} (min–max), order rotated, one warm-up round discarded.",
        "",
        C.md_table(["what", "median", "range", "time / looplab process"], rows),
        "",
    ]
    if not result["nmap"]:
        out.append("- **nmap is not installed** (`apt-get install -y nmap`): only looplab's figures are reported.")
    listening = ", ".join(f"{a}:{p}" for a, p in result["listening"])
    out.append(
        f"- listening: {listening}; open ports found: "
        + "; ".join(f"{k} {v}" for k, v in result["open_ports"].items())
        + (" — all runs agree" if result["agree"] else " — **runs DISAGREE**")
    )
    selfc = sum(e.get("self_connects") or 0 for w in ("looplab", "in-process") for e in result["extra"][w])
    out.append(
        f"- looplab discarded {selfc} TCP self-connect(s) over its timed runs; `looplab up` took {result['up_s']:.2f} s"
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
    p.add_argument("--reps", type=int, default=3, help="timed runs of each way (after one warm-up round)")
    p.add_argument("--json", action="store_true", help="print the raw result as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    if not shutil.which("nmap"):
        print("scan_bench: nmap is not installed (apt-get install -y nmap); timing looplab alone", file=sys.stderr)
    return C.bench_main(parser(), run, render, argv)


if __name__ == "__main__":
    sys.exit(main())
