"""`looplab up` leaves a lab running (kept from gc); `looplab down LAB` removes it."""

from __future__ import annotations

from looplab_it import COMPOSE, KEEP, LAB, ROLE, gc_finished, owned_by


def test_up_gc_spares_down_removes(looplab, engine):
    up = looplab.run("up", str(COMPOSE / "seed-62893.yml"))
    try:
        assert up.returncode == 0, up.describe()
        assert "Traceback" not in up.stdout + up.stderr, up.describe()
        assert "seed-62893" in up.stdout, up.describe()

        containers, networks = owned_by(engine, up.pid)
        assert containers and networks, "up must leave the lab on the engine"
        assert all(c.status == "running" for c in containers), [(c.name, c.status) for c in containers]
        assert all(c.labels.get(KEEP) == "true" and c.labels.get(LAB) == "seed-62893" for c in containers)
        services = {c.labels.get("org.looplab.member") for c in containers if c.labels.get(ROLE) == "service"}
        assert services == {"app", "peer"}, services
        kept = {c.id for c in containers} | {n.id for n in networks}

        gc = looplab.run("gc")  # without --all: a kept lab is not garbage, though `up` has exited
        assert gc_finished(gc.returncode, gc.stderr), gc.describe()
        containers, networks = owned_by(engine, up.pid)
        assert {c.id for c in containers} | {n.id for n in networks} == kept, "gc removed part of a kept lab"
        assert all(c.status == "running" for c in containers)

        down = looplab.run("down", "seed-62893")
        assert down.returncode == 0, down.describe()
        assert "Traceback" not in down.stdout + down.stderr, down.describe()
        containers, networks = owned_by(engine, up.pid)
        assert not containers and not networks, (
            f"down left: {[c.name for c in containers]} {[n.name for n in networks]}"
        )
    finally:
        if owned_by(engine, up.pid) != ([], []):
            looplab.run("down", "seed-62893")
