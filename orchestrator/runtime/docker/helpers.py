"""Toolbox helper containers that launchers run the agent in, and one agent run inside one.

`agent`: one per run, in the host's PID and network namespaces with the capabilities to
enter the others (setns needs CAP_SYS_ADMIN, reading /proc/PID/ns needs CAP_SYS_PTRACE).
`join`: one per namespace, sharing a member's network and PID namespaces, with no
privilege beyond the capabilities the probes need. Both carry the run's labels (role
`launcher`, never `keep`), so teardown removes them and `gc` finds them after a hard kill.
The request goes in with put_archive and the agent runs with exec, so it works over every
transport the SDK speaks (unix socket, tcp, ssh).
"""

from __future__ import annotations

import io
import itertools
import tarfile

import docker
import docker.errors

from ...errors import EngineError, ProbeError
from .. import labels as L
from ..base import HelperSpec
from .engine import reason

AGENT_ARGV = ["/usr/local/bin/python3", "-I", "/looplab/entry.py", "agent", "--request"]
_requests = itertools.count()


def start_helper(client: docker.DockerClient, image: str, name: str, labels: dict[str, str], spec: HelperSpec) -> str:
    """Create and start a helper; its container id. EngineError names what the engine refused."""
    api = client.api
    if spec.join:  # here: the container id of the member to join
        network_mode, pid_mode = f"container:{spec.join}", f"container:{spec.join}"
    elif spec.host_namespaces:
        network_mode, pid_mode = "host", "host"
    else:
        network_mode, pid_mode = "none", None
    security = ["apparmor=unconfined", "seccomp=unconfined"] if spec.host_namespaces else None
    try:
        host_config = api.create_host_config(
            network_mode=network_mode, pid_mode=pid_mode, cap_add=list(spec.caps) or None, security_opt=security
        )
        cid = api.create_container(
            image=image, command=["idle"], name=name, labels=labels, detach=True, host_config=host_config
        )["Id"]
    except docker.errors.APIError as exc:
        raise EngineError(f"cannot create the launcher's container {name}: {reason(exc)}") from exc
    try:
        api.start(cid)
    except docker.errors.APIError as exc:
        remove_helper(client, cid)
        raise EngineError(f"the engine refused to start {name}: {reason(exc)}") from exc
    return cid


def exec_agent(client: docker.DockerClient, cid: str, request: bytes) -> bytes:
    """Run the agent once inside helper `cid` on `request`; its JSON answer (ProbeError if it failed)."""
    name = f"looplab-request-{next(_requests)}.json"
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(request), 0o600
        tar.addfile(info, io.BytesIO(request))
    api = client.api
    try:
        api.put_archive(cid, "/tmp", archive.getvalue())
        eid = api.exec_create(cid, [*AGENT_ARGV, f"/tmp/{name}"], stdout=True, stderr=True)["Id"]
        out, err = api.exec_start(eid, demux=True)
        code = api.exec_inspect(eid).get("ExitCode")
    except (docker.errors.APIError, OSError) as exc:
        raise ProbeError(f"cannot run the agent in {cid[:12]}: {reason(exc)}") from exc
    if code not in (0, 2) or not out:  # 2 with an answer: a malformed request, answered in JSON
        tail = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ProbeError(f"the agent in {cid[:12]} failed (exit {code}): {tail[0][:300]}")
    return out or b""


def remove_helper(client: docker.DockerClient, cid: str) -> None:
    try:
        client.api.remove_container(cid, force=True)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        raise EngineError(f"cannot remove the launcher's container {cid[:12]}: {reason(exc)}") from exc


def helper_labels(base: dict[str, str]) -> dict[str, str]:
    """A helper's labels: the run's, as role `launcher`, never kept (gc removes it once its owner is gone)."""
    return {**base, L.ROLE: "launcher", L.KEEP: "false"}
