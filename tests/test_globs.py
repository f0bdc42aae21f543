"""IAM-style globs: ``*`` spans anything (``/`` too), ``?`` is one character, the rest literal."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clonesquad_interact.globs import Glob, GlobSet

ARN = "arn:aws:execute-api:eu-west-3:111111111111:pq264fab39/v1/GET/fleet/status"


def reference(pattern: str) -> re.Pattern[str]:
    """The same pattern as a regular expression, every other character escaped."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (ARN, ARN, True),
        ("arn:aws:execute-api:*:*:*/v1/GET/*", ARN, True),
        ("arn:aws:execute-api:*", ARN, True),  # '*' spans '/'
        ("arn:aws:execute-api:eu-west-?:*/GET/fleet/status", ARN, True),
        ("arn:aws:execute-api:eu-west-?:*/POST/*", ARN, False),
        ("*/fleet/statu?", ARN, True),
        ("*/fleet/statu?", f"{ARN}x", False),
        ("a?c", "ac", False),
        ("a*", "a", True),
        ("*", "", True),
        ("", "", True),
        ("", "x", False),
        ("a**b", "ab", True),
        ("a**b", "a/x/b", True),
    ],
)
def test_wildcards(pattern: str, text: str, expected: bool) -> None:
    assert Glob(pattern).matches(text) is expected


@pytest.mark.parametrize("special", [".", "+", "[", "(", ")", "]", "\\", "$", "^", "|", "{"])
def test_regex_characters_are_literal(special: str) -> None:
    pattern = f"arn:aws:execute-api:*:*:api{special}1/v1/GET/fleet/*"
    glob = Glob(pattern)
    assert glob.matches(f"arn:aws:execute-api:r:1:api{special}1/v1/GET/fleet/status")
    # A regex built without escaping would take '.' for any character, '+' for a
    # repetition, '[' for a class, '(' for a group.
    assert not glob.matches("arn:aws:execute-api:r:1:apiX1/v1/GET/fleet/status")
    assert not glob.matches("arn:aws:execute-api:r:1:api1/v1/GET/fleet/status")
    assert not glob.matches("arn:aws:execute-api:r:1:ap1/v1/GET/fleet/status")


def test_principal_arns_with_dots_and_pluses() -> None:
    glob = Glob("arn:aws:iam::111111111111:user/ops.team+admin")
    assert glob.matches("arn:aws:iam::111111111111:user/ops.team+admin")
    assert not glob.matches("arn:aws:iam::111111111111:user/opsXteam+admin")
    assert not glob.matches("arn:aws:iam::111111111111:user/ops.teamadmin")
    assert not glob.matches("arn:aws:iam::111111111111:user/ops.teammadmin")
    brackets = Glob("arn:aws:iam::111111111111:role/[a-z](x)")
    assert brackets.matches("arn:aws:iam::111111111111:role/[a-z](x)")
    assert not brackets.matches("arn:aws:iam::111111111111:role/b")
    assert not brackets.matches("arn:aws:iam::111111111111:role/bx")


def test_a_wildcard_in_the_text_is_only_a_character() -> None:
    assert not Glob("arn:aws:iam::111111111111:user/ops").matches("arn:aws:iam::*")
    assert Glob("a?c").matches("a*c")


def test_case_folded_for_actions() -> None:
    assert Glob("execute-api:invoke", fold_case=True).matches("execute-api:Invoke")
    assert Glob("Execute-API:*", fold_case=True).matches("execute-api:Invoke")
    assert not Glob("execute-api:invoke").matches("execute-api:Invoke")


def test_no_backtracking_on_hostile_patterns() -> None:
    # A backtracking matcher tries every split of the text between the stars here:
    # the number of attempts grows with the length to the power of the stars.
    pattern = "*a" * 30 + "*b"
    text = "a" * 20_000
    assert not Glob(pattern).matches(text)
    assert Glob(pattern).matches(text + "b")


def test_glob_set() -> None:
    senders = GlobSet(["AROA4XZPU6QWEXAMPLE02:*", "AIDA4XZPU6QWEXAMPLE01"])
    assert senders.matches("AROA4XZPU6QWEXAMPLE02:i-0f3c5e2a9b8d71c46")
    assert senders.matches("AIDA4XZPU6QWEXAMPLE01")
    assert not senders.matches("AIDA4XZPU6QWEXAMPLE011")
    assert not senders.matches("AROA4XZPU6QWEXAMPLE07:cs-debug-report-dump")
    assert not GlobSet([]).matches("anything")
    assert not GlobSet([])
    assert GlobSet(["Execute-Api:INVOKE"], fold_case=True).matches("execute-api:Invoke")


_ALPHABET = st.sampled_from(list("ab/.+[(*?"))


@settings(max_examples=400, deadline=None)
@given(st.text(_ALPHABET, max_size=12), st.text(st.sampled_from(list("ab/.+[(*?")), max_size=16))
def test_agrees_with_an_escaped_regex(pattern: str, text: str) -> None:
    assert Glob(pattern).matches(text) is bool(reference(pattern).fullmatch(text))
