#!/usr/bin/env python3
"""Issue 14: what the user card and a purge cost in a busy room, and what the card's
message index costs every send. PostgreSQL only, 127.0.0.1 only.

    .venv/bin/python bench/user_card.py [--history 1000000] [--runs 20]

1. Create a fresh database (default ``chatroom_bench_card``) and migrate. One room gets
   ``--history`` messages from 2,000 viewers (10 ms apart); a second room a tenth of that.
   One more viewer ("quiet") sent 3 messages, the first of them before everything else,
   and a spammer sent 500 at the newest end. ``ANALYZE``.
2. ``selectors.console_user_card`` for the quiet viewer and for the spammer, ``--runs``
   times each: the median and the slowest, in ms, and the card's queries' plans (which
   index each reads); and a few times with ``chatrooms_msg_user_idx`` dropped (rolled back).
3. ``services.messages_purge`` of the spammer's last 10 minutes (500 messages, the batch
   maximum), rolled back and repeated ``--runs`` times: median and slowest, in ms.
4. The write cost of ``chatrooms_msg_user_idx``: a 100,000-row INSERT with it and without
   it (dropped in a transaction that is rolled back), 3 rounds.

Prints a Markdown table and leaves ``results.json`` under ``bench/out/card-<time>/``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import OUT, create_database, database_url, log, machine

QUIET, SPAMMER = "quiet-viewer", "spammer"


def ms(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values) * 1000, 2),
        "max": round(max(values) * 1000, 2),
    }


def load(history: int) -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from chatrooms import services
    from chatrooms.auth import Actor
    from chatrooms.models import ChatMessage

    actor = Actor.system("bench/user_card.py")
    busy = services.chatroom_create(actor=actor, label="Busy room")
    other = services.chatroom_create(actor=actor, label="Other room")
    insert = (
        f"INSERT INTO {ChatMessage._meta.db_table} (id, room_id, type, user_id, "
        "user_device_id, user_custom_name, user_is_admin, user_is_guest, user_blocked, "
        "sender_hidden, text, payload, sent_at, received_at, deleted_by_id, "
        "deleted_by_custom_name) "
        "SELECT gen_random_uuid(), %(room)s, 'INTERACTION_TYPE_TEXT', {user}, {user}, 'n', "
        "false, false, false, false, 'text ' || g, '{{}}'::jsonb, "
        "%(start)s + g * %(step)s, %(start)s + g * %(step)s, '', '' "
        "FROM generate_series(0, %(count)s - 1) g"
    )
    viewers = insert.format(user="'viewer-' || mod(g, 2000)")
    now = timezone.now()
    tick = timedelta(milliseconds=10)
    start = now - (history + 1000) * tick
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for room, count in ((busy, history), (other, history // 10)):
            cursor.execute(viewers, {"room": room.pk, "start": start, "step": tick, "count": count})
        for user, count, first, step in (
            (QUIET, 3, start - timedelta(minutes=1), timedelta(hours=1)),
            (SPAMMER, 500, now - timedelta(seconds=100), timedelta(milliseconds=100)),
        ):
            cursor.execute(
                insert.format(user=f"'{user}'"),
                {"room": busy.pk, "start": first, "step": step, "count": count},
            )
        cursor.execute("ANALYZE")
    return {"busy": busy, "seconds": round(time.perf_counter() - started, 1)}


def plans(room, user_id: str) -> list[str]:
    """The first scan node of each of the card's queries: which index it reads."""
    from django.db import connection

    from chatrooms import selectors

    captured = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        selectors.console_user_card(room=room, user_id=user_id)
    found = []
    with connection.cursor() as cursor:
        for sql, params in captured:
            cursor.execute("EXPLAIN " + sql, params)
            lines = [row[0] for row in cursor.fetchall()]
            scans = [line.strip().lstrip("-> ") for line in lines if "Scan" in line]
            found.append(scans[0] if scans else lines[0])
    return found


def time_card_without_index(room, user_id: str, runs: int) -> dict:
    """The same card with ``chatrooms_msg_user_idx`` dropped (in a transaction that is
    rolled back): what the index saves."""
    from django.db import connection, transaction

    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("DROP INDEX chatrooms_msg_user_idx")
            timed = time_card(room, user_id, runs)
            raise _Rollback
    except _Rollback:
        return timed


def time_card(room, user_id: str, runs: int) -> dict:
    from chatrooms import selectors

    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        selectors.console_user_card(room=room, user_id=user_id)
        seconds.append(time.perf_counter() - started)
    return ms(seconds)


class _Rollback(Exception):
    pass


def time_purge(room, runs: int) -> dict:
    from django.db import transaction

    from chatrooms import services
    from chatrooms.auth import Actor

    actor = Actor.system("bench")
    seconds, counts = [], set()
    for _ in range(runs):
        try:
            with transaction.atomic():
                started = time.perf_counter()
                result = services.messages_purge(
                    actor=actor, room=room, user_id=SPAMMER, minutes=10
                )
                seconds.append(time.perf_counter() - started)
                counts.add(len(result.deleted_ids))
                raise _Rollback
        except _Rollback:
            pass
    return ms(seconds) | {"deleted": sorted(counts)}


def insert_cost(rows: int = 100_000, rounds: int = 3) -> dict:
    from django.db import connection, transaction

    from chatrooms.models import ChatMessage

    sql = (
        f"INSERT INTO {ChatMessage._meta.db_table} (id, room_id, type, user_id, "
        "user_device_id, user_custom_name, user_is_admin, user_is_guest, user_blocked, text, "
        "payload, sent_at, received_at, deleted_by_id, deleted_by_custom_name) "
        "SELECT gen_random_uuid(), (SELECT id FROM chatrooms_chatroom LIMIT 1), "
        "'INTERACTION_TYPE_TEXT', 'u' || mod(g, 2000), 'd' || mod(g, 2000), 'n', false, false, "
        "false, 'text ' || g, '{}', now(), now() + g * interval '1 ms', '', '' "
        "FROM generate_series(1, %s) g"
    )
    seconds: dict[str, list[float]] = {"every index": [], "without chatrooms_msg_user_idx": []}
    for _ in range(rounds):
        for name in seconds:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    if name != "every index":
                        cursor.execute("DROP INDEX chatrooms_msg_user_idx")
                    started = time.perf_counter()
                    cursor.execute(sql, [rows])
                    seconds[name].append(time.perf_counter() - started)
                    raise _Rollback
            except _Rollback:
                pass
    return {
        name: {
            "median": round(statistics.median(v), 2),
            "min": round(min(v), 2),
            "max": round(max(v), 2),
        }
        for name, v in seconds.items()
    } | {"rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--db", default="chatroom_bench_card")
    args = parser.parse_args()
    run_dir = OUT / f"card-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": database_url(args.db),
            "DJANGO_SECRET_KEY": "bench-only-not-a-secret",
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    results: dict = {"machine": machine(), "config": vars(args)}
    log(f"Creating {args.db} and migrating ...")
    create_database(args.db)
    call_command("migrate", verbosity=0)
    log(f"Loading {args.history:,} + {args.history // 10:,} messages ...")
    data = load(args.history)
    results["load_seconds"] = data["seconds"]
    room = data["busy"]
    log("Timing the card and the purge ...")
    results["card"] = {
        user: {
            "ms": time_card(room, user, args.runs),
            "ms_without_index": time_card_without_index(room, user, max(3, args.runs // 4)),
            "plans": plans(room, user),
        }
        for user in (QUIET, SPAMMER)
    }
    results["purge"] = time_purge(room, args.runs)
    log("Write cost of chatrooms_msg_user_idx ...")
    results["insert"] = insert_cost()
    (run_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))

    print(
        f"\n{args.history:,} messages in the room ({args.history // 10:,} in another), "
        f"{args.runs} runs\n"
    )
    print("| read or write | median ms | slowest ms |")
    print("|---|---|---|")
    for user, card in results["card"].items():
        print(f"| user card of {user} | {card['ms']['median']} | {card['ms']['max']} |")
        without = card["ms_without_index"]
        print(
            f"| user card of {user}, without chatrooms_msg_user_idx | {without['median']} | "
            f"{without['max']} |"
        )
    purge = results["purge"]
    print(
        f"| purge of {purge['deleted']} messages (rolled back) | {purge['median']} | "
        f"{purge['max']} |"
    )
    cost = results["insert"]
    print(
        f"\nINSERT of {cost['rows']:,} messages, s: every index {cost['every index']}, "
        f"without chatrooms_msg_user_idx {cost['without chatrooms_msg_user_idx']}"
    )
    for user, card in results["card"].items():
        print(f"\nplans for {user}:")
        for line in card["plans"]:
            print(f"  {line}")
    print(f"\nresults: {run_dir / 'results.json'}")


if __name__ == "__main__":
    main()
