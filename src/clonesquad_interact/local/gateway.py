"""A local API Gateway: HTTP requests in, REST API proxy events to the dispatcher, answers out.

Each request under ``/v1/`` has its SigV4 signature checked (:mod:`.sigv4`), then
becomes the event API Gateway sends for the resources ``/`` and ``/{proxy+}`` of
stage ``v1``: ``pathParameters.proxy`` is the path after ``/v1/`` exactly as sent
(no decoding, no clean-up), query parameters are decoded into
``multiValueQueryStringParameters`` as the signature covers them (``%XX`` decoded,
``+`` kept; its pairs sorted, so that the values of a repeated name come in one
order whatever order they were sent in), a body that is not UTF-8 text is sent
base64-encoded, and ``requestContext.identity`` is the signing principal's. The
answer is what :meth:`Dispatcher.handle` renders. ``/openapi.json`` describes the
API.

Requests are served one at a time, as by one Lambda container.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog

from ..testing.builders import apigw_rest_event
from .sigv4 import Principal, SignatureRefused, SignedRequest, Verified, query_pairs, verified

__all__ = ["MAX_BODY", "Gateway"]

logger = structlog.get_logger(__name__)

STAGE = "v1"
#: API Gateway's payload limit.
MAX_BODY = 10 * 1024 * 1024


class Gateway:
    """An HTTP server on ``host:port`` that serves the Interact API as API Gateway does.

    :param handle: the Lambda handler to call (``dispatcher.handle``).
    :param principals: who may call, by access key.
    :param auth: check signatures; without it, an unsigned request is the ``anonymous``
        principal's (a signed one is still checked).
    :param openapi: returns the OpenAPI document served at ``/openapi.json``.
    """

    def __init__(
        self,
        handle: Callable[[dict[str, Any], Any], dict[str, Any]],
        *,
        principals: Mapping[str, Principal],
        region: str,
        auth: bool = True,
        anonymous: Principal | None = None,
        openapi: Callable[[str], dict[str, Any]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = 30.0,
    ) -> None:
        self.handle = handle
        self.principals = principals
        self.region = region
        self.auth = auth
        self.anonymous = anonymous
        self.openapi = openapi
        #: How long a connection may stay silent (the request line, headers, body).
        self.timeout = timeout
        #: Held while the dispatcher runs; :meth:`stop` takes it, so nothing runs after.
        self._lock = threading.Lock()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.server = ThreadingHTTPServer((host, port), _handler_class(self))
        self.server.daemon_threads = True
        bound = self.server.server_address[1]
        #: The ``Host`` headers served (others are refused: DNS rebinding).
        self.hosts: frozenset[str] | None = frozenset(
            f"{name}:{bound}".lower() for name in (host, "127.0.0.1", "localhost")
        )
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 (every address: any name reaches it)
            self.hosts = None

    @property
    def url(self) -> str:
        """The server's URL, without the stage."""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in a thread."""
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="gateway", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, wait for the request being dispatched, and close the socket.

        Once it returns, no request reaches the dispatcher (a connection still open
        gets 503), so what the dispatcher uses may go. Again: nothing.
        """
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join()
            self._thread = None
        with self._lock:
            self._stopped = True
        self.server.server_close()

    # ---------------------------------------------------------------------

    def respond(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, client: str
    ) -> tuple[int, dict[str, str], bytes]:
        """Serve one request: ``(status, headers, body)``."""
        path = target.partition("?")[0]
        given = [value.strip().lower() for name, value in headers if name.lower() == "host"]
        if len(given) != 1 or (self.hosts is not None and given[0] not in self.hosts):
            logger.warning("request refused", method=method, path=path, status=403, host=given)
            return _json(403, {"message": "Forbidden: the Host header is not this server's"})
        if path == "/openapi.json" and self.openapi is not None:
            return _json(200, self.openapi(self.url))
        if path != f"/{STAGE}" and not path.startswith(f"/{STAGE}/"):
            return _json(
                404,
                {"message": f"Not Found: the API is at /{STAGE}/ (its OpenAPI at /openapi.json)"},
            )
        request = SignedRequest(method, target, headers, body)
        try:
            signer = self._signer(request)
        except SignatureRefused as refused:
            logger.warning(
                "request refused", method=method, path=path, status=403, reason=refused.message
            )
            return _json(refused.status, refused.body, {"x-amzn-ErrorType": refused.error_type})
        event = self._event(method, target, headers, body, signer, client)
        with self._lock:
            if self._stopped:
                return _json(503, {"message": "Service Unavailable: the server is stopping"})
            answer = self.handle(event, None)
        return _rendered(answer, event["requestContext"]["requestId"])

    def _signer(self, request: SignedRequest) -> Verified:
        if not self.auth and self.anonymous is not None and request.header("authorization") is None:
            return Verified(self.anonymous)
        return verified(request, self.principals, region=self.region)

    def _event(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        signer: Verified,
        client: str,
    ) -> dict[str, Any]:
        principal = signer.principal
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in headers:
            single[name] = value
            multi.setdefault(name, []).append(value)
        identity = {
            **principal.identity,
            "sourceIp": client,
            "userAgent": single.get("User-Agent") or single.get("user-agent"),
        }
        text: str | bytes | None
        try:
            text = body.decode("utf-8") if body else None
        except UnicodeDecodeError:
            text = body
        path, _, query = target[len(STAGE) + 1 :].partition("?")
        params: dict[str, list[str]] = {}
        for name, value in query_pairs(query, plus_is_space=signer.plus_is_space):
            params.setdefault(name, []).append(value)
        event = apigw_rest_event(
            method, path, params=params, body=text, identity=identity, stage=STAGE
        )
        event["headers"] = single or None
        event["multiValueHeaders"] = multi or None
        context = event["requestContext"]
        host = single.get("Host") or single.get("host") or "localhost"
        context.update(domainName=host, domainPrefix=host.split(".", 1)[0], apiId="local")
        # The API's account is the deployment's, which its principals belong to (the
        # account of an access policy's execute-api ARNs).
        context["accountId"] = identity.get("accountId") or context.get("accountId")
        context["requestId"] = str(uuid.uuid4())
        return event


def _json(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body).encode(),
    )


def _rendered(answer: Mapping[str, Any], request_id: str) -> tuple[int, dict[str, str], bytes]:
    """The HTTP answer for a proxy answer; a malformed one is API Gateway's 502."""
    import base64

    try:
        status = int(answer["statusCode"])
        headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
        text = answer.get("body") or ""
        body = base64.b64decode(text) if answer.get("isBase64Encoded") else str(text).encode()
    except (KeyError, TypeError, ValueError) as exc:
        logger.error("malformed proxy answer", error=repr(exc), request_id=request_id)
        return _json(502, {"message": "Internal server error"})
    headers.setdefault("x-amzn-RequestId", request_id)
    return status, headers, body


def _handler_class(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "clonesquad-interact"
        timeout = gateway.timeout

        def _serve(self) -> None:
            # Transfer-Encoding (any) is not served: a body is sized by one Content-Length,
            # so that no two readings of the request's framing can disagree.
            if self.headers.get_all("Transfer-Encoding"):
                self._send(*_json(411, {"message": "Length Required"}), close=True)
                return
            lengths = [text.strip() for text in self.headers.get_all("Content-Length") or []]
            if not lengths:
                length = 0
            elif len(lengths) == 1 and lengths[0].isascii() and lengths[0].isdigit():
                length = int(lengths[0])
            else:  # repeated, or not a number
                length = -1
            if length < 0:
                self._send(*_json(400, {"message": "Bad Request: Content-Length"}), close=True)
                return
            if length > MAX_BODY:
                self._send(*_json(413, {"message": "Request Too Long"}), close=True)
                return
            try:
                body = self.rfile.read(length) if length else b""
            except TimeoutError:
                body = b""
            if len(body) != length:  # the client went silent, or away, before its body's end
                self._send(*_json(408, {"message": "Request Timeout"}), close=True)
                return
            headers = list(self.headers.items())
            try:
                answer = gateway.respond(
                    self.command, self.path, headers, body, self.client_address[0]
                )
            except Exception:  # a bug of the gateway itself: API Gateway's 500
                logger.exception("gateway failure", method=self.command, path=self.path)
                answer = _json(500, {"message": "Internal server error"})
            self._send(*answer)

        def _send(
            self, status: int, headers: Mapping[str, str], body: bytes, *, close: bool = False
        ) -> None:
            try:
                self.send_response(status, _reason(status))
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """The dispatcher logs each request; the HTTP server says nothing more."""

    return Handler


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
