"""Fixtures of the console tests: staff users in each role and signed-in clients.

``moderator_client`` and friends enforce CSRF like a browser does: ``submit``
fetches a page, reads the ``csrftoken`` cookie it sets, and posts with it.
"""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from moderation.roles import MODERATOR, ROOM_ADMIN, ensure_role_groups
from tests import factories


class ConsoleClient(Client):
    """A browser-like client: CSRF checks on, forms posted with the page's token."""

    def __init__(self, **kwargs):
        super().__init__(enforce_csrf_checks=True, **kwargs)

    def csrf_token_from(self, page: str) -> str:
        response = self.get(page)
        assert response.status_code == 200, (page, response.status_code)
        return self.cookies["csrftoken"].value

    def submit(self, url: str, data: dict | None = None, *, page: str, **kwargs):
        """Post ``data`` to ``url`` as the form on ``page`` would."""
        token = self.csrf_token_from(page)
        return self.post(url, {**(data or {}), "csrfmiddlewaretoken": token}, **kwargs)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Every test here makes users; PBKDF2's deliberate slowness would dominate the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def roles(db):
    """The role groups (a transactional test's flush removes the migration's rows)."""
    ensure_role_groups()
    return {name: Group.objects.get(name=name) for name in (MODERATOR, ROOM_ADMIN)}


def staff_in(group: Group, **kwargs):
    user = factories.StaffUserFactory(**kwargs)
    user.groups.add(group)
    return user


@pytest.fixture
def moderator(roles):
    return staff_in(roles[MODERATOR], username="mia-moderator")


@pytest.fixture
def room_admin(roles):
    return staff_in(roles[ROOM_ADMIN], username="rae-room-admin")


@pytest.fixture
def non_staff_user(db):
    return factories.UserFactory(username="nora-viewer")


@pytest.fixture
def staff_without_role(db):
    return factories.StaffUserFactory(username="sam-no-role")


def client_for(user, *, csrf: bool = True) -> Client:
    """A client signed in as ``user``; ``csrf=False`` for tests about something else."""
    client = ConsoleClient() if csrf else Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def anonymous_client():
    return ConsoleClient()


@pytest.fixture
def moderator_client(moderator):
    return client_for(moderator)


@pytest.fixture
def room_admin_client(room_admin):
    return client_for(room_admin)


@pytest.fixture
def superuser_client(superuser):
    return client_for(superuser)
