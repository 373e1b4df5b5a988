"""Check a lab from Python and act on the result (the same job as `looplab check`).

python examples/python_api.py compose/seed-62893.yml
"""

from __future__ import annotations

import sys

from orchestrator.report import render
from orchestrator.session import RunOptions, check


def main(path: str) -> int:
    report = check(path, RunOptions(progress=lambda msg: print(f"... {msg}", file=sys.stderr)))
    for cell in report.cells:
        if not cell.passed:
            print(f"{cell.vantage} -> {cell.target}: {cell.state}, expected {cell.expected}")
            print(f"  {cell.diagnosis}")
    print(render(report, "markdown", color=False))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "compose/seed-62893.yml"))
