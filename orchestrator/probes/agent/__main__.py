"""Run the agent: ``python -m orchestrator.probes.agent``, or ``python -I -S path/to/agent``.

Run by path (as the setns launcher and the toolbox image run it, where ``-I`` keeps
PYTHONPATH out), this folder is not yet a package: it is loaded as one by file path
under a private name, with the folder itself taken off sys.path, so nothing on
sys.path can shadow the agent's modules and they (``http``) shadow nothing.
"""

import sys

if __package__:
    from .runner import main
else:
    import importlib.util
    import os

    _here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == _here:  # Python put the folder run first
        del sys.path[0]
    _spec = importlib.util.spec_from_file_location(
        "_looplab_agent", os.path.join(_here, "__init__.py"), submodule_search_locations=[_here]
    )
    _package = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = _package
    _spec.loader.exec_module(_package)
    main = _package.main

if __name__ == "__main__":
    sys.exit(main())
