"""looplab probe agent: run a batch of probes in network namespaces, answer in JSON.

Standard library only, with relative imports only: this package is copied into a
minimal image and run as ``python -I -S path/to/agent`` (see ``__main__``). It reads
one JSON request on stdin and writes one JSON response on stdout (exit 0); a
malformed request gets ``{"error": ...}`` and exit 2. Imported, :func:`run_request`
does the same with dicts.

Request::

    {"vantages": [{"id": "peer", "netns": "/proc/123/ns/net" | null,
                   "probes": [{"id": "p0", "kind": "tcp", "address": "172.18.0.3",
                               "port": 62893, "timeout": 1.0, "grace": 0.1},
                              {"id": "s0", "kind": "sockets"}]}]}

Every vantage runs in a thread of its own, all in parallel. A thread given a
``netns`` path enters it with setns(2) before it creates any socket (setns
moves only the calling thread, and a socket keeps the namespace it was created
in), then runs all its probes concurrently in its own asyncio loop. Results
come back in request order.

Modules: ``core`` (the kind registry, :class:`Vantage`), ``net`` (helpers the kinds
share), one module per probe kind, ``runner`` (threads, setns, the request, ``main``).

Adding a probe kind: write one module that decorates its coroutine with
``@probe("kind", ...)`` from ``core`` (``listener=True`` if it is also a listener
scheme, ``cli=True`` if ``looplab probe --proto`` offers it), and import it below.
Nothing else: the CLI's ``--proto`` choices and the lab file's listener schemes are
read from the registry.

Safety: the agent dials only the IP literals it is given; it never resolves the names
it dials. The ``resolve`` kind reads the vantage's own ``/etc/hosts`` and, only when
asked, Docker's embedded DNS server inside the vantage's namespace (see ``resolve``).
"""

# The probe kinds, one module each: importing one registers it. This order is the
# registry's, and so the order the CLI lists them in.
# isort: off
from . import tcp  # noqa: F401
from . import udp  # noqa: F401
from . import http  # noqa: F401
from . import icmp  # noqa: F401
from . import inventory  # noqa: F401
from . import resolve  # noqa: F401
from . import scan  # noqa: F401
from . import iptables  # noqa: F401

# isort: on
from .core import AGENT, KINDS, Probe, ProbeFailed, Vantage, cli_kinds, listener_schemes, probe
from .inventory import has_ipv6_loopback, parse_proc_net, socket_inventory, socket_owners
from .net import is_self_connect
from .resolve import dns_query, hosts_lookup, resolv_nameservers
from .runner import enter_netns, main, run_request
from .scan import scan_ranges, tcp_scan

__all__ = [
    "AGENT",
    "KINDS",
    "Probe",
    "ProbeFailed",
    "Vantage",
    "cli_kinds",
    "dns_query",
    "enter_netns",
    "has_ipv6_loopback",
    "hosts_lookup",
    "is_self_connect",
    "listener_schemes",
    "main",
    "parse_proc_net",
    "probe",
    "resolv_nameservers",
    "run_request",
    "scan_ranges",
    "socket_inventory",
    "socket_owners",
    "tcp_scan",
]
