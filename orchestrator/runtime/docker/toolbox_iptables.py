"""The host's iptables, copied into the toolbox image, so that launchers whose agent runs in a
container (agent, join) can add and read `x-looplab.firewall` rules there.

Debian's iptables is one multi-call binary (xtables-nft-multi or xtables-legacy-multi) that
dispatches on its name, plus extension modules loaded from an xtables directory. Both are
copied at the same paths, with the libraries `ldd` names for them; a host without iptables
gives an image without it, and those launchers then say so in one line.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

NAMES = ("iptables", "iptables-save")
_MODULE_DIRS = ("/usr/lib/x86_64-linux-gnu/xtables", "/usr/lib/aarch64-linux-gnu/xtables", "/usr/lib/xtables")


def found() -> tuple[str, list[str]] | None:
    """(the multi-call binary, its extension modules), or None when the host has no iptables."""
    exe = shutil.which("iptables") or ("/usr/sbin/iptables" if os.path.exists("/usr/sbin/iptables") else None)
    if exe is None:
        return None
    modules = next((d for d in _MODULE_DIRS if os.path.isdir(d)), None)
    listing = sorted(str(p) for p in Path(modules).glob("*.so")) if modules else []
    return os.path.realpath(exe), listing


def key_parts() -> list[str]:
    """What decides this part of the image's content (for the content key)."""
    got = found()
    if got is None:
        return ["no-iptables"]
    multi, modules = got
    st = os.stat(multi)
    return [f"{multi}:{st.st_size}:{int(st.st_mtime)}", *modules]


def files() -> tuple[list[str], list[tuple[str, str]]]:
    """(binaries whose libraries the image needs, [(name in image, what it links to)])."""
    got = found()
    if got is None:
        return [], []
    multi, modules = got
    links = [(f"usr/sbin/{name}", os.path.basename(multi)) for name in NAMES]
    return [multi, *modules], links
