#!/usr/bin/env python3
"""What listing rooms with an API key costs (``GET /chatrooms?page=&pageSize=``), and
what a total count would add: the page's six queries (``selectors.chatroom_list_states``)
against ``SELECT COUNT(*)`` over every room, at a given number of rooms, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatroom_bench_rooms \\
    python bench/room_list.py --rooms 100000

The database is migrated, then filled up to ``--rooms`` plain rooms with one
``INSERT ... SELECT generate_series`` (rooms already there count), and ANALYZEd. Times are
the best and the median of ``--rounds`` rounds of ``-n`` calls each, in one process,
with the connection kept open: the database's share of a request, not the request.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--rooms", type=int, default=100_000, help="rooms in the table")
parser.add_argument("-n", type=int, default=50, help="calls per round")
parser.add_argument("--rounds", type=int, default=5, help="rounds per measurement")
args = parser.parse_args()

if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
    sys.exit("Set DATABASE_URL to a PostgreSQL database (it is migrated and written to).")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-" + "k" * 40)
os.environ["DJANGO_DEBUG"] = "0"  # DEBUG keeps every query in memory

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from chatrooms import selectors  # noqa: E402
from chatrooms.models import Chatroom  # noqa: E402

call_command("migrate", verbosity=0)


def fill(rooms: int) -> None:
    missing = rooms - Chatroom.objects.count()
    if missing <= 0:
        return
    table = Chatroom._meta.db_table
    # One statement; the columns without a database default are given here. Only the
    # table name is interpolated.
    sql = (
        f"INSERT INTO {table} (id, label, muted, status, mode, viewer_info_enabled, "
        "viewer_count, viewer_info_version, viewer_info_updated_at, message_ttl, "
        "batch_window, created_at, updated_at) "
        "SELECT gen_random_uuid(), 'Room ' || i, false, 'CHAT_STATUS_ACTIVE', '', false, "
        "0, 0, now(), interval '1 day', interval '1 second', "
        "now() - i * interval '1 second', now() FROM generate_series(1, %s) AS i"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [missing])
        cursor.execute(f"ANALYZE {table}")


def measure(call) -> str:
    call()  # warm
    rounds = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(args.n):
            call()
        rounds.append((time.perf_counter() - start) / args.n * 1e3)
    return f"{min(rounds):.2f} / {statistics.median(rounds):.2f} ms"


def page(number: int, size: int):
    return lambda: selectors.chatroom_list_states(page=number, page_size=size)


def count():
    return Chatroom.objects.count()


fill(args.rooms)
total = Chatroom.objects.count()
deep = max(1, total // 100 // 2)
print(f"rooms: {total:,} (PostgreSQL {connection.pg_version})")
print("what                                 best / median")
print(f"page 1, 10 rooms                     {measure(page(1, 10))}")
print(f"page 1, 100 rooms                    {measure(page(1, 100))}")
print(f"page {deep:,} of 100 (the middle)     {measure(page(deep, 100))}")
print(f"SELECT COUNT(*) of every room        {measure(count)}")
