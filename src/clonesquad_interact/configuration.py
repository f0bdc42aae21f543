"""Configuration keys that plugins declare: :class:`ConfigurationKey`."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import PluginError

__all__ = ["ConfigurationKey"]


@dataclass(frozen=True, slots=True)
class ConfigurationKey:
    """A configuration key, declared by the code that reads it.

    :param key: the key's name (``ec2.schedule.min_instance_count``); case is kept.
    :param default: the value when no layer sets it, as text (``""`` for none).
    :param format: how values are written: ``Bool``, ``Integer``, ``Float``,
        ``Duration``, ``String``, ``StringList``...
    :param description: what the key does, for the configuration dump.
    :param stable: ``False`` for keys that may change between releases (dumped
        only on request).
    """

    key: str
    default: str
    format: str
    description: str
    stable: bool = True
    #: The name of the plugin that declared it (filled in by the dispatcher).
    plugin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.key or self.key != self.key.strip():
            raise PluginError(f"configuration key {self.key!r}: a key must be non-empty text")
        if not isinstance(self.default, str):
            raise PluginError(
                f"configuration key {self.key!r}: default must be text, got {self.default!r}"
            )
