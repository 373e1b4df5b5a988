"""A long-lived agent inside a helper, fed over one exec's attached stdin.

One exec per helper for the whole run (`agent --serve`): each request is one JSON line
written to its stdin, each answer one JSON line read from its stdout, so a batch costs a
round trip instead of an archive upload, an exec and an interpreter start. The attached
socket is the engine's own (unix, tcp, tls or ssh), so every transport the SDK speaks
works. Docker multiplexes the exec's stdout and stderr into frames (8-byte header:
stream, 3 zero bytes, big-endian length) because the exec has no tty.
"""

from __future__ import annotations

import socket
import struct
import threading

import docker
import docker.errors

from ...errors import ProbeError
from .engine import reason

SERVE_ARGV = ["/usr/local/bin/python3", "-I", "/looplab/entry.py", "agent", "--serve"]
_STDOUT, _STDERR = 1, 2
_STDERR_KEPT = 4096  # bytes of the agent's stderr kept to explain a failure


class AgentChannel:
    """One `agent --serve` exec in a helper; `ask` is serialised (one request in flight)."""

    def __init__(self, client: docker.DockerClient, helper: str) -> None:
        self.helper = helper
        self._lock = threading.Lock()
        api = client.api
        try:
            eid = api.exec_create(helper, SERVE_ARGV, stdin=True, stdout=True, stderr=True)["Id"]
            attached = api.exec_start(eid, socket=True)
        except (docker.errors.APIError, OSError) as exc:
            raise ProbeError(f"cannot start the agent in {helper[:12]}: {reason(exc)}") from exc
        self._attached = attached  # keeps the HTTP response (and so the connection) alive
        self._sock = getattr(attached, "_sock", attached)  # SocketIO wraps the real socket; ssh/tls give it
        self._pending = b""  # stdout bytes read past the last answer's newline
        self._stderr = b""
        self._broken: str | None = None

    def ask(self, request: bytes, timeout_s: float) -> bytes:
        """Send one request line; its answer line. ProbeError (and the channel is broken) when
        the agent ended, the engine dropped the stream, or no answer came within `timeout_s`."""
        with self._lock:
            if self._broken:
                raise ProbeError(self._broken)
            try:
                self._sock.settimeout(timeout_s)
                self._sock.sendall(request.rstrip(b"\n") + b"\n")
                return self._read_line()
            except (OSError, EOFError) as exc:
                why = "no answer in time" if isinstance(exc, TimeoutError | socket.timeout) else str(exc) or "ended"
                tail = self._stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output on stderr"]
                self._broken = f"the agent in {self.helper[:12]} stopped answering ({why}): {tail[0][:300]}"
                raise ProbeError(self._broken) from exc

    def _read_line(self) -> bytes:
        while b"\n" not in self._pending:
            stream, payload = self._frame()
            if stream == _STDOUT:
                self._pending += payload
            elif stream == _STDERR:
                self._stderr = (self._stderr + payload)[-_STDERR_KEPT:]
        line, _, self._pending = self._pending.partition(b"\n")
        return line

    def _frame(self) -> tuple[int, bytes]:
        stream, size = struct.unpack(">BxxxL", self._exactly(8))
        return stream, self._exactly(size)

    def _exactly(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = self._sock.recv(left)
            if not chunk:
                raise EOFError("the agent's stream ended")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """End the agent (its stdin closes) and drop the connection; never raises."""
        for step in (self._half_close, self._sock.close, self._attached.close):
            try:
                step()
            except (OSError, AttributeError):
                continue

    def _half_close(self) -> None:
        shutdown_write = getattr(self._sock, "shutdown_write", None)  # paramiko's channel (ssh://)
        if shutdown_write is not None:
            shutdown_write()
        else:
            self._sock.shutdown(socket.SHUT_WR)
