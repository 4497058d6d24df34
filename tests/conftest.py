import pytest
from rest_framework.test import APIClient

from chatrooms import auth, services
from chatrooms.auth import Actor
from chatrooms.models import Role
from tests import factories

PASSWORD = "correct horse battery"

# Fixtures of the sticker tests (media, sticker_token, sticker_client), for every folder.
pytest_plugins = ["tests.chatrooms.stickers"]


def pytest_configure(config):
    """Settings for the whole run, before any server thread builds its middleware."""
    from django.conf import settings

    # Production settings redirect to HTTPS; test clients and the live server speak HTTP.
    settings.SECURE_SSL_REDIRECT = False
    # Tests do not run collectstatic: find static files where they live.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = True
    # Broadcasts go to a test's own broker (tests/realtime) or nowhere: never to the
    # broker a developer's `make run` has on the default port.
    settings.CHATROOM_BROKER_PORT = _unused_port()


def _unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Auth-failure counts live in the cache: one test's failures must not throttle the next.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def roll_up(room) -> None:
    """What the realtime worker does once per batch window: add the room's pending votes
    and counter taps to its shown counts. Tests without a running worker call it before
    reading counts; reads themselves never roll up."""
    services.chatroom_rollup(room=room, force=True)


@pytest.fixture
def system_actor():
    return Actor.system("tests")


@pytest.fixture
def api_key(db, system_actor):
    """(ApiKey, plaintext)."""
    return services.api_key_create(actor=system_actor, name="test key")


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def api_key_client(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    return client


@pytest.fixture
def room(db, system_actor):
    return services.chatroom_create(actor=system_actor, custom_counter_keys=["like", "heart"])


@pytest.fixture
def superuser(db):
    return factories.UserFactory(is_staff=True, is_superuser=True)


def token_client(room, role=Role.VIEWER, **claims) -> APIClient:
    """An APIClient carrying a fresh chatroom token; `.issued` holds the token response."""
    issued = auth.chatroom_token_issue(room=room, role=role, **claims)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    client.issued = issued
    client.claims = issued.claims
    return client


@pytest.fixture
def make_token_client(db):
    return token_client


@pytest.fixture
def admin_token_client(room):
    return token_client(room, Role.ADMIN, subject="admin-1", device_id="admin-device", name="Host")


@pytest.fixture
def viewer_token_client(room):
    return token_client(
        room, Role.VIEWER, subject="viewer-1", device_id="viewer-device", name="Vera"
    )


@pytest.fixture
def guest_token_client(room):
    return token_client(room, Role.GUEST, device_id="guest-device")


@pytest.fixture
def other_room_admin_client(db, system_actor):
    other = services.chatroom_create(actor=system_actor, custom_counter_keys=["like"])
    return token_client(other, Role.ADMIN, subject="other-admin")
