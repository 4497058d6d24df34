#!/usr/bin/env python3
"""What checking a chatroom token costs: ``auth.chatroom_token_verify`` timed N times
in one process, on PostgreSQL, with a warm cache (Redis when REDIS_URL is set).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatroom_bench_verify \\
    REDIS_URL=redis://127.0.0.1:6379/0 python bench/token_verify.py -n 20000

Scenarios: a room that never revoked a session (the common case), and rooms with 1 and
1,000 revoked sessions: the set held by the process, read from the shared cache each
time, and built by its query each time (a cache outage). ``--project DIR`` runs the same
measurement against another checkout (e.g. the commit before revocation existed, where
only the first scenario applies). The database is migrated first and gets a few rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("-n", type=int, default=20000, help="verifications per scenario")
parser.add_argument("--rounds", type=int, default=5, help="rounds per scenario (median)")
parser.add_argument(
    "--project", default=str(Path(__file__).resolve().parent.parent), help="checkout to run"
)
args = parser.parse_args()

if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
    sys.exit("Set DATABASE_URL to a PostgreSQL database (it is migrated and written to).")
sys.path.insert(0, args.project)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-" + "k" * 40)
os.environ["DJANGO_DEBUG"] = "0"  # DEBUG keeps every query in memory

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from chatrooms import auth, services  # noqa: E402
from chatrooms.auth import Actor  # noqa: E402
from chatrooms.models import Role  # noqa: E402

call_command("migrate", verbosity=0)
actor = Actor.system("bench")
has_sessions = hasattr(auth, "revoked_sessions")


def room_with_revoked(count: int):
    room = services.chatroom_create(actor=actor)
    for i in range(count):
        auth.chatroom_token_issue(room=room, subject=f"gone-{i}")
    for i in range(count):
        services.user_sessions_revoke(actor=actor, room=room, user_id=f"gone-{i}")
    return room


def measure(token: str, call=None, n: int | None = None) -> str:
    """'best / median' µs per call over the rounds (the best is the least disturbed by
    other load on the machine)."""
    call = call or (lambda: auth.chatroom_token_verify(token))
    call()  # warm: the caches and the connection
    n = n or args.n
    rounds = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(n):
            call()
        rounds.append((time.perf_counter() - start) / n * 1e6)
    return f"{min(rounds):.1f} / {statistics.median(rounds):.1f}"


def check_only(token: str):
    """What verification adds to the room lookup for revocation: the kid's key and the
    session check, with the room already loaded (as chatroom_token_verify has it)."""
    import jwt

    claims, room = auth.chatroom_token_verify(token)
    iat = jwt.decode(token, options={"verify_signature": False})["iat"]

    def call():
        auth.key_secret(jwt.get_unverified_header(token).get("kid"))
        auth._require_not_revoked(room, session_id=claims.session_id, issued_at=iat)

    return call


scenarios = {"room never revoked a session": 0}
if has_sessions:
    scenarios |= {"room with 1 revoked session": 1, "room with 1,000 revoked sessions": 1000}

cache = os.environ.get("REDIS_URL") or "per-process memory"
print(f"# {args.project}: {args.n:,} verifications x {args.rounds} rounds, cache: {cache}")
print(f"# PostgreSQL {connection.pg_version}; load average {os.getloadavg()[0]:.1f}")
print("| scenario | µs per verification: best / median of rounds |")
print("|---|---|")
tokens = {}
for name, revoked in scenarios.items():
    room = room_with_revoked(revoked)
    tokens[revoked] = auth.chatroom_token_issue(room=room, role=Role.VIEWER, subject="r").token
    print(f"| {name} | {measure(tokens[revoked])} |", flush=True)
if has_sessions:
    for revoked in (0, 1000):
        name = f"the revocation part alone, {revoked:,} revoked (room already loaded)"
        print(f"| {name} | {measure('', check_only(tokens[revoked]))} |", flush=True)
    # Without the per-process copy: every verification reads the shared cache.
    auth._revoked_sessions = auth._revoked_sessions.__wrapped__
    for revoked in (1, 1000):
        name = f"room with {revoked:,} revoked session(s), read from the shared cache each time"
        print(f"| {name} | {measure(tokens[revoked])} |", flush=True)
    # And every lookup a miss, as during a cache outage: the set's query runs each time.
    from chatrooms import caching

    caching.get = lambda key, default=None: default
    for revoked in (1, 1000):
        name = f"room with {revoked:,} revoked session(s), cache miss each time"
        print(f"| {name} | {measure(tokens[revoked], n=max(1, args.n // 5))} |", flush=True)
