"""Wrapping dispatch: :data:`Middleware` and how a chain of them is built."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from .operation import Operation
from .request import Request
from .response import Response

__all__ = ["CallNext", "Middleware", "chain"]

#: Runs the rest of the chain (the next middleware, at the end the operation).
CallNext = Callable[[Request], Response]

#: ``middleware(request, operation, call_next) -> Response``: runs around every routed
#: request. It may look at or replace the request, call ``call_next`` (or not, to
#: answer by itself), look at or replace the response, or catch an
#: :class:`~clonesquad_interact.InteractError` raised further in. It runs after
#: routing, authorization and validation, so it sees the validated request and can
#: never let a request skip those checks.
Middleware = Callable[[Request, Operation, CallNext], Response]


def chain(
    middlewares: Sequence[Middleware], innermost: Callable[[Request, Operation], Response]
) -> Callable[[Request, Operation], Response]:
    """Compose ``middlewares`` (first one outermost) around ``innermost``, once."""
    if not middlewares:
        return innermost

    def run(request: Request, operation: Operation) -> Response:
        def step(index: int, current: Request) -> Response:
            if index == len(middlewares):
                return innermost(current, operation)
            return middlewares[index](current, operation, partial(step, index + 1))

        return step(0, request)

    return run
