"""Runtimes: engines behind one contract (runtime/base.py). Engine clients are imported lazily."""

from __future__ import annotations

from ..errors import LooplabError
from .base import EngineInfo, LiveLab, Removal, Runtime

RUNTIMES = ("docker",)


def get_runtime(name: str = "docker") -> Runtime:
    """The runtime called `name`; its engine client connects on first use."""
    if name == "docker":
        from .docker import DockerRuntime

        return DockerRuntime()
    raise LooplabError(f"unknown runtime {name!r}; choose one of {', '.join(RUNTIMES)}")


def context_endpoint(context: str) -> str:
    """The engine address of a Docker context name, or `context` itself when it is an address
    (unix://, tcp://, ssh://, npipe://). LooplabError names an unknown context."""
    if "://" in context:
        return context
    from .docker.contexts import endpoint

    return endpoint(context)


__all__ = ["RUNTIMES", "EngineInfo", "LiveLab", "Removal", "Runtime", "get_runtime"]
