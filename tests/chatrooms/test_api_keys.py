"""API keys: created in the admin or by command, stored hashed, revocable."""

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command

from chatrooms import services
from chatrooms.models import ApiKey, AuditAction, AuditLogEntry
from tests.chatrooms.helpers import assert_status

URL = "/bv/chatroom/v1/chatrooms"

pytestmark = pytest.mark.django_db


def test_only_the_hash_of_the_secret_is_stored(api_key):
    key, plaintext = api_key

    stored = ApiKey.objects.values().get(pk=key.pk)
    assert plaintext not in str(stored)
    assert stored["secret_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext.startswith(f"crk_{key.prefix}_")


def test_lifecycle_create_use_revoke(anon_client, system_actor):
    key, plaintext = services.api_key_create(actor=system_actor, name="backend")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}

    assert anon_client.post(URL, {}, format="json", **auth).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None

    services.api_key_revoke(actor=system_actor, api_key=key)

    body = assert_status(anon_client.post(URL, {}, format="json", **auth), 401, 16)
    assert "revoked" in body["message"]
    actions = list(AuditLogEntry.objects.values_list("action", flat=True))
    assert AuditAction.API_KEY_CREATE in actions
    assert AuditAction.API_KEY_REVOKE in actions


def test_revoking_twice_writes_one_audit_row(api_key, system_actor):
    key, _ = api_key
    services.api_key_revoke(actor=system_actor, api_key=key)
    services.api_key_revoke(actor=system_actor, api_key=key)

    assert AuditLogEntry.objects.filter(action=AuditAction.API_KEY_REVOKE).count() == 1


def test_create_api_key_command_prints_only_the_key(anon_client):
    out, err = StringIO(), StringIO()

    call_command("create_api_key", "ticketing backend", stdout=out, stderr=err)

    plaintext = out.getvalue().strip()
    assert "\n" not in plaintext
    key = ApiKey.objects.get(name="ticketing backend")
    assert plaintext.startswith(f"crk_{key.prefix}_")
    response = anon_client.post(URL, {}, format="json", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert response.status_code == 200
