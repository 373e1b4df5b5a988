"""looplab's pytest plugin (entry point `pytest11`): a `looplab` marker, a `lab` fixture and a
`looplab_lab` factory.

    @pytest.mark.looplab("compose/seed-62893.yml")
    def test_app_is_private(lab):
        assert lab.probe("peer", "app:62893").state == "closed"
        lab.assert_matrix()

Importing this module stays cheap (pytest and the standard library only): looplab's engine
code, and with it the Docker SDK, is imported when a fixture is first used. Labs are session
scoped per lab file by default (`scope="module"` in the marker, or `--looplab-scope`), named
uniquely per pytest-xdist worker and run, and shared by workers behind a file lock
(`sharing.py`). See README, "pytest", and docs/ARCHITECTURE.md, "In-process labs".
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from .labs import LabRegistry, TestLab

SCOPES = ("session", "module")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("looplab", "looplab labs")
    group.addoption(
        "--looplab-launcher",
        default=None,
        help="how probes enter namespaces: auto (default), setns, agent, join, local",
    )
    group.addoption(
        "--looplab-scope",
        default=None,
        choices=SCOPES,
        help="how long a marked lab lives by default: session (default) or module",
    )
    parser.addini("looplab_scope", "default scope of a marked lab: session or module", default="session")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "looplab(path, scope='session'|'module', launcher='auto'): the lab file the `lab` fixture starts",
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker that finishes last removes the labs the workers shared; the controller
    removes any a crashed worker left (nothing is imported unless a lab was shared)."""
    from_env = os.environ.get("PYTEST_XDIST_WORKER")
    shared_root = getattr(session.config, "_looplab_shared_root", None)
    if shared_root is None and from_env is None and not _is_xdist_controller(session.config):
        return
    if not hasattr(session.config, "_tmp_path_factory"):  # -p no:tmpdir: no shared folder, so no shared lab
        return
    from .sharing import finish_session

    finish_session(session.config, worker=from_env)


def _usage(message: str) -> NoReturn:
    pytest.fail(message, pytrace=False)


def _is_xdist_controller(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


@pytest.fixture(scope="session")
def _looplab_session_labs(request: pytest.FixtureRequest) -> Iterator[LabRegistry]:
    from .labs import LabRegistry

    registry = LabRegistry(request.config, "session")
    yield registry
    registry.close()


@pytest.fixture(scope="module")
def _looplab_module_labs(request: pytest.FixtureRequest) -> Iterator[LabRegistry]:
    from .labs import LabRegistry

    registry = LabRegistry(request.config, "module")
    yield registry
    registry.close()


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> TestLab:
    """The running lab of the test's `looplab` marker (started on first use, kept for its scope)."""
    from .labs import TestLab, marker_options

    marker = request.node.get_closest_marker("looplab")
    if marker is None:
        _usage(f"{request.node.nodeid}: the `lab` fixture needs @pytest.mark.looplab('path/to/lab.yml')")
    path, options = marker_options(marker, request)
    scope = (
        options.pop("scope", None)
        or request.config.getoption("looplab_scope")
        or request.config.getini("looplab_scope")
    )
    if scope not in SCOPES:
        _usage(f"{request.node.nodeid}: looplab scope {scope!r}: choose session or module")
    registry = request.getfixturevalue(f"_looplab_{scope}_labs")
    return TestLab(registry.get(path, **options), request)


@pytest.fixture
def looplab_lab(request: pytest.FixtureRequest) -> Iterator[Callable[..., TestLab]]:
    """A factory: `looplab_lab(path, launcher="auto", name=None)` starts a lab for this test alone
    (removed when the test ends, whatever its outcome)."""
    from .labs import LabRegistry, TestLab, resolve_path

    registry = LabRegistry(request.config, "function")

    def make(path: str, **options: Any) -> TestLab:
        return TestLab(registry.get(resolve_path(path, request), **options), request)

    yield make
    registry.close()
