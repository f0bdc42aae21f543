"""Dumps in pages: how ``GET configuration`` and ``GET scheduler`` answer a table that
one answer cannot hold.

A dump is a mapping of top-level names, in name order. ``limit=N`` answers the first
``N`` names (``after=<name>``: those after it), and when more follow, the answer's
``X-Next-Page`` header holds the query string of the next page: the same parameters
with ``after`` the page's last name. A name is never split: a parameter set nested
under its name is one entry, all its items on one page. A page larger than what
Lambda returns is a 413 that says how to ask for less, never a 500.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .errors import PayloadTooLarge
from .formats import dump as write_document
from .response import Response

__all__ = ["ANSWER_LIMIT", "NEXT_PAGE", "dump_in_pages"]

#: Largest dump answered at once: Lambda returns at most 6 MB, headers and the JSON
#: envelope around the body included.
ANSWER_LIMIT = 6 * 1024 * 1024 - 64 * 1024
#: The header of a page that is not the last: the query string of the next page.
NEXT_PAGE = "X-Next-Page"


def dump_in_pages(
    names: Collection[str],
    value_of: Callable[[str], Any],
    params: Mapping[str, Any],
    fmt: str,
    *,
    unit: str = "keys",
) -> dict[str, Any] | Response:
    """The page of a dump that ``params`` ask for (``limit``, ``after``).

    :param names: the dump's top-level names, sorted (``prefix`` already applied).
    :param value_of: the answer's value of a name (called for the page's names only).
    :param fmt: the answer's format, to measure it as it is sent.
    :param unit: what the names are, in a 413's message (``keys``, ``entries``).
    :returns: the page as a mapping, or with the ``X-Next-Page`` header when more follow.
    :raises PayloadTooLarge: the page is larger than :data:`ANSWER_LIMIT`.
    """
    page, following = _page(names, params)
    body = {name: value_of(name) for name in page}
    _check_size(body, fmt, unit, paged="limit" in params)
    if following is None:
        return body
    return Response(body=body, headers={NEXT_PAGE: _next_query(params, following)})


def _page(names: Collection[str], params: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """The names of the page asked for, and the last one when more follow."""
    after = params.get("after")
    chosen = list(names) if after is None else [name for name in names if name > str(after)]
    limit = params.get("limit")
    if limit is None or len(chosen) <= int(limit):
        return chosen, None
    page = chosen[: int(limit)]
    return page, page[-1]


def _next_query(params: Mapping[str, Any], after: str) -> str:
    """The query string of the next page: the same parameters, ``after`` the last name."""
    query = {
        name: ("true" if value is True else str(value))
        for name, value in params.items()
        if value is not None and value is not False and name != "after"
    }
    query["after"] = after
    return urllib.parse.urlencode(query, quote_via=urllib.parse.quote)


def _check_size(body: Mapping[str, Any], fmt: str, unit: str, *, paged: bool) -> None:
    """Refuse an answer larger than Lambda returns, saying how to ask for less."""
    if not body:
        return
    text = write_document(body, fmt)
    if len(text) * 12 <= ANSWER_LIMIT:  # as JSON text, a character takes 12 bytes at most
        return
    size = len(json.dumps(text))
    if size <= ANSWER_LIMIT:
        return
    count = len(body)
    per_entry = max(1, size // count)
    fits = max(1, ANSWER_LIMIT // per_entry // 2)
    ask = (
        f"ask for smaller pages: limit={fits} or less"
        if paged
        else f"ask for it in pages with limit={fits} (then after=<the last name of a page>, "
        f"as the {NEXT_PAGE} header of each page says), or for part of it with "
        "prefix=<the names' beginning>"
    )
    raise PayloadTooLarge(
        f"the dump ({count} {unit}, {size} bytes as Lambda sends it) is larger than one "
        f"answer can be ({ANSWER_LIMIT} bytes): {ask}",
        details=[{"where": "params", "what": f"{count} {unit}, {size} bytes"}],
    )
