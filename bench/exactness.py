#!/usr/bin/env python3
"""Exact totals under concurrency, through the HTTP API of a running server.

    python bench/exactness.py --base-url http://127.0.0.1:8000 --api-key crk_...

Two checks, each also timed:

* votes: N distinct voters each send two ballots at the same moment into one
  poll; exactly one of each pair is accepted (200), the other is 409, and
  the closed poll counts exactly N votes;
* increments: C clients each send K counter increments as fast as they can
  while a reader polls the room state; the final value is exactly C*K, and
  every version_number observed names one value, later versions never a
  smaller one.

Standard library only. Targets whatever --base-url says: keep it 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request

API = "/bv/chatroom/v1"


def call(base_url: str, method: str, path: str, credential: str | None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base_url + API + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if credential:
        request.add_header("Authorization", f"Bearer {credential}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def together(jobs):
    """Run callables in threads released at one moment; return results in order."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(index, job):
        barrier.wait()
        results[index] = job()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def setup_room(base_url: str, api_key: str) -> tuple[str, str]:
    status, body = call(
        base_url, "POST", "/chatrooms", api_key, {"custom_counters": [{"key": "like"}]}
    )
    assert status == 200, body
    room = body["chatroom"]["id"]
    status, body = call(
        base_url,
        "POST",
        f"/chatrooms/{room}/tokens",
        api_key,
        {"role": "ROLE_ADMIN", "subject": "exactness-admin"},
    )
    assert status == 200, body
    return room, body["token"]


def mint(base_url: str, api_key: str, room: str, count: int, prefix: str) -> list[str]:
    tokens = []
    for index in range(count):
        status, body = call(
            base_url,
            "POST",
            f"/chatrooms/{room}/tokens",
            api_key,
            {"role": "ROLE_VIEWER", "subject": f"{prefix}-{index}"},
        )
        assert status == 200, body
        tokens.append(body["token"])
    return tokens


def check_votes(base_url: str, api_key: str, voters: int = 200) -> dict:
    room, admin = setup_room(base_url, api_key)
    status, body = call(
        base_url,
        "POST",
        "/chatrooms/polls",
        admin,
        {
            "poll": {
                "type": "POLL_TYPE_SINGLE_CHOICE",
                "multi_choice": {"question": "Exact?", "options": [{"text": "a"}, {"text": "b"}]},
            }
        },
    )
    assert status == 200, body
    poll = body["poll"]
    options = [o["id"] for o in poll["multi_choice"]["options"]]
    status, body = call(
        base_url, "POST", f"/chatrooms/polls/{poll['id']}:change", admin, {"action": "ACTION_START"}
    )
    assert status == 200, body
    tokens = mint(base_url, api_key, room, voters, "voter")

    def vote(token, option):
        ballot = {
            "vote": {
                "poll": {
                    "id": poll["id"],
                    "type": poll["type"],
                    "multi_choice": {"options": [{"id": option}]},
                }
            }
        }
        return call(base_url, "POST", f"/chatrooms/polls/{poll['id']}:vote", token, ballot)[0]

    jobs = [lambda t=t, i=i: vote(t, options[i % 2]) for i, t in enumerate(tokens)]
    jobs += [lambda t=t, i=i: vote(t, options[(i + 1) % 2]) for i, t in enumerate(tokens)]
    started = time.perf_counter()
    statuses = together(jobs)
    elapsed = time.perf_counter() - started
    # Each voter's two ballots are jobs i and i + voters.
    pairs = sorted(tuple(sorted((statuses[i], statuses[i + voters]))) for i in range(voters))
    call(
        base_url, "POST", f"/chatrooms/polls/{poll['id']}:change", admin, {"action": "ACTION_CLOSE"}
    )
    status, body = call(base_url, "GET", f"/chatrooms/polls/{poll['id']}", admin)
    counted = body["poll"]
    return {
        "voters": voters,
        "requests": len(jobs),
        "seconds": round(elapsed, 3),
        "accepted": statuses.count(200),
        "refused_409": statuses.count(409),
        "other_statuses": sorted(set(statuses) - {200, 409}),
        "every_voter_one_200_one_409": pairs == [(200, 409)] * voters,
        "votes_count": counted["votes_count"],
        "options_sum": sum(o["votes_count"] for o in counted["multi_choice"]["options"]),
    }


def check_increments(base_url: str, api_key: str, clients: int = 50, each: int = 100) -> dict:
    room, admin = setup_room(base_url, api_key)
    tokens = mint(base_url, api_key, room, clients, "fan")
    observed: list[tuple[int, int]] = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            _, body = call(base_url, "GET", "/chatrooms", admin)
            counter = body["chatroom"]["custom_counters"][0]
            observed.append((int(counter["version_number"]), counter["value"]))
            time.sleep(0.05)

    def tap(token):
        codes = []
        for _ in range(each):
            codes.append(
                call(
                    base_url,
                    "POST",
                    "/chatrooms/messages",
                    token,
                    {
                        "type": "INTERACTION_TYPE_CUSTOM",
                        "custom_message": {"value": "+1", "incr": {"key": "like", "value": 1}},
                    },
                )[0]
            )
        return codes

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.perf_counter()
    results = together([lambda t=t: tap(t) for t in tokens])
    elapsed = time.perf_counter() - started
    done.set()
    watcher.join()
    statuses = [code for codes in results for code in codes]
    # The final read comes after every acknowledged increment; allow one batch window.
    deadline = time.monotonic() + 10
    while True:
        _, body = call(base_url, "GET", "/chatrooms", admin)
        final = body["chatroom"]["custom_counters"][0]
        if final["value"] == clients * each or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    by_version: dict[int, int] = {}
    consistent = True
    for version, value in [*observed, (int(final["version_number"]), final["value"])]:
        consistent &= by_version.setdefault(version, value) == value
    ordered = [by_version[v] for v in sorted(by_version)]
    return {
        "clients": clients,
        "requests": len(statuses),
        "seconds": round(elapsed, 3),
        "requests_per_second": round(len(statuses) / elapsed, 1),
        "accepted": statuses.count(200),
        "other_statuses": sorted(set(statuses) - {200}),
        "final_value": final["value"],
        "final_version": int(final["version_number"]),
        "observations": len(observed),
        "one_value_per_version": consistent,
        "versions_ordered": ordered == sorted(ordered),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--voters", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--increments", type=int, default=100)
    args = parser.parse_args()
    votes = check_votes(args.base_url, args.api_key, args.voters)
    increments = check_increments(args.base_url, args.api_key, args.clients, args.increments)
    print(json.dumps({"votes": votes, "increments": increments}, indent=2))
    exact = (
        votes["every_voter_one_200_one_409"]
        and votes["votes_count"] == votes["options_sum"] == args.voters
        and increments["final_value"] == args.clients * args.increments
        and increments["one_value_per_version"]
        and increments["versions_ordered"]
    )
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
