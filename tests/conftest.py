import pytest
from rest_framework.test import APIClient

from chatrooms import services
from chatrooms.auth import Actor
from tests import factories

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _test_environment(settings):
    # Production settings redirect to HTTPS; the test client speaks plain HTTP.
    settings.SECURE_SSL_REDIRECT = False
    # Tests do not run collectstatic: find static files where they live.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = True


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
