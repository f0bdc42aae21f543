"""boto3 clients, created lazily and once per dispatcher (per warm container).

Every client has pinned retries (standard mode) and timeouts short enough that
an operation answers before API Gateway gives up (29 s): at most three attempts
of 2 s to connect and 5 s to read.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["AWS", "CLIENT_CONFIG"]

#: Keyword arguments of :class:`botocore.config.Config` for every client.
CLIENT_CONFIG: Mapping[str, Any] = MappingProxyType(
    {
        "retries": MappingProxyType({"mode": "standard", "total_max_attempts": 3}),
        "connect_timeout": 2,
        "read_timeout": 5,
    }
)


class AWS:
    """The boto3 clients an operation uses: ``aws.client("dynamodb")``.

    :param environ: where the region (``AWS_REGION``, ``AWS_DEFAULT_REGION``) and
        an endpoint (``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_ENDPOINT_URL``) are read.

    Nothing is created until a client is first asked for, so that building a
    dispatcher (and importing the handler) makes no AWS call and reads no
    credentials.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._clients: dict[str, Any] = {}
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def region(self) -> str | None:
        """The region clients are created in."""
        return self._environ.get("AWS_REGION") or self._environ.get("AWS_DEFAULT_REGION")

    def client(self, service: str) -> Any:
        """The client of ``service`` (``"dynamodb"``, ``"s3"``...), created on first use."""
        client = self._clients.get(service)
        if client is None:
            with self._lock:
                client = self._clients.get(service)
                if client is None:
                    client = self._create(service)
                    self._clients[service] = client
        return client

    def _create(self, service: str) -> Any:
        import boto3.session
        from botocore.config import Config

        if self._session is None:
            self._session = boto3.session.Session(region_name=self.region)
        variable = "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
        endpoint = self._environ.get(variable) or self._environ.get("AWS_ENDPOINT_URL") or None
        return self._session.client(service, endpoint_url=endpoint, config=Config(**_config()))


def _config() -> dict[str, Any]:
    """A fresh copy of :data:`CLIENT_CONFIG` (botocore keeps and may change what it is given)."""
    return {
        name: dict(value) if isinstance(value, Mapping) else value
        for name, value in CLIENT_CONFIG.items()
    }
