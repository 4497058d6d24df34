#!/usr/bin/env python3
"""Issue 12: a chat-history report of a room with a million messages, built by the real
task worker. PostgreSQL only, 127.0.0.1 only.

    .venv/bin/python bench/reports.py [--messages 1000000] [--db chatroom_bench_reports]

1. Create a fresh database and migrate. Two rooms get messages from 5,000 viewers, one a
   tenth of ``--messages``, the other ``--messages`` (inserted by ``generate_series``; one
   in 50 deleted, one in 100 from a sender blocked when sending, one in 7 starting with
   ``=`` so its cell is neutralised).
2. For each room (the small one first): ``POST``'s service (``report_request``) queues a
   REPORT_TYPE_CHAT_HISTORIES report in Asia/Taipei, then ``manage.py db_worker --batch``
   (the command the systemd unit runs, exiting once the queue is empty) builds it. Timed
   from the worker's start to its exit, and its peak resident memory (``VmHWM`` of that
   one process, read from /proc while it runs). A worker started on an empty queue gives the
   baseline: what the process costs before any report.
3. In this process, the big room's report again under ``tracemalloc``: the peak of
   Python's own allocations while writing (slower: tracemalloc hooks every allocation).

If memory is bounded, the two workers' peaks are about the same although one room has
ten times the rows. Prints a Markdown table and leaves ``results.json`` under
``bench/out/reports-<time>/``; the database is left for inspection (dropped on the next run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import OUT, create_database, database_url, log, machine

ROOT = Path(__file__).resolve().parent.parent


def seed(room, count: int) -> float:
    from django.db import connection, transaction
    from django.utils import timezone

    from chatrooms.models import ChatMessage

    table = ChatMessage._meta.db_table
    sql = (
        f"INSERT INTO {table} (id, room_id, type, user_id, user_device_id, "
        "user_custom_name, user_is_admin, user_is_guest, user_blocked, sender_hidden, text, "
        "payload, sent_at, received_at, deleted_at, deleted_by_id, deleted_by_custom_name) "
        "SELECT gen_random_uuid(), %(room)s, 'INTERACTION_TYPE_TEXT', 'viewer-' || mod(g, 5000), "
        "'device-' || mod(g, 5000), 'Fan ' || mod(g, 5000), false, mod(g, 11) = 0, "
        "mod(g, 100) = 0, false, "
        "CASE WHEN mod(g, 7) = 0 THEN '=SUM(A1:A9) ' ELSE '' END "
        "|| 'A real message from the audience, number ' || g, '{}'::jsonb, "
        "%(start)s + g * interval '10 milliseconds', %(start)s + g * interval '10 milliseconds', "
        "CASE WHEN mod(g, 50) = 0 THEN %(start)s + g * interval '10 milliseconds' "
        "+ interval '1 minute' END, "
        "CASE WHEN mod(g, 50) = 0 THEN 'host' ELSE '' END, "
        "CASE WHEN mod(g, 50) = 0 THEN 'Host' ELSE '' END "
        "FROM generate_series(0, %(count)s - 1) g"
    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            sql,
            {"room": room.pk, "start": timezone.now() - timedelta(days=2), "count": count},
        )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    return time.perf_counter() - started


def high_water_mib(pid: int) -> float | None:
    """The process's peak resident memory so far (VmHWM): its own since exec, unlike
    ``ru_maxrss``, which a forked child inherits from the parent that forked it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def worker(env: dict) -> dict:
    """Run the queue's worker until the queue is empty; its time and peak RSS (VmHWM, read
    every 50 ms while it runs; it only grows, so the last reading is the peak up to 50 ms
    before the end)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--queue-name",
            "reports",
            "--batch",
            "--no-startup-delay",
            "--no-reload",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    peak = 0.0
    try:
        while process.poll() is None:
            peak = max(peak, high_water_mib(process.pid) or 0.0)
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            process.kill()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(
            f"the worker exited {process.returncode}: {process.stderr.read().decode()[-2000:]}"
        )
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(peak, 1)}


def report(room, actor):
    from chatrooms.models import ReportType
    from chatrooms.reports.services import report_request

    return report_request(
        actor=actor, room=room, type=ReportType.CHAT_HISTORIES, time_zone="Asia/Taipei"
    )


def table(results: dict) -> str:
    lines = [
        "| room | messages | worker time | rows/s | worker peak RSS | file |",
        "|---|---:|---:|---:|---:|---:|",
        f"| (empty queue: the worker alone) | - | {results['idle']['seconds']} s | - | "
        f"{results['idle']['peak_rss_mib']} MiB | - |",
    ]
    for name in ("small", "big"):
        row = results[name]
        lines.append(
            f"| {name} | {row['rows']:,} | {row['seconds']} s | {row['rows_per_s']:,} | "
            f"{row['peak_rss_mib']} MiB | {row['file_mib']} MiB |"
        )
    traced = results["tracemalloc"]
    lines += [
        "",
        f"In process under tracemalloc ({results['big']['rows']:,} rows): peak of Python "
        f"allocations {traced['peak_mib']} MiB while writing, {traced['seconds']} s.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--db", default="chatroom_bench_reports")
    args = parser.parse_args()
    run_dir = OUT / f"reports-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(args.db),
        "DJANGO_SECRET_KEY": "bench-only-not-a-secret",
        "DJANGO_DEBUG": "0",
        "DJANGO_MEDIA_ROOT": str(run_dir / "media"),
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from chatrooms import services
    from chatrooms.auth import Actor
    from chatrooms.models import Report
    from chatrooms.reports.services import report_build

    results: dict = {"machine": machine(), "config": vars(args)}
    log(f"Creating {args.db} and migrating ...")
    create_database(args.db)
    call_command("migrate", verbosity=0)
    actor = Actor.system("bench/reports.py")
    rooms = {
        "small": (services.chatroom_create(actor=actor, label="small"), args.messages // 10),
        "big": (services.chatroom_create(actor=actor, label="big"), args.messages),
    }
    for name, (room, count) in rooms.items():
        log(f"Seeding {name}: {count:,} messages ...")
        results[f"seed_{name}_s"] = round(seed(room, count), 1)

    log("The worker on an empty queue ...")
    results["idle"] = worker(env)
    for name, (room, count) in rooms.items():
        queued = report(room, actor)
        log(f"Building {name} ({count:,} rows) with db_worker ...")
        measured = worker(env)
        built = Report.objects.get(pk=queued.pk)
        if built.status != "REPORT_STATUS_SUCCEEDED" or built.rows != count:
            raise SystemExit(f"{name}: {built.status}, {built.rows} rows, {built.error}")
        measured |= {
            "rows": built.rows,
            "rows_per_s": round(built.rows / measured["seconds"]),
            "file_mib": round(built.file.size / 2**20, 1),
        }
        results[name] = measured
        log(f"  {measured}")

    log("The big room again, in process under tracemalloc ...")
    queued = report(rooms["big"][0], actor)
    tracemalloc.start()
    started = time.perf_counter()
    report_build(report_id=queued.pk)
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    results["tracemalloc"] = {"peak_mib": round(peak / 2**20, 1), "seconds": round(seconds, 1)}
    (run_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    text = table(results)
    (run_dir / "tables.md").write_text(text + "\n")
    print(text)
    log(f"\nRaw results: {run_dir}")


if __name__ == "__main__":
    main()
