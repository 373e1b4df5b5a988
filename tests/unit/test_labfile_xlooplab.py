"""Lab-file loader: `x-looplab` (probe settings, expectations, listeners)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orchestrator.errors import LabFileError
from orchestrator.labfile import load_lab
from orchestrator.labfile.model import Listener, ProbeSettings

BASE = """
services:
  app:
    image: looplab/toolbox
    command: ["serve", "tcp://127.0.0.1:62893", "--reply", "hi", "udp://0.0.0.0:53"]
    networks: [lan]
  peer:
    image: busybox
    networks: [lan]
networks:
  lan:
"""  # 10 lines; x-looplab starts on line 11


def load(tmp_path: Path, xlooplab: str, base: str = BASE):
    path = tmp_path / "lab.yml"
    path.write_text(textwrap.dedent(base).lstrip("\n") + textwrap.dedent(xlooplab).lstrip("\n"))
    return load_lab(path)


def fails(tmp_path: Path, xlooplab: str, line: int, *fragments: str, base: str = BASE) -> LabFileError:
    with pytest.raises(LabFileError) as info:
        load(tmp_path, xlooplab, base)
    message = str(info.value)
    assert info.value.line == line, message
    assert message.startswith(f"{tmp_path / 'lab.yml'}:{line}: "), message
    for fragment in fragments:
        assert fragment in message, message
    return info.value


def test_base_has_eleven_lines_before_x_looplab(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "x-looplab: {bogus: 1}\n",
        11,
        "x-looplab.bogus: unsupported key 'bogus'",
    )


# --- probe --------------------------------------------------------------------------------


def test_probe_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, "").probe == ProbeSettings()
    assert load(tmp_path, "x-looplab:\n").probe == ProbeSettings()


def test_probe_durations(tmp_path: Path) -> None:
    lab = load(tmp_path, "x-looplab:\n  probe: {timeout: 500ms, grace: 0, ready_timeout: 2m}\n")
    assert lab.probe == ProbeSettings(timeout_s=0.5, grace_s=0.0, ready_timeout_s=120.0)
    lab = load(tmp_path, "x-looplab:\n  probe: {timeout: 1.5, grace: 1.5s}\n")
    assert lab.probe == ProbeSettings(timeout_s=1.5, grace_s=1.5)


def test_probe_bad_duration(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "x-looplab:\n  probe:\n    grace: 10\n    timeout: 1 second\n",
        14,
        "x-looplab.probe.timeout",
        "invalid duration '1 second'",
    )


def test_probe_zero_timeout(tmp_path: Path) -> None:
    fails(tmp_path, "x-looplab:\n  probe:\n    timeout: 0s\n", 13, "greater than zero")


def test_probe_unknown_key(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "x-looplab:\n  probe:\n    retries: 3\n",
        13,
        "unsupported key 'retries'",
    )


# --- expect -------------------------------------------------------------------------------


def test_expect_forms(tmp_path: Path) -> None:
    lab = load(
        tmp_path,
        """
        x-looplab:
          expect:
            - {from: app, to: "127.0.0.1:62893", state: open}
            - {from: app, to: "[::1]:62893", state: closed}
            - {from: peer, to: app:62893, state: closed}
            - {from: host, to: "host:8080", state: reset}
            - {from: "@outside", to: "host:8080", state: filtered}
            - {from: "@lan", to: "app:53", state: "open|filtered", proto: udp}
            - {from: "@default", to: "app:053", state: unreachable}
        """,
        base=BASE.replace("networks:\n  lan:\n", "  other:\n    image: x\nnetworks:\n  lan:\n"),
    )
    got = [(e.vantage, e.target, e.state, e.proto, e.location.line) for e in lab.expectations]
    assert got == [
        ("app", "127.0.0.1:62893", "open", "tcp", 15),
        ("app", "[::1]:62893", "closed", "tcp", 16),
        ("peer", "app:62893", "closed", "tcp", 17),
        ("host", "host:8080", "reset", "tcp", 18),
        ("@outside", "host:8080", "filtered", "tcp", 19),
        ("@lan", "app:53", "open|filtered", "udp", 20),
        ("@default", "app:53", "unreachable", "tcp", 21),
    ]


@pytest.mark.parametrize(
    "entry, fragment",
    [
        (
            "{from: ghost, to: 'app:1', state: open}",
            "x-looplab.expect[1].from: unknown service 'ghost'",
        ),
        (
            "{from: app, to: 'ghost:1', state: open}",
            "x-looplab.expect[1].to: unknown service 'ghost'",
        ),
        ("{from: '@wan', to: 'app:1', state: open}", "unknown network 'wan'"),
        ("{from: app, to: 'app', state: open}", "malformed target 'app'"),
        ("{from: app, to: ':80', state: open}", "malformed target"),
        ("{from: app, to: 'app:0', state: open}", "port 0 is out of range"),
        ("{from: app, to: 'app:70000', state: open}", "port 70000 is out of range"),
        ("{from: app, to: 'app:http', state: open}", "invalid port 'http'"),
        (
            "{from: app, to: '10.0.0.1:80', state: open}",
            "only 127.0.0.1, [::1], host or a lab service",
        ),
        ("{from: app, to: '[fe80::1]:80', state: open}", "only [::1]"),
        ("{from: app, to: 'app:1', state: up}", "unknown state 'up'"),
        ("{from: app, to: 'app:1', state: open, proto: sctp}", "protocol 'sctp'"),
        ("{from: app, to: 'app:1', state: reset, proto: udp}", "does not apply to udp"),
        ("{from: app, to: 'app:1', state: open|filtered}", "does not apply to tcp"),
        ("{from: app, to: 'app:1'}", "missing key 'state'"),
        ("{from: app, to: 'app:1', state: open, why: x}", "unsupported key 'why'"),
        (
            "{from: app, to: 'app:62893', state: open}",
            "duplicate expectation app -> app:62893/tcp (first at line 13)",
        ),
        ("just-a-string", "expected a mapping"),
    ],
)
def test_bad_expectations(tmp_path: Path, entry: str, fragment: str) -> None:
    text = f"x-looplab:\n  expect:\n    - {{from: app, to: 'app:62893', state: open}}\n    - {entry}\n"
    fails(tmp_path, text, 14, fragment)


def test_expect_error_points_at_the_key_inside_a_block_entry(tmp_path: Path) -> None:
    text = "x-looplab:\n  expect:\n    - from: app\n      to: nowhere:80\n      state: open\n"
    fails(tmp_path, text, 14, "x-looplab.expect[0].to: unknown service 'nowhere'")


# --- listeners ----------------------------------------------------------------------------


def test_listeners_inferred_from_toolbox_serve(tmp_path: Path) -> None:
    lab = load(tmp_path, "")
    assert lab.service("app").listeners == (
        Listener("app", "tcp", "127.0.0.1", 62893),
        Listener("app", "udp", "0.0.0.0", 53),
    )
    assert lab.service("peer").listeners == ()


def test_inference_from_string_command_and_tagged_image(tmp_path: Path) -> None:
    base = "services:\n  a:\n    image: looplab/toolbox:dev\n    command: serve --verbose http://[::]:8080\n"
    lab = load(tmp_path, "", base=base)
    assert lab.service("a").listeners == (Listener("a", "http", "::", 8080),)


def test_no_inference_for_other_images_or_commands(tmp_path: Path) -> None:
    base = (
        "services:\n"
        "  a: {image: other/toolbox, command: [serve, 'tcp://127.0.0.1:1']}\n"
        "  b: {image: looplab/toolbox, command: [idle, 'tcp://127.0.0.1:1']}\n"
    )
    lab = load(tmp_path, "", base=base)
    assert lab.listeners == ()


def test_bad_inferred_listener_points_at_the_word(tmp_path: Path) -> None:
    base = "services:\n  a:\n    image: looplab/toolbox\n    command:\n      - serve\n      - tcp://localhost:80\n"
    fails(
        tmp_path,
        "",
        6,
        "services.a.command[1]",
        "'localhost' is not an IP address",
        base=base,
    )


def test_explicit_listeners_added_and_deduplicated(tmp_path: Path) -> None:
    text = (
        "x-looplab:\n  listeners:\n"
        "    app: ['tcp://127.0.0.1:62893', 'http://[::1]:8080']\n"
        "    peer: 'udp://0.0.0.0:5353'\n"
    )
    lab = load(tmp_path, text)
    assert lab.service("app").listeners == (
        Listener("app", "tcp", "127.0.0.1", 62893),
        Listener("app", "udp", "0.0.0.0", 53),
        Listener("app", "http", "::1", 8080),
    )
    assert lab.service("peer").listeners == (Listener("peer", "udp", "0.0.0.0", 5353),)


def test_listeners_for_unknown_service(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "x-looplab:\n  listeners:\n    ghost: ['tcp://127.0.0.1:1']\n",
        13,
        "x-looplab.listeners.ghost: unknown service 'ghost'",
    )


def test_bad_explicit_listener(tmp_path: Path) -> None:
    text = "x-looplab:\n  listeners:\n    app:\n      - tcp://127.0.0.1:1\n      - tcp://127.0.0.1:99999\n"
    fails(tmp_path, text, 15, "x-looplab.listeners.app[1]", "port 99999 is out of range")


def test_default_network_vantage_needs_the_default_network(tmp_path: Path) -> None:
    text = "x-looplab:\n  expect:\n    - {from: '@default', to: 'app:1', state: open}\n"
    fails(tmp_path, text, 13, "unknown network 'default'")
