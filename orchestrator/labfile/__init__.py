"""Lab files: a Compose file plus `x-looplab`, read into the frozen model with file:line errors."""

from orchestrator.labfile.listeners import parse_listener_url
from orchestrator.labfile.loader import load_lab

__all__ = ["load_lab", "parse_listener_url"]
