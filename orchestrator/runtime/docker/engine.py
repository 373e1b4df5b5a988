"""Connecting to the Docker engine, with failures mapped to one clear line."""

from __future__ import annotations

import os

import docker
import docker.errors

from ...errors import EngineError
from ..base import EngineInfo


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(timeout_s: float = 30.0) -> docker.DockerClient:
    """A client that has answered a ping, or EngineError naming the address tried."""
    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
    except Exception as exc:  # DockerException, and requests/urllib3 errors that escape it on some paths
        raise EngineError(f"cannot reach the Docker engine at {engine_address()}: {reason(exc)}") from exc
    return client


def engine_info(client: docker.DockerClient) -> EngineInfo:
    try:
        ver = client.version()
    except docker.errors.DockerException as exc:
        raise EngineError(f"the Docker engine at {engine_address()} did not report its version: {reason(exc)}") from exc
    return EngineInfo(kind="docker", version=str(ver.get("Version", "?")), address=engine_address())


def reason(exc: BaseException) -> str:
    """The innermost useful text of a transport error, on one line."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return text[:300]
