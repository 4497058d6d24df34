"""Seed a large, realistic data set for the benchmarks in bench/ (docs/performance.md).

At ``--scale 1``: 100,000 rooms, 1,000,000 messages, 100,000 blocked users,
10,000 polls (4 options each), 10,000 pins, 200,000 audit rows (sealed into the
hash chain at the end, with the server's time) and two counters
per room, plus one "hot" room with 5,000 active blocked users, 50 pins, an
active poll of 10 options and 20 counters. The hot room is made through the
services (so it is whatever a real room is); the bulk goes in with
``INSERT ... SELECT generate_series(...)`` on PostgreSQL and ``bulk_create`` in
batches on SQLite (small scales only).

Counts are seeded at zero with no ballots, so they agree with any way of
counting. The command adds to what is there; it refuses to touch a database
that already holds rooms unless ``--yes`` is given.
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from chatrooms import auditchain, services
from chatrooms.auth import Actor
from chatrooms.models import (
    AuditLogEntry,
    BlockedUser,
    ChatMessage,
    Chatroom,
    ChatStatus,
    CustomCounter,
    InteractionType,
    PinnedMessage,
    Poll,
    PollOption,
    PollStatus,
    PollType,
)

HOT_ROOM_LABEL = "Bench hot room"
HOT_COUNTER_KEYS = ["like", "heart"] + [f"c{index:02d}" for index in range(18)]
HOT_POLL_OPTIONS = 10
HOT_PINS = services.MAX_PINS_PER_ROOM
ROOM_COUNTER_KEYS = ["like", "heart"]
OPTIONS_PER_POLL = 4
SQLITE_BATCH = 2000

# Audit actions the seeded log cycles through, as the API and console write them.
AUDIT_CYCLE = [
    ("user.block", "api", "chatroom_token", "user"),
    ("message.pin", "api", "chatroom_token", "message"),
    ("message.delete", "console", "staff", "message"),
    ("poll.start", "api", "chatroom_token", "poll"),
    ("room.mute", "console", "staff", "chatroom"),
    ("room.create", "api", "api_key", "chatroom"),
]


@dataclass(frozen=True)
class BenchCounts:
    """What one scale seeds, besides the hot room."""

    rooms: int
    messages: int
    hot_messages: int
    blocked: int
    polls: int
    pins: int
    audit: int
    hot_blocked: int

    @classmethod
    def at(cls, scale: float, hot_blocked: int = 5000) -> BenchCounts:
        def scaled(full: int, minimum: int = 1) -> int:
            return max(minimum, round(full * scale))

        rooms = scaled(100_000, minimum=2) - 1  # the hot room is the last of them
        messages = scaled(1_000_000, minimum=50)
        return cls(
            rooms=rooms,
            messages=messages - messages // 50,
            # 2% of all messages are in the hot room; enough to pin 50 at any scale.
            hot_messages=max(2 * HOT_PINS, messages // 50),
            blocked=scaled(100_000),
            polls=min(scaled(10_000), rooms * (services.MAX_POLLS_PER_ROOM - 1)),
            pins=scaled(10_000),
            audit=scaled(200_000),
            hot_blocked=hot_blocked,
        )


class Command(BaseCommand):
    help = (
        "Benchmarks only: bulk-seed a large data set (rooms, messages, blocks, polls, pins, "
        "audit rows) and one hot room. Refuses to run on a database that has rooms unless "
        "--yes is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale", type=float, default=1.0, help="1 = 100,000 rooms, 1,000,000 messages..."
        )
        parser.add_argument(
            "--hot-blocked", type=int, default=5000, help="Active blocks in the hot room."
        )
        parser.add_argument(
            "--yes", action="store_true", help="Add to a database that already has rooms."
        )
        parser.add_argument(
            "--print-hot-room",
            action="store_true",
            help="Print only the hot room's id on stdout (the timings go to stderr).",
        )

    def handle(self, *args, scale, hot_blocked, yes, print_hot_room, **options):
        if scale <= 0:
            raise CommandError("--scale must be positive.")
        if not yes and Chatroom.objects.exists():
            raise CommandError(
                "The database already has rooms: seed_bench only seeds an empty database "
                "unless --yes is given (it adds, never deletes)."
            )
        counts = BenchCounts.at(scale, hot_blocked=hot_blocked)
        report = sys.stderr if print_hot_room else self.stdout
        seeder = Seeder(counts, report=report)
        started = time.perf_counter()
        with transaction.atomic():
            hot_room = seeder.run()
        seeder.analyze()
        total = time.perf_counter() - started
        report.write(f"{'total':<16} {seeder.total_rows:>12,} rows {total:>8.2f} s\n")
        if print_hot_room:
            self.stdout.write(str(hot_room.pk))
        else:
            self.stdout.write(f"hot room: {hot_room.pk}")


class Seeder:
    def __init__(self, counts: BenchCounts, *, report):
        self.counts = counts
        self.report = report
        self.total_rows = 0
        self.now = timezone.now()
        self.postgres = connection.vendor == "postgresql"

    def step(self, name: str, function) -> None:
        started = time.perf_counter()
        rows = function()
        elapsed = time.perf_counter() - started
        self.total_rows += rows
        self.report.write(f"{name:<16} {rows:>12,} rows {elapsed:>8.2f} s\n")

    def run(self) -> Chatroom:
        bulk = PostgresBulk(self) if self.postgres else SqliteBulk(self)
        hot_room: list[Chatroom] = []
        self.step("hot room", lambda: self.hot_room(hot_room))
        room = hot_room[0]
        try:
            self.step("rooms", bulk.rooms)
            self.step("counters", bulk.counters)
            self.step("messages", bulk.messages)
            self.step("hot messages", lambda: bulk.hot_messages(room))
            self.step("blocked users", bulk.blocks)
            self.step("hot blocked", lambda: bulk.hot_blocks(room))
            # Rows written here skip the services: flag what the active blocks cover,
            # as user_block and messages_send would have (ChatMessage.sender_hidden).
            self.step("hidden senders", services.messages_hide_for_active_blocks)
            self.step("pins", bulk.pins)
            self.step("hot pins", lambda: bulk.hot_pins(room))
            self.step("polls", bulk.polls)
            self.step("poll options", bulk.poll_options)
            self.step("audit log", bulk.audit)
        finally:
            bulk.close()
        # As the realtime worker would, so that a benchmark does not find it sealing.
        self.step("audit seal", auditchain.seal)
        return room

    def hot_room(self, out: list) -> int:
        """The hot room, its counters and its active poll, through the services."""
        actor = Actor.system("manage.py seed_bench")
        room = services.chatroom_create(
            actor=actor, label=HOT_ROOM_LABEL, custom_counter_keys=HOT_COUNTER_KEYS
        )
        poll = services.poll_create(
            actor=actor,
            room=room,
            type=PollType.SINGLE_CHOICE,
            question="Which song should the band play next?",
            options=[
                services.OptionInput(text=f"Song {index + 1}", corrected=index == 0)
                for index in range(HOT_POLL_OPTIONS)
            ],
        )
        services.poll_change(actor=actor, poll=poll, action=services.PollAction.START)
        out.append(room)
        return 1 + len(HOT_COUNTER_KEYS) + 1 + HOT_POLL_OPTIONS

    def analyze(self) -> None:
        if self.postgres:
            started = time.perf_counter()
            with connection.cursor() as cursor:
                for model in (
                    Chatroom,
                    ChatMessage,
                    BlockedUser,
                    PinnedMessage,
                    Poll,
                    PollOption,
                    CustomCounter,
                    AuditLogEntry,
                ):
                    cursor.execute(f"ANALYZE {model._meta.db_table}")
            elapsed = time.perf_counter() - started
            self.report.write(f"{'analyze':<16} {'':>12}      {elapsed:>8.2f} s\n")


# --- PostgreSQL: INSERT ... SELECT over generate_series ------------------------------


class PostgresBulk:
    """Every row is made by the database. Columns not named take the model
    field's default, so a field added later with a default still seeds."""

    def __init__(self, seeder: Seeder):
        self.seeder = seeder
        self.counts = seeder.counts
        self.cursor = connection.cursor()
        self.cursor.execute("SET LOCAL synchronous_commit = off")
        # Room n (0-based) of the bulk rooms, and poll n of the bulk polls.
        self.cursor.execute(
            "CREATE TEMP TABLE bench_room AS "
            "SELECT g AS n, gen_random_uuid() AS id FROM generate_series(0, %s) g",
            [self.counts.rooms - 1],
        )
        self.cursor.execute("CREATE UNIQUE INDEX ON bench_room (n)")
        self.cursor.execute(
            "CREATE TEMP TABLE bench_poll AS "
            "SELECT g AS n, gen_random_uuid() AS id FROM generate_series(0, %s) g",
            [self.counts.polls - 1],
        )
        self.cursor.execute("CREATE UNIQUE INDEX ON bench_poll (n)")

    def close(self) -> None:
        self.cursor.execute("DROP TABLE IF EXISTS bench_room, bench_poll")
        self.cursor.close()

    def insert(self, model, columns: dict[str, str], source: str, params: dict) -> int:
        names, expressions, params = [], [], dict(params, now=self.seeder.now)
        for field in model._meta.concrete_fields:
            if field.attname in columns:
                names.append(field.column)
                expressions.append(columns[field.attname])
            elif getattr(field, "db_returning", False):
                continue  # an identity column numbers itself
            elif field.has_default() or not field.null:
                default = field.get_default()  # "" for a blank CharField without a default
                if default is None and not field.null:
                    raise CommandError(f"seed_bench does not know how to fill {field}.")
                names.append(field.column)
                expressions.append(f"%(default_{field.attname})s")
                params[f"default_{field.attname}"] = field.get_db_prep_save(default, connection)
        unknown = set(columns) - {f.attname for f in model._meta.concrete_fields}
        if unknown:
            raise CommandError(f"{model.__name__} has no columns {sorted(unknown)}.")
        # Identifiers and expressions come from model metadata and this file's
        # constants; every value travels as a parameter.
        sql = (
            f"INSERT INTO {model._meta.db_table} ({', '.join(names)}) "  # noqa: S608
            f"SELECT {', '.join(expressions)} FROM {source}"
        )
        self.cursor.execute(sql, params)
        return self.cursor.rowcount

    def rooms(self) -> int:
        return self.insert(
            Chatroom,
            {
                "id": "r.id",
                "label": "'Bench room ' || lpad(r.n::text, 6, '0')",
                "muted": "mod(r.n, 10) = 3",
                "status": (
                    f"CASE WHEN mod(r.n, 20) = 7 THEN '{ChatStatus.INACTIVE}' "
                    f"ELSE '{ChatStatus.ACTIVE}' END"
                ),
                "created_at": "%(now)s - (%(rooms)s - r.n) * interval '30 seconds'",
                "updated_at": "%(now)s - (%(rooms)s - r.n) * interval '30 seconds'",
            },
            "bench_room r",
            {"rooms": self.counts.rooms},
        )

    def counters(self) -> int:
        keys = ", ".join(f"('{key}', {index})" for index, key in enumerate(ROOM_COUNTER_KEYS))
        return self.insert(
            CustomCounter,
            {"room_id": "r.id", "key": "k.key", "position": "k.position"},
            f"bench_room r CROSS JOIN (VALUES {keys}) AS k(key, position)",
            {},
        )

    def messages(self) -> int:
        return self.insert(
            ChatMessage,
            {
                "id": "gen_random_uuid()",
                "room_id": "r.id",
                "type": f"'{InteractionType.TEXT}'",
                "user_id": "'user-' || mod(g, 50000)",
                "user_device_id": "'device-' || mod(g, 50000)",
                "user_custom_name": "'Viewer ' || mod(g, 50000)",
                "text": "'Message number ' || g || ' of the bench data set'",
                "sent_at": "%(now)s - (%(messages)s - g) * interval '1 second'"
                " - interval '50 milliseconds'",
                "received_at": "%(now)s - (%(messages)s - g) * interval '1 second'",
            },
            "generate_series(0, %(messages)s - 1) g JOIN bench_room r ON r.n = mod(g, %(rooms)s)",
            {"messages": self.counts.messages, "rooms": self.counts.rooms},
        )

    def hot_messages(self, room: Chatroom) -> int:
        # Every 25th message is from a user who is blocked now; every 10th is a custom
        # message carrying a counter increment.
        return self.insert(
            ChatMessage,
            {
                "id": "gen_random_uuid()",
                "room_id": "%(room)s",
                "type": (
                    f"CASE WHEN mod(g, 10) = 5 THEN '{InteractionType.CUSTOM}' "
                    f"ELSE '{InteractionType.TEXT}' END"
                ),
                "user_id": (
                    "CASE WHEN mod(g, 25) = 0 THEN 'hot-blocked-' || mod(g, %(blocked)s) "
                    "ELSE 'viewer-' || mod(g, 2000) END"
                ),
                "user_device_id": "'hot-device-' || mod(g, 2000)",
                "user_custom_name": "'Fan ' || mod(g, 2000)",
                "user_blocked": "mod(g, 25) = 0",
                "text": (
                    "CASE WHEN mod(g, 10) = 5 THEN '' ELSE 'Hot take number ' || g || '!' END"
                ),
                "payload": (
                    "CASE WHEN mod(g, 10) = 5 THEN "
                    """'{"custom_message": {"value": "", "incr": {"key": "like", "value": 1}}}'"""
                    "::jsonb ELSE '{}'::jsonb END"
                ),
                "sent_at": "%(now)s - (%(hot)s - g) * interval '100 milliseconds'"
                " - interval '50 milliseconds'",
                "received_at": "%(now)s - (%(hot)s - g) * interval '100 milliseconds'",
            },
            "generate_series(0, %(hot)s - 1) g",
            {
                "room": room.pk,
                "hot": self.counts.hot_messages,
                "blocked": max(1, self.counts.hot_blocked),
            },
        )

    def blocks(self) -> int:
        # Every 5th block was lifted, every 7th has an expiry in the future.
        return self.insert(
            BlockedUser,
            {
                "room_id": "r.id",
                "user_id": "'user-' || g",
                "device_id": "'device-' || g",
                "custom_name": "'Troll ' || g",
                "reason": "'spam'",
                "blocked_at": "%(now)s - (%(blocked)s - g) * interval '10 seconds'",
                "expires_at": (
                    "CASE WHEN mod(g, 7) = 0 THEN %(now)s + interval '1 day' ELSE NULL END"
                ),
                "unblocked_at": (
                    "CASE WHEN mod(g, 5) = 0 THEN %(now)s - interval '1 minute' ELSE NULL END"
                ),
                "action_taker_id": "'host-' || mod(g, 100)",
                "action_taker_custom_name": "'Host ' || mod(g, 100)",
                "action_taker_is_admin": "true",
            },
            "generate_series(0, %(blocked)s - 1) g JOIN bench_room r ON r.n = mod(g, %(rooms)s)",
            {"blocked": self.counts.blocked, "rooms": self.counts.rooms},
        )

    def hot_blocks(self, room: Chatroom) -> int:
        return self.insert(
            BlockedUser,
            {
                "room_id": "%(room)s",
                "user_id": "'hot-blocked-' || g",
                "device_id": "'hot-blocked-device-' || g",
                "custom_name": "'Hot troll ' || g",
                "reason": "'flooding'",
                "blocked_at": "%(now)s - (%(blocked)s - g) * interval '1 second'",
                "action_taker_id": "'hot-host'",
                "action_taker_custom_name": "'Hot host'",
                "action_taker_is_admin": "true",
            },
            "generate_series(0, %(blocked)s - 1) g",
            {"room": room.pk, "blocked": self.counts.hot_blocked},
        )

    def pins(self) -> int:
        return self.insert(
            PinnedMessage,
            {
                "room_id": "r.id",
                "message_id": "'pinned-' || g",
                "message_text": "'Welcome! Please read the rules (' || g || ')'",
                "sender_id": "'host-' || mod(g, 100)",
                "sender_custom_name": "'Host ' || mod(g, 100)",
                "pinned_at": "%(now)s - (%(pins)s - g) * interval '1 minute'",
                "action_taker_id": "'host-' || mod(g, 100)",
                "action_taker_custom_name": "'Host ' || mod(g, 100)",
                "action_taker_is_admin": "true",
            },
            "generate_series(0, %(pins)s - 1) g JOIN bench_room r ON r.n = mod(g, %(rooms)s)",
            {"pins": self.counts.pins, "rooms": self.counts.rooms},
        )

    def hot_pins(self, room: Chatroom) -> int:
        """The room's newest text messages, pinned."""
        return self.insert(
            PinnedMessage,
            {
                "room_id": "m.room_id",
                "message_id": "m.id::text",
                "message_text": "m.text",
                "sender_id": "m.user_id",
                "sender_device_id": "m.user_device_id",
                "sender_custom_name": "m.user_custom_name",
                "pinned_at": "m.received_at",
                "action_taker_id": "'hot-host'",
                "action_taker_custom_name": "'Hot host'",
                "action_taker_is_admin": "true",
            },
            f"(SELECT * FROM {ChatMessage._meta.db_table} WHERE room_id = %(room)s "  # noqa: S608
            f"AND type = '{InteractionType.TEXT}' ORDER BY received_at DESC LIMIT %(pins)s) m",
            {"room": room.pk, "pins": HOT_PINS},
        )

    def polls(self) -> int:
        # A room's first poll is active if its number is 0 mod 4; the rest are
        # closed, archived or queued: at most one active poll per room.
        status = (
            f"CASE mod(p.n, 4) WHEN 0 THEN CASE WHEN p.n < %(rooms)s THEN '{PollStatus.ACTIVE}'"
            f" ELSE '{PollStatus.CLOSED}' END WHEN 1 THEN '{PollStatus.CLOSED}'"
            f" WHEN 2 THEN '{PollStatus.ARCHIVED}' ELSE '{PollStatus.QUEUED}' END"
        )
        return self.insert(
            Poll,
            {
                "id": "p.id",
                "room_id": "r.id",
                "type": (
                    f"CASE WHEN mod(p.n, 2) = 0 THEN '{PollType.SINGLE_CHOICE}' "
                    f"ELSE '{PollType.MULTI_CHOICE}' END"
                ),
                "status": status,
                "question": "'Bench question ' || p.n || '?'",
                "started_at": (
                    "CASE WHEN mod(p.n, 4) = 3 THEN NULL ELSE %(now)s - interval '1 hour' END"
                ),
                "ended_at": (
                    "CASE WHEN mod(p.n, 4) = 3 OR (mod(p.n, 4) = 0 AND p.n < %(rooms)s) "
                    "THEN NULL ELSE %(now)s - interval '30 minutes' END"
                ),
                "created_at": "%(now)s - (%(polls)s - p.n) * interval '1 minute'",
                "updated_at": "%(now)s - (%(polls)s - p.n) * interval '1 minute'",
            },
            "bench_poll p JOIN bench_room r ON r.n = mod(p.n, %(rooms)s)",
            {"rooms": self.counts.rooms, "polls": self.counts.polls},
        )

    def poll_options(self) -> int:
        return self.insert(
            PollOption,
            {
                "id": "gen_random_uuid()",
                "poll_id": "p.id",
                "text": "'Option ' || (o + 1)",
                "corrected": "o = 0",
                "position": "o",
            },
            "bench_poll p CROSS JOIN generate_series(0, %(options)s - 1) o",
            {"options": OPTIONS_PER_POLL},
        )

    def audit(self) -> int:
        actions = ", ".join(
            f"({index}, '{action}', '{source}', '{kind}', '{target}')"
            for index, (action, source, kind, target) in enumerate(AUDIT_CYCLE)
        )
        return self.insert(
            AuditLogEntry,
            {
                "action": "a.action",
                "source": "a.source",
                "actor_kind": "a.kind",
                "actor_id": "'host-' || mod(g, 100)",
                "actor_name": "'Host ' || mod(g, 100)",
                "room_id": "r.id",
                "target_type": "a.target",
                "target_id": "'target-' || g",
                "reason": "CASE WHEN mod(g, 3) = 0 THEN 'spam' ELSE '' END",
                "after": """'{"bench": true}'::jsonb""",
            },
            f"generate_series(0, %(audit)s - 1) g "
            f"JOIN bench_room r ON r.n = mod(g, %(rooms)s) "
            f"JOIN (VALUES {actions}) AS a(i, action, source, kind, target) "
            f"ON a.i = mod(g, {len(AUDIT_CYCLE)})",
            {"audit": self.counts.audit, "rooms": self.counts.rooms},
        )


# --- SQLite (and anything else): bulk_create in batches ---------------------------------


class SqliteBulk:
    """The same rows as PostgresBulk, made in Python. Fine up to a scale of about 0.05."""

    def __init__(self, seeder: Seeder):
        self.seeder = seeder
        self.counts = seeder.counts
        self.now = seeder.now
        self.room_ids = [uuid.uuid4() for _ in range(self.counts.rooms)]
        self.poll_ids = [uuid.uuid4() for _ in range(self.counts.polls)]

    def close(self) -> None:
        pass

    @staticmethod
    def save(model, rows) -> int:
        total, batch = 0, []
        for row in rows:
            batch.append(row)
            if len(batch) >= SQLITE_BATCH:
                total += len(model.objects.bulk_create(batch))
                batch = []
        if batch:
            total += len(model.objects.bulk_create(batch))
        return total

    def rooms(self) -> int:
        rooms = self.counts.rooms
        return self.save(
            Chatroom,
            (
                Chatroom(
                    id=room_id,
                    label=f"Bench room {n:06d}",
                    muted=n % 10 == 3,
                    status=ChatStatus.INACTIVE if n % 20 == 7 else ChatStatus.ACTIVE,
                    created_at=self.now - timedelta(seconds=30 * (rooms - n)),
                    updated_at=self.now - timedelta(seconds=30 * (rooms - n)),
                )
                for n, room_id in enumerate(self.room_ids)
            ),
        )

    def counters(self) -> int:
        return self.save(
            CustomCounter,
            (
                CustomCounter(room_id=room_id, key=key, position=position)
                for room_id in self.room_ids
                for position, key in enumerate(ROOM_COUNTER_KEYS)
            ),
        )

    def messages(self) -> int:
        count = self.counts.messages
        return self.save(
            ChatMessage,
            (
                ChatMessage(
                    room_id=self.room_ids[g % self.counts.rooms],
                    type=InteractionType.TEXT,
                    user_id=f"user-{g % 50000}",
                    user_device_id=f"device-{g % 50000}",
                    user_custom_name=f"Viewer {g % 50000}",
                    text=f"Message number {g} of the bench data set",
                    sent_at=self.now - timedelta(seconds=count - g, milliseconds=50),
                    received_at=self.now - timedelta(seconds=count - g),
                )
                for g in range(count)
            ),
        )

    def hot_messages(self, room: Chatroom) -> int:
        count, blocked = self.counts.hot_messages, max(1, self.counts.hot_blocked)
        incr = {"custom_message": {"value": "", "incr": {"key": "like", "value": 1}}}

        def message(g: int) -> ChatMessage:
            custom = g % 10 == 5
            return ChatMessage(
                room=room,
                type=InteractionType.CUSTOM if custom else InteractionType.TEXT,
                user_id=f"hot-blocked-{g % blocked}" if g % 25 == 0 else f"viewer-{g % 2000}",
                user_device_id=f"hot-device-{g % 2000}",
                user_custom_name=f"Fan {g % 2000}",
                user_blocked=g % 25 == 0,
                text="" if custom else f"Hot take number {g}!",
                payload=incr if custom else {},
                sent_at=self.now - timedelta(milliseconds=100 * (count - g) + 50),
                received_at=self.now - timedelta(milliseconds=100 * (count - g)),
            )

        return self.save(ChatMessage, (message(g) for g in range(count)))

    def blocks(self) -> int:
        count = self.counts.blocked
        return self.save(
            BlockedUser,
            (
                BlockedUser(
                    room_id=self.room_ids[g % self.counts.rooms],
                    user_id=f"user-{g}",
                    device_id=f"device-{g}",
                    custom_name=f"Troll {g}",
                    reason="spam",
                    blocked_at=self.now - timedelta(seconds=10 * (count - g)),
                    expires_at=self.now + timedelta(days=1) if g % 7 == 0 else None,
                    unblocked_at=self.now - timedelta(minutes=1) if g % 5 == 0 else None,
                    action_taker_id=f"host-{g % 100}",
                    action_taker_custom_name=f"Host {g % 100}",
                    action_taker_is_admin=True,
                )
                for g in range(count)
            ),
        )

    def hot_blocks(self, room: Chatroom) -> int:
        count = self.counts.hot_blocked
        return self.save(
            BlockedUser,
            (
                BlockedUser(
                    room=room,
                    user_id=f"hot-blocked-{g}",
                    device_id=f"hot-blocked-device-{g}",
                    custom_name=f"Hot troll {g}",
                    reason="flooding",
                    blocked_at=self.now - timedelta(seconds=count - g),
                    action_taker_id="hot-host",
                    action_taker_custom_name="Hot host",
                    action_taker_is_admin=True,
                )
                for g in range(count)
            ),
        )

    def pins(self) -> int:
        count = self.counts.pins
        return self.save(
            PinnedMessage,
            (
                PinnedMessage(
                    room_id=self.room_ids[g % self.counts.rooms],
                    message_id=f"pinned-{g}",
                    message_text=f"Welcome! Please read the rules ({g})",
                    sender_id=f"host-{g % 100}",
                    sender_custom_name=f"Host {g % 100}",
                    pinned_at=self.now - timedelta(minutes=count - g),
                    action_taker_id=f"host-{g % 100}",
                    action_taker_custom_name=f"Host {g % 100}",
                    action_taker_is_admin=True,
                )
                for g in range(count)
            ),
        )

    def hot_pins(self, room: Chatroom) -> int:
        newest = ChatMessage.objects.filter(room=room, type=InteractionType.TEXT).order_by(
            "-received_at"
        )[:HOT_PINS]
        return self.save(
            PinnedMessage,
            (
                PinnedMessage(
                    room=room,
                    message_id=str(m.id),
                    message_text=m.text,
                    sender_id=m.user_id,
                    sender_device_id=m.user_device_id,
                    sender_custom_name=m.user_custom_name,
                    pinned_at=m.received_at,
                    action_taker_id="hot-host",
                    action_taker_custom_name="Hot host",
                    action_taker_is_admin=True,
                )
                for m in newest
            ),
        )

    def polls(self) -> int:
        rooms, count = self.counts.rooms, self.counts.polls

        def poll(n: int, poll_id) -> Poll:
            kind = n % 4
            active = kind == 0 and n < rooms
            status = (
                PollStatus.ACTIVE
                if active
                else [PollStatus.CLOSED, PollStatus.CLOSED, PollStatus.ARCHIVED, PollStatus.QUEUED][
                    kind
                ]
            )
            created = self.now - timedelta(minutes=count - n)
            return Poll(
                id=poll_id,
                room_id=self.room_ids[n % rooms],
                type=PollType.SINGLE_CHOICE if n % 2 == 0 else PollType.MULTI_CHOICE,
                status=status,
                question=f"Bench question {n}?",
                started_at=None if kind == 3 else self.now - timedelta(hours=1),
                ended_at=None if kind == 3 or active else self.now - timedelta(minutes=30),
                created_at=created,
                updated_at=created,
            )

        return self.save(Poll, (poll(n, poll_id) for n, poll_id in enumerate(self.poll_ids)))

    def poll_options(self) -> int:
        return self.save(
            PollOption,
            (
                PollOption(poll_id=poll_id, text=f"Option {o + 1}", corrected=o == 0, position=o)
                for poll_id in self.poll_ids
                for o in range(OPTIONS_PER_POLL)
            ),
        )

    def audit(self) -> int:
        count = self.counts.audit

        def entry(g: int) -> AuditLogEntry:
            action, source, kind, target = AUDIT_CYCLE[g % len(AUDIT_CYCLE)]
            return AuditLogEntry(
                action=action,
                source=source,
                actor_kind=kind,
                actor_id=f"host-{g % 100}",
                actor_name=f"Host {g % 100}",
                room_id=self.room_ids[g % self.counts.rooms],
                target_type=target,
                target_id=f"target-{g}",
                reason="spam" if g % 3 == 0 else "",
                after={"bench": True},
            )

        return self.save(AuditLogEntry, (entry(g) for g in range(count)))
