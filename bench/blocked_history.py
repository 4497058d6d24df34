#!/usr/bin/env python3
"""Issue 9, #3: a blocked spammer's flood at the newest end of a room, against the same
room without the block. PostgreSQL only, 127.0.0.1 only.

    .venv/bin/python bench/blocked_history.py [--spam 100000] [--history 20000] [--runs 5]
        [--duration 15] [--compare GIT_REF]

1. Create a fresh database (default ``chatroom_bench_blocked``) and migrate. Three rooms
   get the same messages: ``--history`` from 2,000 viewers, then ``--spam`` from one
   spammer at the newest end. In *none* nobody is blocked; in *while* the spammer was
   blocked before the flood (so the flood was stored flagged, as messages_send stores
   a blocked sender's messages); in *after* the flood came first and ``user_block`` is
   timed on it (it flags the 100,000 rows in one UPDATE). A fourth, ordinary room
   serves the other users' ``GET /chatrooms``.
2. Before anything is analyzed (autovacuum is off here), after ``ANALYZE``, and after
   ``VACUUM ANALYZE`` (which removes the index entries of the rows the block flagged): a
   viewer's ``GET /chatrooms/messages?limit=100`` in each room through gunicorn
   (``bench.wsgi``, 2 gthread workers x 4 threads as bench/run.py): ``--runs`` runs of
   ``--requests`` sequential requests on one kept-alive connection, the rooms taking
   turns in each run; and first the plan and timing of the viewer query
   (``EXPLAIN (ANALYZE, BUFFERS)``).
3. After ``ANALYZE`` (before the VACUUM): four readers (wrk, 4 connections) hitting one
   room's history for ``--duration`` s while another room's viewers' ``GET /chatrooms``
   is timed one request at a time; ``--runs`` rounds, the rooms taking turns. With
   ``--compare REF``, ``message_list`` as it is and as it was at REF, in process.
4. ``user_unblock`` on the spammer in *after* (it unflags the rows again), timed; then
   the write cost of the three message indexes this adds: a 100,000-row INSERT with
   them and without them (dropped in a transaction that is rolled back), 3 rounds.

Prints a Markdown table and leaves ``results.json`` under ``bench/out/blocked-<time>/``.
Every process it starts (gunicorn, wrk) is stopped by its process group in ``finally``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (
    BENCH,
    HOST,
    OUT,
    Server,
    create_database,
    database_url,
    log,
    machine,
    stop_group,
)

API = "/bv/chatroom/v1"
ROOMS = ("none", "while", "after")
PHASES = ("never analyzed", "analyzed", "vacuumed")
SPAMMER = "spammer"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
        "runs": [round(v, 2) for v in values],
    }


# --- Data -----------------------------------------------------------------------------


def load(args) -> dict:
    """The rooms, their messages and the credentials, in this process (Django)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from chatrooms import auth, services
    from chatrooms.auth import Actor
    from chatrooms.models import ChatMessage, Role

    actor = Actor.system("bench/blocked_history.py")
    rooms = {
        name: services.chatroom_create(actor=actor, label=f"Blocked history: {name}")
        for name in (*ROOMS, "other")
    }
    table = ChatMessage._meta.db_table
    insert = (
        f"INSERT INTO {table} (id, room_id, type, user_id, user_device_id, "
        "user_custom_name, user_is_admin, user_is_guest, user_blocked, sender_hidden, text, "
        "payload, sent_at, received_at, deleted_by_id, deleted_by_custom_name) "
        "SELECT gen_random_uuid(), %(room)s, 'INTERACTION_TYPE_TEXT', {user}, {device}, "
        "{name}, false, false, %(blocked)s, %(blocked)s, {text}, '{{}}'::jsonb, "
        "%(start)s + g * interval '10 milliseconds', "
        "%(start)s + g * interval '10 milliseconds', '', '' "
        "FROM generate_series(0, %(count)s - 1) g"
    )
    history = insert.format(
        user="'viewer-' || mod(g, 2000)",
        device="'device-' || mod(g, 2000)",
        name="'Fan ' || mod(g, 2000)",
        text="'A real message, number ' || g",
    )
    spam = insert.format(
        user=f"'{SPAMMER}'",
        device=f"'{SPAMMER}-device'",
        name="'Cheap followers'",
        text="'Buy followers now! ' || g",
    )
    started = time.perf_counter()
    tick = timedelta(milliseconds=10)
    base = timezone.now() - (args.history + args.spam) * tick
    spam_start = base + args.history * tick
    with transaction.atomic(), connection.cursor() as cursor:
        for name, room in rooms.items():
            if name == "other":
                continue
            cursor.execute(
                history, {"room": room.pk, "blocked": False, "start": base, "count": args.history}
            )
            if name == "while":
                services.user_block(actor=actor, room=room, user_id=SPAMMER)
            cursor.execute(
                spam,
                {
                    "room": room.pk,
                    "blocked": name == "while",
                    "start": spam_start,
                    "count": args.spam,
                },
            )
        cursor.execute(
            history, {"room": rooms["other"].pk, "blocked": False, "start": base, "count": 500}
        )
    loaded_s = time.perf_counter() - started
    tokens = {}
    with transaction.atomic():
        for name, room in rooms.items():
            tokens[name] = [
                auth.chatroom_token_issue(
                    room=room,
                    role=Role.VIEWER,
                    subject=f"{name}-viewer-{index}",
                    device_id=f"{name}-device-{index}",
                    name=f"Viewer {index}",
                    refreshable=False,
                ).token
                for index in range(20)
            ]
    return {
        "rooms": {name: str(room.pk) for name, room in rooms.items()},
        "tokens": tokens,
        "loaded_s": round(loaded_s, 2),
        "messages": ChatMessage.objects.count(),
    }


def never_analyzed() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.reltuples, s.last_analyze, s.last_autoanalyze FROM pg_class c "
            "JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = %s",
            ["chatrooms_chatmessage"],
        )
        reltuples, last_analyze, last_autoanalyze = cursor.fetchone()
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0]
    return {
        "reltuples": reltuples,
        "analyzed": last_analyze is not None or last_autoanalyze is not None,
        "autovacuum": autovacuum,
    }


def explain(room_id: str) -> dict:
    """The viewer query as message_list makes it, under EXPLAIN (ANALYZE, BUFFERS)."""
    from django.db import connection

    from chatrooms import selectors
    from chatrooms.models import Chatroom

    page = selectors.viewer_page_queryset(
        room=Chatroom(pk=room_id),
        viewer_id="a-viewer",
        order=("-received_at", "-id"),
        batch=100,
    )
    sql, params = page.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        plan = [row[0] for row in cursor.fetchall()]
    execution = next(
        (float(m.group(1)) for line in plan if (m := re.search(r"Execution Time: ([\d.]+)", line))),
        None,
    )
    return {
        "plan": plan,
        "execution_ms": execution,
        "visible_index": any("chatrooms_msg_visible_idx" in line for line in plan),
        "seq_scan": any("Seq Scan" in line for line in plan),
    }


def timed_block(rooms: dict, *, unblock: bool = False) -> dict:
    from django.db import connection

    from chatrooms import services
    from chatrooms.auth import Actor
    from chatrooms.models import ChatMessage, Chatroom

    actor = Actor.system("bench/blocked_history.py")
    room = Chatroom.objects.get(pk=rooms["after"])
    started = time.perf_counter()
    if unblock:
        services.user_unblock(actor=actor, room=room, user_id=SPAMMER)
    else:
        services.user_block(actor=actor, room=room, user_id=SPAMMER)
    seconds = time.perf_counter() - started
    hidden = ChatMessage.objects.filter(room=room, sender_hidden=True).count()
    connection.close()
    return {"seconds": round(seconds, 3), "hidden_after": hidden}


NEW_INDEXES = ("chatrooms_msg_visible_idx", "chatrooms_msg_sender_idx", "chatrooms_msg_device_idx")


def insert_cost(rows: int = 100_000, rounds: int = 3) -> dict:
    """Seconds to INSERT ``rows`` messages in one statement, with every index and
    without the three that hidden senders added (dropped inside the transaction,
    which is rolled back): the write cost of those indexes."""
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
    seconds: dict[str, list[float]] = {"every index": [], "without the three new": []}
    for _ in range(rounds):
        for name, drop in (("every index", False), ("without the three new", True)):
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    if drop:
                        cursor.execute(f"DROP INDEX {', '.join(NEW_INDEXES)}")
                    started = time.perf_counter()
                    cursor.execute(sql, [rows])
                    seconds[name].append(time.perf_counter() - started)
                    raise _Rollback
            except _Rollback:
                pass
    return {name: summary(values) for name, values in seconds.items()} | {"rows": rows}


class _Rollback(Exception):
    pass


def analyze(command: str = "ANALYZE") -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(command)
    return round(time.perf_counter() - started, 2)


def compare_selectors(data: dict, ref: str, calls: int = 3) -> dict:
    """``selectors.message_list`` as it is and as it was at ``ref`` (read with git
    show), called in this process for a viewer of each room: milliseconds per call
    (median of ``calls``) and queries per call."""
    import importlib.util
    import tempfile

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chatrooms import selectors
    from chatrooms.models import Chatroom

    source = subprocess.run(
        ["git", "-C", str(BENCH.parent), "show", f"{ref}:chatrooms/selectors.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("selectors_before", file.name)
    before = importlib.util.module_from_spec(spec)
    sys.modules["selectors_before"] = before  # dataclasses look their module up
    spec.loader.exec_module(before)
    os.unlink(file.name)
    results = {}
    for room in ROOMS:
        for name, module in (("now", selectors), (ref, before)):
            times, queries = [], 0
            for _ in range(calls):
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    module.message_list(
                        room=Chatroom(pk=data["rooms"][room]),
                        viewer_id="a-viewer",
                        viewer_is_admin=False,
                        limit=100,
                    )
                    times.append((time.perf_counter() - started) * 1000)
                queries = len(captured)
            results[f"{room}, {name}"] = {
                "median_ms": round(statistics.median(times), 1),
                "queries": queries,
            }
            log(f"  message_list {room:<6} {name:<8} {results[f'{room}, {name}']}")
    return results


# --- Requests ----------------------------------------------------------------------------


def timed_gets(port: int, path: str, tokens: list[str], count: int) -> list[float]:
    """``count`` sequential GETs on one kept-alive connection; milliseconds each."""
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    times = []
    try:
        for index in range(count):
            started = time.perf_counter()
            connection.request(
                "GET", path, headers={"Authorization": f"Bearer {tokens[index % len(tokens)]}"}
            )
            response = connection.getresponse()
            body = response.read()
            times.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise SystemExit(f"GET {path} answered {response.status}: {body[:300]!r}")
    finally:
        connection.close()
    return times


def viewer_latency(args, data: dict) -> dict:
    """Each room's viewer history, the rooms taking turns within every run, so that
    load from elsewhere on the machine falls on all of them alike."""
    path = f"{API}/chatrooms/messages?limit=100"
    medians: dict[str, list[float]] = {room: [] for room in ROOMS}
    p95s: dict[str, list[float]] = {room: [] for room in ROOMS}
    for room in ROOMS:
        timed_gets(args.port, path, data["tokens"][room], 10)  # warm-up: connections, caches
    for _ in range(args.runs):
        for room in ROOMS:
            times = timed_gets(args.port, path, data["tokens"][room], args.requests)
            medians[room].append(statistics.median(times))
            p95s[room].append(percentile(times, 0.95))
    return {
        room: {"median_ms": summary(medians[room]), "p95_ms": summary(p95s[room])} for room in ROOMS
    }


def readers_and_others(args, data: dict, room: str, run_dir: Path) -> dict:
    """4 wrk connections read ``room``'s history while another room's viewers time
    ``GET /chatrooms`` one request after another."""
    token_file = run_dir / f"readers-{room}.txt"
    token_file.write_text("\n".join(data["tokens"][room]) + "\n")
    env = {
        **os.environ,
        "BENCH_METHOD": "GET",
        "BENCH_PATH": f"{API}/chatrooms/messages?limit=100",
        "BENCH_BODY": "none",
        "BENCH_TOKENS": str(token_file),
        "BENCH_UNIQUE": "0",
        "BENCH_GZIP": "0",
        "BENCH_MAX": "0",
        "BENCH_THREADS": "2",
        "BENCH_CONNECTIONS": "4",
    }
    command = [
        "wrk",
        "-t2",
        "-c4",
        f"-d{args.duration}s",
        "--timeout",
        "30s",
        "-s",
        str(BENCH / "wrk" / "scenario.lua"),
        f"http://{HOST}:{args.port}",
    ]
    others: list[float] = []
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            others.extend(timed_gets(args.port, f"{API}/chatrooms", data["tokens"]["other"], 5))

    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    thread = threading.Thread(target=probe, daemon=True)
    try:
        time.sleep(1)  # the readers are busy
        thread.start()
        output, _ = process.communicate(timeout=args.duration + 60)
    finally:
        stop.set()
        stop_group(process)
        thread.join(60)
    match = re.search(r"^WRKJSON (.*)$", output, re.MULTILINE)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{output}")
    raw = json.loads(match.group(1))
    errors = raw["status"] + raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "readers_rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "readers_p50_ms": raw["p50"] / 1000,
        "readers_p99_ms": raw["p99"] / 1000,
        "readers_errors": errors,
        "others_requests": len(others),
        "others_p50_ms": round(statistics.median(others), 2),
        "others_p95_ms": round(percentile(others, 0.95), 2),
        "others_max_ms": round(max(others), 2),
    }


def readers_rounds(args, data: dict, run_dir: Path) -> dict:
    """``--runs`` rounds, the rooms taking turns in each."""
    rounds: dict[str, list[dict]] = {room: [] for room in ROOMS}
    for index in range(args.runs):
        for room in ROOMS:
            log(f"  4 readers on {room} (round {index + 1}) ...")
            readers = readers_and_others(args, data, room, run_dir)
            rounds[room].append({**readers, "load_after": os.getloadavg()[0]})
            log(f"    {readers}")
    return {
        room: {
            key: summary([r[key] for r in runs])
            for key in ("readers_rps", "readers_p99_ms", "others_p50_ms", "others_p95_ms")
        }
        | {"others_max_ms": max(r["others_max_ms"] for r in runs), "rounds": runs}
        for room, runs in rounds.items()
    }


# --- Main ----------------------------------------------------------------------------------


def table(results: dict) -> str:
    lines = [
        "| room | statistics | viewer `GET /chatrooms/messages?limit=100`, median ms "
        "(min-max of run medians) | p95 ms | viewer query in PostgreSQL, ms | visible index |",
        "|---|---|---:|---:|---:|---|",
    ]
    for phase in PHASES:
        for room in ROOMS:
            row = results["phases"][phase][room]
            latency, p95, plan = row["latency"]["median_ms"], row["latency"]["p95_ms"], row["plan"]
            lines.append(
                f"| {room} | {phase} | {latency['median']} ({latency['min']}-{latency['max']}) "
                f"| {p95['median']} | {plan['execution_ms']} | "
                f"{'yes' if plan['visible_index'] else 'no'} |"
            )
    lines += [
        "",
        "| 4 readers on | readers req/s | readers p99 ms | others' `GET /chatrooms` p50 ms "
        "| p95 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def cell(value: dict) -> str:
        return f"{value['median']} ({value['min']}-{value['max']})"

    for room, row in results["readers"].items():
        lines.append(
            f"| {room} | {cell(row['readers_rps'])} | {cell(row['readers_p99_ms'])} | "
            f"{cell(row['others_p50_ms'])} | {cell(row['others_p95_ms'])} | "
            f"{row['others_max_ms']} |"
        )
    if results.get("selectors"):
        lines += ["", "| `message_list`, in process, analyzed | ms per call | queries |"]
        lines.append("|---|---:|---:|")
        for name, row in results["selectors"].items():
            lines.append(f"| {name} | {row['median_ms']:,} | {row['queries']} |")
    lines += [
        "",
        f"`user_block` on the spammer of *after* ({results['spam']:,} messages): "
        f"{results['block']['seconds']} s; `user_unblock`: {results['unblock']['seconds']} s.",
    ]
    if results.get("insert"):
        cost = results["insert"]
        lines += [
            "",
            f"INSERT of {cost['rows']:,} messages in one statement, s: every index "
            f"{cost['every index']['median']} ({cost['every index']['min']}-"
            f"{cost['every index']['max']}), without the three new ones "
            f"{cost['without the three new']['median']} ({cost['without the three new']['min']}-"
            f"{cost['without the three new']['max']}).",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spam", type=int, default=100_000)
    parser.add_argument("--history", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5, help="runs (and reader rounds)")
    parser.add_argument("--requests", type=int, default=100, help="per run")
    parser.add_argument("--duration", type=int, default=15, help="seconds of 4 readers")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument(
        "--compare", metavar="REF", help="also time message_list as it was at this git ref"
    )
    parser.add_argument("--db", default="chatroom_bench_blocked")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    run_dir = OUT / f"blocked-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(args.db),
        "DJANGO_SECRET_KEY": "bench-only-not-a-secret",
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_HSTS_SECONDS": "0",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    results: dict = {"machine": machine(), "config": vars(args), "spam": args.spam}
    log(f"Creating {args.db} and migrating ...")
    create_database(args.db)
    call_command("migrate", verbosity=0)
    log(f"Loading 3 rooms x ({args.history:,} messages + {args.spam:,} spam) ...")
    data = load(args)
    results["load"] = {k: v for k, v in data.items() if k != "tokens"}
    server_args = argparse.Namespace(port=args.port, workers=2, worker_class="gthread", threads=4)

    results["phases"] = {}
    with Server(server_args, {**os.environ}, run_dir):
        for phase in PHASES:
            if phase == "analyzed":
                results["analyze_s"] = analyze()
            if phase == "vacuumed":
                results["vacuum_s"] = analyze("VACUUM ANALYZE")
            results[f"statistics ({phase})"] = never_analyzed()
            if "block" not in results:
                log("  user_block on the flood ...")
                results["block"] = timed_block(data["rooms"])
                log(f"    {results['block']}")
            # The plan first: in *after* right after the block, its timing is the first
            # reader's, who meets the flagged rows' old index entries.
            plans = {room: explain(data["rooms"][room]) for room in ROOMS}
            latency = viewer_latency(args, data)
            rows = results["phases"][phase] = {}
            for room in ROOMS:
                rows[room] = {"plan": plans[room], "latency": latency[room]}
                log(
                    f"  {phase:<15} {room:<6} median "
                    f"{latency[room]['median_ms']['median']} ms, query "
                    f"{plans[room]['execution_ms']} ms"
                )
            rows["load_after"] = os.getloadavg()[0]
            if phase == "analyzed":  # before VACUUM: the flagged rows' old index entries remain
                results["readers"] = readers_rounds(args, data, run_dir)
                if args.compare:
                    results["selectors"] = compare_selectors(data, args.compare)
    results["unblock"] = timed_block(data["rooms"], unblock=True)
    log("Write cost of the new indexes ...")
    results["insert"] = insert_cost()
    log(f"  {results['insert']}")
    (run_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    text = table(results)
    (run_dir / "tables.md").write_text(text + "\n")
    print(text)
    log(f"\nRaw results: {run_dir}")


if __name__ == "__main__":
    main()
