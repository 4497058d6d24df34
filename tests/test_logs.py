"""Structured logs with a request id (issue 13): X-Request-ID is taken when it is safe,
generated otherwise, returned, and on every line logged during the request; the format
follows DJANGO_LOG_FORMAT (JSON by default without DEBUG)."""

import io
import json
import logging
import re

import pytest
from django.test import Client

from chatrooms.logs import JsonFormatter, RequestIdFilter
from tests.test_settings import run_manage

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines():
    """The handler settings.LOGGING builds for the JSON format, on a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_a_clients_request_id_is_returned_and_on_its_log_lines(json_lines):
    response = Client().get("/no-such-page", HTTP_X_REQUEST_ID="edge-1234.abc_DEF")

    assert response.status_code == 404
    assert response["X-Request-ID"] == "edge-1234.abc_DEF"
    [line] = [line for line in json_lines() if line["logger"] == "django.request"]
    assert line["request_id"] == "edge-1234.abc_DEF"
    assert line["level"] == "WARNING"
    assert line["message"] == "Not Found: /no-such-page"


@pytest.mark.parametrize("given", ["", "x" * 65, "a b", "id\n{", "<script>", "é"])
def test_an_unsafe_or_missing_id_is_replaced_by_a_generated_one(given, json_lines):
    response = Client().get("/no-such-page", HTTP_X_REQUEST_ID=given)

    generated = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert [line["request_id"] for line in json_lines()] == [generated]


def test_lines_outside_a_request_have_no_id(json_lines):
    Client().get("/healthz")
    logging.getLogger("chatrooms.test").warning("between requests")

    assert json_lines()[-1]["request_id"] is None


def test_each_request_gets_its_own_id():
    first = Client().get("/healthz")["X-Request-ID"]
    second = Client().get("/healthz")["X-Request-ID"]

    assert first != second


def test_json_lines_carry_extra_fields_and_tracebacks(json_lines):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("chatrooms.test").exception("failed", extra={"room": "r1"})

    [line] = json_lines()
    assert line["room"] == "r1"
    assert "ValueError: boom" in line["exc_info"]


def test_production_logs_are_json_and_development_logs_text():
    code = "import logging; logging.getLogger('chatrooms').warning('hello')"
    secret = "x7!" + "k" * 60
    production = run_manage("shell", "-c", code, DJANGO_SECRET_KEY=secret)
    development = run_manage("shell", "-c", code, DJANGO_DEBUG="1")
    forced = run_manage("shell", "-c", code, DJANGO_DEBUG="1", DJANGO_LOG_FORMAT="json")
    wrong = run_manage("check", DJANGO_DEBUG="1", DJANGO_LOG_FORMAT="yaml")

    assert json.loads(production.stderr.strip().splitlines()[-1])["message"] == "hello"
    assert development.stderr.strip().endswith("WARNING chatrooms [None] hello")
    assert json.loads(forced.stderr.strip().splitlines()[-1])["logger"] == "chatrooms"
    assert wrong.returncode != 0
    assert "DJANGO_LOG_FORMAT must be json or text" in wrong.stderr


SENTRY_PROBE = """
import logging, sys
import sentry_sdk
logging.getLogger("chatrooms").error("reported")
sentry_sdk.flush(5)
print("initialised" if sentry_sdk.get_client().is_active() else "inactive")
"""


def test_without_a_dsn_sentry_is_not_even_imported():
    code = "import sys; print('sentry_sdk' in sys.modules)"
    result = run_manage("shell", "--no-imports", "-c", code, DJANGO_DEBUG="1")

    assert result.stdout.strip() == "False", result.stderr


def test_with_a_dsn_errors_reach_sentry(tmp_path):
    """A Sentry stand-in on a free port receives the ERROR line's event."""
    import gzip
    import http.server
    import threading

    received = []

    class Ingest(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            received.append((self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Ingest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dsn = f"http://publickey@127.0.0.1:{server.server_port}/42"
        result = run_manage(
            "shell", "--no-imports", "-c", SENTRY_PROBE, DJANGO_DEBUG="1", SENTRY_DSN=dsn
        )
    finally:
        server.shutdown()

    assert result.stdout.strip() == "initialised", result.stderr
    assert [path for path, _ in received] == ["/api/42/envelope/"]
    assert b'"reported"' in received[0][1]
