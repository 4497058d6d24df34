"""Fixtures of the console tests: staff users in each role and signed-in clients.

``moderator_client`` and friends enforce CSRF like a browser does: ``submit``
fetches a page, reads the ``csrftoken`` cookie it sets, and posts with it.
"""

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.servers.basehttp import WSGIServer
from django.db import connections
from django.test import Client
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler

from moderation.roles import MODERATOR, ROOM_ADMIN, ensure_role_groups
from tests import factories
from tests.realtime.conftest import broker, web_publisher, worker  # noqa: F401 (fixtures)


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


class SingleThreadedLiveServerThread(LiveServerThread):
    """A live server that answers one request at a time.

    On an in-memory SQLite test database every server thread shares the test's
    one connection, and a page's live fragments poll together (each may roll up
    counts, a write): served at once they can trip over each other with
    "database table is locked". PostgreSQL gives each thread its own connection.
    """

    def _create_server(self, connections_override=None):
        return WSGIServer(
            (self.host, self.port), QuietWSGIRequestHandler, allow_reuse_address=False
        )


@pytest.fixture
def console_live_server(transactional_db, settings):
    """pytest-django's ``live_server`` (static files served, the test database
    shared), but single-threaded where the database is an in-memory SQLite one."""
    shared = {
        conn.alias: conn
        for conn in connections.all()
        if conn.vendor == "sqlite" and conn.is_in_memory_db()
    }
    thread_class = SingleThreadedLiveServerThread if shared else LiveServerThread
    thread = thread_class("localhost", StaticFilesHandler, connections_override=shared)
    thread.daemon = True
    for conn in shared.values():
        conn.inc_thread_sharing()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    thread.start()
    thread.is_ready.wait()
    try:
        if thread.error:
            raise thread.error
        yield SimpleNamespace(url=f"http://localhost:{thread.port}")
    finally:
        thread.terminate()
        for conn in shared.values():
            conn.dec_thread_sharing()


@pytest.fixture
def broker_auth_server(console_live_server):
    """The realtime tests' broker (``broker``), asking the console's live server."""
    return console_live_server


@pytest.fixture(scope="module")
def orm_beside_playwright():
    """Playwright's sync API keeps an event loop in the test's thread while a
    browser is open; let the ORM calls of browser tests (their steps, fixtures and
    database teardown) run there. Only for modules that use it, for as long as
    their browser lives."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


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
