"""The built-in operations of clonesquad-interact, one module per family.

Each module is a plugin registered exactly the way a third-party plugin is; its
operations' schemas are in ``clonesquad_interact.schemas``.
"""
