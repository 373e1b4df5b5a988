"""looplab: probe a Docker lab from every network namespace and report who reaches what."""

__version__ = "0.1.0"

__all__ = ["__version__"]
