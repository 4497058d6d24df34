"""API keys: created in the admin or by command, stored hashed, revocable."""

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from chatrooms import services
from chatrooms.models import ApiKey, AuditAction, AuditLogEntry, AuditSource
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


def test_create_api_key_command_is_audited_as_the_command(anon_client):
    out = StringIO()

    call_command("create_api_key", "--name", "first key", stdout=out, stderr=StringIO())

    key = ApiKey.objects.get(name="first key")
    entry = AuditLogEntry.objects.get(action=AuditAction.API_KEY_CREATE)
    assert (entry.target_id, entry.source, entry.actor_name) == (
        key.prefix,
        AuditSource.COMMAND,
        "manage.py create_api_key",
    )
    assert entry.after == {"name": "first key", "prefix": key.prefix}
    assert out.getvalue().strip().startswith(f"crk_{key.prefix}_")


def test_create_api_key_command_records_the_staff_user_who_created_it(django_user_model):
    admin = django_user_model.objects.create_superuser("admin", "a@example.com", "pw-xyz-123")
    err = StringIO()

    call_command(
        "create_api_key", "--name", "ops", "--created-by", "admin", stdout=StringIO(), stderr=err
    )

    key = ApiKey.objects.get(name="ops")
    assert key.created_by == admin
    entry = AuditLogEntry.objects.get(action=AuditAction.API_KEY_CREATE)
    assert (entry.actor_user, entry.source) == (admin, AuditSource.COMMAND)
    # The note goes to stderr, never mixed with the key on stdout.
    assert "not shown again" in err.getvalue()
    assert key.prefix in err.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "A key needs a name"),
        (("--name", "   "), "A key needs a name"),
        (("--name", "a", "--created-by", "nobody"), "There is no staff user 'nobody'"),
        (("one", "--name", "other"), "Give the name once"),
    ],
)
def test_create_api_key_command_refuses_without_a_name_or_a_known_creator(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_key", *args, stdout=StringIO(), stderr=StringIO())

    assert not ApiKey.objects.exists()
    assert not AuditLogEntry.objects.exists()
