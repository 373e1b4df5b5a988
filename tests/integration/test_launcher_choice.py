"""`auto` picks the launcher that really enters the lab's namespaces, and every report says which.

LOOPLAB_EXPECT_LAUNCHER names the launcher this configuration must get (setns as root next
to the engine; agent for a docker-group user; join on a rootless engine; see
test_engine_configs.py). Forcing a launcher that cannot enter fails in one line, exit 2.
"""

from __future__ import annotations

import json
import os

from looplab_it import HERE

EXPECTED = os.environ.get("LOOPLAB_EXPECT_LAUNCHER", "setns")
SEED = HERE.parents[1] / "compose" / "seed-62893.yml"


def test_auto_picks_the_expected_launcher_and_reports_it(looplab):
    done = looplab.run("check", str(SEED), "--format", "json")
    assert done.returncode == 0, done.describe()
    report = json.loads(done.stdout)
    assert report["launcher"].startswith(f"{EXPECTED}: entered "), report["launcher"]
    engine = report["engine"]
    assert engine["kind"] == "docker" and engine["api_version"] and engine["cgroup_version"]
    assert engine["rootless"] is (EXPECTED == "join")
    assert engine["local"] is True


def test_every_launcher_gives_the_same_cells_or_says_why_not(looplab):
    states = {}
    for launcher in ("setns", "agent", "join"):
        done = looplab.run("check", str(SEED), "--format", "json", "--launcher", launcher)
        if done.returncode == 2:  # this configuration cannot use it: one line that says why
            assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.describe()
            assert launcher != EXPECTED, done.describe()
            continue
        assert done.returncode == 0, done.describe()
        states[launcher] = sorted(
            (c["from"], c["to"], c["proto"], c["state"]) for c in json.loads(done.stdout)["cells"]
        )
    assert EXPECTED in states
    assert all(cells == states[EXPECTED] for cells in states.values()), states.keys()
