"""Connecting to the Docker engine, with failures mapped to one clear line."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import docker
import docker.errors

from ...errors import EngineError
from ..base import EngineInfo


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


CONNECT_TIMEOUT_S = 5.0  # an engine that accepts but never answers fails this fast


def connect(timeout_s: float = 30.0, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> docker.DockerClient:
    """A client that has answered a ping within `connect_timeout_s`, then keeps `timeout_s` for
    long operations; or EngineError naming the address tried."""
    try:
        client = docker.from_env(timeout=connect_timeout_s)
        client.ping()
    except Exception as exc:  # DockerException, and requests/urllib3 errors that escape it on some paths
        raise EngineError(f"cannot reach the Docker engine at {engine_address()}: {reason(exc)}") from exc
    client.api.timeout = timeout_s
    return client


def engine_info(client: docker.DockerClient) -> EngineInfo:
    """What the engine says about itself, plus what can be seen of it from here when it is local."""
    try:
        ver = client.version()
        info = client.info()
    except docker.errors.DockerException as exc:
        raise EngineError(f"the Docker engine at {engine_address()} did not report its version: {reason(exc)}") from exc
    address = engine_address()
    local = address.startswith("unix://") and info.get("Name") == socket.gethostname()
    backend = (info.get("FirewallBackend") or {}).get("Driver", "")  # Docker >= 28 says so itself
    return EngineInfo(
        kind="docker",
        version=str(ver.get("Version", "?")),
        api_version=str(ver.get("ApiVersion", "")),
        os_type=str(info.get("OSType", "")),
        desktop="Docker Desktop" in str(info.get("OperatingSystem", "")),
        rootless=any("name=rootless" in opt for opt in info.get("SecurityOptions") or []),
        userland_proxy=_userland_proxy() if local else None,
        firewall_backend=backend or (_iptables_backend() if local else ""),
        cgroup_version=str(info.get("CgroupVersion", "")),
        local=local,
        address=address,
    )


def _userland_proxy() -> bool:
    """docker-proxy is on unless a local dockerd says `--userland-proxy=false` (flag or daemon.json)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"dockerd") and b"--userland-proxy=false" in argv:
            return False
    try:
        config = json.loads(Path("/etc/docker/daemon.json").read_text())
    except (OSError, ValueError):
        return True
    return config.get("userland-proxy", True) is not False


def _iptables_backend() -> str:
    """`iptables (nf_tables)` or `iptables (legacy)`, from the host's iptables; "" without one."""
    if shutil.which("iptables") is None:
        return ""
    done = subprocess.run(["iptables", "--version"], capture_output=True, text=True, timeout=10, check=False)
    found = re.search(r"\((nf_tables|legacy)\)", done.stdout)
    return f"iptables ({found.group(1)})" if found else "iptables"


def reason(exc: BaseException) -> str:
    """The innermost useful text of a transport error, on one line."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return text[:300]
