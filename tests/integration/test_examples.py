"""The examples a user copies run green: the plugin's pytest file under xdist, the testcontainers one.

Run as a user runs them (`python -m pytest -n 2 examples/...` from the repo root) in a
subprocess with a test-run id of its own, so whatever it left is found by lab name.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

from looplab_it import LAB, REPO, RUN_TIMEOUT, describe, managed


def test_the_pytest_and_testcontainers_examples_pass(engine):
    uid = secrets.token_hex(3)
    env = {**os.environ, "TESTCONTAINERS_RYUK_DISABLED": "true"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--strict-markers",
            "-q",
            "-n",
            "2",
            f"--testrunuid={uid}",
            "examples/test_plugin.py",
            "examples/test_testcontainers.py",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout, done.stdout
    containers, networks = managed(engine)
    left = [describe(r) for r in [*containers, *networks] if uid in r.labels.get(LAB, "")]
    assert left == [], left
