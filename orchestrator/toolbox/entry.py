"""The looplab toolbox image's entrypoint (standard library only).

    python -I /looplab/entry.py serve [--keep-going] URL...   listeners (see serve.py)
    python -I /looplab/entry.py idle                          wait for SIGTERM/SIGINT
    python -I /looplab/entry.py agent                         probe agent: JSON in, JSON out
    python -I /looplab/entry.py --help

In the image the agent package (agent/), serve.py and entry.py sit side by side
in /looplab/. In the source tree the agent lives in ../probes/agent/; both layouts
work. The siblings are loaded by file path, so nothing on sys.path can shadow them
(and they shadow nothing).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys

USAGE = """usage: entry.py COMMAND [ARGS...]
commands:
  serve [--keep-going] URL...  TCP/UDP echo and HTTP listeners (tcp://127.0.0.1:8080, udp://[::]:53, http://0.0.0.0:80)
  idle                         do nothing until SIGTERM/SIGINT (a container that only hosts probes)
  agent                        read one probe request (JSON) on stdin, write the response on stdout
  --help                       this text"""

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name: str):
    """Import the sibling module or package ``name`` from the image layout or the source tree."""
    key = f"_looplab_{name}"
    if key in sys.modules:
        return sys.modules[key]
    for folder in (HERE, os.path.join(os.path.dirname(HERE), "probes")):
        package = os.path.join(folder, name)
        if os.path.isfile(os.path.join(package, "__init__.py")):
            spec = importlib.util.spec_from_file_location(
                key, os.path.join(package, "__init__.py"), submodule_search_locations=[package]
            )
        elif os.path.isfile(os.path.join(folder, f"{name}.py")):
            spec = importlib.util.spec_from_file_location(key, os.path.join(folder, f"{name}.py"))
        else:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            for loaded in [m for m in sys.modules if m == key or m.startswith(key + ".")]:
                del sys.modules[loaded]
            raise
        return module
    raise ImportError(f"cannot find {name}.py or {name}/ in {HERE}")


class _Stop(Exception):
    pass


def _stop(signum, frame) -> None:
    raise _Stop


def _reap(signum, frame) -> None:
    """As PID 1, collect orphaned children so they do not linger as zombies."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def idle() -> int:
    """Block until SIGTERM or SIGINT (PID 1 ignores signals it has no handler for)."""
    try:
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGCHLD, _reap)
        while True:
            signal.pause()
    except (_Stop, KeyboardInterrupt):
        return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        print(f"entry: no command given\n{USAGE}", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command in ("--help", "-h", "help"):
        print(USAGE)
        return 0
    if command == "serve":
        return load("serve").main(rest)
    if command == "idle":
        if rest:
            print(
                f"entry: idle takes no arguments, got {' '.join(rest)!r}",
                file=sys.stderr,
            )
            return 2
        return idle()
    if command == "agent":
        return load("agent").main(rest)
    print(
        f"entry: unknown command {command!r} (commands: serve, idle, agent; try --help)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
