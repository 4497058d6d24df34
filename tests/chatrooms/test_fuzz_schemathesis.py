"""Schemathesis against our own OpenAPI schema: no 5xx, every response as documented.

Every operation is exercised with generated bodies and query strings and
valid credentials of the kind its `security` names; path ids point at a real
room, poll and message so requests get past the lookups.
"""

import uuid

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from chatrooms import auth, services
from chatrooms.auth import Actor
from chatrooms.models import InteractionType, PollType, Role
from chatrooms.stickers import services as sticker_services
from chatrooms.wordfilter import services as wordfilter
from config.wsgi import application

MAX_EXAMPLES = 30


# Schemathesis' WSGI client sends "Host: localhost".
with override_settings(ALLOWED_HOSTS=["localhost"]):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
# Unknown query parameters are ignored, as grpc-gateway ignores them: not a violation.
schema.config.generation.update(allow_extra_parameters=False)


@pytest.fixture(autouse=True)
def _localhost(settings):
    settings.ALLOWED_HOSTS = ["localhost"]


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    # Like Django's test client: a request must not close the connection that
    # holds the test's transaction (schemathesis calls the WSGI app directly).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db):
    actor = Actor.system("fuzz")
    room = services.chatroom_create(actor=actor, custom_counter_keys=["like", "heart"])
    poll = services.poll_create(
        actor=actor,
        room=room,
        type=PollType.SINGLE_CHOICE,
        question="Fuzz?",
        options=[services.OptionInput(text="a"), services.OptionInput(text="b")],
    )
    viewer = auth.chatroom_token_issue(room=room, role=Role.VIEWER, subject="fuzz-viewer")
    message = services.message_send(
        actor=Actor.for_token(viewer.claims),
        room=room,
        type=InteractionType.TEXT,
        text="hi",
        sent_at=room.created_at,
    )
    admin = auth.chatroom_token_issue(room=room, role=Role.ADMIN, subject="fuzz-admin")
    dictionary = wordfilter.dictionary_create(actor=actor, name="Fuzz")
    pattern = wordfilter.pattern_create(actor=actor, dictionary=dictionary, text="fuzz")
    _key, plaintext = services.api_key_create(actor=actor, name="fuzz")
    pack = sticker_services.pack_create(actor=actor, name="Fuzz")
    [sticker] = sticker_services.stickers_batch_upload(
        actor=actor,
        pack_id=pack.pk,
        stickers=[sticker_services.StickerSpec("s", sticker_services.ImageSpec("s.png", 10))],
    )
    return {
        "pack": pack,
        "sticker": sticker,
        "room": room,
        "poll": poll,
        "message": message,
        "dictionary": dictionary,
        "pattern": pattern,
        "admin": admin.token,
        "api_key": plaintext,
    }


def is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_conforms_to_its_schema(case, world):
    cache.clear()  # generated junk credentials must not trip the brute-force limit
    security = case.operation.definition.raw.get("security") or []
    names = {name for requirement in security for name in requirement}
    # The WSGI transport does not decompress: ask for plain bodies.
    headers = {"Accept-Encoding": "identity"}
    if "ApiKey" in names:
        headers["Authorization"] = f"Bearer {world['api_key']}"
    elif "ChatroomToken" in names:
        headers["Authorization"] = f"Bearer {world['admin']}"
    replacements = {
        "room_id": world["room"].id,
        "poll_id": world["poll"].id,
        "message_id": world["message"].id,
        "dictionary_id": world["dictionary"].id,
        "pattern_id": world["pattern"].id,
        "pack_id": world["pack"].id,
        "sticker_id": world["sticker"].id,
    }
    for name, value in replacements.items():
        # A well-formed id is pointed at a real object; a malformed one (a negative
        # case) is left alone, to be refused.
        if case.path_parameters and is_uuid(case.path_parameters.get(name)):
            case.path_parameters[name] = str(value)

    # Every check but positive_data_acceptance: domain rules (a repeated counter key,
    # a page token we did not issue, a poll already started) rightly refuse some
    # requests that the schema alone cannot tell from valid ones.
    case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
