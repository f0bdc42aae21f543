"""Tag value patterns matched in linear time.

CloneSquad matches a tag filter value that holds ``*`` as a regular expression
anchored at the start of the value (``Dev.*`` matches ``Dev``, ``Development``...).
Matching such patterns with a backtracking engine can take exponential time
(``(a+)+$`` on a long run of ``a`` followed by another character), so this module
compiles them to a nondeterministic automaton (Thompson's construction) and runs
every state at once: the time is at most the length of the value times the size of
the pattern, whatever both are.

The syntax is the usual core of regular expressions: literals, ``.``, classes
``[a-z]`` and ``[^...]``, the escapes ``\\d \\w \\s`` (and their capitals) and
escaped punctuation, groups ``(...)`` (``(?:...)`` too), alternation ``|``, the
repetitions ``*``, ``+``, ``?``, and the anchors ``^`` (at the start) and ``$``.
Back-references, look-arounds and counted repetitions are refused: they are what
makes a pattern slow.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Pattern", "PatternError", "compile_pattern"]

#: Longest pattern accepted, in characters.
MAX_PATTERN = 1024

Predicate = Callable[[str], bool]

_CLASSES: dict[str, Predicate] = {
    "d": str.isdigit,
    "w": lambda c: c.isalnum() or c == "_",
    "s": str.isspace,
}


def _equal(expected: str) -> Predicate:
    return lambda c: c == expected


def _between(low: str, high: str) -> Predicate:
    return lambda c: low <= c <= high


class PatternError(ValueError):
    """A pattern that is malformed or uses a feature refused here."""


@dataclass(eq=False, slots=True)
class _State:
    #: ``char`` (consumes one character matching ``test``), ``split``, ``end``
    #: (only at the end of the value) or ``match``.
    kind: str
    test: Predicate | None = None
    out: list[_State] = field(default_factory=list)


@dataclass(slots=True)
class _Fragment:
    start: _State
    #: States whose ``out`` is still to be connected.
    ends: list[_State]


def _patch(ends: list[_State], target: _State) -> None:
    for state in ends:
        state.out.append(target)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def peek(self) -> str | None:
        return self.text[self.at] if self.at < len(self.text) else None

    def take(self) -> str:
        char = self.text[self.at]
        self.at += 1
        return char

    def fail(self, what: str) -> PatternError:
        return PatternError(f"{what} at position {self.at} of pattern {self.text!r}")

    def alternation(self) -> _Fragment:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.take()
            branches.append(self.sequence())
        if len(branches) == 1:
            return branches[0]
        split = _State("split", out=[b.start for b in branches])
        return _Fragment(split, [end for b in branches for end in b.ends])

    def sequence(self) -> _Fragment:
        empty = _State("split")
        fragment = _Fragment(empty, [empty])
        while self.peek() not in (None, "|", ")"):
            piece = self.repetition()
            _patch(fragment.ends, piece.start)
            fragment = _Fragment(fragment.start, piece.ends)
        return fragment

    def repetition(self) -> _Fragment:
        atom = self.atom()
        operator = self.peek()
        if operator == "{":
            raise self.fail("counted repetitions ({m,n}) are not supported")
        if operator not in ("*", "+", "?"):
            return atom
        self.take()
        if self.peek() in ("*", "+", "?"):
            raise self.fail("a repetition of a repetition (lazy or possessive) is not supported")
        if self.peek() == "{":
            raise self.fail("counted repetitions ({m,n}) are not supported")
        split = _State("split", out=[atom.start])
        if operator == "*":
            _patch(atom.ends, split)
            return _Fragment(split, [split])
        if operator == "+":
            _patch(atom.ends, split)
            return _Fragment(atom.start, [split])
        return _Fragment(split, [*atom.ends, split])

    def atom(self) -> _Fragment:
        char = self.take()
        if char == "(":
            if self.text.startswith("?:", self.at):
                self.at += 2
            elif self.peek() == "?":
                raise self.fail("look-arounds and named groups are not supported")
            inner = self.alternation()
            if self.peek() != ")":
                raise self.fail("an unclosed group")
            self.take()
            return inner
        if char in "*+?":
            raise self.fail(f"nothing to repeat before {char!r}")
        if char == "{":
            raise self.fail("a brace is a counted repetition ({m,n}), not supported: write \\{")
        if char == "^":
            if self.at != 1:
                raise self.fail("'^' is supported only at the start")
            empty = _State("split")
            return _Fragment(empty, [empty])
        if char == "$":
            end = _State("end")
            return _Fragment(end, [end])
        if char == ".":
            return self.single(lambda c: c != "\n")
        if char == "[":
            return self.single(self.char_class())
        if char == "\\":
            return self.single(self.escape())
        return self.single(_equal(char))

    def single(self, test: Predicate) -> _Fragment:
        state = _State("char", test)
        return _Fragment(state, [state])

    def escape(self) -> Predicate:
        if self.peek() is None:
            raise self.fail("a trailing backslash")
        char = self.take()
        if char.lower() in _CLASSES:
            test = _CLASSES[char.lower()]
            return test if char.islower() else (lambda c: not test(c))
        if char.isdigit():
            raise self.fail("back-references are not supported")
        if char in string.ascii_letters:
            raise self.fail(f"the escape \\{char} is not supported")
        return _equal(char)

    def char_class(self) -> Predicate:
        negated = self.peek() == "^"
        if negated:
            self.take()
        tests: list[Predicate] = []
        first = True
        while True:
            if self.peek() is None:
                raise self.fail("an unclosed character class")
            char = self.take()
            if char == "]" and not first:
                break
            first = False
            if char == "\\":
                tests.append(self.escape())
                continue
            if (
                self.peek() == "-"
                and self.at + 1 < len(self.text)
                and self.text[self.at + 1] != "]"
            ):
                self.take()
                high = self.take()
                if high < char:
                    raise self.fail(f"the range {char}-{high} is reversed")
                tests.append(_between(char, high))
            else:
                tests.append(_equal(char))
        if negated:
            return lambda c: not any(test(c) for test in tests)
        return lambda c: any(test(c) for test in tests)


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled pattern: :meth:`match` tells whether it matches a prefix of a value."""

    text: str
    _start: _State = field(repr=False)

    def match(self, value: str) -> bool:
        """Whether the pattern matches at the start of ``value`` (as ``re.match`` does),
        in time proportional to ``len(value)`` times the pattern's size."""
        current = _closure([self._start], at_end=not value)
        for index, char in enumerate(value):
            if any(state.kind == "match" for state in current):
                return True
            moved = [
                target
                for state in current
                if state.kind == "char" and state.test is not None and state.test(char)
                for target in state.out
            ]
            if not moved:
                return False
            current = _closure(moved, at_end=index == len(value) - 1)
        return any(state.kind == "match" for state in current)


def _closure(states: list[_State], *, at_end: bool) -> list[_State]:
    """The states reachable from ``states`` without consuming a character (each once)."""
    seen: set[int] = set()
    found: list[_State] = []
    stack = list(reversed(states))
    while stack:
        state = stack.pop()
        if id(state) in seen:
            continue
        seen.add(id(state))
        if state.kind == "split" or (state.kind == "end" and at_end):
            stack.extend(reversed(state.out))
        elif state.kind != "end":
            found.append(state)
    return found


def compile_pattern(text: str) -> Pattern:
    """Compile ``text``.

    :raises PatternError: it is too long, malformed, or uses a refused feature.
    """
    if len(text) > MAX_PATTERN:
        raise PatternError(f"a pattern is at most {MAX_PATTERN} characters long")
    parser = _Parser(text)
    fragment = parser.alternation()
    if parser.peek() is not None:
        raise parser.fail("an unmatched ')'")
    _patch(fragment.ends, _State("match"))
    return Pattern(text, fragment.start)
