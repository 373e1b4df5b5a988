"""Lab-file loader: top level, services and networks (no Docker engine needed)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orchestrator.errors import LabFileError
from orchestrator.labfile import load_lab
from orchestrator.labfile.model import (
    Healthcheck,
    Location,
    NetworkAttachment,
    PortPublish,
)


def write(tmp_path: Path, text: str, name: str = "lab.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def load(tmp_path: Path, text: str, warnings: list[str] | None = None, name: str = "lab.yml"):
    return load_lab(write(tmp_path, text, name), warnings.append if warnings is not None else None)


def fails(tmp_path: Path, text: str, line: int | None, *fragments: str) -> LabFileError:
    with pytest.raises(LabFileError) as info:
        load(tmp_path, text)
    err = info.value
    message = str(err)
    assert "\n" not in message
    assert err.line == line, message
    where = f"{tmp_path / 'lab.yml'}:{line}: " if line is not None else f"{tmp_path / 'lab.yml'}: "
    assert message.startswith(where), message
    for fragment in fragments:
        assert fragment in message, message
    return err


SEED = """
name: seed-62893
services:
  app:
    image: looplab/toolbox
    command: ["serve", "tcp://127.0.0.1:62893"]
    networks: [lan]
  peer:
    image: looplab/toolbox
    command: ["idle"]
    networks: [lan]
networks:
  lan: {}
x-looplab:
  probe: {timeout: 1s}
  expect:
    - {from: app,  to: "127.0.0.1:62893", state: open}
    - {from: peer, to: "app:62893",       state: closed}
"""


def test_seed_lab_from_design(tmp_path: Path) -> None:
    lab = load(tmp_path, SEED)
    path = str(tmp_path / "lab.yml")
    assert lab.name == "seed-62893"
    assert lab.path == path
    assert [s.name for s in lab.services] == ["app", "peer"]
    assert lab.service("app").location == Location(path, 3)
    assert lab.service("app").networks == (NetworkAttachment("lan"),)
    assert [n.name for n in lab.networks] == ["lan"]
    assert lab.network("lan").location == Location(path, 12)
    assert lab.probe.timeout_s == 1.0
    assert [(e.vantage, e.target, e.state, e.proto) for e in lab.expectations] == [
        ("app", "127.0.0.1:62893", "open", "tcp"),
        ("peer", "app:62893", "closed", "tcp"),
    ]
    assert [e.location.line for e in lab.expectations] == [16, 17]
    assert [(x.scheme, x.address, x.port) for x in lab.listeners] == [("tcp", "127.0.0.1", 62893)]


# --- reading the file -------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LabFileError, match="no such file") as info:
        load_lab(tmp_path / "nope.yml")
    assert str(info.value).startswith(str(tmp_path / "nope.yml"))


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(LabFileError, match="cannot read"):
        load_lab(tmp_path)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    fails(tmp_path, "services:\n  app:\n    image: x\n   bad: [\n", 4, "YAML syntax error")


def test_yaml_unclosed_flow_sequence(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  app:\n    image: x\n    command: [a, b\n",
        4,
        "YAML syntax error",
        "flow sequence",
    )


def test_tab_indentation(tmp_path: Path) -> None:
    fails(tmp_path, "services:\n\tapp: {}\n", 2, "YAML syntax error")


def test_two_documents(tmp_path: Path) -> None:
    fails(tmp_path, "services: {a: {image: x}}\n---\nservices: {}\n", 2, "single document")


def test_duplicate_key(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  app: {image: x}\n  app: {image: y}\n",
        3,
        "services.app: duplicate key (first at line 2)",
    )


def test_empty_file(tmp_path: Path) -> None:
    fails(tmp_path, "", 1, "empty")


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    fails(tmp_path, "- a\n- b\n", 1, "top level must be a mapping")


def test_no_services(tmp_path: Path) -> None:
    fails(tmp_path, "name: x\nnetworks: {}\n", 1, "missing top-level key 'services'")


def test_empty_services(tmp_path: Path) -> None:
    fails(tmp_path, "name: x\nservices:\n", 2, "services: no services defined")


def test_yaml_anchors_and_merge_keys(tmp_path: Path) -> None:
    lab = load(
        tmp_path,
        """
        x-base: &base
          image: looplab/toolbox
          cap_add: [NET_ADMIN]
        services:
          a:
            <<: *base
            command: idle
          b:
            <<: *base
            image: other
        """,
    )
    assert lab.service("a").image == "looplab/toolbox"
    assert lab.service("a").cap_add == ("NET_ADMIN",)
    assert lab.service("b").image == "other"


def test_unsupported_yaml_tag(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a:\n    image: x\n    ports: !reset []\n",
        4,
        "unsupported YAML tag",
    )


# --- top level ----------------------------------------------------------------------------


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    lab = load(tmp_path, "services: {a: {image: x}}\n", name="My Lab.yml")
    assert lab.name == "my-lab"


def test_name_is_sanitised_with_a_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    lab = load(tmp_path, "name: Loop Lab!\nservices: {a: {image: x}}\n", warnings)
    assert lab.name == "loop-lab"
    assert warnings == [f"{tmp_path / 'lab.yml'}:1: name: lab name 'Loop Lab!' used as 'loop-lab'"]


def test_name_that_cannot_be_sanitised(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services: {a: {image: x}}\nname: '!!!'\n",
        2,
        "name: cannot make a lab name",
    )


def test_version_warns(tmp_path: Path) -> None:
    warnings: list[str] = []
    load(tmp_path, "version: '3.8'\nservices: {a: {image: x}}\n", warnings)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{tmp_path / 'lab.yml'}:1: version: obsolete")


def test_extension_keys_pass_silently(tmp_path: Path) -> None:
    warnings: list[str] = []
    load(
        tmp_path,
        "x-anything: {a: 1}\nservices: {a: {image: x, x-note: hi}}\n",
        warnings,
    )
    assert warnings == []


@pytest.mark.parametrize("key", ["volumes", "configs", "secrets", "include"])
def test_unsupported_top_level_keys(tmp_path: Path, key: str) -> None:
    fails(
        tmp_path,
        f"services:\n  a: {{image: x}}\n{key}: {{}}\n",
        3,
        f"unsupported top-level key '{key}'",
    )


# --- services -------------------------------------------------------------------------------


def test_full_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPLAB_TEST_PASS", "from-host")
    monkeypatch.delenv("LOOPLAB_TEST_UNSET", raising=False)
    lab = load(
        tmp_path,
        """
        services:
          app:
            image: looplab/toolbox:1.2
            entrypoint: /bin/sh -c 'echo "a b"'
            command: [sleep, 10]
            environment:
              A: 1
              B: yes
              C: "x y"
              LOOPLAB_TEST_PASS:
              LOOPLAB_TEST_UNSET:
            networks:
              lan:
                aliases: [web, www]
              default:
            expose: [80, "53/udp"]
            cap_add: [NET_ADMIN]
            healthcheck:
              test: ["CMD", "true"]
              interval: 500ms
              timeout: 2s
              retries: 3
            labels: [team=net, solo]
          db:
            image: db
            environment: [X=1, "Y=a=b", LOOPLAB_TEST_PASS]
            labels: {tier: 3}
            depends_on:
              app: {condition: service_healthy}
        networks:
          lan:
        """,
    )
    app = lab.service("app")
    assert app.entrypoint == ("/bin/sh", "-c", 'echo "a b"')
    assert app.command == ("sleep", "10")
    assert dict(app.environment) == {
        "A": "1",
        "B": "yes",
        "C": "x y",
        "LOOPLAB_TEST_PASS": "from-host",
    }
    assert app.networks == (
        NetworkAttachment("lan", ("web", "www")),
        NetworkAttachment("default"),
    )
    assert app.expose == (80, 53)
    assert app.cap_add == ("NET_ADMIN",)
    assert app.healthcheck == Healthcheck(("CMD", "true"), 0.5, 2.0, 3)
    assert dict(app.labels) == {"team": "net", "solo": ""}
    db = lab.service("db")
    assert dict(db.environment) == {
        "X": "1",
        "Y": "a=b",
        "LOOPLAB_TEST_PASS": "from-host",
    }
    assert dict(db.labels) == {"tier": "3"}
    assert db.depends_on == ("app",)
    assert db.networks == (NetworkAttachment("default"),)
    assert [n.name for n in lab.networks] == ["lan", "default"]


def test_string_healthcheck_is_cmd_shell(tmp_path: Path) -> None:
    lab = load(tmp_path, "services:\n  a:\n    image: x\n    healthcheck: {test: 'true'}\n")
    assert lab.service("a").healthcheck == Healthcheck(("CMD-SHELL", "true"))


def test_disabled_healthcheck(tmp_path: Path) -> None:
    lab = load(tmp_path, "services:\n  a:\n    image: x\n    healthcheck: {disable: true}\n")
    assert lab.service("a").healthcheck == Healthcheck(("NONE",))


def test_healthcheck_bad_duration(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a:\n    image: x\n    healthcheck:\n      test: 'true'\n      interval: 5 sec\n",
        6,
        "healthcheck.interval",
        "invalid duration",
    )


def test_healthcheck_list_must_start_with_cmd(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a:\n    image: x\n    healthcheck:\n      test: [curl, x]\n",
        5,
        "CMD, CMD-SHELL or NONE",
    )


def test_depends_on_list_and_unknown(tmp_path: Path) -> None:
    lab = load(tmp_path, "services:\n  a: {image: x}\n  b: {image: x, depends_on: [a]}\n")
    assert lab.service("b").depends_on == ("a",)
    fails(
        tmp_path,
        "services:\n  a: {image: x}\n  b:\n    image: x\n    depends_on:\n      - a\n      - c\n",
        7,
        "unknown service 'c'",
    )


def test_depends_on_bad_condition(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a: {image: x}\n  b:\n    image: x\n    depends_on:\n      a:\n        condition: ready\n",
        7,
        "unknown condition 'ready'",
    )


def test_depends_on_cycle(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
        2,
        "dependency cycle: a -> b -> a",
    )


def test_missing_image(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a:\n    command: idle\n",
        2,
        "services.a: missing required key 'image'",
    )


def test_unbalanced_quotes_in_command(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a:\n    image: x\n    command: echo 'oops\n",
        4,
        "cannot split command",
    )


def test_ignored_service_keys_warn(tmp_path: Path) -> None:
    warnings: list[str] = []
    load(
        tmp_path,
        "services:\n  a:\n    image: x\n    restart: always\n    user: nobody\n",
        warnings,
    )
    path = tmp_path / "lab.yml"
    assert warnings == [
        f"{path}:4: services.a.restart: ignored by looplab",
        f"{path}:5: services.a.user: ignored by looplab",
    ]


@pytest.mark.parametrize(
    "key, value",
    [("build", "."), ("volumes", "[/a:/b]"), ("dns", "1.1.1.1"), ("extra_hosts", "['a:1.2.3.4']"),
     ("ipc", "host"), ("privileged", "true"), ("hostname", "h")],
)  # fmt: skip
def test_unsupported_service_keys(tmp_path: Path, key: str, value: str) -> None:
    fails(
        tmp_path,
        f"services:\n  a:\n    image: x\n    {key}: {value}\n",
        4,
        f"services.a.{key}: unsupported key '{key}'",
    )


def test_hostname_says_why(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a:\n    image: x\n    hostname: h\n",
        4,
        "name resolution",
    )


@pytest.mark.parametrize("name", ["-a", "a b", "_x"])
def test_unsafe_service_name(tmp_path: Path, name: str) -> None:
    fails(tmp_path, f"services:\n  '{name}':\n    image: x\n", 2, "invalid service name")


def test_service_named_host_is_reserved(tmp_path: Path) -> None:
    fails(tmp_path, "services:\n  host: {image: x}\n", 2, "reserved")


def test_environment_value_must_be_scalar(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a:\n    image: x\n    environment:\n      A: [1]\n",
        5,
        "environment.A: expected a string",
    )


# --- networks -----------------------------------------------------------------------------


def test_default_network_added_only_when_used(tmp_path: Path) -> None:
    lab = load(
        tmp_path,
        "services:\n  a: {image: x, networks: [lan]}\nnetworks:\n  lan:\n    internal: true\n",
    )
    assert [(n.name, n.internal) for n in lab.networks] == [("lan", True)]
    lab = load(tmp_path, "services:\n  a: {image: x}\n")
    assert [n.name for n in lab.networks] == ["default"]
    assert lab.network("default").location == Location(str(tmp_path / "lab.yml"), 2)


def test_declared_default_network_is_used(tmp_path: Path) -> None:
    lab = load(tmp_path, "services:\n  a: {image: x}\nnetworks:\n  default: {internal: true}\n")
    assert [(n.name, n.internal) for n in lab.networks] == [("default", True)]


def test_undeclared_network(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a:\n    image: x\n    networks:\n      - lan\n      - wan\nnetworks:\n  lan:\n",
        6,
        "network 'wan' is not declared",
    )


def test_undeclared_network_in_mapping(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a:\n    image: x\n    networks:\n      wan:\n        aliases: [w]\n",
        5,
        "services.a.networks.wan",
    )


def test_attachment_ipv4_address_rejected(tmp_path: Path) -> None:
    text = (
        "services:\n  a:\n    image: x\n    networks:\n      lan:\n        ipv4_address: 10.0.0.2\nnetworks:\n  lan:\n"
    )
    fails(tmp_path, text, 6, "unsupported key 'ipv4_address'")


def test_labels_on_network_warn(tmp_path: Path) -> None:
    warnings: list[str] = []
    load(
        tmp_path,
        "services:\n  a: {image: x}\nnetworks:\n  lan:\n    labels: {a: b}\n    driver: bridge\n",
        warnings,
    )
    assert warnings == [f"{tmp_path / 'lab.yml'}:5: networks.lan.labels: ignored by looplab"]


@pytest.mark.parametrize(
    "key, value",
    [
        ("external", "true"),
        ("ipam", "{}"),
        ("enable_ipv6", "true"),
        ("name", "n"),
        ("driver_opts", "{}"),
    ],
)
def test_unsupported_network_keys(tmp_path: Path, key: str, value: str) -> None:
    fails(
        tmp_path,
        f"services:\n  a: {{image: x}}\nnetworks:\n  lan:\n    {key}: {value}\n",
        5,
        f"unsupported key '{key}'",
    )


def test_network_driver_must_be_bridge(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a: {image: x}\nnetworks:\n  lan:\n    driver: overlay\n",
        5,
        "only 'bridge'",
    )


def test_network_internal_must_be_bool(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a: {image: x}\nnetworks:\n  lan:\n    internal: maybe\n",
        5,
        "expected true or false",
    )


def test_network_named_outside_is_reserved(tmp_path: Path) -> None:
    fails(tmp_path, "services:\n  a: {image: x}\nnetworks:\n  outside:\n", 4, "reserved")


# --- network_mode -------------------------------------------------------------------------


def test_network_modes(tmp_path: Path) -> None:
    lab = load(
        tmp_path,
        """
        services:
          app: {image: x}
          side: {image: x, network_mode: "service:app"}
          h: {image: x, network_mode: host}
          n: {image: x, network_mode: none}
        """,
    )
    assert lab.service("side").shares_namespace_with == "app"
    assert lab.service("side").networks == ()
    assert lab.service("h").is_host_mode and lab.service("h").networks == ()
    assert lab.service("n").network_mode == "none"


def test_network_mode_unknown_service(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a:\n    image: x\n    network_mode: service:ghost\n",
        4,
        "unknown service 'ghost'",
    )


@pytest.mark.parametrize("mode", ["bridge", "container:abc", "default"])
def test_network_mode_rejected(tmp_path: Path, mode: str) -> None:
    fails(
        tmp_path,
        f"services:\n  a:\n    image: x\n    network_mode: '{mode}'\n",
        4,
        "is not supported",
    )


def test_network_mode_self(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a:\n    image: x\n    network_mode: service:a\n",
        4,
        "its own",
    )


def test_network_mode_with_networks(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a:\n    image: x\n    networks: [default]\n    network_mode: host\n",
        5,
        "cannot be used together",
    )


def test_ports_with_service_network_mode(tmp_path: Path) -> None:
    text = "services:\n  a: {image: x}\n  b:\n    image: x\n    network_mode: service:a\n    ports: ['80']\n"
    fails(tmp_path, text, 6, "cannot be published")


def test_ports_with_host_mode_are_dropped_with_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    lab = load(
        tmp_path,
        "services:\n  a:\n    image: x\n    network_mode: host\n    ports: ['80']\n",
        warnings,
    )
    assert lab.service("a").ports == ()
    assert len(warnings) == 1 and ":5: services.a.ports: ignored" in warnings[0]


# --- ports --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("'80'", PortPublish("0.0.0.0", None, 80)),
        ("80", PortPublish("0.0.0.0", None, 80)),
        ("8080:80", PortPublish("0.0.0.0", 8080, 80)),
        ("22:22", PortPublish("0.0.0.0", 22, 22)),  # YAML 1.1 would read 1342
        ("'0.0.0.0:8080:80'", PortPublish("0.0.0.0", 8080, 80)),
        ("'127.0.0.1::80'", PortPublish("127.0.0.1", None, 80)),
        ("'53:53/udp'", PortPublish("0.0.0.0", 53, 53, "udp")),
        ("'80/tcp'", PortPublish("0.0.0.0", None, 80, "tcp")),
        ("'[::1]:8080:80'", PortPublish("::1", 8080, 80)),
        ("'[::]::80/udp'", PortPublish("::", None, 80, "udp")),
        ("{target: 80}", PortPublish("0.0.0.0", None, 80)),
        (
            "{target: 80, published: '8080', host_ip: 0.0.0.0, protocol: udp}",
            PortPublish("0.0.0.0", 8080, 80, "udp"),
        ),
    ],
)
def test_ports(tmp_path: Path, spec: str, expected: PortPublish) -> None:
    lab = load(tmp_path, f"services:\n  a:\n    image: x\n    ports:\n      - {spec}\n")
    assert lab.service("a").ports == (expected,)


@pytest.mark.parametrize("spec", ["'8080:80'", "{target: 80, published: 8080}"])
def test_a_port_without_host_ip_means_every_interface_with_a_warning(tmp_path: Path, spec: str) -> None:
    """Compose binds 0.0.0.0 when no host IP is written; looplab means the same, and says so."""
    warnings: list[str] = []
    lab = load(tmp_path, f"services:\n  a:\n    image: x\n    ports:\n      - {spec}\n", warnings)
    assert lab.service("a").ports[0].host_ip == "0.0.0.0"
    assert len(warnings) == 1
    assert ":5: services.a.ports[0]: published on every host interface (Compose's default); write " in warnings[0]
    assert warnings[0].endswith("write 127.0.0.1:HOST:CONTAINER to keep it on the host's loopback")


def test_a_port_with_host_ip_has_no_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    load(tmp_path, "services:\n  a:\n    image: x\n    ports:\n      - '127.0.0.1:8080:80'\n", warnings)
    assert warnings == []


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("'0'", "port 0 is out of range (1-65535)"),
        ("70000", "port 70000 is out of range (1-65535)"),
        ("'8080:70000'", "port 70000 is out of range (1-65535)"),
        ("'8000-8010:80'", "port ranges are not supported"),
        ("'80-81'", "port ranges are not supported"),
        ("'80/sctp'", "protocol 'sctp' is not supported"),
        ("'::1:8080:80'", "must be in brackets"),
        ("'1.2.3:8080:80'", "invalid host IP"),
        ("'abc'", "invalid port 'abc'"),
        ("'[127.0.0.1]:80:80'", "only IPv6"),
        ("{target: 70000}", "port 70000 is out of range"),
        ("{target: 80, published: 8000-8010}", "port ranges are not supported"),
        ("{target: 80, protocol: sctp}", "protocol 'sctp'"),
        ("{published: 80}", "missing key 'target'"),
        ("{target: 80, foo: 1}", "unsupported key 'foo'"),
    ],
)
def test_bad_ports(tmp_path: Path, spec: str, fragment: str) -> None:
    text = f"services:\n  a:\n    image: x\n    ports:\n      - '8080:80'\n      - {spec}\n"
    fails(tmp_path, text, 6, "services.a.ports[1]", fragment)


def test_port_long_syntax_sub_key_line(tmp_path: Path) -> None:
    text = "services:\n  a:\n    image: x\n    ports:\n      - target: 80\n        published: 0\n"
    fails(tmp_path, text, 6, "services.a.ports[0].published: port 0 is out of range")


def test_expose_range_rejected(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a:\n    image: x\n    expose:\n      - '80-90'\n",
        5,
        "port ranges are not supported",
    )


def test_ports_must_be_a_list(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "services:\n  a:\n    image: x\n    ports: '80'\n",
        4,
        "expected a list",
    )


def test_network_mode_cycle(tmp_path: Path) -> None:
    text = "services:\n  a: {image: x, network_mode: 'service:b'}\n  b: {image: x, network_mode: 'service:a'}\n"
    fails(tmp_path, text, 2, "dependency cycle: a -> b -> a")


def test_null_networks_mean_default(tmp_path: Path) -> None:
    lab = load(tmp_path, "services:\n  a:\n    image: x\n    networks:\n")
    assert lab.service("a").networks == (NetworkAttachment("default"),)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_bytes(b"services:\n  a: {image: \xff}\n")
    with pytest.raises(LabFileError, match="not UTF-8"):
        load_lab(path)


def test_warn_defaults_to_silence(tmp_path: Path) -> None:
    lab = load(tmp_path, "version: '3'\nservices: {a: {image: x, restart: always}}\n")
    assert lab.service("a").image == "x"


# --- coarse expectations: reachable: true|false ----------------------------------------------
REACH = "services:\n  a: {image: x}\n  b: {image: x}\nx-looplab:\n  expect:\n    - {from: a, to: 'b:80', %s}\n"


@pytest.mark.parametrize(
    "entry, state, reachable",
    [
        ("reachable: true", None, True),
        ("reachable: false", None, False),
        ("state: open, reachable: true", "open", True),
        ("state: filtered, reachable: false", "filtered", False),
        ("state: closed", "closed", None),
    ],
)
def test_expect_accepts_reachable(tmp_path: Path, entry: str, state, reachable) -> None:
    exp = load(tmp_path, REACH % entry).expectations[0]
    assert (exp.state, exp.reachable) == (state, reachable)


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ("state: open, reachable: false", "reachable: false contradicts state 'open'"),
        ("state: closed, reachable: true", "reachable: true contradicts state 'closed'"),
        ("reachable: maybe", "must be true or false"),
    ],
)
def test_expect_state_and_reachable_that_contradict_is_an_input_error(tmp_path: Path, entry: str, fragment) -> None:
    fails(tmp_path, REACH % entry, 6, "x-looplab.expect[0].reachable: ", fragment)


def test_expect_needs_state_or_reachable(tmp_path: Path) -> None:
    fails(tmp_path, REACH % "proto: tcp", 6, "missing key 'state' (or 'reachable: true|false')")


DEPENDS = """\
services:
  db:
    image: looplab/toolbox
    command: ["idle"]
{health}  job:
    image: looplab/toolbox
    command: ["--help"]
  app:
    image: looplab/toolbox
    command: ["idle"]
    depends_on:
      db: {{condition: service_healthy}}
      job: {{condition: service_completed_successfully}}
"""
HEALTH = """\
    healthcheck:
      test: ["CMD", "/usr/local/bin/python3", "-c", "pass"]
"""


def test_depends_on_conditions_that_wait_are_kept(tmp_path: Path) -> None:
    lab = load(tmp_path, DEPENDS.format(health=HEALTH))
    app = lab.service("app")
    assert app.depends_on == ("db", "job")
    assert app.waits_for == (("db", "service_healthy"), ("job", "service_completed_successfully"))
    assert lab.service("db").waits_for == ()


def test_service_healthy_needs_a_healthcheck_on_the_dependency(tmp_path: Path) -> None:
    fails(
        tmp_path,
        DEPENDS.format(health=""),
        12,
        "services.app.depends_on.db.condition",
        "db has no healthcheck, so it can never become healthy",
    )
