"""Toolbox helper containers that launchers run the agent in, and one agent run inside one.

`agent`: one per run, in the host's PID and network namespaces with the capabilities to
enter the others (setns needs CAP_SYS_ADMIN, reading /proc/PID/ns needs CAP_SYS_PTRACE).
`join`: one per namespace, sharing a member's network and PID namespaces, with no
privilege beyond the capabilities the probes need. Both carry the run's labels (role
`launcher`, never `keep`), so teardown removes them and `gc` finds them after a hard kill.
The agent runs in them as one long-lived exec per helper (`agent_channel.py`).
"""

from __future__ import annotations

import docker
import docker.errors

from ...errors import EngineError
from .. import labels as L
from ..base import HelperSpec
from .engine import reason


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
