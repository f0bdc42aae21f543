"""SigV4 signing of ``requests`` requests with botocore's signer, as awscurl signs them."""

from __future__ import annotations

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from clonesquad_interact.local import demo

REGION = "eu-west-3"


class SigV4(requests.auth.AuthBase):
    """Signs a request for ``execute-api`` (the body, the host, the date, a token if any)."""

    def __init__(self, access_key: str, secret_key: str, token: str | None = None) -> None:
        self.credentials = Credentials(access_key, secret_key, token)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
            request.body = body
            request.headers["Content-Length"] = str(len(body))
        headers = {k: v for k, v in request.headers.items() if k.lower() == "content-type"}
        signed = AWSRequest(method=request.method, url=request.url, data=body, headers=headers)
        SigV4Auth(self.credentials, "execute-api", REGION).add_auth(signed)
        request.headers.update(dict(signed.headers.items()))
        return request


#: The demo operator, and the demo instance's role.
OPERATOR = SigV4(demo.OPERATOR_ACCESS_KEY, demo.OPERATOR_SECRET_KEY)
INSTANCE = SigV4(demo.INSTANCE_ACCESS_KEY, demo.INSTANCE_SECRET_KEY, demo.INSTANCE_SESSION_TOKEN)
