"""Structured logs with a request id (docs/deploy.md, "Logs").

The standard library, not django-structlog: a context variable, a logging filter that
copies it onto every record, and a formatter that writes one JSON object per line are
about sixty lines, need no new dependency, and cover every logger in the process
(Django's, gunicorn's error log, the workers') without changing how the code logs.

``RequestIdMiddleware`` takes the client's ``X-Request-ID`` when it is 1 to 64 letters,
digits, ``.``, ``_``, ``-`` (nginx sets one from ``$request_id`` when the client sent
none), else generates one; every log line written while the request runs carries it as
``request_id``, and the response returns it in ``X-Request-ID``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime

from django.core.signals import request_finished

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def valid_request_id(raw: str | None) -> str | None:
    if raw and REQUEST_ID_PATTERN.fullmatch(raw):
        return raw
    return None


class RequestIdMiddleware:
    """First in MIDDLEWARE: every line logged during the request carries its id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = valid_request_id(request.META.get("HTTP_X_REQUEST_ID")) or uuid.uuid4().hex
        request.request_id = rid
        # Cleared when the response is closed (request_finished), not on the way out of
        # here: Django logs a 4xx/5xx ("Not Found: ...") after the middleware returns.
        request_id.set(rid)
        if "sentry_sdk" in sys.modules:  # imported only when SENTRY_DSN is set
            sys.modules["sentry_sdk"].set_tag("request_id", rid)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = rid
        return response


def _clear_request_id(**_kwargs) -> None:
    request_id.set(None)


request_finished.connect(_clear_request_id, dispatch_uid="chatrooms.logs.clear_request_id")


class RequestIdFilter(logging.Filter):
    """Puts the current request's id (or None) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


# Attributes every LogRecord has; anything else passed with ``extra=`` is written out.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, the process,
    the ``extra`` fields, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)
