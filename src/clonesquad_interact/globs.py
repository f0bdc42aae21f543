"""Glob patterns as IAM writes them, matched in linear time: :class:`Glob`.

A pattern is literal text where ``*`` stands for any run of characters (``/``
included, none at all included) and ``?`` for exactly one character. Nothing else
is special: ``.``, ``+``, ``[``, ``(``, ``\\`` and ``$`` are themselves, so an ARN
is a pattern of itself. No regular expression is ever built from a pattern.

Matching runs every state of the pattern's automaton at once (a bit per pattern
position, in one integer), so it reads each character of the text once: no
backtracking, whatever the pattern and the text (``*a*a*a*b`` against a long run
of ``a`` included).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = ["Glob", "GlobSet"]


class Glob:
    """One compiled pattern.

    :param pattern: the text, with ``*`` and ``?`` as wildcards.
    :param fold_case: match regardless of case (IAM compares actions so).
    """

    __slots__ = ("_accept", "_any", "_chars", "_fold", "_star", "_start", "literal", "pattern")

    def __init__(self, pattern: str, *, fold_case: bool = False) -> None:
        self.pattern = pattern
        self._fold = fold_case
        text = pattern.casefold() if fold_case else pattern
        tokens: list[str] = []
        for char in text:
            if char == "*" and tokens and tokens[-1] == "*":
                continue  # '**' is '*'
            tokens.append(char)
        #: The pattern has no wildcard: matching is comparing.
        self.literal: str | None = None if ("*" in tokens or "?" in tokens) else text
        chars: dict[str, int] = {}
        any_char = star = 0
        for position, part in enumerate(tokens):
            bit = 1 << position
            if part == "*":
                star |= bit
            elif part == "?":
                any_char |= bit
            else:
                chars[part] = chars.get(part, 0) | bit
        # A literal position also accepts what '?' accepts at other positions.
        self._chars: Mapping[str, int] = MappingProxyType(
            {char: bits | any_char for char, bits in chars.items()}
        )
        self._any = any_char
        self._star = star
        self._accept = 1 << len(tokens)
        self._start = self._closure(1)

    def _closure(self, states: int) -> int:
        # A '*' may match nothing: being before it is being after it too. Runs of
        # '*' are one token, so one step reaches past each.
        return states | ((states & self._star) << 1)

    def matches(self, text: str) -> bool:
        """Whether the whole of ``text`` matches the pattern."""
        if self._fold:
            text = text.casefold()
        if self.literal is not None:
            return text == self.literal
        states = self._start
        chars, any_char, star = self._chars, self._any, self._star
        for char in text:
            states = ((states & chars.get(char, any_char)) << 1) | (states & star)
            if not states:
                return False
            states |= (states & star) << 1
        return bool(states & self._accept)

    def __repr__(self) -> str:
        return f"Glob({self.pattern!r})"


class GlobSet:
    """Patterns of which any may match (``*`` alone matches everything).

    :param patterns: the patterns' texts.
    :param fold_case: match regardless of case.
    """

    __slots__ = ("_exact", "_fold", "_globs", "patterns")

    def __init__(self, patterns: Iterable[str], *, fold_case: bool = False) -> None:
        self.patterns = tuple(patterns)
        self._fold = fold_case
        globs = [Glob(p, fold_case=fold_case) for p in self.patterns]
        self._exact = frozenset(g.literal for g in globs if g.literal is not None)
        self._globs = tuple(g for g in globs if g.literal is None)

    def matches(self, text: str) -> bool:
        """Whether some pattern matches the whole of ``text``."""
        if self._exact and (text.casefold() if self._fold else text) in self._exact:
            return True
        return any(glob.matches(text) for glob in self._globs)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __repr__(self) -> str:
        return f"GlobSet({list(self.patterns)!r})"
