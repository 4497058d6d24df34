"""The README's screenshots of the console, taken from the real pages.

    SAVE_SCREENSHOTS=1 make test ARGS='tests/moderation/test_screenshots.py'

writes docs/screenshots/rooms.png, room-active-poll.png, user-card.png, audit-log.png and
rooms-phone.png (390 px wide) from
a live event's worth of realistic data (all written through the services).
Skipped unless SAVE_SCREENSHOTS=1, so the suite never rewrites tracked files.
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from chatrooms import services
from chatrooms.auth import Actor
from chatrooms.models import (
    ActorKind,
    AuditSource,
    ChatMessage,
    Chatroom,
    ChatStatus,
    InteractionType,
    PollType,
)
from tests.moderation.conftest import staff_in
from tests.moderation.test_browser import CHROMIUM, CHROMIUM_ARGS, LIVE_TIMEOUT_MS, sign_in

OUT = Path(settings.BASE_DIR) / "docs" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("orm_beside_playwright"),
    pytest.mark.skipif(
        os.environ.get("SAVE_SCREENSHOTS") != "1", reason="set SAVE_SCREENSHOTS=1 to refresh"
    ),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Chromium not found at /usr/bin/chromium: install Debian's chromium: "
        "apt-get install -y chromium",
    ),
]

playwright_api = pytest.importorskip("playwright.sync_api")

CHAT = [
    ("ana", "Ana", "Hello from the front row! The sound is great today."),
    ("ben", "Ben", "Is the recording going to be online later?"),
    ("chen", "Chen", "Slide 14 had a typo: 'recieve'."),
    ("spam", "FreeFollowers", "GET 10K FOLLOWERS NOW >>> cheap-followers.example"),
    ("dee", "Dee", "Question for the speaker: how does this work with 50k viewers?"),
    ("eli", "Eli", "Joining from Lisbon, hi everyone!"),
    ("fay", "Fay", "+1 to Dee's question"),
    ("spam", "FreeFollowers", "LAST CHANCE >>> cheap-followers.example"),
    ("gus", "Gus", "Can you share the repo link again?"),
    ("host", "Host (stage)", "Repo: github.com/example/live-demo — slides after the break."),
    ("hal", "Hal", "This demo is really smooth"),
    ("ivy", "Ivy", "Will there be a Q&A at the end?"),
]


def viewer(user_id: str, name: str, *, admin=False) -> Actor:
    return Actor(
        kind=ActorKind.CHATROOM_TOKEN,
        source=AuditSource.API,
        id=user_id,
        name=name,
        device_id=f"{user_id}-device",
        is_admin=admin,
    )


def build_event(moderator, room_admin) -> Chatroom:
    """A live keynote and the other rooms of the event, with history."""
    mia, rae = Actor.staff(moderator), Actor.staff(room_admin)
    host = viewer("host", "Host (stage)", admin=True)
    now = timezone.now()

    rooms = {}
    for label, keys in [
        ("Backstage crew", []),
        ("Sponsor booth", ["like"]),
        ("Workshop: Django at scale", ["like", "question"]),
        ("Lightning talks", ["like", "heart"]),
        ("Product launch Q&A", ["like", "heart", "fire"]),
        ("Keynote day 1", ["like", "heart", "clap"]),
    ]:
        rooms[label] = services.chatroom_create(actor=rae, label=label, custom_counter_keys=keys)

    keynote = rooms["Keynote day 1"]
    messages = []
    for index, (user_id, name, text) in enumerate(CHAT):
        actor = host if user_id == "host" else viewer(user_id, name)
        messages.append(
            services.message_send(
                actor=actor,
                room=keynote,
                type=InteractionType.TEXT,
                text=text,
                sent_at=now - timedelta(seconds=(len(CHAT) - index) * 23),
            )
        )
    for message in messages:  # received a moment after they were sent, in order
        ChatMessage.objects.filter(pk=message.pk).update(
            received_at=message.sent_at + timedelta(milliseconds=300)
        )
    services.user_block(
        actor=mia,
        room=keynote,
        user_id="spam",
        device_id="spam-device",
        custom_name="FreeFollowers",
        reason="Follower spam links",
    )
    services.user_block(
        actor=host,
        room=keynote,
        user_id="troll-7",
        custom_name="xX_troll_Xx",
        reason="Insults in chat",
        expires_at=now + timedelta(hours=1),
    )
    services.message_delete(actor=mia, room=keynote, message_id=messages[3].pk, reason="Spam link")
    pinned = messages[9]
    services.message_pin(
        actor=mia,
        room=keynote,
        message=services.MessageSnapshot(
            id=str(pinned.pk), text=pinned.text, sender_id="host", sender_custom_name="Host (stage)"
        ),
    )

    warmup = services.poll_create(
        actor=mia,
        room=keynote,
        type=PollType.SINGLE_CHOICE,
        question="Where are you watching from?",
        options=[
            services.OptionInput(text) for text in ("Europe", "Americas", "Asia", "Elsewhere")
        ],
    )
    services.poll_change(actor=mia, poll=warmup, action=services.PollAction.START)
    cast_votes(warmup, [31, 18, 12, 4])
    services.poll_change(actor=mia, poll=warmup, action=services.PollAction.CLOSE)

    live = services.poll_create(
        actor=mia,
        room=keynote,
        type=PollType.SINGLE_CHOICE,
        question="What should we demo after the break?",
        options=[
            services.OptionInput("Scaling to 50k viewers"),
            services.OptionInput("Moderation tools"),
            services.OptionInput("Polls and quizzes"),
            services.OptionInput("Custom counters"),
        ],
    )
    services.poll_change(actor=host, poll=live, action=services.PollAction.START)
    cast_votes(live, [58, 41, 23, 9], offset=1000)
    services.poll_create(
        actor=mia,
        room=keynote,
        type=PollType.MULTI_CHOICE,
        question="Which sessions did you attend today?",
        options=[services.OptionInput(t) for t in ("Keynote", "Workshop", "Lightning talks")],
    )
    for key, taps in (("like", 1284), ("heart", 342), ("clap", 97)):
        services.counter_increment(room=keynote, key=key, value=taps)
    services.viewer_info_update(actor=rae, room=keynote, enabled=True)
    services.viewer_count_set(room=keynote, count=1532)
    services.chatroom_rollup(room=keynote, force=True)

    # The rest of the event: a little of everything in the list.
    launch = rooms["Product launch Q&A"]
    services.message_send(
        actor=viewer("kim", "Kim"),
        room=launch,
        type=InteractionType.TEXT,
        text="When does it ship?",
        sent_at=now - timedelta(minutes=2),
    )
    services.chatroom_set_muted(actor=mia, room=launch, muted=True)
    lightning = rooms["Lightning talks"]
    services.message_send(
        actor=viewer("lou", "Lou"),
        room=lightning,
        type=InteractionType.TEXT,
        text="Next talk in 5?",
        sent_at=now - timedelta(minutes=7),
    )
    quiz = services.poll_create(
        actor=host,
        room=lightning,
        type=PollType.SINGLE_CHOICE,
        question="Quiz: which year was Django released?",
        options=[services.OptionInput("2003"), services.OptionInput("2005", corrected=True)],
    )
    services.poll_change(actor=host, poll=quiz, action=services.PollAction.START)
    services.user_block(actor=mia, room=lightning, user_id="bot-3", reason="Bot")
    services.message_send(  # the keynote's spammer tried the other rooms too
        actor=viewer("spam", "FreeFollowers"),
        room=lightning,
        type=InteractionType.TEXT,
        text="10K FOLLOWERS >>> cheap-followers.example",
        sent_at=now - timedelta(minutes=12),
    )
    workshop = rooms["Workshop: Django at scale"]
    services.message_send(
        actor=viewer("max", "Max"),
        room=workshop,
        type=InteractionType.TEXT,
        text="Thanks, that was great!",
        sent_at=now - timedelta(minutes=41),
    )
    services.chatroom_change_status(
        actor=rae, room=rooms["Backstage crew"], status=ChatStatus.INACTIVE
    )
    services.chatroom_update_label(  # renamed in the Django admin
        actor=Actor.staff(room_admin, source=AuditSource.ADMIN),
        room=rooms["Sponsor booth"],
        label="Sponsor booth: Acme Cloud",
    )
    services.api_key_create(actor=rae, name="Player backend (production)")
    services.user_unblock(actor=host, room=keynote, user_id="troll-7", reason="Apologised")
    # Rooms were set up through the morning (created_at is not something services change).
    for hours, room in enumerate(reversed(list(rooms.values()))):
        Chatroom.objects.filter(pk=room.pk).update(
            created_at=now - timedelta(minutes=50 * hours + 9)
        )
    return keynote


def cast_votes(poll, per_option: list[int], offset: int = 0) -> None:
    options = list(poll.options.all())
    voter = offset
    for option, count in zip(options, per_option, strict=True):
        for _ in range(count):
            voter += 1
            services.poll_vote(
                actor=viewer(f"voter-{voter}", f"Voter {voter}"),
                poll=poll,
                option_ids=[option.pk],
            )


def test_save_screenshots(console_live_server, roles):
    base = console_live_server.url
    moderator = staff_in(roles["Moderator"], username="mia")
    room_admin = staff_in(roles["Room admin"], username="rae")
    keynote = build_event(moderator, room_admin)
    OUT.mkdir(parents=True, exist_ok=True)

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_default_timeout(LIVE_TIMEOUT_MS)
        sign_in(page, base, moderator.username)

        page.set_viewport_size({"width": 1440, "height": 620})
        page.screenshot(path=str(OUT / "rooms.png"), full_page=True)
        page.set_viewport_size({"width": 1440, "height": 900})

        page.goto(base + reverse("moderation:room", kwargs={"room_id": keynote.pk}))
        page.locator("#poll-live .vote-total").wait_for()
        page.screenshot(path=str(OUT / "room-active-poll.png"), full_page=True)

        # The spammer's user card, opened from the feed.
        page.locator("#feed li.msg", has_text="LAST CHANCE").get_by_role(
            "link", name="FreeFollowers"
        ).click()
        page.locator("#card-dialog .ucard").wait_for()
        page.screenshot(path=str(OUT / "user-card.png"))
        page.keyboard.press("Escape")

        page.goto(base + reverse("moderation:audit"))
        page.screenshot(path=str(OUT / "audit-log.png"), full_page=True)

        # The rooms list on a phone: a list of cards.
        phone = browser.new_context(
            viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
        ).new_page()
        phone.set_default_timeout(LIVE_TIMEOUT_MS)
        sign_in(phone, base, moderator.username)
        phone.screenshot(path=str(OUT / "rooms-phone.png"))
        browser.close()

    for name in (
        "rooms.png",
        "room-active-poll.png",
        "user-card.png",
        "audit-log.png",
        "rooms-phone.png",
    ):
        assert (OUT / name).stat().st_size > 10_000
