"""A pytest suite gated on a lab's isolation, through looplab's pytest plugin (installed with looplab).

python -m pytest examples/test_plugin.py            # add -n 4 with pytest-xdist
"""

from __future__ import annotations

import pytest


@pytest.mark.looplab("compose/seed-62893.yml")
def test_app_is_private(lab):
    assert lab.probe("peer", "app:62893").state == "closed"
    assert lab.probe("app", "127.0.0.1:62893").reachable
    lab.assert_matrix()  # every cell as the lab file expects, or a readable failure


@pytest.mark.looplab("compose/seed-62893.yml")
def test_localhost_means_ipv4_in_app(lab):
    answer = lab.probe("app", "localhost:62893")
    assert answer.state == "open", answer  # the answer's repr carries the diagnosis and a reproduce command


@pytest.mark.looplab("compose/ephemeral-publish.yml", scope="module")
def test_a_port_the_engine_picked(lab):
    port = lab.published("web", 8080)  # the host port the engine chose for 127.0.0.1::8080
    assert lab.probe("host", f"host:{port}").state == "open"
    assert lab.probe("host", "host:hidden:8080").state == "reset"  # the app listens on its own loopback
    lab.assert_matrix()


def test_a_lab_of_its_own(looplab_lab):
    lab = looplab_lab("compose/all-interfaces.yml")  # removed when this test ends
    lab.assert_matrix()
