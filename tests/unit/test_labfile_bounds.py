"""Hostile lab files: bounded reads, nesting, lab size, probe settings, image and command values
(issue 9, items 5, 6, 7, 9 and the negative-port message of 12). Each is one LabFileError line."""

from __future__ import annotations

import os
import textwrap
import threading
import time
from pathlib import Path

import pytest

from orchestrator.errors import LabFileError
from orchestrator.labfile import load_lab
from orchestrator.labfile.limits import MAX_DEPTH, MAX_FILE_BYTES, Limits


def lab_file(tmp_path: Path, text: str, name: str = "lab.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def refused(path: Path, *fragments: str, line: int | None = None, limits: Limits | None = None) -> str:
    with pytest.raises(LabFileError) as info:
        load_lab(path, limits=limits) if limits else load_lab(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}:{line}: " if line else f"{path}"), message
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- item 6: regular files only, bounded size and depth ------------------------------------


def test_a_fifo_is_refused_at_once_instead_of_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "lab.yml"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            load_lab(fifo)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=5)  # a generous bound: it answers in milliseconds; today it never does
    if worker.is_alive():  # unblock the reader so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("load_lab blocked on a FIFO")
    assert isinstance(outcome[0], LabFileError), outcome
    assert str(outcome[0]) == f"{fifo}: cannot read: not a regular file (a FIFO)"


def test_dev_zero_is_refused_without_reading_it() -> None:
    with pytest.raises(LabFileError) as info:
        load_lab("/dev/zero")
    assert str(info.value) == "/dev/zero: cannot read: not a regular file (a character device)"


def test_a_file_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "lab.yml"
    with big.open("w") as out:
        out.write("services:\n  app:\n    image: looplab/toolbox\n")
        out.write("#" * MAX_FILE_BYTES + "\n")
    refused(big, "file too large (more than 4 MiB)")


def test_a_file_at_the_size_cap_is_read(tmp_path: Path) -> None:
    head = "services:\n  app:\n    image: looplab/toolbox\n"
    path = tmp_path / "lab.yml"
    path.write_text(head + "#" * (MAX_FILE_BYTES - len(head) - 1) + "\n")
    assert path.stat().st_size == MAX_FILE_BYTES
    assert load_lab(path).services[0].name == "app"


@pytest.mark.parametrize(
    "body",
    [
        "services:\n  app:\n    image: x\n    command: " + "[" * 5000 + "]" * 5000 + "\n",
        "services:\n  app:\n    image: x\n    labels: " + "{a: " * 3000 + "b" + "}" * 3000 + "\n",
        "x-deep:" + "".join("\n" + "  " * (i + 1) + "a:" for i in range(1500)) + " 1\nservices: {a: {image: x}}\n",
    ],
    ids=["sequences-5000", "flow-mappings-3000", "block-mappings-1500"],
)
def test_deep_nesting_is_one_line_not_a_recursion_error(tmp_path: Path, body: str) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(body)
    refused(path, f"nested too deeply (more than {MAX_DEPTH} levels)")


def test_nesting_through_aliases_is_bounded_too(tmp_path: Path) -> None:
    levels = ["x0: &l0 [1]"] + [f"x{i}: &l{i} [*l{i - 1}, [[[[[[[[[[*l{i - 1}]]]]]]]]]]]" for i in range(1, 12)]
    path = tmp_path / "lab.yml"
    path.write_text("\n".join(levels) + "\nservices: {a: {image: x}}\n")
    refused(path, "nested too deeply")


# -- item 5: lab size -----------------------------------------------------------------------


def _services(count: int, listeners: int = 0) -> str:
    lines = ["services:"]
    for i in range(count):
        command = f'["serve", "tcp://0.0.0.0:{20000 + i}"]' if i < listeners else '["idle"]'
        lines.append(f"  s{i}: {{image: looplab/toolbox, command: {command}}}")
    return "\n".join(lines) + "\n"


def test_too_many_services_is_refused_naming_the_flag(tmp_path: Path) -> None:
    path = lab_file(tmp_path, _services(201))
    refused(path, "services: 201 services is more than the limit of 200 (raise it with --max-services)", line=1)


def test_ten_thousand_services_are_refused_quickly(tmp_path: Path) -> None:
    path = lab_file(tmp_path, _services(10_000))
    started = time.monotonic()
    refused(path, "10000 services is more than the limit of 200")
    assert time.monotonic() - started < 5  # a generous bound; refusing does not read each service


def test_the_service_limit_can_be_raised(tmp_path: Path) -> None:
    path = lab_file(tmp_path, _services(201))
    assert len(load_lab(path, limits=Limits(services=201)).services) == 201


def test_too_many_networks_is_refused(tmp_path: Path) -> None:
    nets = "".join(f"  n{i}: {{}}\n" for i in range(51))
    path = lab_file(tmp_path, "services: {a: {image: x, network_mode: none}}\nnetworks:\n" + nets)
    refused(path, "networks: 51 networks is more than the limit of 50 (raise it with --max-networks)", line=2)
    assert len(load_lab(path, limits=Limits(networks=51)).networks) == 51


def test_too_many_cells_is_refused_and_the_limit_can_be_raised(tmp_path: Path) -> None:
    path = lab_file(tmp_path, _services(120, listeners=120))
    message = refused(path, "cells is more than the limit of 50000 (raise it with --max-cells)")
    assert message.startswith(f"{path}:1: ")
    assert len(load_lab(path, limits=Limits(cells=1_000_000)).services) == 120


def test_the_reference_labs_are_well_within_the_limits() -> None:
    for path in sorted((Path(__file__).resolve().parents[2] / "compose").glob("*.yml")):
        load_lab(path)


# -- item 7: probe settings -----------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value, bound",
    [("timeout", "3600s", "60s"), ("grace", "11s", "10s"), ("ready_timeout", "2h", "600s"), ("timeout", "61", "60s")],
)
def test_probe_settings_have_an_upper_bound(tmp_path: Path, key: str, value: str, bound: str) -> None:
    path = lab_file(tmp_path, f"services: {{a: {{image: x}}}}\nx-looplab:\n  probe:\n    {key}: {value}\n")
    refused(path, f"x-looplab.probe.{key}: {value} is out of range (at most {bound})", line=4)


def test_probe_settings_at_their_bounds_are_accepted(tmp_path: Path) -> None:
    path = lab_file(
        tmp_path, "services: {a: {image: x}}\nx-looplab:\n  probe: {timeout: 60s, grace: 10s, ready_timeout: 10m}\n"
    )
    probe = load_lab(path).probe
    assert (probe.timeout_s, probe.grace_s, probe.ready_timeout_s) == (60.0, 10.0, 600.0)


# -- item 9: values `check` would trip over -------------------------------------------------


@pytest.mark.parametrize(
    "value, fragment",
    [
        ('""', "services.app.image: the image name is empty"),
        ("42", "services.app.image: expected an image name (a string), got a number (42)"),
        ('"UPPER/Case::bad@@"', "services.app.image: invalid image reference 'UPPER/Case::bad@@'"),
        ("[looplab/toolbox]", "services.app.image: expected an image name (a string), got a list"),
        ("null", "services.app.image: expected an image name (a string), got nothing (null)"),
        ('"a b"', "invalid image reference 'a b'"),
    ],
)
def test_bad_image_references_are_caught_with_file_and_line(tmp_path: Path, value: str, fragment: str) -> None:
    path = lab_file(tmp_path, f"services:\n  app:\n    command: [idle]\n    image: {value}\n")
    refused(path, fragment, line=4)


@pytest.mark.parametrize(
    "image",
    ["looplab/toolbox", "nginx:1.25-alpine", "localhost:5000/team/app:v1", "busybox@sha256:" + "0" * 64, "a__b.c-d"],
)
def test_good_image_references_are_accepted(tmp_path: Path, image: str) -> None:
    path = lab_file(tmp_path, f"services:\n  app:\n    image: {image!r}\n")
    assert load_lab(path).services[0].image == image


@pytest.mark.parametrize("key", ["command", "entrypoint"])
@pytest.mark.parametrize("value, kind", [("7", "a number (7)"), ("true", "a boolean"), ("{a: 1}", "a mapping")])
def test_command_must_be_a_string_or_a_list(tmp_path: Path, key: str, value: str, kind: str) -> None:
    path = lab_file(tmp_path, f"services:\n  app:\n    image: looplab/toolbox\n    {key}: {value}\n")
    refused(path, f"services.app.{key}: expected a string or a list of strings, got {kind}", line=4)


# -- item 12: a negative port says what is wrong --------------------------------------------


@pytest.mark.parametrize(
    "ports",
    ['["-5:80"]', '["127.0.0.1:-5:80"]', '["8080:-80"]', "[{target: 80, published: -5}]", "[{target: -80}]"],
)
def test_a_negative_port_says_the_valid_range(tmp_path: Path, ports: str) -> None:
    path = lab_file(tmp_path, f"services:\n  app:\n    image: looplab/toolbox\n    ports: {ports}\n")
    message = refused(path, "port must be 1–65535")
    assert "ranges" not in message, message


def test_a_negative_exposed_port_says_the_valid_range(tmp_path: Path) -> None:
    path = lab_file(tmp_path, 'services:\n  app:\n    image: looplab/toolbox\n    expose: ["-7"]\n')
    refused(path, "port -7 is negative: port must be 1–65535", line=4)


def test_a_range_is_still_a_range(tmp_path: Path) -> None:
    path = lab_file(tmp_path, 'services:\n  app:\n    image: looplab/toolbox\n    ports: ["8000-8010:80"]\n')
    refused(path, "port ranges are not supported", line=4)
