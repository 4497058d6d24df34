"""Prometheus metrics (docs/deploy.md, "Metrics").

prometheus-client directly, not django-prometheus: the figures that matter here are the
domain's (messages, votes, increments, roll-ups, the realtime worker), which are ours to
define either way; the request metrics are one middleware of a dozen lines labelled by
the URL pattern's name; and django-prometheus would also swap the database and cache
backends for its own wrappers, which this project does not need.

Processes:

- gunicorn runs several workers: with ``PROMETHEUS_MULTIPROC_DIR`` set (the web unit sets
  it, and ``deploy/gunicorn.conf.py`` marks dead workers' files), each worker writes its
  values to files there and ``/metrics`` adds them up (prometheus-client's multiprocess
  mode). Without it (tests, ``runserver``) the process's own registry is served.
- The realtime worker serves its own registry on a loopback port
  (``CHATROOM_REALTIME_METRICS_PORT``): its domain figures (the messages and votes it
  stores, its roll-ups) and its own (lag, buffer, drops, broker connections: defined in
  ``chatrooms.realtime.worker``, which the web app never imports, so gunicorn's
  ``/metrics`` does not show them as zeros).

``/metrics`` answers only addresses in ``CHATROOM_METRICS_ALLOWED_IPS`` (default:
loopback), or a request with ``Authorization: Bearer <CHATROOM_METRICS_TOKEN>`` when that
is set; anyone else gets 404, as for any unknown path. nginx does not route it.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotFound
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

METRICS_PATH = "/metrics"
# Requests that match no URL pattern (404s, scanners) share one label value.
UNMATCHED = "<unmatched>"
PROBE_PATHS = {"/healthz", "/readyz"}

# --- HTTP --------------------------------------------------------------------------

http_requests = Counter(
    "chatroom_http_requests",
    "HTTP requests answered, by URL pattern name, method and status code.",
    ["route", "method", "status"],
)
http_request_duration = Histogram(
    "chatroom_http_request_duration_seconds",
    "Time to answer a request inside Django, by URL pattern name and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# --- The domain (counted when the transaction commits) -------------------------------

messages_accepted = Counter("chatroom_messages_accepted", "Chat messages stored.")
messages_refused = Counter(
    "chatroom_messages_refused",
    "Chat messages refused, by the error's reason (RESOURCE_EXHAUSTED limits, "
    "CHATROOM_INACTIVE, MESSAGE_EXISTS, ...).",
    ["reason"],
)
votes = Counter("chatroom_votes", "Poll ballots cast.")
counter_increments = Counter(
    "chatroom_counter_increments", "Custom counter increments recorded (taps)."
)
rollup_duration = Histogram(
    "chatroom_rollup_duration_seconds",
    "Time one room's roll-up of increments and ballots took (when it ran).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
rollup_lag = Histogram(
    "chatroom_rollup_lag_seconds",
    "Age of the oldest increment a roll-up added: how far displayed counts were behind.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)


def route_of(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        # The probes are answered before URL resolution (chatrooms.health).
        return request.path_info if request.path_info in PROBE_PATHS else UNMATCHED
    return match.view_name or match.route or UNMATCHED


class RequestMetricsMiddleware:
    """Counts and times every request by its URL pattern's name (never the raw path,
    so room ids do not become label values)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == METRICS_PATH:
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        route = route_of(request)
        method = request.method if request.method in KNOWN_METHODS else "other"
        http_request_duration.labels(route, method).observe(time.perf_counter() - started)
        http_requests.labels(route, method, str(response.status_code)).inc()
        return response


KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def allowed(request) -> bool:
    """The bearer credential, when one is set; else the socket's peer address is in the
    allow list and the request did not come through a proxy (nginx always sets
    X-Forwarded-For, and behind it every peer is 127.0.0.1)."""
    token = settings.CHATROOM_METRICS_TOKEN
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "")
        if given.startswith("Bearer ") and hmac.compare_digest(
            given[len("Bearer ") :].encode(), token.encode()
        ):
            return True
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.CHATROOM_METRICS_ALLOWED_IPS)


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
        return collected
    return REGISTRY


class MetricsEndpointMiddleware:
    """Answers ``GET /metrics`` before the host check and the HTTPS redirect (a scrape
    on loopback says ``Host: 127.0.0.1``), like the probes; 404 to anyone not allowed."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info != METRICS_PATH:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD") or not allowed(request):
            return HttpResponseNotFound(b"", content_type="text/plain")
        response = HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
        response["Cache-Control"] = "no-store"
        return response
