"""The integration suite in the two other configurations users run looplab in:

- a non-root user in the `docker` group on this (rootful) engine: `auto` must pick `agent`;
- a rootless engine started here for that user: `auto` must pick `join`.

This test (as root, like CI) creates the user with tests/engines/setup_user.sh, gives it its
own copy of the checkout and a venv of Debian's python3 (root's interpreter is not
readable by other users), runs the integration suite as that user with
LOOPLAB_EXPECT_LAUNCHER naming the launcher `auto` must choose, and tears everything down:
the rootless engine (teardown_rootless.sh) and the user (teardown_user.sh). The nested
sessions skip this module (they are the configuration), and NESTED_ARGS deselects
test_big_labs.py: its 150-service labs test looplab's own start and teardown, which do not
depend on the launcher, and would triple the suite's most expensive minutes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINES = ROOT / "tests" / "engines"
USER = os.environ.get("LOOPLAB_CI_USER", "looplab-ci")
WORK = Path("/tmp/looplab-engine-configs")
NESTED_ARGS = ["-q", "-p", "no:cacheprovider", "tests/integration", "-k", "not engine_configs and not big_labs"]

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("LOOPLAB_NESTED")), reason="a nested run is itself one of these configurations"
)


def _script(name: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["bash", str(ENGINES / name)], capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stderr[-3000:]}"
    return done.stdout.strip()


def _as_user(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    base = {"HOME": f"/home/{USER}", "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"}
    return subprocess.run(
        ["runuser", "-u", USER, "--", "env", "-i", *[f"{k}={v}" for k, v in {**base, **env}.items()], *argv],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="module")
def ci_user():
    """The user, its copy of the checkout and its venv; all removed afterwards."""
    if os.geteuid() != 0:
        pytest.fail("these configurations are set up by root (as CI runs); run the suite as root", pytrace=False)
    _script("setup_user.sh")
    shutil.rmtree(WORK, ignore_errors=True)
    src = WORK / "src"
    ignore = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache")
    shutil.copytree(ROOT, src, ignore=ignore)
    subprocess.run(["chown", "-R", f"{USER}:", str(WORK)], check=True)
    venv = WORK / "venv"
    for argv in (["/usr/bin/python3", "-m", "venv", str(venv)], [str(venv / "bin/pip"), "install", "-q", ".[test]"]):
        done = _as_user(argv, cwd=src, env={}, timeout=900)
        assert done.returncode == 0, f"{' '.join(argv)} as {USER}:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
    try:
        yield src, venv
    finally:
        _script("teardown_rootless.sh")
        _script("teardown_user.sh")
        shutil.rmtree(WORK, ignore_errors=True)


def _nested(src: Path, venv: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {"CI": "true", "LOOPLAB_SHARED_ENGINE": "1", "LOOPLAB_NESTED": "1", "LOOPLAB_PULL": "never", **env}
    done = _as_user([str(venv / "bin/python"), "-m", "pytest", *NESTED_ARGS], cwd=src, env=env, timeout=2400)
    sys.stdout.write(done.stdout[-4000:])
    return done


@pytest.mark.timeout(2700)
def test_a_docker_group_user_on_the_rootful_engine_gets_the_agent_launcher(ci_user):
    src, venv = ci_user
    done = _nested(src, venv, {"DOCKER_HOST": "unix:///var/run/docker.sock", "LOOPLAB_EXPECT_LAUNCHER": "agent"})
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]


@pytest.mark.timeout(2700)
def test_a_rootless_engine_gets_the_join_launcher(ci_user):
    src, venv = ci_user
    docker_host = _script("setup_rootless.sh").split("=", 1)[1]
    try:
        done = _nested(src, venv, {"DOCKER_HOST": docker_host, "LOOPLAB_EXPECT_LAUNCHER": "join"})
    finally:
        _script("teardown_rootless.sh")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
