"""Loading an unsigned message that this gateway is asked to sign and send: from a file
(``cme-gateway send``), the outbox spool folder or the operator API. One path for all three,
validating once."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core import xmlsafe
from gateway.core.config import Settings
from gateway.core.errors import GatewayError
from gateway.messages import model as m
from gateway.messages import schemas
from gateway.messages import xml as mx

DS_NS = "http://www.w3.org/2000/09/xmldsig#"  # XML-DSig's namespace


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_depth: int
    max_elements: int

    @classmethod
    def of(cls, s: Settings) -> Limits:
        return cls(s.max_body_bytes, s.max_depth, s.max_elements)


def load_unsigned(data: bytes, limits: Limits) -> m.Message:
    """The message in ``data``: within the limits, safely parsed, not signed (the gateway
    signs) and valid against its schema. Raises GatewayError otherwise."""
    if len(data) > limits.max_bytes:
        raise GatewayError("body-too-large", f"{len(data)} bytes; limit {limits.max_bytes}")
    root = xmlsafe.parse(data, max_depth=limits.max_depth, max_elements=limits.max_elements)
    if root.find(f"{{{DS_NS}}}Signature") is not None:
        raise GatewayError("bad-request", "the message must be unsigned; the gateway signs it")
    schemas.validate(root)
    return mx.parse(root)
