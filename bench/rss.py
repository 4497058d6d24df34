#!/usr/bin/env python3
"""Peak resident memory of one process serving the room state from several threads, as a
gthread worker does, without gunicorn or wrk (so it can run beside other work).

    DJANGO_SETTINGS_MODULE=bench.settings DATABASE_URL=postgres://.../chatroom_bench... \
        python bench/rss.py --hot-room ID [--threads 4] [--requests 200] [--gzip]

Prints the process's VmHWM (the kernel's high-water mark) after Django is loaded and
after ``--threads`` threads have each served ``--requests`` GET /chatrooms of the hot
room through Django's handler (test ``Client``), every thread with its own viewer token.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from chatrooms import auth  # noqa: E402
from chatrooms.models import Chatroom, Role  # noqa: E402


def hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hot-room", required=True)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()
    room = Chatroom.objects.get(pk=args.hot_room)
    tokens = [
        auth.chatroom_token_issue(room=room, role=Role.VIEWER, subject=f"rss-{i}").token
        for i in range(args.threads)
    ]
    connection.close()
    headers = {"HTTP_ACCEPT_ENCODING": "gzip"} if args.gzip else {}
    Client().get("/bv/chatroom/v1/chatrooms", HTTP_AUTHORIZATION=f"Bearer {tokens[0]}")
    loaded = hwm_mb()
    failures = []

    def serve(token: str) -> None:
        client = Client()
        try:
            for _ in range(args.requests):
                response = client.get(
                    "/bv/chatroom/v1/chatrooms", HTTP_AUTHORIZATION=f"Bearer {token}", **headers
                )
                if response.status_code != 200:
                    failures.append(response.status_code)
                    return
        finally:
            connection.close()

    threads = [threading.Thread(target=serve, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(
        f"threads {args.threads} x {args.requests} requests"
        f"{' (gzip)' if args.gzip else ''}: peak RSS {hwm_mb():.1f} MB "
        f"(after the first request: {loaded:.1f} MB)"
        f"{' FAILED ' + str(failures) if failures else ''}"
    )


if __name__ == "__main__":
    main()
