"""clonesquad-interact-hello: an example plugin for clonesquad-interact.

The plugin itself is :mod:`clonesquad_interact_hello.plugin`, found through the
``clonesquad_interact`` entry point that ``pyproject.toml`` declares.
"""

__version__ = "0.1.0"
