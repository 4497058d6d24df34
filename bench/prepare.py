#!/usr/bin/env python3
"""Mint the credentials a benchmark run needs, in the bench database.

    DJANGO_SETTINGS_MODULE=bench.settings DATABASE_URL=... \
        python bench/prepare.py --hot-room ID --voters 10000 --out bench/out/run

Writes, under --out: ``api_key.txt``; ``viewers.txt`` (viewer tokens of the
hot room, used in rotation); ``voters-app.txt`` and ``voters-floor.txt``
(distinct voters, each used once); ``admin.txt`` (an admin token of a side room,
where the block scenario adds its blocks so the hot room keeps its shape); and
``run.json`` with the hot room's active poll and options.

Viewers and admins are minted through ``auth.chatroom_token_issue``, as a client's
token is. Voters are many (``--voters`` per side and round, three sides), so they are
minted in bulk (``mint_voters``): their sessions are inserted in batches, without a
refresh token or an audit row each, and the token is signed by the same ``_encode``. A
vote cannot tell them apart; minting 90,000 one by one took over six minutes of every
run's set-up.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from chatrooms import auth, selectors, services  # noqa: E402
from chatrooms.auth import Actor  # noqa: E402
from chatrooms.models import Chatroom, ChatSession, Role  # noqa: E402


def mint(room: Chatroom, role: Role, prefix: str, count: int) -> list[str]:
    with transaction.atomic():
        return [
            auth.chatroom_token_issue(
                room=room,
                role=role,
                subject=f"{prefix}-{index}",
                device_id=f"{prefix}-device-{index}",
                name=f"{prefix} {index}",
            ).token
            for index in range(count)
        ]


def mint_voters(room: Chatroom, prefix: str, count: int, batch: int = 5_000) -> list[str]:
    """``count`` viewer tokens of ``room``, their sessions inserted ``batch`` at a time."""
    now = timezone.now()
    expires_at = now + settings.CHATROOM_TOKEN_TTL
    kid = auth.signing_key()[0]
    tokens: list[str] = []
    for start in range(0, count, batch):
        sessions = [
            ChatSession(
                room=room,
                subject=f"{prefix}-{index}",
                device_id=f"{prefix}-device-{index}",
                name=f"{prefix} {index}",
                role=Role.VIEWER,
                key_id=kid,
                refreshable=False,
                created_at=now,
                expires_at=expires_at,
            )
            for index in range(start, min(start + batch, count))
        ]
        with transaction.atomic():
            ChatSession.objects.bulk_create(sessions)
        tokens += [auth._encode(session=s, expires_at=expires_at)[0] for s in sessions]
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hot-room", required=True)
    parser.add_argument("--voters", type=int, default=10_000, help="distinct voters per side")
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tag", default="", help="makes this run's voters new voters")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    actor = Actor.system("bench/prepare.py")
    hot_room = Chatroom.objects.get(pk=args.hot_room)
    poll = selectors.console_active_poll(room=hot_room)
    if poll is None:
        raise SystemExit("The hot room has no active poll: was it seeded by seed_bench?")
    side_room = services.chatroom_create(actor=actor, label="Bench side room (blocks)")
    _key, plaintext = services.api_key_create(actor=actor, name="bench")

    files = {
        "api_key.txt": [plaintext],
        "viewers.txt": mint(hot_room, Role.VIEWER, "viewer", args.viewers),
        "admin.txt": mint(side_room, Role.ADMIN, "host", 20),
        "voters-probe.txt": mint(hot_room, Role.VIEWER, f"voter-probe-{args.tag}", 10),
    }
    for side in ("app", "floor", "profile"):
        files[f"voters-{side}.txt"] = mint_voters(hot_room, f"voter-{side}-{args.tag}", args.voters)
    for name, lines in files.items():
        (args.out / name).write_text("\n".join(lines) + "\n")
    run = {
        "hot_room": str(hot_room.pk),
        "side_room": str(side_room.pk),
        "poll": str(poll.pk),
        "poll_type": poll.type,
        "options": [str(option.pk) for option in poll.options.all()],
        "voters": args.voters,
        "minted_in_s": round(time.perf_counter() - started, 2),
    }
    (args.out / "run.json").write_text(json.dumps(run, indent=2))
    print(json.dumps(run))


if __name__ == "__main__":
    main()
