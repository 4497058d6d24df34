"""Ending sessions closes their live connections through the real broker, and the
broker refuses them afterwards (issue 9, #1; the rules: tests/chatrooms/test_revocation.py)."""

import pytest

from chatrooms import services
from chatrooms.models import Role
from tests.realtime.conftest import connack, connect, fetch_config

pytestmark = pytest.mark.django_db(transaction=True)

NOT_AUTHORIZED = 0x87


def test_ending_sessions_disconnects_them_and_refuses_them_at_connect(
    broker, web_publisher, room, chat_clients, system_actor
):
    troll = chat_clients(room, Role.VIEWER, subject="troll")
    fan = chat_clients(room, Role.VIEWER, subject="fan")
    config = fetch_config(troll.issued.token)

    services.user_sessions_revoke(actor=system_actor, room=room, user_id="troll")

    assert troll.disconnected.wait(5)
    for form in ("android", "client_id"):
        again = connect(broker, config, form=form, subscribe=False)
        assert connack(again).value == NOT_AUTHORIZED, form
        again.close()
    assert not fan.disconnected.is_set()

    services.room_sessions_revoke(actor=system_actor, room=room)

    assert fan.disconnected.wait(5)


def test_revoking_the_api_key_disconnects_what_it_minted(
    broker, web_publisher, room, chat_clients, system_actor
):
    api_key, _ = services.api_key_create(actor=system_actor, name="leaked")
    admin = chat_clients(room, Role.ADMIN, subject="host", api_key=api_key)

    services.api_key_revoke(actor=system_actor, api_key=api_key)

    assert admin.disconnected.wait(5)
