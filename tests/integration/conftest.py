"""Integration tests: the real `looplab` CLI, as a subprocess, against the real Docker engine.

Every test in this folder is marked ``integration``. If the engine cannot be reached the
tests are skipped with the reason, unless ``CI`` or ``LOOPLAB_REQUIRE_ENGINE`` is set: then
every one of them fails, loudly. Nothing is ever pulled (``LOOPLAB_PULL=never``); the only
image, ``looplab/toolbox``, is built once per session by ``looplab toolbox build``.

Leaks. After every test, an autouse fixture lists the containers and networks labelled
``org.looplab.managed`` and fails the test if any remain (printing them), then removes
them so that one leak does not cascade into the next test. Which ones count depends on
whether the engine is ours alone:

- exclusive (``CI``, ``LOOPLAB_REQUIRE_ENGINE`` or ``LOOPLAB_TEST_EXCLUSIVE_ENGINE`` set):
  every managed resource counts, and the session starts with ``looplab gc --all``;
- shared (a developer machine where colleagues may run labs or benchmarks on the same
  engine at the same time): only resources whose ``org.looplab.owner-pid`` is a process
  this session started (each CLI run, and pytest itself for containers a test makes with
  the SDK) on this host; the session starts with ``looplab gc``, which removes what dead
  runs left and spares live runs and labs kept by ``looplab up`` — never a colleague's.

Network safety: the labs' probes stay on loopback and lab-owned addresses; the one
container a test makes directly (test_toolbox) has no network at all.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from looplab_it import (
    ENGINE_REQUIRED,
    EXCLUSIVE_ENGINE,
    HERE,
    MANAGED,
    Looplab,
    describe,
    engine_address,
    engine_problem,
    gc_finished,
    is_ours,
    managed,
    neighbour_is_ours,
    neighbours,
    remove_all,
    remove_neighbour,
)

# No pulls, ever, in tests: every CLI run inherits this. testcontainers' reaper (Ryuk) is an
# image it would pull: off, and the tests' `with` blocks remove their containers themselves.
os.environ["LOOPLAB_PULL"] = "never"
os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs the Docker engine (required in CI)")


def _in_this_folder(item: pytest.Item) -> bool:
    try:
        Path(str(item.path)).resolve().relative_to(HERE)
    except ValueError:
        return False
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if _in_this_folder(item)]
    if not ours:
        return
    for item in ours:
        item.add_marker(pytest.mark.integration)
    problem = engine_problem()
    if problem is not None and not ENGINE_REQUIRED:
        skip = pytest.mark.skip(
            reason=f"the Docker engine at {engine_address()} is unreachable ({problem}); "
            f"set CI or LOOPLAB_REQUIRE_ENGINE to make this a failure"
        )
        for item in ours:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def engine():
    """A docker SDK client. Fails every test, loudly, when the engine is required but missing."""
    problem = engine_problem()
    if problem is not None:
        pytest.fail(
            f"the Docker engine at {engine_address()} is unreachable ({problem}), and "
            f"CI/LOOPLAB_REQUIRE_ENGINE says the integration tests need it",
            pytrace=False,
        )
    import docker

    client = docker.from_env(timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="session")
def spawned_pids() -> set[int]:
    """Pids whose resources this session answers for: its CLI runs, and pytest itself."""
    return {os.getpid()}


@pytest.fixture
def looplab(spawned_pids: set[int]):
    """Run the CLI as a subprocess; any run still alive at the end is stopped (SIGTERM, then KILL)."""
    runner = Looplab(spawned_pids)
    yield runner
    runner.close()


@pytest.fixture(scope="session", autouse=True)
def _session_engine_ready(engine, spawned_pids: set[int]) -> set[str]:
    """Remove leftovers of earlier aborted runs, then build the toolbox once.

    Returns the ids of managed resources that even `gc` could not remove: networks the
    engine keeps for stale endpoints (moby#42119, cleared only by a daemon restart). They
    predate this session, so the leak check leaves them out; gc said so as a warning.
    """
    runner = Looplab(spawned_pids)
    try:
        gc_args = ("gc", "--all") if EXCLUSIVE_ENGINE else ("gc",)
        done = runner.run(*gc_args)
        # exit 2 only for networks the engine keeps with a stale endpoint count (moby#42119):
        # gc names each, and only a daemon restart removes them
        assert gc_finished(done.returncode, done.stderr), done.describe()
        assert "Traceback" not in done.stderr, done.describe()
        built = runner.run("toolbox", "build")
        assert built.returncode == 0, built.describe()
    finally:
        runner.close()
    if not EXCLUSIVE_ENGINE:
        return set()
    containers, networks = managed(engine)
    assert not containers, f"gc --all left containers: {[describe(c) for c in containers]}"
    for net in networks:
        print(f"engine zombie left out of the leak check: {describe(net)}")
    return {n.id for n in networks}


@pytest.fixture(autouse=True)
def no_leaks(engine, spawned_pids: set[int], _session_engine_ready: set[str]):
    """After every test: no container or network labelled org.looplab.managed remains, and no LAN
    neighbour's namespace (named, not labelled: looplab_it.neighbours)."""
    yield
    containers, networks = managed(engine)
    leaked_c = [c for c in containers if is_ours(c, spawned_pids)]
    leaked_n = [n for n in networks if is_ours(n, spawned_pids) and n.id not in _session_engine_ready]
    leaked_ns = [n for n in neighbours() if neighbour_is_ours(n, spawned_pids)]
    if not (leaked_c or leaked_n or leaked_ns):
        return
    listing = "\n".join([*(f"  {describe(r)}" for r in [*leaked_c, *leaked_n]), *(f"  netns {n}" for n in leaked_ns)])
    print(f"LEAKED after the test:\n{listing}")
    remove_all(engine, leaked_c, leaked_n)
    for name in leaked_ns:
        remove_neighbour(name)
    pytest.fail(
        f"{len(leaked_c)} container(s), {len(leaked_n)} network(s) labelled {MANAGED} and "
        f"{len(leaked_ns)} LAN neighbour namespace(s) remain after the test:\n{listing}",
        pytrace=False,
    )
