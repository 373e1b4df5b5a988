"""addresses.py: which listening socket answers a dial, and how addresses and owners are written."""

from __future__ import annotations

import pytest

from orchestrator.addresses import answers, host_port, owner_text


@pytest.mark.parametrize(
    "bound, dialled, expected",
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "10.9.0.2", False),
        ("10.9.0.2", "10.9.0.2", True),
        ("0.0.0.0", "10.9.0.2", True),  # every IPv4 address
        ("0.0.0.0", "127.0.0.1", True),
        ("0.0.0.0", "::1", False),  # an IPv4 socket never answers IPv6
        ("::", "::1", True),
        ("::", "127.0.0.1", True),  # dual-stack: :: answers IPv4 too
        ("::", "10.9.0.2", True),
        ("::1", "::1", True),
        ("::1", "127.0.0.1", False),
        ("127.0.0.1", "::1", False),
        ("::ffff:10.9.0.2", "10.9.0.2", True),  # IPv4-mapped is the IPv4 address
        ("::ffff:10.9.0.2", "10.9.0.3", False),
        ("10.9.0.2", "::ffff:10.9.0.2", True),
        ("0.0.0.0", "::ffff:10.9.0.2", True),
        ("0:0:0:0:0:0:0:1", "::1", True),  # spelling does not matter
        ("127.0.0.11", "127.0.0.1", False),
        ("*", "*", True),  # not an IP: equal text only
        ("*", "10.9.0.2", False),
    ],
)
def test_answers(bound: str, dialled: str, expected: bool) -> None:
    assert answers(bound, dialled) is expected


def test_host_port_brackets_ipv6_only() -> None:
    assert host_port("1.2.3.4", 80) == "1.2.3.4:80"
    assert host_port("::1", 80) == "[::1]:80"
    assert host_port("::ffff:1.2.3.4", "443") == "[::ffff:1.2.3.4]:443"
    assert host_port("app", 8080) == "app:8080"


def test_owner_text() -> None:
    assert (
        owner_text({"pid": 17, "command": "python3 serve tcp://0.0.0.0:80"}) == "pid 17 python3 serve tcp://0.0.0.0:80"
    )
    assert owner_text({"pid": 17, "command": None}) == "pid 17"
    assert owner_text({"pid": 17}) == "pid 17"
    assert owner_text({"pid": None, "command": "x"}) == ""
    assert owner_text({}) == ""
