"""serve: TCP/UDP echo and HTTP listeners on any bind address (standard library only).

    serve [--keep-going] URL [URL...]

    tcp://ADDR:PORT    echo every byte back
    udp://ADDR:PORT    echo every datagram back
    http://ADDR:PORT   any request -> "HTTP/1.0 200 OK" and a body naming the listener

ADDR is an IPv4 address or a bracketed IPv6 one ([::], [::1]). IPV6_V6ONLY is
left at the system default, so [::] is dual-stack as in typical apps. PORT 0
binds an ephemeral port; the "listening" line then shows the port bound.

Each listener bound prints ``serve: listening URL`` on stdout. A listener that
cannot bind prints ``serve: cannot bind URL: [Errno N] reason`` on stderr and
serve exits 1 -- with ``--keep-going`` it serves whatever bound and exits 1
only if nothing did. SIGTERM/SIGINT: exit 0. A bad command line: exit 2.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import signal
import socket
import sys

USAGE = """usage: serve [--keep-going] URL [URL...]
  tcp://ADDR:PORT   TCP echo
  udp://ADDR:PORT   UDP echo
  http://ADDR:PORT  HTTP/1.0 200 OK to any request
ADDR: IPv4 (127.0.0.1, 0.0.0.0) or bracketed IPv6 ([::1], [::]); PORT 0 picks a free port.
--keep-going: serve the listeners that bound even if others could not."""

_URL = re.compile(r"(?P<scheme>tcp|udp|http)://(?:\[(?P<v6>[^\]]+)\]|(?P<v4>[0-9.]+)):(?P<port>[0-9]{1,5})/?")
HEADER_LINES_MAX = 100
REQUEST_TIMEOUT = 10.0


class UsageError(ValueError):
    pass


class Listener:
    """One listener: scheme, address, port, and the socket once bound."""

    def __init__(self, scheme: str, address: str, port: int) -> None:
        self.scheme = scheme
        self.address = address
        self.port = port
        self.family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock: socket.socket | None = None

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if self.family == socket.AF_INET6 else self.address
        return f"{self.scheme}://{host}:{self.port}"

    def bind(self) -> None:
        kind = socket.SOCK_DGRAM if self.scheme == "udp" else socket.SOCK_STREAM
        sock = socket.socket(self.family, kind)
        try:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address, self.port))
            if kind == socket.SOCK_STREAM:
                sock.listen(socket.SOMAXCONN)  # a matrix bursts many connects at once
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.port = sock.getsockname()[1]


def parse_url(text: str) -> Listener:
    m = _URL.fullmatch(text)
    if m is None:
        raise UsageError(f"bad listener {text!r}: expected tcp|udp|http://ADDR:PORT (IPv6 in brackets)")
    address = m.group("v6") or m.group("v4")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise UsageError(f"bad listener {text!r}: {address!r} is not an IP address") from None
    if (ip.version == 6) != (m.group("v6") is not None):
        raise UsageError(f"bad listener {text!r}: IPv6 addresses go in brackets, IPv4 ones do not")
    port = int(m.group("port"))
    if port > 65535:
        raise UsageError(f"bad listener {text!r}: port {port} is out of range")
    return Listener(m.group("scheme"), str(ip), port)


def parse_args(argv: list) -> tuple:
    keep_going = False
    urls = []
    for arg in argv:
        if arg == "--keep-going":
            keep_going = True
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg!r}")
        else:
            urls.append(parse_url(arg))
    if not urls:
        raise UsageError("no listener given")
    return keep_going, urls


# ---------------------------------------------------------------- protocols


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    except asyncio.CancelledError:  # shutdown with the connection open: end quietly
        return
    finally:
        writer.close()


def _http_handler(name: str):
    body = f"looplab serve {name}\n".encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method = b""
            async with asyncio.timeout(REQUEST_TIMEOUT):
                for n in range(HEADER_LINES_MAX):
                    line = await reader.readline()
                    if n == 0:
                        method = line.split(b" ", 1)[0]
                    if line in (b"", b"\n", b"\r\n"):
                        break
            head = (
                b"HTTP/1.0 200 OK\r\nServer: looplab-serve\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
            )
            writer.write(head if method == b"HEAD" else head + body)
            await writer.drain()
        except (ConnectionError, OSError, TimeoutError, ValueError):
            pass
        except asyncio.CancelledError:  # shutdown with the connection open: end quietly
            return
        finally:
            writer.close()

    return handle


class _UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.transport.sendto(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass


# ---------------------------------------------------------------- main


def _say(text: str, stream=None) -> None:
    stream = stream or sys.stdout
    try:
        print(text, file=stream, flush=True)
    except (BrokenPipeError, ValueError):
        pass


async def _serve(listeners: list) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
            pass
    servers = []
    for lis in listeners:
        if lis.scheme == "udp":
            transport, _ = await loop.create_datagram_endpoint(_UdpEcho, sock=lis.sock)
            servers.append(transport)
        else:
            handler = _echo if lis.scheme == "tcp" else _http_handler(lis.url)
            # asyncio would listen() again with backlog 100: a matrix bursts past that and SYNs drop
            servers.append(await asyncio.start_server(handler, sock=lis.sock, backlog=socket.SOMAXCONN))
        _say(f"serve: listening {lis.url}")
    try:
        await stop.wait()
    finally:
        for s in servers:
            s.close()


def _exit_now(signum, frame) -> None:
    raise SystemExit(0)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("-h", "--help"):
        _say(USAGE)
        return 0
    try:
        keep_going, listeners = parse_args(argv)
    except UsageError as e:
        _say(f"serve: {e} (try --help)", sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):  # until the loop installs its own
        try:
            signal.signal(sig, _exit_now)
        except ValueError:  # not the main thread
            pass
    bound = []
    for lis in listeners:
        try:
            lis.bind()
        except OSError as e:
            _say(f"serve: cannot bind {lis.url}: {e}", sys.stderr)
            if not keep_going:
                for b in bound:
                    b.sock.close()
                return 1
            continue
        bound.append(lis)
    if not bound:
        return 1
    try:
        asyncio.run(_serve(bound))
    except KeyboardInterrupt:  # SIGINT before the handler was installed
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
