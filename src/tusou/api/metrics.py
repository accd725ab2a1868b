"""Prometheus metrics: an app-owned registry, request metrics, images per library."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from starlette.types import ASGIApp, Scope

from tusou.api.middleware import RequestObserver
from tusou.engine import Engine


class Metrics:
    """The app's own Prometheus registry (no process-global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("tusou_http_requests_total", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("tusou_http_request_seconds", "HTTP request latency",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))


class LibraryCollector:
    """Images per library, read from the store at scrape time (never stale, no bookkeeping),
    and the size of each open library's keypoint table, once loaded (a scrape never opens a
    library nor loads a table)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("tusou_library_images", "Images stored per library",
                                   labels=["library", "kind"])
        for record in self.engine.libraries():
            family.add_metric([record.name, record.kind], record.image_count)
        yield family
        keypoints = GaugeMetricFamily(
            "tusou_keypoint_table_keypoints",
            "Stored keypoints a library's keypoint table holds (picturebook; once loaded)",
            labels=["library"])
        size = GaugeMetricFamily(
            "tusou_keypoint_table_bytes",
            "Bytes it takes: its segments (memory-mapped from their files once saved) and the "
            "keypoints not yet built into one",
            labels=["library"])
        for library in self.engine.opened():
            held = library.keypoint_table_size()
            if held is not None:
                keypoints.add_metric([library.name], held[0])
                size.add_metric([library.name], held[1])
        yield keypoints
        yield size


class MetricsMiddleware(RequestObserver):
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        route: Any = scope.get("route")
        # The route template, not the raw path: keeps label cardinality bounded.
        name = getattr(route, "path", None) or "unmatched"
        self.metrics.requests.labels(scope["method"], name, str(status)).inc()
        self.metrics.latency.labels(scope["method"], name).observe(seconds)
