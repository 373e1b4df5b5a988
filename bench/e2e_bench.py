"""`looplab check` end to end against the script a skilled user would write (issue 12).

    python bench/e2e_bench.py [--services 12 | --lab FILE] [--reps 5] [--json] [--json-out FILE]

The lab is the skeptic benchmark's (N toolbox services x 3 TCP listeners on `lan`, every 2nd
also on `side`), or a lab file given with --lab (copied under a unique stem, so the lab name and
compose project are this run's own). Untimed: the toolbox image is checked, the lab is started
once with `session.up`, planned with `orchestrator.plan`, torn down; the cells whose vantage is a
service or the host (the script has no observers) are written to a cell file with the address of
each network cell as (service, network), which the script resolves after its own `up`.

Timed, per repetition in rotated order (one discarded warm-up round), each as a whole process
from spawn to exit, its output written to a file:

- looplab: `looplab check LAB --format json > FILE` (starts the lab with its observers and
  `@outside`, waits for every listener, probes and judges every cell, diagnoses failures,
  tears down);
- (b) `python bench/e2e_scripted.py --way b`: `docker-compose up -d`, readiness, one `docker exec`
  per vantage looping over its cells (all vantages at once), JSON results, `docker-compose down
  -t 0`;
- (c) the same with `nsenter -t PID -n python3` per vantage.

Each script's states are compared with looplab's report for the same (from, to, proto).
Exits 1 if a way failed or a cell disagreed with its expectation, or anything was left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import _provenance as P
import baselines as B

from orchestrator.labfile.model import Lab
from orchestrator.plan import PlannedCell, plan
from orchestrator.runtime.state import HOST, LabState
from orchestrator.session import RunOptions, up

BASE_PORT = 26000
NETWORKS = ("lan", "side")
WAYS = ("looplab", "b", "c")
LABELS = {
    "looplab": "`looplab check LAB --format json > FILE`",
    "b": "(b) compose up, readiness, `docker exec` per vantage in parallel, down",
    "c": "(c) compose up, readiness, `nsenter -t PID -n python3` per vantage in parallel, down",
}
SCRIPT = Path(__file__).resolve().parent / "e2e_scripted.py"


def rotated(rep: int) -> list[str]:
    """The ways in repetition `rep`'s order: each goes first in turn."""
    k = rep % len(WAYS)
    return [*WAYS[k:], *WAYS[:k]]


def cell_spec(cells: list[PlannedCell], state: LabState) -> tuple[list[dict], int]:
    """The cells the script can probe (vantage a service or the host), each network address as the
    (service, network) it belongs to; and how many cells only looplab probes (observer vantages)."""
    owner = {a: (m.name, net) for m in state.members.values() if m.role == "service" for net, a in m.addresses.items()}
    out, skipped = [], 0
    for c in cells:
        if c.vantage != HOST and state.members[c.vantage].role != "service":
            skipped += 1
            continue
        service, network = owner.get(c.address, (None, None))
        out.append({
            "vantage": c.vantage, "target": c.target, "proto": c.proto, "port": c.port,
            "address": None if service else c.address, "service": service, "network": network,
            "expected": c.expected, "accepted": sorted(c.accepted),
        })  # fmt: skip
    return out, skipped


def listeners_of(lab: Lab) -> dict[str, list[list]]:
    """service -> [[proto, port], ...] of its declared listeners (http is TCP)."""
    return {s.name: [[lst.proto, lst.port] for lst in s.listeners] for s in lab.services if s.listeners}


def agreement(looplab: dict[tuple[str, str, str], str], script: list[dict]) -> dict:
    """How many of the script's cells saw looplab's state (`reset` counts as `open`: no grace read)."""
    same = 0
    for c in script:
        theirs = looplab.get((c["from"], c["to"], c["proto"]))
        same += c["state"] == ("open" if theirs == "reset" else theirs)
    return {"same": same, "of": len(script)}


def timed_process(argv: list[str], stdout: Path) -> tuple[float, int, str]:
    """Wall time from spawn to exit of `argv` with stdout to a file; (seconds, exit code, stderr)."""
    with stdout.open("wb") as out:
        t0 = time.perf_counter()
        done = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, timeout=600)
        dt = time.perf_counter() - t0
    return dt, done.returncode, done.stderr.decode(errors="replace")


def run(args: argparse.Namespace) -> dict:
    result: dict = {"benchmark": "e2e", "commit": P.commit(), "env": C.environment(), "loadavg_start": P.load()}
    result["toolbox_rebuilt"] = C.ensure_toolbox_elsewhere()
    looplab = str(Path(sys.executable).with_name("looplab"))
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="looplab-bench-") as tmp_s:
        tmp = Path(tmp_s)
        stem = f"benche2e{secrets.token_hex(3)}"
        # One compose project for every run of this script: on this engine `docker-compose down`
        # sometimes leaves a network the engine will not remove (a stale endpoint count,
        # moby#42119); with a fixed project the next `up` reuses it instead of leaking another.
        project = "benche2escript"
        if args.lab:
            path = tmp / f"{stem}.yml"
            shutil.copyfile(args.lab, path)
            result["lab"] = {"file": args.lab}
        else:
            path = C.write_lab(tmp, stem, args.services, base_port=BASE_PORT, networks=NETWORKS).path
            result["lab"] = {"services": args.services, "listeners_per_service": 3, "networks": list(NETWORKS)}
        live = None
        phases: dict[str, list[dict]] = {"b": [], "c": []}
        try:
            with C.sigterm_as_interrupt():
                live = up(str(path), RunOptions(launcher="setns"), observers=True)
                cells = plan(live.lab, live.state)
                spec, only_looplab = cell_spec(cells, live.state)
                listeners = listeners_of(live.lab)
                timeout = live.lab.probe.timeout_s
                live.handle.teardown()
                live = None
                cells_file = tmp / "cells.json"
                cells_file.write_text(
                    json.dumps({"cells": spec, "listeners": listeners, "loop": B.LOOP, "timeout": timeout})
                )
                result["cells"] = {"planned": len(cells), "script": len(spec), "only_looplab": only_looplab}
                result["cells_by_expected"] = dict(Counter(c["expected"] for c in spec))
                argv = {
                    "looplab": [looplab, "check", str(path), "--format", "json"],
                    **{
                        w: [sys.executable, str(SCRIPT), "--way", w, "-p", project, "-f", str(path),
                            "--cells", str(cells_file), "--out", str(tmp / f"{w}.json")]
                        for w in ("b", "c")
                    },
                }  # fmt: skip
                times: dict[str, list[float]] = {w: [] for w in WAYS}
                codes: dict[str, list[int]] = {w: [] for w in WAYS}
                agree: dict[str, list[dict]] = {"b": [], "c": []}
                for rep in range(args.reps + 1):  # rep 0 warms every way (page cache, interpreters)
                    reports: dict[str, dict] = {}
                    for way in rotated(rep):
                        dt, rc, err = timed_process(argv[way], tmp / f"{way}.stdout")
                        if rc != 0:
                            failures.append(f"rep {rep} {way}: exit {rc}: {err.strip()[-300:]}")
                        try:
                            if way == "looplab":
                                reports[way] = json.loads((tmp / "looplab.stdout").read_text())
                            else:
                                reports[way] = {"cells": json.loads((tmp / f"{way}.json").read_text())}
                                if rep:
                                    phases[way].append(json.loads(err.strip().splitlines()[-1])["phases"])
                        except (OSError, ValueError, KeyError, IndexError) as exc:  # no output: no figure
                            raise RuntimeError(
                                f"rep {rep} {way} gave no result ({exc}): {err.strip()[-300:]}"
                            ) from None
                        if rep:
                            times[way].append(dt)
                            codes[way].append(rc)
                    seen = {(c["from"], c["to"], c["proto"]): c["state"] for c in reports["looplab"]["cells"]}
                    for w in ("b", "c"):
                        if rep:
                            agree[w].append(agreement(seen, reports[w]["cells"]))
                    if rep:
                        summary = reports["looplab"]["summary"]
                        result.setdefault("looplab_summary", []).append(summary)
                        result.setdefault("looplab_duration_s", []).append(reports["looplab"]["duration_s"])
                        result["looplab_cells"] = len(reports["looplab"]["cells"])
                        result["looplab_states"] = dict(Counter(c["state"] for c in reports["looplab"]["cells"]))
                result["seconds"] = {w: C.summary(v) for w, v in times.items()}
                result["exit_codes"] = codes
                result["agreement"] = agree
                result["script_phases_median"] = {
                    w: {k: round(sorted(p[k] for p in ph)[len(ph) // 2], 3) for k in ph[0]} for w, ph in phases.items()
                }
        finally:
            if live is not None:
                live.handle.teardown()
            if os.path.exists(path):  # the script's project, if a run was stopped between up and down
                subprocess.run(["docker-compose", "-p", project, "-f", str(path), "down", "-t", "0"],
                               capture_output=True, timeout=120)  # fmt: skip
    import docker

    client = docker.from_env()
    found = C.remove_leftovers(client, lab_names=[stem], projects=[project])
    still = C.leftovers(client, lab_names=[stem], projects=[project])
    result["stale_networks"] = [x for x in still if x.startswith("network ") and not _has_containers(client, x[8:])]
    result["leftovers"] = [x for x in found if x not in result["stale_networks"]]
    result["down_refused"] = {w: sum(1 for p in ph if p.get("down_refused")) for w, ph in phases.items()}
    result["loadavg_end"] = P.load()
    result["failures"] = failures
    return result


def _has_containers(client, network: str) -> bool:
    """Whether the engine lists a container on `network` (a stale one lists none, yet stays)."""
    return bool(client.api.inspect_network(network).get("Containers"))


def render(r: dict) -> str:
    s = r["seconds"]
    base = s["looplab"]["median"]
    rows = []
    for way in WAYS:
        m = s[way]
        ag = r["agreement"].get(way)
        rows.append([
            LABELS[way],
            f"{C.fmt_s(m['median'])} s ({C.fmt_s(m['min'])}-{C.fmt_s(m['max'])})",
            "1.00x" if way == "looplab" else f"{m['median'] / base:.2f}x",
            f"{min(a['same'] for a in ag)}/{ag[0]['of']} (worst rep)" if ag else "-",
        ])  # fmt: skip
    cells = r["cells"]
    head = ["way (whole process)", f"median of {s['looplab']['n']} (min-max)", "its time / looplab's", "same states"]
    notes = [
        f"- cells: looplab {r.get('looplab_cells')} (states {r.get('looplab_states')}); the scripts "
        f"{cells['script']} of them ({cells['only_looplab']} have an observer vantage the scripts do not start)",
        f"- script phases (medians): {r['script_phases_median']}",
        f"- looplab's own duration_s: {r['looplab_duration_s']}",
        f"- exit codes: {r['exit_codes']}; failures: {r['failures'] or 'none'}; leftovers: {r['leftovers'] or 'none'}",
        f"- `down` refused a network (moby#42119) in {r['down_refused']} runs; stale: {r['stale_networks'] or 'none'}",
        f"- commit {r['commit']}; load {r['loadavg_start']} -> {r['loadavg_end']}",
    ]
    return C.md_table(head, rows) + "\n" + "\n".join(notes)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=12)
    p.add_argument("--lab", help="a lab file to use instead of the generated one (e.g. compose/seed-62893.yml)")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--json-out", help="also write the raw JSON result here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = run(args)
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc}); what this benchmark made has been removed", file=sys.stderr)
        return 130
    text = json.dumps(result, indent=2, default=str)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n")
    print(text if args.json else render(result))
    bad_exit = any(rc != 0 for rcs in result["exit_codes"].values() for rc in rcs)
    return 1 if result["leftovers"] or result["failures"] or bad_exit else 0


if __name__ == "__main__":
    sys.exit(main())
