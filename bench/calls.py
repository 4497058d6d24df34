#!/usr/bin/env python3
"""Deterministic per-request cost of the benchmark's endpoints, in-process.

    DJANGO_SETTINGS_MODULE=bench.settings DATABASE_URL=postgres://.../chatroom_bench... \
        python bench/calls.py --hot-room ID [--requests 200] [--json out.json]

Wall-clock throughput on a shared machine is noise; these are not. For each scenario of
``bench/run.py`` (the same requests, against a database seeded by ``seed_bench``), after
warm-up requests, ``--requests`` requests go through Django's full handler (middleware,
DRF, view, database) with the test ``Client``, and it reports per request:

* the SQL queries (``CaptureQueriesContext``), named, for the last request;
* the Python function calls (``cProfile``'s ``total_calls`` / requests): the same code
  path gives the same count whatever else the machine runs;
* the CPU time per request (``time.process_time``), for orientation only.

``--top N`` prints each scenario's N functions with the most calls; ``--without CHANGE``
turns one of issue 10's changes off in this process, to measure what it alone buys.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from chatrooms import auth, selectors, services  # noqa: E402
from chatrooms.auth import Actor  # noqa: E402
from chatrooms.models import Chatroom, Role  # noqa: E402

API = "/bv/chatroom/v1"


def mint(room, role, prefix, count):
    return [
        auth.chatroom_token_issue(
            room=room, role=role, subject=f"{prefix}-{i}", device_id=f"{prefix}-d{i}"
        ).token
        for i in range(count)
    ]


def scenarios(hot_room: Chatroom, requests: int, warmup: int, tag: str) -> list[dict]:
    poll = selectors.console_active_poll(room=hot_room)
    option = str(poll.options.all()[0].pk)
    side = services.chatroom_create(actor=Actor.system("bench/calls.py"), label="calls side")
    _key, api_key = services.api_key_create(actor=Actor.system("bench/calls.py"), name="calls")
    viewers = mint(hot_room, Role.VIEWER, f"calls-viewer-{tag}", 20)
    voters = mint(hot_room, Role.VIEWER, f"calls-voter-{tag}", requests + warmup + 1)
    admins = mint(side, Role.ADMIN, f"calls-host-{tag}", 2)
    vote = {
        "vote": {"poll": {"id": str(poll.pk), "type": poll.type, "multi_choice": {"options": []}}}
    }
    vote["vote"]["poll"]["multi_choice"]["options"] = [{"id": option}]
    send = {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": "hello"}}
    incr = {
        "type": "INTERACTION_TYPE_CUSTOM",
        "custom_message": {"value": "", "incr": {"key": "like", "value": 1}},
    }
    return [
        {
            "name": "room state",
            "method": "get",
            "path": f"{API}/chatrooms",
            "floor": "/floor/chatrooms/state",
            "tokens": viewers,
        },
        {
            "name": "room state, gzip",
            "method": "get",
            "path": f"{API}/chatrooms",
            "floor": "/floor/chatrooms/state",
            "tokens": viewers,
            "headers": {"HTTP_ACCEPT_ENCODING": "gzip"},
        },
        {
            "name": "room state, 304",
            "method": "get",
            "path": f"{API}/chatrooms",
            "tokens": viewers,
            "headers": {"HTTP_ACCEPT_ENCODING": "gzip"},
            "revalidate": True,
        },
        {
            "name": "list messages",
            "method": "get",
            "path": f"{API}/chatrooms/messages",
            "floor": "/floor/chatrooms/messages",
            "tokens": viewers,
        },
        {
            "name": "send message",
            "method": "post",
            "path": f"{API}/chatrooms/messages",
            "floor": "/floor/chatrooms/messages",
            "tokens": viewers,
            "body": send,
        },
        {
            "name": "counter increment",
            "method": "post",
            "path": f"{API}/chatrooms/messages",
            "floor": "/floor/chatrooms/messages",
            "tokens": viewers,
            "body": incr,
        },
        {
            "name": "vote",
            "method": "post",
            "path": f"{API}/chatrooms/polls/{poll.pk}:vote",
            "floor": f"/floor/chatrooms/polls/{poll.pk}:vote",
            "tokens": voters,
            "body": vote,
            "unique": True,
        },
        {
            "name": "block user",
            "method": "post",
            "path": f"{API}/chatrooms/users:block",
            "floor": "/floor/chatrooms/users:block",
            "tokens": admins,
            "body": "block",
        },
        {
            "name": "create chatroom",
            "method": "post",
            "path": f"{API}/chatrooms",
            "floor": "/floor/chatrooms",
            "tokens": [api_key],
            "body": {"custom_counters": [{"key": "like"}, {"key": "heart"}]},
        },
    ]


def make_request(client: Client, scenario: dict, index: int, etags: dict):
    tokens = scenario["tokens"]
    token = tokens[index] if scenario.get("unique") else tokens[index % len(tokens)]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", **scenario.get("headers", {})}
    if scenario.get("revalidate") and token in etags:
        headers["HTTP_IF_NONE_MATCH"] = etags[token]
    if scenario["method"] == "get":
        response = client.get(scenario["path"], **headers)
    else:
        body = scenario["body"]
        if body == "block":
            body = {"blocked_user": {"id": f"calls-blocked-{time.time_ns()}", "custom_name": "B"}}
        response = client.post(
            scenario["path"], json.dumps(body), content_type="application/json", **headers
        )
    if response.status_code not in (200, 304):
        raise SystemExit(f"{scenario['name']}: {response.status_code} {response.content[:300]!r}")
    if response.has_header("ETag"):
        etags[token] = response["ETag"]
    return response


def measure(scenario: dict, requests: int, warmup: int, top: int) -> dict:
    client = Client()
    etags: dict = {}
    index = 0
    for _ in range(warmup):
        make_request(client, scenario, index, etags)
        index += 1
    connection.queries_log.clear()  # request_started clears it too (reset_queries)
    with CaptureQueriesContext(connection) as captured:
        last = make_request(client, scenario, index, etags)
    queries = [q["sql"] for q in captured.captured_queries]  # read before the log is reset
    index += 1
    profiler = cProfile.Profile()
    started = time.process_time()
    profiler.enable()
    for _ in range(requests):
        make_request(client, scenario, index, etags)
        index += 1
    profiler.disable()
    cpu = time.process_time() - started
    stats = pstats.Stats(profiler)
    result = {
        "scenario": scenario["name"],
        "status": last.status_code,
        "bytes": len(last.content),
        "queries": len(queries),
        "sql": [sql[:160] for sql in queries],
        "calls_per_request": round(stats.total_calls / requests),
        "cpu_ms_per_request": round(cpu / requests * 1000, 3),
    }
    if top:
        rows = sorted(stats.stats.items(), key=lambda item: item[1][1], reverse=True)[:top]
        result["top"] = [
            f"{calls / requests:8.1f} {cumulative / requests * 1000:8.3f} ms  "
            f"{Path(filename).name}:{line}({name})"
            for (filename, line, name), (_cc, calls, _tt, cumulative, _callers) in rows
        ]
    return result


def without(change: str) -> None:
    """Turn one of issue 10's changes off in this process, to measure what it buys."""
    from chatrooms.api import views

    if change == "token-cache":
        auth.VERIFIED_TOKENS_MAX = 0  # every verified token is dropped at once
    elif change == "room-sql":

        def room_by_orm(pk):
            try:
                return Chatroom.objects.get(pk=pk)
            except Chatroom.DoesNotExist:
                return None

        auth._room_by_pk = room_by_orm
    elif change == "block-index":
        selectors.BLOCK_INDEX_MAX = -1  # every room "has too many": the query each time
    elif change == "counter-keys":
        from chatrooms.models import CustomCounter

        selectors.enabled_counter_keys = lambda room: frozenset(
            CustomCounter.objects.filter(room=room, disabled=False).values_list("key", flat=True)
        )
    elif change == "state-local":
        views._local_states.max_bytes = 1  # nothing fits: the shared cache every time
    elif change == "dictionaries":
        from chatrooms.wordfilter import services as wordfilter

        wordfilter._enabled.rooms = 0  # nothing kept: the query on every send
    elif change == "compiled-history":
        selectors._history_pages.rows = lambda shape, values, build: list(build(values))
    elif change == "poll-per-version":
        selectors._active_polls.rooms = 0  # nothing kept: the poll and options every vote
    else:
        raise SystemExit(f"unknown change {change!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hot-room", required=True)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--only", action="append")
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--floor", action="store_true", help="the bare-Django floor's paths (bench/floor.py)"
    )
    parser.add_argument(
        "--without",
        action="append",
        default=[],
        choices=[
            "token-cache",
            "room-sql",
            "block-index",
            "counter-keys",
            "state-local",
            "dictionaries",
            "compiled-history",
            "poll-per-version",
        ],
        help="measure with one of issue 10's changes turned off (repeatable)",
    )
    args = parser.parse_args()
    for change in args.without:
        without(change)
    hot_room = Chatroom.objects.get(pk=args.hot_room)
    results = []
    for scenario in scenarios(hot_room, args.requests, args.warmup, str(time.time_ns())):
        if args.only and scenario["name"] not in args.only:
            continue
        if args.floor:
            if "floor" not in scenario:
                continue
            scenario = {**scenario, "path": scenario["floor"], "revalidate": False}
        result = measure(scenario, args.requests, args.warmup, args.top)
        results.append(result)
        print(
            f"{result['scenario']:<18} status {result['status']} queries {result['queries']:>2}"
            f"  calls/request {result['calls_per_request']:>6}"
            f"  cpu {result['cpu_ms_per_request']:>7.3f} ms  bytes {result['bytes']}",
            flush=True,
        )
        for line in result.get("top", []):
            print("    " + line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
