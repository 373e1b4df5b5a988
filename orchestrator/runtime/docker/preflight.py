"""Before anything starts: images present (or pulled), fixed host ports free."""

from __future__ import annotations

import errno
import socket

import docker
import docker.errors

from ...errors import EngineError, ImageMissingError, PortInUseError
from ...labfile.listeners import is_toolbox_image
from ...labfile.model import Lab


def check_images(client: docker.DockerClient, lab: Lab, *, pull: bool, toolbox: bool | None = None) -> None:
    """Every image is present (or pulled when allowed), else ImageMissingError naming the service.
    `toolbox` True/False: only the `looplab/toolbox` images, or only the others (None: all)."""
    for image in sorted({s.image for s in lab.services if toolbox is None or is_toolbox_image(s.image) == toolbox}):
        try:
            client.images.get(image)
            continue
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.DockerException as exc:
            raise EngineError(f"cannot inspect image {image}: {exc}") from exc
        svc = next(s for s in lab.services if s.image == image)
        where = f"{svc.location}: services.{svc.name}.image" if svc.location else f"services.{svc.name}.image"
        if not pull:
            raise ImageMissingError(f"{where}: image {image!r} is not present on the engine (pulling is off)")
        try:
            client.images.pull(image)
        except docker.errors.DockerException as exc:
            reason = str(exc).strip().splitlines()[-1][:200]
            raise ImageMissingError(
                f"{where}: image {image!r} is not present and could not be pulled: {reason}"
            ) from exc


def check_host_ports(lab: Lab) -> None:
    """A fixed host port that is already bound fails the run before anything starts."""
    for svc in lab.services:
        for pub in svc.ports:
            if pub.host_port is None:
                continue
            family = socket.AF_INET6 if ":" in pub.host_ip else socket.AF_INET
            kind = socket.SOCK_DGRAM if pub.proto == "udp" else socket.SOCK_STREAM
            with socket.socket(family, kind) as probe:
                if kind == socket.SOCK_STREAM:
                    # as docker-proxy does: connections lingering in TIME_WAIT do not hold the port
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((pub.host_ip, pub.host_port))
                except OSError as exc:
                    where = f"{svc.location}: " if svc.location else ""
                    if exc.errno == errno.EADDRNOTAVAIL:  # a bind only: nothing was sent anywhere
                        raise PortInUseError(
                            f"{where}services.{svc.name}.ports: host IP {pub.host_ip} is not an address of this host"
                        ) from exc
                    raise PortInUseError(
                        f"{where}services.{svc.name}.ports: host port {pub.host_ip}:{pub.host_port}/{pub.proto} "
                        f"is already in use ({exc.strerror})"
                    ) from exc
