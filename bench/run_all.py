"""Run every benchmark in one process and print one Markdown table (or JSON with --json).

    python bench/run_all.py [--reps 5] [--json] [--skip matrix|lifecycle]

Each benchmark cleans up after itself; the exit status is 1 if any left something behind.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import lifecycle_bench
import matrix_bench

from orchestrator.errors import Interrupted

TARGETS = {"matrix_subset_s": 0.5, "matrix_ratio": 100.0, "lifecycle_ratio": 0.7}


def summary_rows(results: dict) -> list[list[str]]:
    rows: list[list[str]] = []
    m = results.get("matrix")
    if m:
        for which, title in (("subset", "probe matrix, no cell filtered"), ("full", "probe matrix, whole")):
            r = m["looplab"][which]
            med = r["seconds"]["median"]
            nv = m.get("naive")
            naive_s = (nv["full_s"] if which == "full" else nv["subset_s"]) if nv else None
            extrapolated = " (extrapolated)" if nv and nv["mode"] == "sample" else ""
            target = []
            if which == "subset":
                target.append(
                    f"< {TARGETS['matrix_subset_s']} s: {'met' if med < TARGETS['matrix_subset_s'] else 'MISSED'}"
                )
            if naive_s:
                ratio = naive_s / med
                target.append(
                    f"≥ {TARGETS['matrix_ratio']:.0f}×: {'met' if ratio >= TARGETS['matrix_ratio'] else 'MISSED'}"
                )
            rows.append(
                [
                    title,
                    f"{r['cells']} cells",
                    f"{C.fmt_s(med)} s ({r['cells_per_s']:.0f} cells/s)",
                    f"naive docker exec: {C.fmt_s(naive_s)} s{extrapolated}" if naive_s else "—",
                    f"{naive_s / med:.0f}× faster" if naive_s else "—",
                    "; ".join(target) or "—",
                ]
            )
    lc = results.get("lifecycle")
    if lc:
        for key, title in (("total", "lab up + ready + down"), ("up", "lab up to ready"), ("down", "lab down")):
            ratio = lc["ratio_looplab_over_compose"][key]
            target = (
                f"≤ {TARGETS['lifecycle_ratio']}: {'met' if ratio <= TARGETS['lifecycle_ratio'] else 'MISSED'}"
                if key == "total"
                else "—"
            )
            rows.append(
                [
                    title,
                    f"{lc['lab']['services']} services",
                    f"{C.fmt_s(lc['looplab'][key]['median'])} s",
                    f"docker-compose: {C.fmt_s(lc['compose'][key]['median'])} s",
                    f"{ratio:.2f} of compose",
                    target,
                ]
            )
        if "floor" in lc:
            r = lc["ratio_floor_over_compose"]["total"]
            rows.append(
                [
                    "engine floor (bare SDK), up + ready + down",
                    f"{lc['lab']['services']} services",
                    f"{C.fmt_s(lc['floor']['total']['median'])} s",
                    f"docker-compose: {C.fmt_s(lc['compose']['total']['median'])} s",
                    f"{r:.2f} of compose",
                    "lower bound for any tool",
                ]
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--skip", action="append", default=[], choices=["matrix", "lifecycle"])
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.add_argument("--json-out", metavar="FILE", help="also write the JSON results to FILE")
    args = p.parse_args(argv)
    results: dict = {"env": C.environment()}
    try:
        if "matrix" not in args.skip:
            results["matrix"] = matrix_bench.run(matrix_bench.parser().parse_args(["--reps", str(args.reps)]))
        if "lifecycle" not in args.skip:
            results["lifecycle"] = lifecycle_bench.run(lifecycle_bench.parser().parse_args(["--reps", str(args.reps)]))
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"interrupted ({exc}); what the benchmarks made has been removed", file=sys.stderr)
        return 130
    leftovers = [x for k in ("matrix", "lifecycle") for x in results.get(k, {}).get("leftovers", [])]
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2, default=str) + "\n")
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        env = results["env"]
        print(
            f"## looplab benchmarks — {env['date']}, Docker {env['engine']}, docker-compose {env['compose']}, "
            f"{env['cores']} cores, Python {env['python']}, load average at start {env['loadavg_start']}\n"
        )
        print(
            C.md_table(
                ["benchmark", "size", "looplab (median)", "baseline (median)", "ratio", "target"], summary_rows(results)
            )
        )
        for key, mod in (("matrix", matrix_bench), ("lifecycle", lifecycle_bench)):
            if key in results:
                print()
                print(mod.render(results[key]))
        print(f"\nleftovers: {', '.join(leftovers) or 'none'}")
    return 1 if leftovers else 0


if __name__ == "__main__":
    sys.exit(main())
