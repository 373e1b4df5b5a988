"""The `host` placement: the toolbox's `serve`, run as a plain process in the host's namespace,
bound to the host's loopback only. Started before its probes, stopped after (signals too)."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

from ..errors import LooplabError

SERVE = Path(__file__).resolve().parents[1] / "toolbox" / "serve.py"
_START_TIMEOUT_S = 15.0


class HostProcess:
    """`serve --keep-going URL...` on the host; `start` returns once every URL listens or fails."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.failed: list[str] = []  # the `cannot bind` lines of listeners that did not bind
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", str(SERVE), "--keep-going", *self.urls],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C reaches looplab, which stops it in order
        )
        waiting = len(self.urls)
        deadline = time.monotonic() + _START_TIMEOUT_S
        pending = {self._proc.stdout.fileno(): b"", self._proc.stderr.fileno(): b""}  # type: ignore[union-attr]
        with selectors.DefaultSelector() as sel:
            for fd in pending:
                sel.register(fd, selectors.EVENT_READ)
            while waiting and sel.get_map() and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    chunk = os.read(key.fd, 4096)  # raw reads: a buffered readline would hide a second line
                    if not chunk:
                        sel.unregister(key.fd)
                        continue
                    *lines, pending[key.fd] = (pending[key.fd] + chunk).split(b"\n")
                    for line in lines:
                        text = line.decode(errors="replace").strip()
                        if "listening" in text:
                            waiting -= 1
                        elif "cannot bind" in text:
                            self.failed.append(text)
                            waiting -= 1
        if waiting:
            self.stop()
            raise LooplabError(f"the host placement's serve did not start within {_START_TIMEOUT_S:g}s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
