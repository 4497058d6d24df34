#!/usr/bin/env python3
"""Issue 13: one housekeeping pass over a million messages, with a room's traffic going on.
PostgreSQL only, 127.0.0.1 only.

    .venv/bin/python bench/housekeeping.py [--messages 1000000] [--rooms 10]
        [--expired-share 0.3] [--db chatroom_bench_housekeeping]

1. Create a fresh database and migrate. ``--rooms`` rooms (ttl one day) get ``--messages``
   between them (``generate_series``), spread evenly in time so that ``--expired-share``
   of them are older than the ttl; plus 100,000 applied counter increments and 20,000
   expired sessions with a refresh token each. ANALYZE.
2. ``housekeeping --dry-run``'s service: the time to count what a pass would do.
3. Traffic on the first room, from two threads with their own connections: one stores
   messages (``services.message_send``, one at a time) and one reads history
   (``selectors.message_list``, a viewer's newest page), for ``--baseline`` seconds
   before the pass and then during it. Their latencies before and during are the
   measure of what the pass holds up.
4. The pass (``housekeeping_run``) in this thread, while a third connection samples
   every 20 ms the locks its backend holds (``pg_locks``) and how many other backends
   wait on a lock (``pg_stat_activity.wait_event_type = 'Lock'``).
5. The admin's unfiltered message changelist, timed in process (its count comes from
   ``pg_class.reltuples``).

Prints a Markdown table and leaves ``results.json`` under ``bench/out/housekeeping-<time>/``;
the database is left for inspection (dropped on the next run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import OUT, create_database, database_url, log, machine

ROOT = Path(__file__).resolve().parent.parent
TTL = timedelta(days=1)


def seed(rooms, count: int, expired_share: float) -> float:
    from django.db import connection, transaction
    from django.utils import timezone

    from chatrooms.models import ChatMessage

    table = ChatMessage._meta.db_table
    span = TTL / (1 - expired_share)  # the newest message now, the oldest span ago
    per_room = count // len(rooms)
    sql = (
        f"INSERT INTO {table} (id, room_id, type, user_id, user_device_id, "
        "user_custom_name, user_is_admin, user_is_guest, user_blocked, sender_hidden, text, "
        "payload, sent_at, received_at, deleted_at, deleted_by_id, deleted_by_custom_name) "
        "SELECT gen_random_uuid(), %(room)s, 'INTERACTION_TYPE_TEXT', 'viewer-' || mod(g, 5000), "
        "'device-' || mod(g, 5000), 'Fan ' || mod(g, 5000), false, false, false, false, "
        "'A real message from the audience, number ' || g, '{}'::jsonb, "
        "%(now)s - g * %(step)s, %(now)s - g * %(step)s, NULL, '', '' "
        "FROM generate_series(0, %(count)s - 1) g"
    )
    started = time.perf_counter()
    now = timezone.now()
    for room in rooms:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                sql, {"room": room.pk, "now": now, "step": span / per_room, "count": per_room}
            )
    return time.perf_counter() - started


def seed_other(room) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO chatrooms_counterincrement (room_id, key, value, created_at, applied) "
            "SELECT %s, 'likes', 1, now() - interval '1 hour', true "
            "FROM generate_series(1, 100000)",
            [room.pk],
        )
        cursor.execute(
            "INSERT INTO chatrooms_chatsession (id, room_id, subject, device_id, name, role, "
            "key_id, refreshable, created_at, expires_at, revoked_at, revoked_reason) "
            "SELECT gen_random_uuid(), %s, 'old-' || g, 'd', 'n', 'ROLE_VIEWER', 'default', "
            "true, now() - interval '40 days', now() - interval '10 days', NULL, '' "
            "FROM generate_series(1, 20000) g",
            [room.pk],
        )
        cursor.execute(
            "INSERT INTO chatrooms_refreshtoken (token_hash, family, session_id, room_id, "
            "subject, device_id, name, role, created_at, expires_at) "
            "SELECT md5(s.id::text) || md5(s.subject), s.id, s.id, s.room_id, s.subject, 'd', "
            "'n', 'ROLE_VIEWER', s.created_at, s.expires_at FROM chatrooms_chatsession s"
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


class Load:
    """Sends and history reads on one room, each from its own thread and connection."""

    def __init__(self, room):
        from chatrooms import auth
        from chatrooms.auth import Actor
        from chatrooms.models import Role

        self.room = room
        issued = auth.chatroom_token_issue(room=room, role=Role.ADMIN, subject="bench-host")
        self.actor = Actor.for_token(issued.claims)
        self.samples: dict[str, list[float]] = {"send": [], "read": []}
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def _send(self) -> None:
        from django.utils import timezone

        from chatrooms import services
        from chatrooms.models import InteractionType

        services.message_send(
            actor=self.actor,
            room=self.room,
            type=InteractionType.TEXT,
            sent_at=timezone.now(),
            text="during housekeeping",
        )

    def _read(self) -> None:
        from chatrooms import selectors

        selectors.message_list(room=self.room, viewer_id="a-viewer", viewer_is_admin=False)

    def _loop(self, name: str, call) -> None:
        from django.db import connections

        try:
            while not self.stopping.is_set():
                started = time.perf_counter()
                call()
                self.samples[name].append((time.perf_counter() - started) * 1000)
                time.sleep(0.01)
        finally:
            connections.close_all()

    def run_for(self, seconds: float) -> dict:
        self.start()
        time.sleep(seconds)
        return self.stop()

    def start(self) -> None:
        self.samples = {"send": [], "read": []}
        self.stopping.clear()
        self.threads = [
            threading.Thread(target=self._loop, args=("send", self._send)),
            threading.Thread(target=self._loop, args=("read", self._read)),
        ]
        for thread in self.threads:
            thread.start()

    def stop(self) -> dict:
        self.stopping.set()
        for thread in self.threads:
            thread.join()
        return {name: summary(values) for name, values in self.samples.items()}


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        "max_ms": round(ordered[-1], 2),
    }


class LockSampler(threading.Thread):
    def __init__(self, url: str, pid: int):
        super().__init__()
        self.url, self.pid = url, pid
        self.stopping = threading.Event()
        self.modes: set[tuple[str, str]] = set()
        self.max_waiting = 0
        self.samples = 0

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            while not self.stopping.is_set():
                rows = connection.execute(
                    "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c "
                    "ON c.oid = l.relation WHERE l.pid = %s AND c.relkind = 'r'",
                    [self.pid],
                ).fetchall()
                self.modes |= {(table, mode) for table, mode in rows if not table.startswith("pg_")}
                (waiting,) = connection.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                ).fetchone()
                self.max_waiting = max(self.max_waiting, waiting)
                self.samples += 1
                time.sleep(0.02)


def changelist_ms() -> float:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser("bench-admin", "a@example.com", "x")
    client = Client()
    client.force_login(user)
    client.get("/admin/chatrooms/chatmessage/", secure=True)  # warm
    started = time.perf_counter()
    response = client.get("/admin/chatrooms/chatmessage/", secure=True)
    assert response.status_code == 200, response.status_code
    return round((time.perf_counter() - started) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--expired-share", type=float, default=0.3)
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds of traffic")
    parser.add_argument("--db", default="chatroom_bench_housekeeping")
    args = parser.parse_args()
    run_dir = OUT / f"housekeeping-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(args.db),
        "DJANGO_SECRET_KEY": "bench-only-not-a-secret",
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        "DJANGO_LOG_LEVEL": "WARNING",
        # One host sends as fast as it can: the per-user send limit is not measured here.
        "CHATROOM_SEND_RATE": "off",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from chatrooms import services
    from chatrooms.auth import Actor
    from chatrooms.housekeeping import housekeeping_run
    from chatrooms.models import ChatMessage, Chatroom

    results: dict = {"machine": machine(), "config": vars(args)}
    log(f"Creating {args.db} and migrating ...")
    create_database(args.db)
    call_command("migrate", verbosity=0)
    actor = Actor.system("bench/housekeeping.py")
    rooms = [services.chatroom_create(actor=actor, label=f"room {i}") for i in range(args.rooms)]
    Chatroom.objects.update(message_ttl=TTL)
    rooms = list(Chatroom.objects.order_by("created_at"))
    log(f"Seeding {args.messages:,} messages in {args.rooms} rooms ...")
    results["seed_s"] = round(seed(rooms, args.messages, args.expired_share), 1)
    seed_other(rooms[0])

    started = time.perf_counter()
    results["dry_run"] = housekeeping_run(dry_run=True)
    results["dry_run_s"] = round(time.perf_counter() - started, 2)
    log(f"Dry run: {results['dry_run']} in {results['dry_run_s']} s")

    load = Load(rooms[0])
    log(f"Baseline traffic for {args.baseline} s ...")
    results["before"] = load.run_for(args.baseline)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    sampler = LockSampler(database_url(args.db), pid)
    sampler.start()
    load.start()
    log("The pass, with traffic ...")
    started = time.perf_counter()
    results["pass"] = housekeeping_run()
    results["pass_s"] = round(time.perf_counter() - started, 2)
    results["during"] = load.stop()
    sampler.stopping.set()
    sampler.join()
    results["locks_held"] = sorted(f"{table}: {mode}" for table, mode in sampler.modes)
    results["max_backends_waiting_on_a_lock"] = sampler.max_waiting
    results["lock_samples"] = sampler.samples
    results["batch"] = settings.CHATROOM_HOUSEKEEPING_BATCH
    results["messages_left"] = ChatMessage.objects.count()

    started = time.perf_counter()
    results["second_pass"] = housekeeping_run()
    results["second_pass_s"] = round(time.perf_counter() - started, 2)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chatrooms_chatmessage")
    results["admin_changelist_ms"] = changelist_ms()

    (run_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(table(results))
    log(f"Results in {run_dir}")


def table(results: dict) -> str:
    lines = [
        f"Pass: {results['pass_s']} s, deleted {results['pass']}; the next pass "
        f"{results['second_pass_s']} s. Dry run {results['dry_run_s']} s.",
        "",
        "| traffic on one room | calls | p50 | p99 | max |",
        "|---|---:|---:|---:|---:|",
    ]
    for phase in ("before", "during"):
        for name in ("send", "read"):
            row = results[phase][name]
            lines.append(
                f"| {name}, {phase} the pass | {row['n']} | {row.get('p50_ms')} ms | "
                f"{row.get('p99_ms')} ms | {row.get('max_ms')} ms |"
            )
    lines += [
        "",
        f"Locks the pass held (sampled {results['lock_samples']} times): "
        + "; ".join(results["locks_held"]),
        f"Most backends waiting on a lock at once: {results['max_backends_waiting_on_a_lock']}.",
        f"Admin message changelist (unfiltered, {results['messages_left']:,} rows): "
        f"{results['admin_changelist_ms']} ms.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
