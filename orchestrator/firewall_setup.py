"""Rule 7's other half: add the lab's declared firewall rules to their namespaces, via the launcher."""

from __future__ import annotations

from .errors import LooplabError, lab_file_error_at
from .labfile.model import Lab
from .probes.launchers import Launcher
from .runtime.state import HOST, LabState


def apply_declared_rules(lab: Lab, state: LabState, launcher: Launcher) -> None:
    """Add every `x-looplab.firewall` rule in its service's namespace (never in the host's own)."""
    for rule in lab.firewall:
        netns = state.netns(rule.service)
        if netns.owner == HOST:
            raise lab_file_error_at(
                rule.location,
                f"x-looplab.firewall.{rule.service}: {rule.service} uses the host's network; "
                "looplab will not change the host's firewall",
            )
        try:
            launcher.add_firewall_rule(netns, rule.iptables_args())
        except LooplabError as exc:
            raise LooplabError(f"{rule.location}: firewall rule for {rule.service}: {exc}") from exc
