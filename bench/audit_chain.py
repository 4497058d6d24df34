#!/usr/bin/env python3
"""Audit inserts per second with concurrent writers: the cost of the hash chain.

    DATABASE_URL=postgres://... python bench/audit_chain.py --workers 1 4 16 [--seconds 10]

Each worker is a process with its own connection; it writes one audit row per
transaction through ``services.audit_record`` (what minting a token does) as fast as
it can. Every chained insert locks the one-row chain head until commit, so inserts run
one at a time whatever the number of workers; the figure is the ceiling on audited
writes per second for the whole service.

``--root`` runs another checkout's code (say, the commit before the chain) against a
database migrated by that checkout: the same measurement before and after.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path


def setup(root: str) -> None:
    sys.path.insert(0, root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()


def worker(root: str, seconds: float, ready, start, results) -> None:
    setup(root)
    from django.db import transaction

    from chatrooms import services
    from chatrooms.auth import Actor
    from chatrooms.models import AuditAction

    actor = Actor.system("bench")
    done = 0
    ready.put(os.getpid())
    start.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with transaction.atomic():
            services.audit_record(
                actor=actor,
                action=AuditAction.ROOM_UPDATE,
                target_type="chatroom",
                target_id=str(done),
                after={"label": f"bench {done}"},
            )
        done += 1
    results.put(done)


def run(root: str, workers: int, seconds: float) -> float:
    context = multiprocessing.get_context("spawn")
    ready, start, results = context.Queue(), context.Event(), context.Queue()
    processes = [
        context.Process(target=worker, args=(root, seconds, ready, start, results))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get()  # every process has started Django
    start.set()
    total = sum(results.get() for _ in processes)
    for process in processes:
        process.join()
    return total / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--root", default=str(Path(__file__).resolve().parent.parent), help="checkout to run"
    )
    args = parser.parse_args()
    print(f"{'workers':>8} {'inserts/s':>10}")
    for workers in args.workers:
        print(f"{workers:>8} {run(args.root, workers, args.seconds):>10.0f}", flush=True)


if __name__ == "__main__":
    main()
