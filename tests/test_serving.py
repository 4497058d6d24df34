"""The production serving setup in deploy/: nginx in front of gunicorn, as shipped.

Issue 9 (#2): connections that send their header or body slowly each hold one of
gunicorn's sync workers, so a handful stall every other request. nginx reads requests
whole and buffers responses, so gunicorn never waits for a client. These tests run the
shipped files: gunicorn with deploy/gunicorn.conf.py (2 workers, so that 20 slow
connections are sure to outnumber them on any machine) and nginx with
deploy/nginx/chatroom.conf, rendered for free ports and a self-signed certificate by
bench/serving.py. The app runs as in production (DJANGO_DEBUG off, behind the TLS proxy,
collectstatic into a temporary STATIC_ROOT); its SQLite file stays empty, since nothing
here reads the database. bench/slow_clients.py measures the same (docs/performance.md).
"""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path

import pytest
from django.conf import settings

from bench import serving

pytestmark = pytest.mark.skipif(
    serving.nginx_binary() is None,
    reason="nginx is not installed (apt-get install nginx; CI installs it)",
)

# Generous: a normal request takes well under a second, even on a loaded CI machine.
ANSWER_WITHIN = 10.0
SLOW_CONNECTIONS = 20
FORWARDED = {"X-Forwarded-Proto": "https"}  # what a proxy that does not buffer passes on


class Stack:
    def __init__(self, folder: Path):
        self.folder = folder
        self.static_root = folder / "static"
        self.env = serving.production_env(
            static_root=self.static_root, database_url=f"sqlite:///{folder / 'db.sqlite3'}"
        )
        serving.collectstatic(self.env)
        self.gunicorn = serving.Gunicorn(env=self.env, log=folder / "gunicorn.log", workers=2)
        self.nginx = serving.Nginx(
            prefix=folder / "nginx",
            static_root=self.static_root,
            app_port=self.gunicorn.port,
            relay_port=serving.free_port(),
        )

    def get(self, path: str, **kwargs):
        return serving.request(
            self.nginx.https_port, path, tls=self.nginx.tls, timeout=ANSWER_WITHIN, **kwargs
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("serving"))
    try:
        running.gunicorn.start()
        running.nginx.start()
        yield running
    finally:
        running.nginx.stop()
        running.gunicorn.stop()


def test_slow_clients_do_not_delay_a_normal_request_behind_nginx(stack):
    slow = serving.slow_clients(stack.nginx.https_port, SLOW_CONNECTIONS, tls=stack.nginx.tls)
    try:
        status, _, body = stack.get("/api/schema/")
        assert status == 200
        assert body.startswith(b"openapi:")
        # nginx still holds every slow connection (none was refused to make room).
        assert all(client.is_alive() and client.dropped == 0 for client in slow)
    finally:
        serving.stop_all(slow)


def test_the_same_slow_clients_stall_gunicorn_alone(stack):
    """What nginx is there for: without it, the request above gets no answer at all."""
    port = stack.gunicorn.port
    slow = serving.slow_clients(port, SLOW_CONNECTIONS, extra_headers=FORWARDED)
    try:
        with pytest.raises(TimeoutError):
            serving.request(port, "/api/schema/", headers=FORWARDED, timeout=3)
    finally:
        serving.stop_all(slow)
    # Their connections closed, the workers are free again.
    status, _, _ = serving.request(port, "/api/schema/", headers=FORWARDED, timeout=ANSWER_WITHIN)
    assert status == 200


def test_the_app_sees_https_from_nginx_as_its_proxy_setting_expects(stack):
    # With DEBUG off the app redirects plain HTTP to HTTPS and sends HSTS only over
    # HTTPS: a 200 with HSTS means nginx's X-Forwarded-Proto reached Django and
    # DJANGO_BEHIND_TLS_PROXY made it trust it.
    status, headers, _ = stack.get("/moderation/sign-in/")
    assert status == 200
    assert "max-age=" in headers["strict-transport-security"]
    # Plain HTTP never reaches the app: nginx redirects it, whatever the client claims.
    status, headers, _ = serving.request(
        stack.nginx.http_port, "/moderation/sign-in/?next=x", headers=FORWARDED
    )
    assert status == 301
    assert headers["location"] == "https://127.0.0.1/moderation/sign-in/?next=x"


def test_the_broker_auth_endpoint_is_for_the_plugin_on_loopback_only(stack):
    status, _, _ = stack.get("/internal/realtime/auth", method="POST", body=b"{}")
    assert status == 404
    # The plugin calls gunicorn over plain HTTP (CHATROOM_BROKER_AUTH_URL): the endpoint
    # answers it (here: 403, a wrong broker secret) instead of redirecting to HTTPS.
    status, _, _ = serving.request(
        stack.gunicorn.port, "/internal/realtime/auth", method="POST", body=b"{}"
    )
    assert status == 403


def test_the_api_body_limit_is_the_apps_and_answered_in_its_error_shape(stack):
    limit = settings.CHATROOM_MAX_BODY_BYTES
    path = "/bv/chatroom/v1/chatrooms/messages"
    # At the limit the body reaches the app (which wants a credential first).
    status, _, body = stack.get(path, method="POST", body=b" " * limit)
    assert status == 401
    assert json.loads(body)["code"] == 16
    # One byte more and nginx refuses it, as the app itself would.
    status, headers, body = stack.get(path, method="POST", body=b" " * (limit + 1))
    assert status == 413
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    assert error["code"] == 8
    assert error["message"] == f"The request body is larger than {limit} bytes."
    assert error["details"][0]["reason"] == "BODY_TOO_LARGE"


def test_static_files_are_served_by_nginx_with_debug_off(stack):
    status, _, page = stack.get("/moderation/sign-in/")
    assert status == 200
    stylesheet = re.search(r'href="(/static/moderation/console\.[0-9a-f]{12}\.css)"', page.decode())
    assert stylesheet, "the sign-in page links its hashed stylesheet"
    url = stylesheet.group(1)
    status, headers, body = stack.get(url)
    assert status == 200
    assert body == (stack.static_root / url.removeprefix("/static/")).read_bytes()
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["x-content-type-options"] == "nosniff"
    # The .gz that collectstatic wrote goes to clients that accept it.
    status, headers, _ = stack.get(url, headers={"Accept-Encoding": "gzip"})
    assert (status, headers.get("content-encoding")) == (200, "gzip")

    # nginx, not the app's WhiteNoise: with nothing listening where gunicorn was, static
    # files are still served, the app's pages are not, and the API says so in its shape.
    with serving.Nginx(
        prefix=stack.folder / "nginx-without-app",
        static_root=stack.static_root,
        app_port=serving.free_port(),
        relay_port=serving.free_port(),
    ) as alone:
        tls = alone.tls
        status, _, _ = serving.request(alone.https_port, url, tls=tls)
        assert status == 200
        status, _, _ = serving.request(alone.https_port, "/api/schema/", tls=tls)
        assert status == 502
        status, _, body = serving.request(alone.https_port, "/bv/chatroom/v1/chatrooms", tls=tls)
        assert status == 503
        assert json.loads(body)["code"] == 14


def test_the_shipped_site_is_what_runs():
    """The renderer replaces each value the site file says to adapt exactly once: an edit
    that renames one fails here rather than leaving the tests on a stale copy."""
    text = serving.SITE_CONF.read_text()
    rendered = serving.render_site(
        https_port=1,
        http_port=2,
        app="127.0.0.1:3",
        relay="127.0.0.1:4",
        static_root=Path("/tmp/static"),
        cert=Path("/tmp/c.pem"),
        key=Path("/tmp/k.pem"),
    )
    assert "listen 127.0.0.1:1 ssl http2;" in rendered
    assert "alias /tmp/static/;" in rendered
    # Everything else is the shipped text, line for line.
    kept = [line for line in text.splitlines() if line in rendered.splitlines()]
    assert len(text.splitlines()) - len(kept) == 9


def request_from(source: str, port: int, path: str, tls) -> int:
    """A request to nginx (on 127.0.0.1) from another loopback address."""
    conn = http.client.HTTPSConnection(
        serving.HOST, port, timeout=ANSWER_WITHIN, context=tls, source_address=(source, 0)
    )
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_health_probes_through_nginx(stack):
    status, headers, body = stack.get("/healthz")
    assert (status, json.loads(body)["status"]) == (200, "ok")
    assert headers["cache-control"] == "no-store"
    # /readyz reaches the app from this machine: its SQLite file was never migrated.
    status, _, body = stack.get("/readyz")
    assert status == 503
    assert json.loads(body)["checks"]["migrations"]["status"] == "fail"
    # From anywhere else only /healthz: /readyz's failures name internal addresses.
    assert request_from("127.0.0.2", stack.nginx.https_port, "/healthz", stack.nginx.tls) == 200
    assert request_from("127.0.0.2", stack.nginx.https_port, "/readyz", stack.nginx.tls) == 403


def test_health_probes_fail_in_their_own_shape_while_gunicorn_is_down(stack):
    with serving.Nginx(
        prefix=stack.folder / "nginx-probes-without-app",
        static_root=stack.static_root,
        app_port=serving.free_port(),
        relay_port=serving.free_port(),
    ) as alone:
        for path in ("/healthz", "/readyz"):
            status, _, body = serving.request(alone.https_port, path, tls=alone.tls)
            assert status == 503
            assert json.loads(body)["status"] == "fail"
