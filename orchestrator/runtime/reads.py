"""The raw reads the diagnosis needs (diagnosis.finder.RawReads), from a local Docker engine."""

from __future__ import annotations

import docker
import docker.errors

from .firewall import read_firewall_text


class EngineReads:
    """Container logs through the Docker API; firewall rules through nsenter on this host."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client

    def logs(self, container_id: str, tail: int) -> str:
        try:
            return self.client.api.logs(container_id, tail=tail).decode(errors="replace")
        except docker.errors.APIError:
            return ""

    def firewall_text(self, namespace_pid: int) -> tuple[str, str]:
        return read_firewall_text(namespace_pid)
