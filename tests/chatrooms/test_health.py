"""GET /healthz and GET /readyz (issue 13): each readiness check fails for real.

The broker is the project's Mosquitto with its auth plugin on a free port (the server's
login is checked by the plugin itself, so no web app is needed behind it); the other
failures are real too: a database at a path that cannot exist, a Redis on a closed port,
a migration recorded as not applied, a manifest that was never written.
"""

import shutil
import socket
import subprocess

import pytest
from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from django.core.files.storage import storages
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from chatrooms import health
from chatrooms.realtime.broker import plugin_path, write_config
from tests.realtime.conftest import free_port, wait_for

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


@pytest.fixture(autouse=True)
def _fresh_results():
    health.reset_cached_results()
    yield
    health.reset_cached_results()


@pytest.fixture
def broker(settings, tmp_path):
    """The project's broker on a free port; this process's settings point at it."""
    if not plugin_path().exists():
        pytest.fail(f"{plugin_path()} is missing: `make test` builds it (make -C broker)")
    port = free_port()
    conf = write_config(
        tmp_path / "broker", tcp_port=port, auth_url="http://127.0.0.1:9/never-called"
    )
    with open(tmp_path / "broker.log", "w") as log:
        process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log)
        try:
            wait_for(lambda: _listening(port))
            settings.CHATROOM_BROKER_PORT = port
            yield process
        finally:
            process.terminate()
            process.wait(5)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def readyz(client):
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    return response.status_code, response.json()


def failed(body) -> dict[str, str]:
    return {name: c["error"] for name, c in body["checks"].items() if c["status"] == "fail"}


def test_healthz_answers_without_touching_the_database(client):
    # No django_db mark: any query would raise.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"process": {"status": "ok"}}}


@pytest.mark.django_db
def test_readyz_is_200_when_everything_answers(client, broker):
    status, body = readyz(client)

    assert status == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "migrations", "cache", "broker", "static"}
    assert all(check["status"] == "ok" for check in body["checks"].values())


@pytest.mark.django_db
def test_readyz_fails_when_the_broker_is_not_listening(client, settings):
    settings.CHATROOM_BROKER_PORT = free_port()  # nothing listens there

    status, body = readyz(client)

    assert (status, body["status"]) == (503, "fail")
    assert failed(body).keys() == {"broker"}
    assert "unreachable" in failed(body)["broker"]


@pytest.mark.django_db
def test_readyz_fails_when_the_broker_was_stopped(client, broker):
    assert readyz(client)[0] == 200
    broker.terminate()
    broker.wait(5)

    status, body = readyz(client)

    assert status == 503
    assert failed(body).keys() == {"broker"}


@pytest.mark.django_db
def test_readyz_fails_when_the_broker_refuses_the_servers_password(client, broker, settings):
    settings.CHATROOM_BROKER_SECRET = "not-the-secret-the-broker-was-given"

    status, body = readyz(client)

    assert status == 503
    assert "refused the server's login" in failed(body)["broker"]


@pytest.mark.django_db
def test_readyz_fails_when_a_migration_is_not_applied(client, broker):
    # The last chatrooms migration, recorded as not applied (the transaction of the
    # test rolls the record back).
    [leaf] = [
        node for node in MigrationLoader(connection).graph.leaf_nodes() if node[0] == "chatrooms"
    ]
    MigrationRecorder(connection).record_unapplied(*leaf)

    status, body = readyz(client)

    assert status == 503
    assert failed(body) == {
        "migrations": f"1 migrations not applied (first {leaf[0]}.{leaf[1]}): "
        "run `python manage.py migrate`"
    }


@pytest.mark.django_db
def test_the_migration_plan_is_cached_for_a_few_seconds(
    client, broker, django_assert_max_num_queries
):
    assert readyz(client)[0] == 200
    # Within MIGRATIONS_CACHE_SECONDS: only the database check's SELECT 1 (and the
    # cache's own work, which is not the database here).
    with django_assert_max_num_queries(1):
        assert readyz(client)[0] == 200


@pytest.mark.django_db(transaction=True)
def test_readyz_fails_when_the_database_is_unreachable(client, broker, tmp_path):
    original = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = str(tmp_path / "no-such-folder" / "db.sqlite3")
    else:
        connection.settings_dict["PORT"] = free_port()  # nothing listens there
    try:
        status, body = readyz(client)
    finally:
        connection.close()
        connection.settings_dict.update(original)

    assert status == 503
    assert failed(body).keys() == {"database", "migrations"}
    assert failed(body)["migrations"] == "the database is unreachable"


@pytest.mark.django_db
def test_readyz_fails_when_the_cache_is_unreachable(client, broker, settings):
    # A Redis cache (REDIS_URL) on a port where nothing listens.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }

    status, body = readyz(client)

    assert status == 503
    assert failed(body).keys() == {"cache"}


@pytest.mark.django_db
def test_readyz_fails_without_the_static_files_manifest(client, broker, settings, tmp_path):
    # What DJANGO_DEBUG=0 uses, over a STATIC_ROOT collectstatic never wrote.
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    assert isinstance(storages["staticfiles"], ManifestStaticFilesStorage)

    status, body = readyz(client)

    assert status == 503
    assert "collectstatic" in failed(body)["static"]


def test_probes_skip_host_checks_redirects_sessions_and_csrf(client, settings):
    # A production-like process probed on loopback: 127.0.0.1 is not an allowed host,
    # plain HTTP would be redirected, and POSTs would need a CSRF token.
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.SECURE_SSL_REDIRECT = True

    response = client.get("/healthz", HTTP_HOST="127.0.0.1:8000")

    assert response.status_code == 200
    assert not response.cookies
    assert client.head("/healthz").status_code == 200
    refused = client.post("/healthz")
    assert (refused.status_code, refused["Allow"]) == (405, "GET, HEAD")
    # Every other path still goes through the host check.
    assert client.get("/moderation/sign-in/", HTTP_HOST="127.0.0.1:8000").status_code == 400


def test_the_broker_probe_speaks_mqtt_5():
    packet = health.mqtt_connect_packet("id", "user", "pw")

    # CONNECT, remaining length 25, "MQTT", version 5, flags (user name, password, clean
    # start), keepalive 10 s, no properties; then the three strings.
    assert packet == b"\x10\x19\x00\x04MQTT\x05\xc2\x00\x0a\x00\x00\x02id\x00\x04user\x00\x02pw"
