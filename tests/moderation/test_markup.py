"""Markup rules the console keeps: nothing inline that a strict
Content-Security-Policy would block, nothing from a CDN, and every form control
labelled (on the real pages, with data)."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse

from chatrooms.models import PollStatus
from tests import factories

TEMPLATES = [
    path
    for path in (Path(settings.BASE_DIR) / "templates").rglob("*.html")
    if "admin" not in path.relative_to(Path(settings.BASE_DIR) / "templates").parts
]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_templates_have_no_inline_script_style_or_cdn(path):
    text = path.read_text()

    assert not re.search(r"<script(?![^>]*\bsrc=)", text), "inline <script>"
    assert not re.search(r"\sstyle=", text), "inline style attribute"
    assert not re.search(r"<style", text), "inline <style>"
    assert not re.search(r"\son[a-z]+=", text), "inline event handler"
    assert not re.search(r"(src|href)=\"https?://", text), "a resource from another site"


class Controls(HTMLParser):
    """Form controls and what labels them."""

    def __init__(self):
        super().__init__()
        self.controls, self.label_for, self.label_depth = [], set(), 0
        self.inline_scripts, self.styles = 0, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "style" in attrs:
            self.styles += 1
        if tag == "script" and "src" not in attrs:
            self.inline_scripts += 1
        if tag == "label":
            self.label_depth += 1
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        if tag in ("input", "select", "textarea") and attrs.get("type") not in (
            "hidden",
            "submit",
            "button",
        ):
            self.controls.append((tag, attrs, self.label_depth > 0))

    def handle_endtag(self, tag):
        if tag == "label":
            self.label_depth -= 1

    def unlabelled(self):
        return [
            (tag, attrs)
            for tag, attrs, wrapped in self.controls
            if not wrapped and attrs.get("id") not in self.label_for and "aria-label" not in attrs
        ]


@pytest.fixture
def busy_room(room):
    message = factories.ChatMessageFactory(room=room)
    factories.BlockedUserFactory(room=room)
    factories.PinnedMessageFactory(room=room, message_id=str(message.pk))
    factories.PollFactory(room=room, status=PollStatus.ACTIVE)
    factories.PollFactory(room=room, status=PollStatus.CLOSED)
    factories.PollFactory(room=room)
    factories.ChatMessageFactory(room=room)
    return room


def pages(room):
    poll = room.polls.filter(status=PollStatus.QUEUED).first()
    return [
        reverse("moderation:rooms"),
        reverse("moderation:room_new"),
        reverse("moderation:room", kwargs={"room_id": room.pk}),
        reverse(
            "moderation:user_card",
            kwargs={"room_id": room.pk, "user_id": room.messages.first().user_id},
        ),
        reverse("moderation:poll_new", kwargs={"room_id": room.pk}),
        reverse("moderation:poll_edit", kwargs={"room_id": room.pk, "poll_id": poll.pk}),
        reverse("moderation:audit"),
        reverse("moderation:api_keys"),
        reverse("moderation:password_change"),
    ]


@pytest.mark.django_db
def test_every_control_on_every_page_has_a_label(room_admin_client, busy_room):
    for page in pages(busy_room):
        response = room_admin_client.get(page)
        assert response.status_code == 200, page
        parser = Controls()
        parser.feed(response.content.decode())
        assert parser.controls, page
        assert parser.unlabelled() == [], page
        assert (parser.inline_scripts, parser.styles) == (0, 0), page


@pytest.mark.django_db
def test_the_sign_in_page_is_labelled(anonymous_client):
    parser = Controls()
    parser.feed(anonymous_client.get(reverse("moderation:login")).content.decode())

    assert len(parser.controls) == 2
    assert parser.unlabelled() == []


@pytest.mark.django_db
def test_htmx_and_our_assets_are_served_from_our_static_files(anonymous_client):
    page = anonymous_client.get(reverse("moderation:login")).content.decode()

    for asset in (
        "moderation/vendor/htmx.min.js",
        "moderation/console.js",
        "moderation/console.css",
    ):
        assert static(asset) in page
        response = anonymous_client.get(static(asset))
        assert response.status_code == 200, asset
    assert '"includeIndicatorStyles":false' in page
    licence = Path(settings.BASE_DIR) / "static/moderation/vendor/htmx.LICENSE"
    assert licence.exists()


@pytest.mark.django_db
def test_the_error_pages_render_in_the_layout(rf, moderator):
    from django.template import loader

    # 500 is rendered without a request (no user, no messages): it must still work.
    assert "Something went wrong" in loader.get_template("500.html").render()
    request = rf.get("/moderation/nowhere/")
    request.user = moderator
    for name in ("403.html", "403_csrf.html", "404.html"):
        html = loader.get_template(name).render({"user": moderator}, request)
        assert 'class="topbar"' in html, name
