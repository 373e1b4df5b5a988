"""Build `looplab/toolbox` with no registry: a rootfs of the host's own CPython, imported.

The rootfs holds the interpreter, the libraries `ldd` names for it and its extension
modules, the stdlib (without tests, GUI and packaging extras), and the toolbox programs
(entry, serve, the agent package) under /looplab. It is rebuilt only when its content key changes.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import time
from pathlib import Path

from ... import __version__
from ...errors import EngineError, ImageMissingError
from ..base import ToolboxBuild
from . import toolbox_iptables

TOOLBOX_REPO = "looplab/toolbox"
DIGEST_LABEL = "org.looplab.toolbox.digest"
PYTHON_HOME = "/usr/local"
_PKG = Path(__file__).resolve().parents[2]
_AGENT = _PKG / "probes" / "agent"
PROGRAMS = {
    "entry.py": _PKG / "toolbox" / "entry.py",
    "serve.py": _PKG / "toolbox" / "serve.py",
    **{f"agent/{path.name}": path for path in sorted(_AGENT.glob("*.py"))},  # the whole agent package
}
_STDLIB_SKIP = {
    "test",
    "tests",
    "idle_test",
    "tkinter",
    "idlelib",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "site-packages",
    "config-3.11-x86_64-linux-gnu",
    "pydoc_data",
}
_LDD_LINE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")


def toolbox_tag() -> str:
    return f"{TOOLBOX_REPO}:{__version__}"


def content_key() -> str:
    """A digest of everything that decides the image's content, cheap to compute."""
    h = hashlib.sha256()
    h.update(sys.version.encode())
    h.update(Path(__file__).read_bytes())
    for name, path in sorted(PROGRAMS.items()):
        h.update(name.encode())
        h.update(path.read_bytes())
    for lib in sorted(_interpreter_files()):
        st = os.stat(lib)
        h.update(f"{lib}:{st.st_size}:{int(st.st_mtime)}".encode())
    for part in toolbox_iptables.key_parts():
        h.update(part.encode())
    return h.hexdigest()[:16]


def _interpreter_files() -> set[str]:
    exe = os.path.realpath(sys.executable)
    files = {exe}
    libdir = sysconfig.get_config_var("LIBDIR")
    ldlib = sysconfig.get_config_var("LDLIBRARY")
    if libdir and ldlib and os.path.exists(os.path.join(libdir, ldlib)):
        files.add(os.path.realpath(os.path.join(libdir, ldlib)))
    return files


def _ldd(paths: list[str]) -> set[str]:
    """Shared libraries (absolute paths as the loader names them) that `paths` need."""
    out = subprocess.run(["ldd", *paths], capture_output=True, text=True, check=False).stdout
    return {m.group(1) for line in out.splitlines() if (m := _LDD_LINE.search(line))}


def _stdlib_files() -> list[tuple[Path, str]]:
    """(source, path in image) for the stdlib, skipping tests/GUI/packaging extras."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    dest_root = f"{PYTHON_HOME}/lib/{stdlib.name}"
    found: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(stdlib):
        dirnames[:] = [d for d in dirnames if d not in _STDLIB_SKIP]
        rel = os.path.relpath(dirpath, stdlib)
        if "__pycache__" in rel.split(os.sep):
            filenames = [f for f in filenames if ".opt-" not in f]
        for name in filenames:
            src = Path(dirpath) / name
            if src.is_symlink() and not src.exists():
                continue
            found.append((src, f"{dest_root}/{rel}/{name}" if rel != "." else f"{dest_root}/{name}"))
    return found


def build_rootfs_tar(fileobj: io.BufferedIOBase) -> None:
    """Write the toolbox rootfs as an uncompressed tar stream to `fileobj`."""
    exe = os.path.realpath(sys.executable)
    stdlib_files = _stdlib_files()
    dynload = [str(src) for src, _ in stdlib_files if src.suffix == ".so"]
    tools, tool_links = toolbox_iptables.files()
    libs = _ldd([exe, *dynload, *tools])
    libpython = [p for p in _interpreter_files() if p != exe]
    with tarfile.open(fileobj=fileobj, mode="w|") as tar:
        dirs = ("tmp", "run", "etc", "proc", "sys", "dev", "usr/sbin", "usr/local/bin", "usr/local/lib", "looplab")
        for d in (*dirs, "looplab/agent"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(exe, arcname=f"{PYTHON_HOME}/bin/python3")
        _symlink(tar, f"{PYTHON_HOME}/bin/python", "python3")
        for lib in libpython:
            tar.add(lib, arcname=f"{PYTHON_HOME}/lib/{Path(lib).name}")
            soname = sysconfig.get_config_var("INSTSONAME")
            if soname and soname != Path(lib).name:
                _symlink(tar, f"{PYTHON_HOME}/lib/{soname}", Path(lib).name)
        for lib in sorted(libs):
            if Path(os.path.realpath(lib)) in {Path(p) for p in libpython}:
                continue
            tar.add(os.path.realpath(lib), arcname=lib.lstrip("/"))
        for src, dest in stdlib_files:
            tar.add(src, arcname=dest.lstrip("/"), recursive=False)
        for tool in tools:  # iptables and its extension modules, at the host's own paths
            tar.add(tool, arcname=tool.lstrip("/"))
        for name, target in tool_links:
            _symlink(tar, name, target)
        for name, src in PROGRAMS.items():
            tar.add(src, arcname=f"looplab/{name}")
        _text(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
        _text(tar, "etc/group", "root:x:0:\nnogroup:x:65534:\n")


def _symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type = tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


def _text(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _changes(digest: str) -> list[str]:
    return [
        f"ENV PATH={PYTHON_HOME}/bin:/usr/sbin:/usr/bin:/bin",
        f"ENV PYTHONHOME={PYTHON_HOME}",
        f"ENV LD_LIBRARY_PATH={PYTHON_HOME}/lib",
        "ENV PYTHONDONTWRITEBYTECODE=1",
        'ENTRYPOINT ["/usr/local/bin/python3", "-I", "/looplab/entry.py"]',
        'CMD ["idle"]',
        f"LABEL {DIGEST_LABEL}={digest} org.looplab.toolbox.version={__version__}",
    ]


def current_digest(client) -> str | None:
    """The content key of the toolbox image on the engine, or None if absent."""
    import docker.errors

    try:
        image = client.images.get(toolbox_tag())
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.DockerException as exc:
        raise EngineError(f"cannot inspect image {toolbox_tag()}: {exc}") from exc
    return (image.labels or {}).get(DIGEST_LABEL)


def ensure_toolbox(client, *, force: bool = False) -> ToolboxBuild:
    """Build the toolbox image unless one with the same content key is present; tag it :latest too."""
    digest = content_key()
    start = time.perf_counter()
    if not force and current_digest(client) == digest:
        _tag_latest(client)
        return ToolboxBuild(toolbox_tag(), digest, False, time.perf_counter() - start, _size(client))
    buf = io.BytesIO()
    try:
        build_rootfs_tar(buf)
    except (OSError, tarfile.TarError) as exc:
        raise ImageMissingError(f"cannot assemble the toolbox rootfs from {sys.executable}: {exc}") from exc
    repo, tag = toolbox_tag().split(":")
    try:
        client.api.import_image_from_data(buf.getvalue(), repository=repo, tag=tag, changes=_changes(digest))
    except Exception as exc:  # docker.errors.APIError and transport errors alike
        raise EngineError(f"cannot import the toolbox image {toolbox_tag()}: {exc}") from exc
    _tag_latest(client)
    return ToolboxBuild(toolbox_tag(), digest, True, time.perf_counter() - start, _size(client))


def _tag_latest(client) -> None:
    """Lab files say `image: looplab/toolbox`, which means :latest."""
    try:
        client.images.get(toolbox_tag()).tag(TOOLBOX_REPO, "latest")
    except Exception as exc:
        raise EngineError(f"cannot tag {toolbox_tag()} as {TOOLBOX_REPO}:latest: {exc}") from exc


def _size(client) -> int:
    try:
        return int(client.images.get(toolbox_tag()).attrs.get("Size", 0))
    except Exception:  # size is informational only
        return 0
