"""What the app holds, as typed keys: the gateway, its inbound pipeline, its sender and its
metrics. Route modules read them; ``app.create_app`` fills them."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.calendar import Calendar
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
    lpd_searches: Counter
    lpd_refused: Counter
    crl_stale: Gauge

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
                         registry=registry),
            lpd_searches=Counter("cme_lpd_searches_total", "LPD searches at the hub, by LA",
                                 ["la"], registry=registry),
            lpd_refused=Counter("cme_lpd_searches_refused_total",
                                "LPD searches refused by the rate limit, by LA (alert on "
                                "any)", ["la"], registry=registry),
            crl_stale=Gauge("cme_crl_stale", "1 when the configured CRL is past its next "
                            "update or unusable (alert on 1)", registry=registry))

    def lpd_searched(self, la: str) -> None:
        self.lpd_searches.labels(la).inc()

    def lpd_limited(self, la: str) -> None:
        self.lpd_refused.labels(la).inc()


GATEWAY = web.AppKey("gateway", Gateway)
INBOUND = web.AppKey("inbound", Inbound)
SENDER = web.AppKey("sender", Sender)
METRICS = web.AppKey("metrics", Metrics)
CALENDAR = web.AppKey("calendar", Calendar)
