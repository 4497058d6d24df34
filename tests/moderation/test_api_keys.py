"""API keys in the console (room admins): create with the secret shown once,
list with prefix and last use, revoke after confirming."""

import pytest
from django.urls import reverse

from chatrooms import auth, services
from chatrooms.errors import Unauthenticated
from chatrooms.models import ApiKey, AuditAction, AuditLogEntry, AuditSource
from moderation.views.api_keys import KEYS_PAGE_SIZE

pytestmark = pytest.mark.django_db

KEYS = reverse("moderation:api_keys")


def revoke_url(api_key):
    return reverse("moderation:api_key_revoke", kwargs={"key_id": api_key.pk})


def test_create_shows_the_secret_once_and_it_works(room_admin_client, room_admin):
    response = room_admin_client.submit(KEYS, {"name": "Player backend"}, page=KEYS)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    plaintext = response.context["plaintext"]
    assert plaintext.encode() in response.content
    api_key = ApiKey.objects.get(name="Player backend")
    assert api_key.created_by == room_admin
    assert auth.api_key_authenticate(plaintext) == api_key
    entry = AuditLogEntry.objects.get(action=AuditAction.API_KEY_CREATE)
    assert (entry.actor_user, entry.source) == (room_admin, AuditSource.CONSOLE)
    # Never again: the list shows the prefix only.
    assert plaintext.encode() not in room_admin_client.get(KEYS).content
    assert api_key.prefix.encode() in room_admin_client.get(KEYS).content


def test_a_key_needs_a_name(room_admin_client):
    response = room_admin_client.submit(KEYS, {"name": "  "}, page=KEYS)

    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert not ApiKey.objects.exists()


def test_the_list_shows_prefix_last_use_and_status(room_admin_client, system_actor):
    used, plaintext = services.api_key_create(actor=system_actor, name="used key")
    auth.api_key_authenticate(plaintext)
    revoked, _ = services.api_key_create(actor=system_actor, name="old key")
    services.api_key_revoke(actor=system_actor, api_key=revoked)

    response = room_admin_client.get(KEYS)

    keys = {key.name: key for key in response.context["keys"]}
    assert keys["used key"].last_used_at is not None
    assert keys["old key"].revoked_at is not None
    assert f"crk_{used.prefix}_".encode() in response.content
    # Only active keys offer "Revoke".
    assert revoke_url(used).encode() in response.content
    assert revoke_url(revoked).encode() not in response.content


def test_revoke_asks_then_revokes(room_admin_client, room_admin, system_actor):
    api_key, plaintext = services.api_key_create(actor=system_actor, name="k")

    asked = room_admin_client.submit(revoke_url(api_key), {}, page=KEYS)
    assert "moderation/confirm.html" in [t.name for t in asked.templates]
    api_key.refresh_from_db()
    assert api_key.revoked_at is None

    done = room_admin_client.submit(revoke_url(api_key), {"confirm": "1"}, page=KEYS)
    assert done["Location"] == KEYS
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    with pytest.raises(Unauthenticated):
        auth.api_key_authenticate(plaintext)
    entry = AuditLogEntry.objects.get(action=AuditAction.API_KEY_REVOKE)
    assert (entry.actor_user, entry.source) == (room_admin, AuditSource.CONSOLE)


def test_revoking_twice_changes_nothing(room_admin_client, system_actor):
    api_key, _ = services.api_key_create(actor=system_actor, name="k")
    for _ in range(2):
        room_admin_client.submit(revoke_url(api_key), {"confirm": "1"}, page=KEYS)

    assert AuditLogEntry.objects.filter(action=AuditAction.API_KEY_REVOKE).count() == 1


def test_key_forms_refuse_a_post_without_the_csrf_token(room_admin_client, system_actor):
    api_key, _ = services.api_key_create(actor=system_actor, name="k")

    assert room_admin_client.post(KEYS, {"name": "x"}).status_code == 403
    assert room_admin_client.post(revoke_url(api_key), {"confirm": "1"}).status_code == 403
    assert ApiKey.objects.count() == 1
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_the_list_runs_a_fixed_number_of_queries(
    room_admin_client, room_admin, django_assert_num_queries
):
    # 1 session, 2 user, 3 user permissions, 4 group permissions,
    # 5 one page of keys with their creators joined.
    queries = 5
    actor = services.Actor.staff(room_admin)
    services.api_key_create(actor=actor, name="first")
    with django_assert_num_queries(queries):
        room_admin_client.get(KEYS)

    for index in range(199):
        services.api_key_create(actor=actor, name=f"key {index}")
    with django_assert_num_queries(queries):
        response = room_admin_client.get(KEYS)
    assert len(response.context["keys"]) == KEYS_PAGE_SIZE
    assert response.context["next_cursor"]
