"""Exact totals through the HTTP API under gunicorn with several workers.

PostgreSQL only: the server processes share the test database, which needs a
real server (and SQLite serialises writers anyway).
"""

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from chatrooms import services
from tests.realtime.conftest import broker, broker_auth_server, worker  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def load_bench(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn_url(transactional_db, tmp_path):
    """gunicorn (4 workers x 8 threads) on the test database. Its log goes to a file: a
    pipe nobody reads fills up (every 409 is a log line) and stalls the workers."""
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SECRET_KEY": "exactness-test-secret-key-" + "x" * 40,
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "CHATROOM_BATCH_WINDOW_MS": "200",
        "CHATROOM_AUTH_FAILURE_LIMIT": "1000",
    }
    log = (tmp_path / "gunicorn.log").open("w+")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--workers",
            "4",
            "--threads",
            "8",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/bv/chatroom/v1/chatrooms", timeout=2)
            except urllib.error.HTTPError:
                break  # answering (401): up
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "gunicorn did not start:\n" + (tmp_path / "gunicorn.log").read_text()
                    ) from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture
def api_key_plaintext(system_actor):
    return services.api_key_create(actor=system_actor, name="exactness")[1]


def test_200_voters_voting_twice_at_once_are_counted_once(gunicorn_url, api_key_plaintext):
    result = load_bench("exactness").check_votes(gunicorn_url, api_key_plaintext, voters=200)

    assert result["other_statuses"] == [], result
    assert result["every_voter_one_200_one_409"], result
    assert result["votes_count"] == result["options_sum"] == 200


def test_50_clients_incrementing_100_times_are_counted_exactly(
    gunicorn_url,
    worker,  # noqa: F811
    api_key_plaintext,
):
    # The realtime worker rolls the increments up while they arrive, as in production.
    result = load_bench("exactness").check_increments(
        gunicorn_url, api_key_plaintext, clients=50, each=100
    )

    assert result["other_statuses"] == [], result
    assert result["final_value"] == 5000
    assert result["one_value_per_version"], result
    assert result["versions_ordered"], result
    assert result["observations"] > 1
