"""Labels and names of every resource a lab makes, so runs never collide and gc can find them."""

from __future__ import annotations

import os
import re
import secrets
import socket

PREFIX = "org.looplab"
LAB = f"{PREFIX}.lab"
RUN = f"{PREFIX}.run"
ROLE = f"{PREFIX}.role"  # service | observer | network
MEMBER = f"{PREFIX}.member"  # service name, "@NET", "@outside", or network name
OWNER_PID = f"{PREFIX}.owner-pid"
OWNER_HOST = f"{PREFIX}.owner-host"
KEEP = f"{PREFIX}.keep"  # "true" when `looplab up` leaves the lab running on purpose
LAB_FILE = f"{PREFIX}.file"
MANAGED = f"{PREFIX}.managed"  # present on everything looplab makes (gc filter)

_SAFE = re.compile(r"[^a-z0-9_.-]+")


def new_run_id() -> str:
    return secrets.token_hex(3)


def resource_name(lab: str, run_id: str, member: str) -> str:
    """`looplab-<lab>-<run>-<member>`, docker-safe (observers' `@` becomes `at-`)."""
    safe_member = _SAFE.sub("-", member.replace("@", "at-").lower())
    return f"looplab-{lab}-{run_id}-{safe_member}"


def member_name(text: str) -> str:
    """A lab member's name from a container's name: `/elegant_turing` -> `elegant_turing`."""
    return _SAFE.sub("-", text.lstrip("/").lower()).strip("-") or "container"


def preferred_name(attrs: dict, network: str | None = None) -> str:
    """What people call a container: its first network alias (testcontainers' `with_network_aliases`)
    that is not its short id, else its name."""
    nets = attrs.get("NetworkSettings", {}).get("Networks") or {}
    for name, endpoint in nets.items():
        if network is not None and name != network:
            continue
        for alias in endpoint.get("Aliases") or []:
            if not attrs.get("Id", "").startswith(alias):
                return alias
    return attrs.get("Name", "") or attrs.get("Id", "")[:12]


def labels_for(lab: str, run_id: str, role: str, member: str, *, keep: bool, lab_file: str) -> dict[str, str]:
    return {
        MANAGED: "true",
        LAB: lab,
        RUN: run_id,
        ROLE: role,
        MEMBER: member,
        OWNER_PID: str(os.getpid()),
        OWNER_HOST: socket.gethostname(),
        KEEP: "true" if keep else "false",
        LAB_FILE: lab_file,
    }


def run_filter(run_id: str) -> dict[str, list[str]]:
    return {"label": [f"{RUN}={run_id}"]}


def managed_filter() -> dict[str, list[str]]:
    return {"label": [MANAGED]}
