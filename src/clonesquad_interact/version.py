"""The version of clonesquad-interact."""

__version__ = "0.1.0"
