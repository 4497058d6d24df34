"""Security headers, and pages that run under the Content Security Policy unchanged."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from chatrooms import services
from tests import factories
from tests.conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/moderation/", "/admin/login/"])
def test_pages_carry_a_csp_without_unsafe_inline(client, path):
    response = client.get(path, follow=True)

    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Content-Type-Options"] == "nosniff"


def directives(policy: str) -> dict[str, list[str]]:
    """A CSP header as {directive: sources}: the header's order is not fixed."""
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


@pytest.mark.django_db
def test_the_room_page_may_connect_to_the_broker_only(client, settings, system_actor):
    settings.CHATROOM_REALTIME_URL = "wss://chat.example.org:8443/mqtt"
    room = services.chatroom_create(actor=system_actor, custom_counter_keys=[])
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))

    header = client.get(reverse("moderation:room", args=[room.pk]))["Content-Security-Policy"]

    policy = directives(header)
    assert policy["connect-src"] == ["'self'", "wss://chat.example.org:8443"]
    assert policy["script-src"] == ["'self'"]
    assert "unsafe-inline" not in header


@pytest.mark.django_db
def test_every_console_page_may_connect_to_the_broker(client, settings):
    # hx-boost swaps the room page into whichever console page was loaded first, and the
    # document keeps that page's policy.
    settings.CHATROOM_REALTIME_URL = "ws://127.0.0.1:9101/mqtt"

    console = directives(client.get(reverse("moderation:login"))["Content-Security-Policy"])
    admin = directives(client.get("/admin/login/")["Content-Security-Policy"])

    assert console["connect-src"] == ["'self'", "ws://127.0.0.1:9101"]
    assert admin["connect-src"] == ["'self'"]


@pytest.mark.django_db
def test_the_api_docs_page_allows_inline_styles_only(client):
    policy = directives(client.get("/api/docs/")["Content-Security-Policy"])

    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]


@pytest.mark.django_db
def test_the_json_api_has_no_csp_but_nosniff(api_key_client):
    response = api_key_client.post("/bv/chatroom/v1/chatrooms", {}, format="json")

    assert "Content-Security-Policy" not in response
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_the_json_api_builds_no_policy_and_pages_still_do(api_key_client, client, monkeypatch):
    import csp.middleware

    built = []
    build_policy = csp.middleware.build_policy
    monkeypatch.setattr(
        csp.middleware, "build_policy", lambda **kw: built.append(1) or build_policy(**kw)
    )

    api_key_client.post("/bv/chatroom/v1/chatrooms", {}, format="json")
    assert built == []  # chatrooms.middleware.CSPMiddleware: /bv/ is excluded, asked first

    response = client.get(reverse("moderation:login"))
    assert built and "script-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_a_report_only_policy_still_reaches_the_api_unless_it_excludes_it(api_key_client, settings):
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'self'"]}}

    response = api_key_client.post("/bv/chatroom/v1/chatrooms", {}, format="json")

    assert "Content-Security-Policy" not in response
    assert response["Content-Security-Policy-Report-Only"] == "default-src 'self'"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Chromium not found at /usr/bin/chromium: "
    "install Debian's chromium: apt-get install -y chromium",
)
def test_no_page_breaks_the_csp_in_chromium(live_server, system_actor, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM beside Playwright's loop
    sync_api = pytest.importorskip("playwright.sync_api")
    user = factories.UserFactory(is_staff=True, is_superuser=True)
    room = services.chatroom_create(
        actor=system_actor, label="CSP room", custom_counter_keys=["like"]
    )
    factories.BlockedUserFactory(room=room)
    message = factories.ChatMessageFactory(room=room)
    pages = [
        reverse("moderation:rooms"),
        reverse("moderation:room", args=[room.pk]),
        reverse("moderation:user_card", args=[room.pk, message.user_id]),
        reverse("moderation:audit"),
        reverse("moderation:api_keys"),
        "/admin/",
        "/admin/chatrooms/chatroom/",
        f"/admin/chatrooms/chatroom/{room.pk}/change/",
        "/admin/chatrooms/blockeduser/add/",
        "/api/docs/",
    ]
    violations = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page()
        page.on(
            "console",
            lambda m: (
                violations.append((page.url, m.text))
                if "Content Security Policy" in m.text
                else None
            ),
        )
        page.goto(live_server.url + "/admin/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        for path in pages:
            page.goto(live_server.url + path)
            page.wait_for_load_state("networkidle")
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)

    assert violations == []
