"""The Django admin: every page loads, and writes go through the services."""

import pytest
from django.contrib import admin
from django.urls import reverse

from chatrooms import auth, services
from chatrooms.errors import Unauthenticated
from chatrooms.models import (
    ApiKey,
    AuditAction,
    AuditLogEntry,
    AuditSource,
    BlockedUser,
    Chatroom,
    Poll,
    PollStatus,
    PollType,
)
from tests import factories

pytestmark = pytest.mark.django_db

MODELS = [model for model in admin.site._registry if model._meta.app_label == "chatrooms"]


@pytest.fixture
def populated(room, system_actor):
    factories.BlockedUserFactory(room=room)
    factories.PinnedMessageFactory(room=room)
    poll = factories.PollFactory(room=room)
    message = factories.ChatMessageFactory(room=room)
    services.api_key_create(actor=system_actor, name="k")
    auth.chatroom_token_issue(room=room, subject="text")
    return {"room": room, "poll": poll, "message": message}


def test_every_chatroom_model_is_registered():
    names = {model.__name__ for model in MODELS}
    assert names >= {
        "Chatroom",
        "BlockedUser",
        "PinnedMessage",
        "Poll",
        "PollOption",
        "PollBallot",
        "PollVote",
        "CustomCounter",
        "ChatMessage",
        "AuditLogEntry",
        "ApiKey",
        "ChatSession",
    }


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_search_and_change_pages_load(admin_client, populated, model):
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")

    assert admin_client.get(changelist).status_code == 200
    assert admin_client.get(changelist, {"q": str(populated["room"].id)}).status_code == 200
    assert admin_client.get(changelist, {"q": "text"}).status_code == 200
    obj = model.objects.first()
    if obj is not None:
        change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        assert admin_client.get(change).status_code == 200


def test_changelists_do_not_count_the_whole_table():
    for model_admin in admin.site._registry.values():
        if model_admin.model._meta.app_label == "chatrooms":
            assert model_admin.show_full_result_count is False


def test_search_by_room_uuid_is_an_exact_match(admin_client, room):
    other = factories.ChatroomFactory()
    factories.BlockedUserFactory(room=room, custom_name="mine")
    factories.BlockedUserFactory(room=other, custom_name="theirs")

    response = admin_client.get(
        reverse("admin:chatrooms_blockeduser_changelist"), {"q": str(room.id)}
    )

    assert b"mine" in response.content
    assert b"theirs" not in response.content


def test_add_room_goes_through_the_service(admin_client):
    response = admin_client.post(
        reverse("admin:chatrooms_chatroom_add"),
        {
            "label": "Keynote",
            "status": "CHAT_STATUS_ACTIVE",
            "counter_keys": "like, heart",
            "custom_counters-TOTAL_FORMS": "0",
            "custom_counters-INITIAL_FORMS": "0",
            "blocks-TOTAL_FORMS": "0",
            "blocks-INITIAL_FORMS": "0",
            "pinned_messages-TOTAL_FORMS": "0",
            "pinned_messages-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content
    room = Chatroom.objects.get(label="Keynote")
    assert [c.key for c in room.custom_counters.all()] == ["like", "heart"]
    entry = AuditLogEntry.objects.get(action=AuditAction.ROOM_CREATE, room=room)
    assert entry.source == AuditSource.ADMIN


def test_mute_action_is_audited(admin_client, room, superuser):
    response = admin_client.post(
        reverse("admin:chatrooms_chatroom_changelist"),
        {"action": "mute", "_selected_action": [str(room.pk)]},
    )

    assert response.status_code == 302
    room.refresh_from_db()
    assert room.muted is True
    entry = AuditLogEntry.objects.get(action=AuditAction.ROOM_MUTE)
    assert entry.source == AuditSource.ADMIN
    assert entry.actor_kind == "staff"


def test_lockdown_actions_turn_it_on_and_off_and_the_room_page_shows_it(admin_client, room):
    changelist = reverse("admin:chatrooms_chatroom_changelist")
    change = reverse("admin:chatrooms_chatroom_change", args=[room.pk])
    assert "Off (applies slow mode 30 s" in admin_client.get(change).content.decode()

    admin_client.post(changelist, {"action": "lockdown_on", "_selected_action": [str(room.pk)]})

    room.refresh_from_db()
    assert room.slow_mode_seconds == 30 and room.new_user_hold_minutes == 10
    entry = AuditLogEntry.objects.get(action=AuditAction.LOCKDOWN_ON)
    assert entry.source == AuditSource.ADMIN
    html = admin_client.get(change).content.decode()
    assert f"by {entry.actor_name}; settings from before:" in html
    admin_client.post(changelist, {"action": "lockdown_off", "_selected_action": [str(room.pk)]})
    room.refresh_from_db()
    assert (room.slow_mode_seconds, room.new_user_hold_minutes) == (0, 0)


def test_block_from_admin_then_unblock_action(admin_client, room):
    response = admin_client.post(
        reverse("admin:chatrooms_blockeduser_add"),
        {
            "room": str(room.pk),
            "user_id": "spammer",
            "device_id": "d1",
            "custom_name": "Spam",
            "reason": "links",
        },
    )
    assert response.status_code == 302, response.content
    block = BlockedUser.objects.get(user_id="spammer")
    assert block.reason == "links"
    assert block.action_taker_is_admin is True

    admin_client.post(
        reverse("admin:chatrooms_blockeduser_changelist"),
        {"action": "unblock", "_selected_action": [str(block.pk)]},
    )

    block.refresh_from_db()
    assert block.unblocked_at is not None
    assert AuditLogEntry.objects.filter(action=AuditAction.USER_UNBLOCK).count() == 1


def test_poll_actions_follow_the_transitions(admin_client, room):
    poll = factories.PollFactory(room=room)
    url = reverse("admin:chatrooms_poll_changelist")

    admin_client.post(url, {"action": "close", "_selected_action": [str(poll.pk)]})
    poll.refresh_from_db()
    assert poll.status == PollStatus.QUEUED  # refused: not active

    admin_client.post(url, {"action": "start", "_selected_action": [str(poll.pk)]})
    poll.refresh_from_db()
    assert poll.status == PollStatus.ACTIVE


def test_api_key_secret_is_shown_once_on_add(admin_client):
    response = admin_client.post(reverse("admin:chatrooms_apikey_add"), {"name": "partner"})

    assert response.status_code == 200
    key = ApiKey.objects.get(name="partner")
    assert f"crk_{key.prefix}_".encode() in response.content
    change = admin_client.get(reverse("admin:chatrooms_apikey_change", args=[key.pk]))
    assert f"crk_{key.prefix}_".encode() not in change.content


def test_audit_log_is_read_only_in_admin(admin_client, populated):
    entry = AuditLogEntry.objects.first()
    url = reverse("admin:chatrooms_auditlogentry_change", args=[entry.pk])

    response = admin_client.post(url, {"reason": "edited"})

    assert response.status_code == 403


def test_add_poll_saves_through_the_service(admin_client, room):
    # The room field was rendered disabled on "Add" (the UUID default looked like a saved
    # row), so the form never saved: issue 9, #11.
    page = admin_client.get(reverse("admin:chatrooms_poll_add"))
    assert not page.context["adminform"].form.fields["room"].disabled

    response = admin_client.post(
        reverse("admin:chatrooms_poll_add"),
        {
            "room": str(room.pk),
            "type": PollType.SINGLE_CHOICE,
            "question": "Which talk next?",
            "options_text": "*Databases\nFrontends",
        },
    )

    assert response.status_code == 302, response.content
    poll = Poll.objects.get(room=room, question="Which talk next?")
    assert [(o.text, o.corrected) for o in poll.options.all()] == [
        ("Databases", True),
        ("Frontends", False),
    ]
    assert AuditLogEntry.objects.filter(action=AuditAction.POLL_CREATE).exists()


def test_a_superuser_deletes_a_poll_from_its_page(admin_client, room):
    poll = factories.PollFactory(room=room)
    url = reverse("admin:chatrooms_poll_delete", args=[poll.pk])

    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not Poll.objects.filter(pk=poll.pk).exists()
    assert AuditLogEntry.objects.filter(action=AuditAction.POLL_DELETE).exists()


def change_room(admin_client, room, **fields):
    data = {
        "label": room.label,
        "description": room.description,
        "status": room.status,
        "counter_keys": "like, heart",
        "slow_mode_seconds": str(room.slow_mode_seconds),
        "custom_counters-TOTAL_FORMS": "0",
        "custom_counters-INITIAL_FORMS": "0",
        "blocks-TOTAL_FORMS": "0",
        "blocks-INITIAL_FORMS": "0",
        "pinned_messages-TOTAL_FORMS": "0",
        "pinned_messages-INITIAL_FORMS": "0",
        **fields,
    }
    return admin_client.post(reverse("admin:chatrooms_chatroom_change", args=[room.pk]), data)


def test_slow_mode_set_in_the_admin_goes_through_the_service(admin_client, room):
    response = change_room(admin_client, room, slow_mode_seconds="45")

    assert response.status_code == 302, response.content
    room.refresh_from_db()
    assert room.slow_mode_seconds == 45
    entry = AuditLogEntry.objects.get(action=AuditAction.ROOM_SLOW_MODE, room=room)
    assert entry.source == AuditSource.ADMIN
    assert entry.after == {"slow_mode_seconds": 45}


def test_slow_mode_out_of_range_is_a_form_error_in_the_admin(admin_client, room):
    response = change_room(admin_client, room, slow_mode_seconds="3601")

    assert response.status_code == 200  # the form again, with the error
    room.refresh_from_db()
    assert room.slow_mode_seconds == 0
    assert not AuditLogEntry.objects.filter(action=AuditAction.ROOM_SLOW_MODE).exists()


def test_revoke_session_action_is_audited(admin_client, room, admin_user):
    issued = auth.chatroom_token_issue(room=room, subject="troll")

    response = admin_client.post(
        reverse("admin:chatrooms_chatsession_changelist"),
        {"action": "revoke", "_selected_action": [str(issued.session.pk)]},
    )

    assert response.status_code == 302
    issued.session.refresh_from_db()
    assert issued.session.revoked_at is not None
    entry = AuditLogEntry.objects.get(action=AuditAction.SESSIONS_REVOKE)
    assert (entry.source, entry.actor_user, entry.target_type) == (
        AuditSource.ADMIN,
        admin_user,
        "session",
    )
    with pytest.raises(Unauthenticated):
        auth.chatroom_token_verify(issued.token)


def test_end_sessions_room_action_is_audited(admin_client, room):
    issued = auth.chatroom_token_issue(room=room)

    response = admin_client.post(
        reverse("admin:chatrooms_chatroom_changelist"),
        {"action": "end_sessions", "_selected_action": [str(room.pk)]},
    )

    assert response.status_code == 302
    entry = AuditLogEntry.objects.get(action=AuditAction.SESSIONS_REVOKE)
    assert (entry.source, entry.target_type) == (AuditSource.ADMIN, "chatroom")
    with pytest.raises(Unauthenticated):
        auth.chatroom_token_verify(issued.token)


def test_sessions_cannot_be_edited_or_deleted_in_admin(admin_client, room):
    issued = auth.chatroom_token_issue(room=room)
    change = reverse("admin:chatrooms_chatsession_change", args=[issued.session.pk])

    admin_client.post(change, {"subject": "someone-else"})

    issued.session.refresh_from_db()
    assert issued.session.subject != "someone-else"
    delete = reverse("admin:chatrooms_chatsession_delete", args=[issued.session.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403


def test_the_description_an_api_client_gave_is_shown_and_edited_through_the_service(
    admin_client, system_actor
):
    room = services.chatroom_create(
        actor=system_actor, label="Launch", description="Product launch Q&A"
    )
    page = admin_client.get(reverse("admin:chatrooms_chatroom_change", args=[room.pk]))
    assert b"Product launch Q&amp;A" in page.content

    response = change_room(admin_client, room, description="Moved to hall C")

    assert response.status_code == 302, response.content
    room.refresh_from_db()
    assert room.description == "Moved to hall C"
    entry = AuditLogEntry.objects.get(action=AuditAction.ROOM_UPDATE, room=room)
    assert entry.before == {"description": "Product launch Q&A"}
    assert entry.after == {"description": "Moved to hall C"}
    assert entry.source == AuditSource.ADMIN
