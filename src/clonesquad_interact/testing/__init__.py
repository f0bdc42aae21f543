"""Testing Interact operations: real events through the real handler, AWS in moto.

``InteractClient`` sends API Gateway and SQS events built the way AWS builds them
(from the sample events shipped in ``events/``) through a dispatcher, in-process.
The pytest plugin (loaded automatically) adds the fixtures ``aws``,
``interact_plugins``, ``interact_dispatcher`` and ``interact_client``.
"""

from .builders import (
    OPERATOR_IDENTITY,
    apigw_http_event,
    apigw_rest_event,
    instance_identity,
    sample_event,
    sqs_event,
    sqs_record,
)
from .client import ClientResponse, InteractClient
from .deployment import DEPLOYMENT_ENVIRONMENT, provision

__all__ = [
    "DEPLOYMENT_ENVIRONMENT",
    "OPERATOR_IDENTITY",
    "ClientResponse",
    "InteractClient",
    "apigw_http_event",
    "apigw_rest_event",
    "instance_identity",
    "provision",
    "sample_event",
    "sqs_event",
    "sqs_record",
]
