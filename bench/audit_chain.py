#!/usr/bin/env python3
"""What the audit log's hash chain costs: audited commits per second, token mints per
second, and how fast the sealer chains entries (docs/performance.md).

    DATABASE_URL=postgres://... python bench/audit_chain.py commits --workers 1 4 16
    DATABASE_URL=postgres://... python bench/audit_chain.py mint --threads 1 4 16
    DATABASE_URL=postgres://... python bench/audit_chain.py seal --entries 50000

``commits``: each worker is a process with its own connection; it writes one audit row
per transaction through ``services.audit_record`` as fast as it can. ``mint``: threads
of one process call ``auth.chatroom_token_issue`` (a session, a refresh token and a
``token.mint`` audit row per call), as the token endpoint does. In both, when the code
under test has a sealer (``chatrooms.auditchain.seal``) a separate process runs it the
way the realtime worker does (a batch of 2,000 once a second, again at once after a full
batch), and the figures include how many entries were left unsealed when the writers
stopped and how long the sealer took to catch up. ``seal``: inserts unsealed entries
with one INSERT ... SELECT and times ``seal()`` over them.

Each figure is the median of ``--repeat`` runs, with the lowest and highest. ``--root``
runs another checkout's code (say, main before the chain) against a database migrated by
that checkout; run it with that checkout's Python so nothing of this one is imported.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import threading
import time
from pathlib import Path

SEAL_BATCH = 2000  # what the realtime worker seals per call
SEAL_SECONDS = 1.0


def setup(root: str) -> None:
    sys.path.insert(0, root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()


def has_sealer() -> bool:
    try:
        from chatrooms import auditchain
    except ImportError:
        return False
    return hasattr(auditchain, "seal")


def unsealed() -> int:
    from chatrooms.models import AuditLogEntry

    return AuditLogEntry.objects.filter(sequence__isnull=True).count()


# --- the sealer, as the realtime worker runs it -----------------------------------------


def sealer(root: str, ready, stop, results) -> None:
    setup(root)
    from chatrooms import auditchain

    ready.set()
    sealed = 0
    while not stop.is_set():
        count = auditchain.seal(batch_size=SEAL_BATCH, max_batches=1)
        sealed += count
        if count < SEAL_BATCH:
            stop.wait(SEAL_SECONDS)
    results.put(sealed)


class Sealer:
    """A sealer process for the length of a run; then how far behind it was."""

    def __init__(self, root: str, context):
        self.context = context
        ready, self.stop, self.results = context.Event(), context.Event(), context.Queue()
        self.process = context.Process(target=sealer, args=(root, ready, self.stop, self.results))
        self.process.start()
        ready.wait()  # Django has started: its start-up is not part of the measurement

    def finish(self) -> tuple[int, float]:
        """(entries unsealed when the writers stopped, seconds to seal them all)."""
        behind, started = unsealed(), time.monotonic()
        while unsealed():
            time.sleep(0.05)
        caught_up = time.monotonic() - started
        self.stop.set()
        self.results.get()
        self.process.join()
        return behind, caught_up


# --- audited commits per second ----------------------------------------------------------


def writer(root: str, seconds: float, ready, start, results) -> None:
    setup(root)
    from django.db import connections, transaction

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
    connections.close_all()
    results.put(done)


def commits(root: str, workers: int, seconds: float, seal: bool) -> dict:
    context = multiprocessing.get_context("spawn")
    ready, start, results = context.Queue(), context.Event(), context.Queue()
    processes = [
        context.Process(target=writer, args=(root, seconds, ready, start, results))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    running = Sealer(root, context) if seal else None
    for _ in processes:
        ready.get()  # every process has started Django
    start.set()
    total = sum(results.get() for _ in processes)
    for process in processes:
        process.join()
    behind, caught_up = running.finish() if running else (0, 0.0)
    return {"rate": total / seconds, "behind": behind, "caught_up": caught_up}


# --- token mints per second ----------------------------------------------------------------


def mints(root: str, threads: int, seconds: float, seal: bool) -> dict:
    from django.db import connections

    from chatrooms import auth, services
    from chatrooms.auth import Actor
    from chatrooms.models import Role

    room = services.chatroom_create(actor=Actor.system("bench"), label="Mint bench")
    context = multiprocessing.get_context("spawn")
    running = Sealer(root, context) if seal else None
    barrier = threading.Barrier(threads + 1)
    counts = [0] * threads
    errors = []

    def mint(n: int) -> None:
        try:
            barrier.wait()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                auth.chatroom_token_issue(room=room, role=Role.VIEWER, name=f"Viewer {n}")
                counts[n] += 1
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=mint, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    behind, caught_up = running.finish() if running else (0, 0.0)
    return {"rate": sum(counts) / seconds, "behind": behind, "caught_up": caught_up}


# --- the sealer's throughput ------------------------------------------------------------


def seal_rate(entries: int) -> dict:
    from django.db import connection

    from chatrooms import auditchain
    from chatrooms.models import AuditLogEntry

    auditchain.seal()  # start from a sealed log
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {AuditLogEntry._meta.db_table} (action, source, actor_kind, "
            "actor_id, actor_name, target_type, target_id, reason, after, hash_version) "
            "SELECT 'token_mint', 'api', 'api_key', 'key-' || mod(g, 50), 'Bench key', "
            "'session', md5(g::text), '', jsonb_build_object('role', 'ROLE_VIEWER', "
            "'subject', md5(g::text), 'refreshable', true), 1 "
            "FROM generate_series(1, %s) g",
            [entries],
        )
    started = time.perf_counter()
    sealed = auditchain.seal()
    elapsed = time.perf_counter() - started
    assert sealed == entries, (sealed, entries)
    return {"rate": sealed / elapsed, "behind": 0, "caught_up": elapsed}


# --- main ----------------------------------------------------------------------------------


def summary(runs: list[dict], seal: bool) -> str:
    rates = [run["rate"] for run in runs]
    text = f"{statistics.median(rates):>8.0f}/s ({min(rates):.0f}-{max(rates):.0f})"
    if seal:
        behind = max(run["behind"] for run in runs)
        caught_up = max(run["caught_up"] for run in runs)
        text += f"  unsealed at the end <= {behind}, sealed within {caught_up:.1f} s"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["commits", "mint", "seal"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-sealer", dest="sealer", action="store_false")
    parser.add_argument(
        "--root", default=str(Path(__file__).resolve().parent.parent), help="checkout to run"
    )
    args = parser.parse_args()
    setup(args.root)
    import chatrooms

    seal = args.sealer and has_sealer()
    print(f"code: {Path(chatrooms.__file__).parent.parent}  sealer: {'yes' if seal else 'no'}")
    if args.mode == "seal":
        runs = [seal_rate(args.entries) for _ in range(args.repeat)]
        print(f"seal {args.entries} entries: {summary(runs, False)}", flush=True)
        return
    counts = args.workers if args.mode == "commits" else args.threads
    measure = commits if args.mode == "commits" else mints
    for count in counts:
        runs = [measure(args.root, count, args.seconds, seal) for _ in range(args.repeat)]
        print(f"{args.mode} {count:>3}: {summary(runs, seal)}", flush=True)


if __name__ == "__main__":
    main()
