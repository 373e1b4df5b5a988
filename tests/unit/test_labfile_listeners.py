"""Listener URLs and toolbox `serve` inference."""

from __future__ import annotations

from typing import get_args

import pytest

from orchestrator.labfile import parse_listener_url
from orchestrator.labfile.listeners import SCHEMES, is_toolbox_image, serve_urls
from orchestrator.labfile.model import Listener, ListenerKind
from orchestrator.probes.agent import listener_schemes


@pytest.mark.parametrize(
    "url, expected",
    [
        ("tcp://127.0.0.1:62893", Listener("s", "tcp", "127.0.0.1", 62893)),
        ("udp://0.0.0.0:53", Listener("s", "udp", "0.0.0.0", 53)),
        ("http://[::]:8080", Listener("s", "http", "::", 8080)),
        ("http://[::1]:8080/", Listener("s", "http", "::1", 8080)),
        ("TCP://[0:0::1]:1", Listener("s", "tcp", "::1", 1)),
    ],
)
def test_good_urls(url: str, expected: Listener) -> None:
    assert parse_listener_url("s", url) == expected


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("ftp://127.0.0.1:21", "scheme 'ftp'"),
        ("tcp://localhost:80", "'localhost' is not an IP address"),
        ("tcp://::1:80", "must be in brackets"),
        ("tcp://[127.0.0.1]:80", "only IPv6 addresses take brackets"),
        ("tcp://127.0.0.1", "missing port"),
        ("tcp://127.0.0.1:0", "port 0 is out of range"),
        ("tcp://127.0.0.1:65536", "port 65536 is out of range"),
        ("tcp://127.0.0.1:http", "invalid port 'http'"),
        ("tcp://127.0.0.1:80/x", "malformed listener URL"),
        ("127.0.0.1:80", "malformed listener URL"),
        ("tcp://256.0.0.1:80", "is not an IP address"),
    ],
)
def test_bad_urls(url: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        parse_listener_url("s", url)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "image, expected",
    [
        ("looplab/toolbox", True),
        ("looplab/toolbox:latest", True),
        ("looplab/toolbox@sha256:abc", True),
        ("looplab/toolbox-extra", False),
        ("registry:5000/looplab/toolbox", False),
        ("busybox", False),
    ],
)
def test_is_toolbox_image(image: str, expected: bool) -> None:
    assert is_toolbox_image(image) is expected


def test_serve_urls_skip_flags_and_plain_words() -> None:
    words = ("serve", "--reply", "hi", "tcp://127.0.0.1:1", "-v", "udp://0.0.0.0:2")
    assert serve_urls(words) == [(3, "tcp://127.0.0.1:1"), (5, "udp://0.0.0.0:2")]
    assert serve_urls(("idle", "tcp://127.0.0.1:1")) == []
    assert serve_urls(()) == []


def test_listener_kind_is_the_agents_listener_schemes() -> None:
    """ListenerKind stays a typing alias; the agent's kind registry is where the schemes live."""
    assert set(get_args(ListenerKind)) == set(listener_schemes())
    assert listener_schemes() == SCHEMES
