"""What the app holds, as typed keys: the gateway, its inbound pipeline, its sender and its
metrics. Route modules read them; ``app.create_app`` fills them."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.exchange.gateway import Gateway
from gateway.exchange.inbound import Inbound
from gateway.exchange.sender import Sender


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    accepted: Counter
    rejected: Counter
    latency: Histogram
    outbound: Counter
    outbox: Gauge

    @classmethod
    def create(cls) -> Metrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            accepted=Counter("cme_inbound_accepted_total", "Inbound messages accepted",
                             ["type"], registry=registry),
            rejected=Counter("cme_inbound_rejected_total", "Inbound messages rejected",
                             ["code"], registry=registry),
            latency=Histogram("cme_inbound_seconds", "Inbound handling time",
                              registry=registry),
            outbound=Counter("cme_outbound_attempts_total", "Delivery attempts by outcome",
                             ["outcome"], registry=registry),
            outbox=Gauge("cme_outbox_messages", "Outbox messages by state", ["state"],
                         registry=registry))


GATEWAY = web.AppKey("gateway", Gateway)
INBOUND = web.AppKey("inbound", Inbound)
SENDER = web.AppKey("sender", Sender)
METRICS = web.AppKey("metrics", Metrics)
