"""Commands on a lab left running by `up`: probe, diagnose, resolve, sockets, scan.

Each asks `ondemand` for an answer and prints it through a view; a cell or a name that is
not what the model expects exits 1.
"""

from __future__ import annotations

import click

from .. import ondemand
from ..probes.agent import cli_kinds  # the probe-kind registry (stdlib only)
from . import views
from .common import NotAsExpected, format_option, lab_option, lan_option, launcher_option, vantage_option


@click.command()
@lab_option
@vantage_option
@click.option("--proto", "kind", type=click.Choice(cli_kinds()), default="tcp", show_default=True)
@click.argument("target")
@launcher_option
@lan_option
def probe(lab_name: str | None, vantage: str, kind: str, target: str, launcher: str, lan: bool) -> None:
    """Dial TARGET from one vantage of a running lab (telnet/ping, from inside the namespace)."""
    answer = ondemand.probe(lab_name, vantage, target, kind, launcher, lan=lan)
    views.show(views.probe_view(answer))
    if answer.failed:
        raise NotAsExpected()


@click.command()
@lab_option
@vantage_option
@click.option("--proto", "kind", type=click.Choice(["tcp", "udp"]), default="tcp", show_default=True)
@click.argument("target")
@launcher_option
@lan_option
def diagnose(lab_name: str | None, vantage: str, kind: str, target: str, launcher: str, lan: bool) -> None:
    """Probe TARGET from one vantage of a running lab and explain why it is what it is."""
    answer, found = ondemand.diagnose(lab_name, vantage, target, kind, launcher, lan=lan)
    views.show(views.diagnose_view(answer, found))


@click.command()
@lab_option
@vantage_option
@click.argument("name")
@launcher_option
def resolve(lab_name: str | None, vantage: str, name: str, launcher: str) -> None:
    """What NAME means inside one vantage: its /etc/hosts, then Docker's DNS (127.0.0.11) only."""
    answer = ondemand.resolve(lab_name, vantage, name, launcher)
    views.show(views.resolve_view(answer))
    if not answer.ok:
        raise NotAsExpected()


@click.command()
@lab_option
@format_option("table", "json", default="table")
@click.argument("member", required=False)
@launcher_option
def sockets(lab_name: str | None, fmt: str, member: str | None, launcher: str) -> None:
    """Listening sockets with their process, per namespace of a running lab (netstat/lsof)."""
    inventory = ondemand.sockets(lab_name, member, launcher)
    if fmt == "json":
        click.echo(views.json_text(inventory))
    else:
        views.show(views.sockets_view(inventory))


@click.command()
@lab_option
@vantage_option
@click.option(
    "--ports",
    default=None,
    help="Ports and ranges: 22,80,8000-8100. Default: all (1-65535); on the host (`host`, a gateway, "
    "the host's 127.0.0.1) only the lab's published ports.",
)
@format_option("table", "json", default="table")
@click.argument("address")
@launcher_option
def scan(lab_name: str | None, vantage: str, ports: str | None, fmt: str, address: str, launcher: str) -> None:
    """TCP connect scan of ADDRESS from one vantage of a running lab (like nmap -sT).

    ADDRESS: 127.0.0.1, ::1, a service or observer of the lab, `host`, or a lab address or
    gateway; anything outside the lab is refused. Open = the handshake completed.
    """
    answer = ondemand.scan(lab_name, vantage, address, ports, launcher)
    if fmt == "json":
        click.echo(views.json_text(answer.to_json()))
    else:
        views.show(views.scan_view(answer))


COMMANDS = (probe, diagnose, resolve, sockets, scan)
