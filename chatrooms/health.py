"""``GET /healthz`` and ``GET /readyz``, answered before any other middleware.

- ``/healthz``: the process is up and answering. It touches nothing else, so a database
  outage does not get every web process restarted.
- ``/readyz``: the process can serve: the database answers, every migration is applied,
  the cache answers, the broker accepts the server's MQTT login, and the static files
  manifest covers every file the app ships. 200 when all hold, else 503.

Both answer JSON, ``{"status": "ok"|"fail", "checks": {name: {"status": ..., ...}}}``, to
GET and HEAD, with ``Cache-Control: no-store``. ``ProbeMiddleware`` is first in
MIDDLEWARE and answers these two paths itself: no host check (a probe on loopback says
``Host: 127.0.0.1`` whatever DJANGO_ALLOWED_HOSTS is), no HTTPS redirect, no session,
CSRF, CSP or sign-in lockout work, and no rate limit. What nginx exposes of them is in
deploy/nginx/chatroom.conf and docs/deploy.md ("Health").
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, JsonResponse

from chatrooms.checks import static_manifest_problems
from chatrooms.realtime.publisher import SERVER_USERNAME, broker_secret

HEALTHZ, READYZ = "/healthz", "/readyz"
# The broker must answer a CONNECT within this long.
BROKER_TIMEOUT_SECONDS = 1.0
# The migration plan reads every migration file: computed at most this often per process
# (a readiness probe every few seconds then costs one cheap query set, not a file walk).
MIGRATIONS_CACHE_SECONDS = 5.0


class CheckFailed(Exception):
    """A check's failure, with the reason an operator reads."""


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


_migrations_lock = threading.Lock()
_migrations_result: tuple[float, str | None] | None = None
_static_ok = False


def unapplied_migrations() -> list[str]:
    """The plan ``manage.py migrate`` would run now: migrations on disk, not applied."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def check_migrations() -> None:
    global _migrations_result
    with _migrations_lock:
        now = time.monotonic()
        if _migrations_result is None or now - _migrations_result[0] > MIGRATIONS_CACHE_SECONDS:
            pending = unapplied_migrations()
            error = (
                f"{len(pending)} migrations not applied (first {pending[0]}): "
                "run `python manage.py migrate`"
                if pending
                else None
            )
            _migrations_result = (now, error)
        error = _migrations_result[1]
    if error:
        raise CheckFailed(error)


def reset_cached_results() -> None:
    """Forget cached check results (tests)."""
    global _migrations_result, _static_ok
    with _migrations_lock:
        _migrations_result = None
    _static_ok = False


def check_cache() -> None:
    key = f"chatrooms:readyz:{os.getpid()}:{threading.get_ident()}"
    token = time.monotonic_ns()
    cache.set(key, token, 30)
    if cache.get(key) != token:
        raise CheckFailed("the cache did not return what was just stored")


def _mqtt_string(value: bytes) -> bytes:
    return struct.pack("!H", len(value)) + value


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_connect_packet(client_id: str, username: str, password: str) -> bytes:
    """An MQTT 5 CONNECT: clean start, user name and password, keepalive 10 s."""
    variable = _mqtt_string(b"MQTT") + bytes([5, 0xC2]) + struct.pack("!H", 10) + b"\x00"
    payload = b"".join(_mqtt_string(s.encode()) for s in (client_id, username, password))
    body = variable + payload
    return b"\x10" + _remaining_length(len(body)) + body


MQTT_DISCONNECT = b"\xe0\x00"


def check_broker() -> None:
    """Log in to the broker as the server, as the web app and the worker do, and leave.
    The auth plugin checks the server's password itself (no call back to this app), so
    this proves the broker runs with the plugin and the same CHATROOM_BROKER_SECRET."""
    address = (settings.CHATROOM_BROKER_HOST, settings.CHATROOM_BROKER_PORT)
    where = f"{address[0]}:{address[1]}"
    # One client id per process: the plugin remembers the server's recent client ids.
    client_id = f"{SERVER_USERNAME}-readyz-{os.getpid()}"
    try:
        with socket.create_connection(address, timeout=BROKER_TIMEOUT_SECONDS) as sock:
            sock.settimeout(BROKER_TIMEOUT_SECONDS)
            sock.sendall(mqtt_connect_packet(client_id, SERVER_USERNAME, broker_secret()))
            answer = b""
            while len(answer) < 4:
                chunk = sock.recv(64)
                if not chunk:
                    break
                answer += chunk
            if len(answer) < 4 or answer[0] != 0x20:
                raise CheckFailed(f"the broker at {where} closed the connection without a CONNACK")
            reason = answer[3]
            if reason != 0:
                raise CheckFailed(
                    f"the broker at {where} refused the server's login (reason code "
                    f"0x{reason:02x}): is CHATROOM_BROKER_SECRET the same for the broker?"
                )
            sock.sendall(MQTT_DISCONNECT)
    except OSError as exc:
        raise CheckFailed(f"the broker at {where} is unreachable: {exc}") from None


def check_static() -> None:
    # This process's manifest is loaded once: once complete, it stays complete.
    global _static_ok
    if _static_ok:
        return
    problems = static_manifest_problems()
    if problems:
        raise CheckFailed(f"{problems[0].msg} {problems[0].hint}")
    _static_ok = True


READINESS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "migrations": check_migrations,
    "cache": check_cache,
    "broker": check_broker,
    "static": check_static,
}


def run_checks(checks: dict[str, Callable[[], None]]) -> tuple[bool, dict]:
    results: dict[str, dict] = {}
    for name, check in checks.items():
        if name == "migrations" and results.get("database", {}).get("status") == "fail":
            results[name] = {"status": "fail", "error": "the database is unreachable"}
            continue
        started = time.perf_counter()
        try:
            check()
        except CheckFailed as exc:
            result = {"status": "fail", "error": str(exc)}
        except Exception as exc:  # any failure is a failed check
            result = {"status": "fail", "error": f"{type(exc).__name__}: {exc}".strip()}
        else:
            result = {"status": "ok"}
        result["ms"] = round((time.perf_counter() - started) * 1000, 1)
        results[name] = result
    ok = all(result["status"] == "ok" for result in results.values())
    return ok, results


def healthz() -> tuple[int, dict]:
    return 200, {"status": "ok", "checks": {"process": {"status": "ok"}}}


def readyz() -> tuple[int, dict]:
    ok, results = run_checks(READINESS)
    return (200 if ok else 503), {"status": "ok" if ok else "fail", "checks": results}


PROBES = {HEALTHZ: healthz, READYZ: readyz}


class ProbeMiddleware:
    """Answers /healthz and /readyz before anything else runs (first in MIDDLEWARE)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path_info)
        if probe is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = HttpResponse(status=405)
            response["Allow"] = "GET, HEAD"
            return response
        status, body = probe()
        response = JsonResponse(body, status=status)
        response["Cache-Control"] = "no-store"
        return response
