#!/usr/bin/env python3
"""Play a client app against a running server, checking every answer.

    python bench/play_client.py --base-url http://127.0.0.1:8000 --api-key crk_...

Creates a room with the API key, mints an admin and two viewer tokens, blocks
and unblocks, pins and unpins, runs a poll from queue to archive with votes
from both viewers, increments a counter from several threads, reads the
history, and makes a wrong move at every step to check the error body. Uses
only the standard library so it runs against any deployment. Exits non-zero
on the first surprise. Counts are read until they show what was cast, so the
server needs its realtime worker running (it rolls counts up).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

API = "/bv/chatroom/v1"


class Surprise(AssertionError):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise Surprise(what)


def eventually(fetch, done, timeout: float = 15.0, every: float = 0.2):
    """``fetch()`` again until ``done(value)`` or the time is up; the last value. Counts
    move once the realtime worker rolls them up, within the room's batch window."""
    deadline = time.monotonic() + timeout
    value = fetch()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(every)
        value = fetch()
    return value


class Client:
    def __init__(self, base_url: str, credential: str | None = None, log=print):
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.log = log

    def call(self, method: str, path: str, body=None, expect: int = 200) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + API + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.credential:
            request.add_header("Authorization", f"Bearer {self.credential}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, payload = response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            status, payload = error.code, json.loads(error.read())
        self.log(f"{method:6} {path:48} -> {status}")
        check(status == expect, f"{method} {path}: expected {expect}, got {status}: {payload}")
        if status >= 400:
            check(
                set(payload) == {"code", "message", "details"},
                f"error body is not a google.rpc.Status: {payload}",
            )
        return payload

    def error(self, method: str, path: str, body, http: int, grpc: int) -> dict:
        payload = self.call(method, path, body, expect=http)
        check(payload["code"] == grpc, f"{method} {path}: expected code {grpc}: {payload}")
        return payload


def play(base_url: str, api_key: str, threads: int = 8, taps: int = 25, log=print) -> dict:
    """Run the whole walkthrough; return a summary of what was checked."""
    org = Client(base_url, api_key, log)
    anonymous = Client(base_url, None, log)

    anonymous.error("POST", "/chatrooms", {}, 401, 16)
    org.error("POST", "/chatrooms", {"custom_counters": [{"key": "a"}, {"key": "a"}]}, 400, 3)
    chat = org.call("POST", "/chatrooms", {"custom_counters": [{"key": "like"}]})["chatroom"]
    room = chat["id"]
    check(chat["custom_counters"][0]["value"] == 0, "new counter starts at 0")

    def token(role: str, subject: str) -> Client:
        issued = org.call(
            "POST",
            f"/chatrooms/{room}/tokens",
            {"role": role, "subject": subject, "name": subject.title()},
        )
        return Client(base_url, issued["token"], log)

    org.error("POST", f"/chatrooms/{uuid.uuid4()}/tokens", {}, 404, 5)
    admin = token("ROLE_ADMIN", "host")
    ann, bob = token("ROLE_VIEWER", "ann"), token("ROLE_VIEWER", "bob")
    ann.error("POST", "/chatrooms:mute", {}, 403, 7)

    # Block and unblock.
    admin.call(
        "POST",
        "/chatrooms/users:block",
        {
            "blocked_user": {
                "id": "troll",
                "device_id": "t1",
                "custom_name": "Troll",
                "action_taker": {"custom_name": "Host"},
            }
        },
    )
    state = admin.call("GET", "/chatrooms")["chatroom"]
    check([u["id"] for u in state["blocked_users"]] == ["troll"], "blocked user listed")
    admin.call("POST", "/chatrooms/users:unblock", {"unblocked_user": {"id": "troll"}})
    admin.error("POST", "/chatrooms/users:unblock", {"unblocked_user": {"id": "troll"}}, 404, 5)

    # Messages, pin and unpin.
    sent = ann.call(
        "POST",
        "/chatrooms/messages",
        {
            "type": "INTERACTION_TYPE_TEXT",
            "user": {"custom_name": "Ann"},
            "text_message": {"text": "Hello!"},
            "sent_at": "2026-01-01T00:00:00.000Z",
        },
    )["message"]
    pin = {
        "pinned_message": {
            "message": {
                "id": sent["id"],
                "text": "Hello!",
                "sender": {
                    "id": sent["user"]["id"],
                    "device_id": sent["user"]["device_id"],
                    "custom_name": "Ann",
                },
            },
            "action_taker": {"custom_name": "Host"},
        }
    }
    admin.call("POST", "/chatrooms/messages:pin", pin)
    state = admin.call("GET", "/chatrooms")["chatroom"]
    check(state["pinned_messages"][0]["message"]["id"] == sent["id"], "pinned message listed")
    admin.call(
        "POST", "/chatrooms/messages:unpin", {"unpinned_message": {"message": {"id": sent["id"]}}}
    )
    bob.error("POST", "/chatrooms/messages:pin", pin, 403, 7)

    # A poll from queue to archive, with a vote from each viewer.
    poll = admin.call(
        "POST",
        "/chatrooms/polls",
        {
            "poll": {
                "type": "POLL_TYPE_SINGLE_CHOICE",
                "multi_choice": {
                    "question": "Encore?",
                    "options": [
                        {"text": "Yes", "corrected": True},
                        {"text": "No", "corrected": False},
                    ],
                },
            }
        },
    )["poll"]
    check(poll["status"] == "POLL_STATUS_QUEUED", "a new poll is queued")
    yes, no = (o["id"] for o in poll["multi_choice"]["options"])

    def ballot(option_id):
        return {
            "vote": {
                "poll": {
                    "id": poll["id"],
                    "type": poll["type"],
                    "multi_choice": {"options": [{"id": option_id}]},
                }
            }
        }

    path = f"/chatrooms/polls/{poll['id']}"
    ann.error("POST", f"{path}:vote", ballot(yes), 400, 9)  # not started yet
    admin.error("POST", f"{path}:change", {"action": "ACTION_CLOSE"}, 400, 9)
    admin.call("POST", f"{path}:change", {"action": "ACTION_START"})
    ann.call("POST", f"{path}:vote", ballot(yes))
    bob.call("POST", f"{path}:vote", ballot(no))
    bob.error("POST", f"{path}:vote", ballot(yes), 409, 6)
    counted = eventually(lambda: admin.call("GET", path)["poll"], lambda p: p["votes_count"] == 2)
    check(counted["votes_count"] == 2, f"two votes counted: {counted}")
    check(
        [o["votes_count"] for o in counted["multi_choice"]["options"]] == [1, 1],
        "one vote per option",
    )
    admin.call("POST", f"{path}:change", {"action": "ACTION_CLOSE"})
    admin.call("POST", f"{path}:change", {"action": "ACTION_ARCHIVE"})
    check(admin.call("GET", path)["poll"]["status"] == "POLL_STATUS_ARCHIVED", "archived")

    # A counter incremented from several threads at once.
    fans = [token("ROLE_GUEST", f"fan{i}") for i in range(threads)]
    quiet = lambda *args: None  # noqa: E731
    for fan in fans:
        fan.log = quiet
    failures = []

    def tap(fan):
        try:
            for _ in range(taps):
                fan.call(
                    "POST",
                    "/chatrooms/messages",
                    {
                        "type": "INTERACTION_TYPE_CUSTOM",
                        "custom_message": {"value": "❤", "incr": {"key": "like", "value": 1}},
                    },
                )
        except Exception as exc:
            failures.append(exc)

    workers = [threading.Thread(target=tap, args=(fan,)) for fan in fans]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    check(not failures, f"increments failed: {failures[:3]}")
    log(f"{'':6} {threads} threads x {taps} increments of 'like'")
    like = eventually(
        lambda: admin.call("GET", "/chatrooms")["chatroom"]["custom_counters"][0],
        lambda counter: counter["value"] == threads * taps,
    )
    check(like["value"] == threads * taps, f"exact counter total: {like}")
    fans[0].error(
        "POST",
        "/chatrooms/messages",
        {
            "type": "INTERACTION_TYPE_CUSTOM",
            "custom_message": {"incr": {"key": "nope", "value": 1}},
        },
        400,
        3,
    )

    # History: newest first, paged back with before_at.
    history = ann.call("GET", "/chatrooms/messages?limit=5")["messages"]
    check(len(history) == 5, "a page of five")
    older = ann.call("GET", f"/chatrooms/messages?limit=100&before_at={history[-1]['received_at']}")
    check(
        all(m["received_at"] < history[-1]["received_at"] for m in older["messages"]),
        "before_at pages back",
    )
    return {
        "room": room,
        "votes": counted["votes_count"],
        "like": like["value"],
        "like_version": like["version_number"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--taps", type=int, default=25)
    args = parser.parse_args()
    try:
        summary = play(args.base_url, args.api_key, args.threads, args.taps)
    except Surprise as surprise:
        print(f"SURPRISE: {surprise}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
