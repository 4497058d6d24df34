"""The client walkthrough (bench/play_client.py) against a live server."""

import importlib.util
from pathlib import Path

import pytest
from django.db import connection

from chatrooms import services
from tests.realtime.conftest import broker, broker_auth_server, worker  # noqa: F401

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "play_client.py"


def load_script():
    spec = importlib.util.spec_from_file_location("play_client", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)
def test_play_client_walkthrough(live_server, worker, system_actor):  # noqa: F811
    # The worker rolls the votes and taps up into the counts the client reads back.
    _key, plaintext = services.api_key_create(actor=system_actor, name="walkthrough")
    # An in-memory SQLite database is one connection shared by the server's threads.
    threads = 6 if connection.vendor == "postgresql" else 1
    lines = []

    summary = load_script().play(
        live_server.url, plaintext, threads=threads, taps=10, log=lines.append
    )

    assert summary["votes"] == 2
    assert summary["like"] == threads * 10
    assert any("-> 409" in line for line in lines)
