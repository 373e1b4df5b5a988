"""Docker CLI contexts (`docker context ls`): a context's name to its engine address."""

from __future__ import annotations

import docker.context
import docker.errors

from ...errors import LooplabError


def endpoint(name: str) -> str:
    """The engine address of context `name` (`default`: the environment's); LooplabError if none."""
    try:
        context = docker.context.ContextAPI.get_context(name)
    except docker.errors.DockerException as exc:
        raise LooplabError(f"--context {name}: cannot read Docker's contexts: {exc}") from exc
    if context is None:
        known = ", ".join(c.Name for c in docker.context.ContextAPI.contexts())
        raise LooplabError(f"--context {name}: no such Docker context (known: {known}); or give an engine URL")
    host = context.Host or "unix:///var/run/docker.sock"
    return host
