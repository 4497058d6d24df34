#!/usr/bin/env python3
"""What the per-user limits and slow mode cost a send (docs/performance.md).

    .venv/bin/python bench/ratelimit.py [--runs 21] [--users 1000] [--each 1]

On a fresh PostgreSQL database (``chatroom_bench_rl``), in-process, no HTTP: times
``services.messages_send`` as the realtime worker calls it, for a batch of
``--users`` x ``--each`` text messages (by default one message from each of 1,000
users: a hot room's window, and the limits' worst case, a counter per message), and for a single
message (what one REST send adds), under the configurations below; and, separately, only
the part the limits or slow mode add (``ratelimit.check``, or the slot upsert), which
varies less on a busy machine than the whole send:

- **off**: no limits, no slow mode (the floor);
- **limits, local memory**: the default limits, counted in per-process memory (no
  ``REDIS_URL``);
- **limits, Redis**: the same, counted in Redis (``redis://127.0.0.1:6379/13``, cleared);
- **slow mode**: slow mode on (limits off) in a fresh room, so every batch takes every
  user's slot with one upsert (keep ``--each 1``: a second message would be refused).

Each configuration runs in its own process (settings are read at start-up); every run
uses a fresh room so no limit refuses anything and the work measured is the same. The
median and the min-max of ``--runs`` are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DB = "chatroom_bench_rl"
REDIS = "redis://127.0.0.1:6379/13"

CONFIGS = {
    "off": {"CHATROOM_SEND_RATE": "off"},
    "limits, local memory": {},
    "limits, Redis": {"REDIS_URL": REDIS},
    "slow mode": {"CHATROOM_SEND_RATE": "off", "BENCH_SLOW_MODE": "1"},
}


def measure(runs: int, users: int, each: int) -> dict:
    import django

    django.setup()
    from django.core.cache import cache
    from django.db import transaction
    from django.utils import timezone

    from chatrooms import ratelimit, services
    from chatrooms.auth import Actor
    from chatrooms.models import ActorKind, AuditSource, InteractionType

    cache.clear()
    actor = Actor.system("bench")
    slow = os.environ.get("BENCH_SLOW_MODE") == "1"

    def batch(n_users: int) -> list:
        now = timezone.now()
        return [
            services.IncomingMessage(
                actor=Actor(
                    kind=ActorKind.CHATROOM_TOKEN,
                    source=AuditSource.API,
                    id=f"user-{u}",
                    device_id=f"device-{u}",
                ),
                type=InteractionType.TEXT,
                sent_at=now,
                text="hello",
            )
            for _ in range(each)
            for u in range(n_users)
        ]

    def send(n_users: int) -> list[float]:
        """The whole send, as the worker (a batch) or REST (one message) calls it."""
        times = []
        for _ in range(runs):
            room = services.chatroom_create(actor=actor)
            if slow:
                room = services.chatroom_set_slow_mode(actor=actor, room=room, seconds=60)
            incoming = batch(n_users)
            start = time.perf_counter()
            result = services.messages_send(room=room, incoming=incoming)
            times.append((time.perf_counter() - start) * 1000)
            assert not result.refused, result.refused[0][1]
        return times

    def part(n_users: int) -> list[float]:
        """Only what the limits (or slow mode) add to that send."""
        times = []
        for _ in range(runs):
            room = services.chatroom_create(actor=actor)
            users = [f"user-{u}" for u in range(n_users)]
            with transaction.atomic():  # the send's transaction: its commit is not counted
                start = time.perf_counter()
                if slow:
                    services._claim_slow_mode_slots(room, users, now=timezone.now(), seconds=60)
                else:
                    uses = [(user, None) for user in users for _ in range(each)]
                    ratelimit.check(room.pk, uses)
                times.append((time.perf_counter() - start) * 1000)
        return times

    send(50)  # warm up connections and caches
    return {
        "batch_ms": send(users),
        "single_ms": send(1),
        "part_batch_ms": part(users),
        "part_single_ms": part(1),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--each", type=int, default=1)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.runs, args.users, args.each)))
        return 0

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {DB}"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {DB}"], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    rows = []
    for name, extra in CONFIGS.items():
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--measure",
                f"--runs={args.runs}",
                f"--users={args.users}",
                f"--each={args.each}",
            ],
            cwd=ROOT,
            env={**env, **extra},
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append((name, result))
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {DB}"], check=True)

    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

    print(
        f"| configuration | batch of {args.users * args.each:,} messages from {args.users:,} "
        "users: the send, ms | of which the limits / slow mode, ms | one message: the send, "
        "ms | of which the limits / slow mode, ms |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, result in rows:
        parts = (
            ("", "")
            if name == "off"
            else (cell(result["part_batch_ms"]), cell(result["part_single_ms"]))
        )
        print(
            f"| {name} | {cell(result['batch_ms'])} | {parts[0]} | "
            f"{cell(result['single_ms'])} | {parts[1]} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
