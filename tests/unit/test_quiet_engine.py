"""The engine-quiet lock: probing shares it, network creation takes it alone (runtime/quiet.py)."""

from __future__ import annotations

import fcntl
import os
import stat

import pytest

from orchestrator.domain import Engine
from orchestrator.runtime import quiet


@pytest.fixture
def engine(tmp_path, monkeypatch) -> Engine:
    monkeypatch.setattr(quiet.tempfile, "gettempdir", lambda: str(tmp_path))
    return Engine(kind="docker", version="20.10.24+dfsg1", address="unix:///var/run/docker.sock")


def _try(engine: Engine, mode: int) -> bool:
    """Whether another open of the lock file gets `mode` at once (flock conflicts across descriptors)."""
    fd = os.open(quiet.lock_path(engine), os.O_RDONLY)
    try:
        return quiet._acquire(fd, mode, 0.0)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("version", "kind", "expected"),
    [("20.10.24+dfsg1", "docker", True), ("27.5.1", "docker", True), ("28.0.0", "docker", False),
     ("29.1.3", "docker", False), ("dev", "docker", True), ("4.3.1", "podman", False)],
)  # fmt: skip
def test_only_engines_that_open_the_window_are_kept_quiet(version, kind, expected):
    assert quiet.needs_quiet(Engine(kind=kind, version=version)) is expected
    assert quiet.needs_quiet(None) is False


def test_probing_shares_and_keeps_network_creation_out(engine):
    with quiet.probing(engine):
        assert _try(engine, fcntl.LOCK_SH)  # another run may probe too
        assert not _try(engine, fcntl.LOCK_EX)  # no run creates a network meanwhile
    assert _try(engine, fcntl.LOCK_EX)


def test_network_creation_keeps_probing_out(engine):
    with quiet.creating_networks(engine):
        assert not _try(engine, fcntl.LOCK_SH)
    assert _try(engine, fcntl.LOCK_SH)


def test_the_lock_file_is_shared_by_every_user_and_per_engine(engine):
    with quiet.probing(engine):
        pass
    path = quiet.lock_path(engine)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666
    other = Engine(kind="docker", version="20.10.24", address="unix:///run/user/1000/docker.sock")
    assert quiet.lock_path(other) != path


def test_a_wait_is_bounded_and_said(engine, monkeypatch):
    monkeypatch.setattr(quiet, "WAIT_S", 0.0)
    said: list[str] = []
    with quiet.creating_networks(engine), quiet.probing(engine, said.append):
        entered = True
    assert entered and len(said) == 1 and "engine-rules-rewritten" in said[0]


def test_an_engine_that_needs_no_quiet_takes_no_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(quiet.tempfile, "gettempdir", lambda: str(tmp_path))
    new = Engine(kind="docker", version="28.1.0", address="unix:///var/run/docker.sock")
    with quiet.creating_networks(new):
        assert not quiet.lock_path(new).exists()
