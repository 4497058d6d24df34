#!/usr/bin/env python3
"""Restart PostgreSQL under load and check that nothing acknowledged is lost.

    .venv/bin/python bench/recovery.py [--outage 5] [--clients 8]

Creates a fresh database, starts gunicorn on it, sends counter increments and
votes from several clients for the whole run, stops PostgreSQL for --outage
seconds in the middle and starts it again. It reports what clients saw during
the outage (status and gRPC code), how long the service took to answer again
(with the same worker processes: no restart), and whether every increment and
vote that got a 200 is in the final counts.

It stops the machine's PostgreSQL cluster: run it only where nothing else
needs the database at that moment. Targets 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
API = "/bv/chatroom/v1"


def sh(*args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def cluster() -> str:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    return version


def pg(action: str) -> None:
    sh("pg_ctlcluster", "--skip-systemctl-redirect", cluster(), "main", action)


def pg_ready() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode == 0


def call(base, method, path, credential=None, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + API + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if credential:
        request.add_header("Authorization", f"Bearer {credential}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            return error.code, {"raw": raw[:200].decode(errors="replace")}
    except OSError as error:  # connection refused or reset: no HTTP answer at all
        return 0, {"error": type(error).__name__}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=5.0, help="seconds PostgreSQL is down")
    parser.add_argument("--before", type=float, default=4.0)
    parser.add_argument("--after", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()

    db = "chatroom_recovery"
    sh(
        "psql",
        "-q",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-c",
        f"DROP DATABASE IF EXISTS {db}",
        "-c",
        f"CREATE DATABASE {db}",
    )
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db}",
        "DJANGO_SECRET_KEY": "recovery-bench-" + "k" * 50,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "CHATROOM_BATCH_WINDOW_MS": "500",
        "CHATROOM_AUTH_FAILURE_LIMIT": "100000",
        # Each load client stands for many users: the per-user limits (docs/api.md) would
        # refuse most of the load. Their own cost is measured by bench/ratelimit.py.
        "CHATROOM_SEND_RATE": "off",
        "CHATROOM_INCREMENT_RATE": "off",
        "CHATROOM_INCREMENT_VALUE_RATE": "off",
    }
    sh(PYTHON, "manage.py", "migrate", "-v0", cwd=ROOT, env=env)
    api_key = sh(
        PYTHON, "manage.py", "create_api_key", "recovery", cwd=ROOT, env=env
    ).stdout.strip()
    base = f"http://127.0.0.1:{args.port}"
    # The log goes to a file: a pipe nobody reads fills up with the outage's
    # tracebacks and then blocks every worker thread on its logging lock.
    log_path = ROOT / "bench" / "out" / "recovery-gunicorn.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("w")
    server = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--workers",
            "2",
            "--threads",
            "4",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        for _ in range(100):
            if call(base, "GET", "/chatrooms")[0] == 401:
                break
            time.sleep(0.1)
        workers_before = sorted(int(p) for p in sh("pgrep", "-P", str(server.pid)).stdout.split())

        _status, body = call(
            base, "POST", "/chatrooms", api_key, {"custom_counters": [{"key": "like"}]}
        )
        room = body["chatroom"]["id"]
        admin = call(base, "POST", f"/chatrooms/{room}/tokens", api_key, {"role": "ROLE_ADMIN"})[1][
            "token"
        ]
        poll = call(
            base,
            "POST",
            "/chatrooms/polls",
            admin,
            {
                "poll": {
                    "type": "POLL_TYPE_SINGLE_CHOICE",
                    "multi_choice": {
                        "question": "Recovered?",
                        "options": [{"text": "yes"}, {"text": "no"}],
                    },
                }
            },
        )[1]
        poll = poll["poll"]
        call(
            base, "POST", f"/chatrooms/polls/{poll['id']}:change", admin, {"action": "ACTION_START"}
        )
        option = poll["multi_choice"]["options"][0]["id"]
        voters = [
            call(
                base,
                "POST",
                f"/chatrooms/{room}/tokens",
                api_key,
                {"role": "ROLE_VIEWER", "subject": f"v{i}"},
            )[1]["token"]
            for i in range(3000)
        ]
        fans = [
            call(
                base,
                "POST",
                f"/chatrooms/{room}/tokens",
                api_key,
                {"role": "ROLE_VIEWER", "subject": f"fan{i}"},
            )[1]["token"]
            for i in range(args.clients)
        ]

        events = []  # (time, kind, status, grpc code)
        stop = threading.Event()
        lock = threading.Lock()
        next_voter = iter(voters)

        def client(token):
            while not stop.is_set():
                with lock:
                    voter = next(next_voter, None) if len(events) % 4 == 1 else None
                if voter is not None:
                    status, body = call(
                        base,
                        "POST",
                        f"/chatrooms/polls/{poll['id']}:vote",
                        voter,
                        {
                            "vote": {
                                "poll": {
                                    "id": poll["id"],
                                    "type": poll["type"],
                                    "multi_choice": {"options": [{"id": option}]},
                                }
                            }
                        },
                    )
                    kind = "vote"
                else:
                    status, body = call(
                        base,
                        "POST",
                        "/chatrooms/messages",
                        token,
                        {
                            "type": "INTERACTION_TYPE_CUSTOM",
                            "custom_message": {"incr": {"key": "like", "value": 1}},
                        },
                    )
                    kind = "incr"
                events.append((time.monotonic(), kind, status, body.get("code")))

        threads = [threading.Thread(target=client, args=(t,)) for t in fans]
        t0 = time.monotonic()
        for thread in threads:
            thread.start()
        print("load running", file=sys.stderr, flush=True)
        time.sleep(args.before)
        down_at = time.monotonic()
        pg("stop")
        print("postgresql stopped", file=sys.stderr, flush=True)
        time.sleep(args.outage)
        pg("start")
        while not pg_ready():
            time.sleep(0.1)
        up_at = time.monotonic()
        print("postgresql up", file=sys.stderr, flush=True)
        time.sleep(args.after)
        stop.set()
        for thread in threads:
            thread.join()
        workers_after = sorted(int(p) for p in sh("pgrep", "-P", str(server.pid)).stdout.split())

        # Close the poll (final count), then read the totals.
        for _ in range(50):
            if (
                call(
                    base,
                    "POST",
                    f"/chatrooms/polls/{poll['id']}:change",
                    admin,
                    {"action": "ACTION_CLOSE"},
                )[0]
                == 200
            ):
                break
            time.sleep(0.2)
        time.sleep(0.6)
        status, body = call(base, "GET", "/chatrooms", admin)
        if status != 200:
            raise SystemExit(f"reading the room after the outage: {status} {body}")
        state = body["chatroom"]
        counted = call(base, "GET", f"/chatrooms/polls/{poll['id']}", admin)[1]["poll"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log_file.close()

    def phase(moment):
        if moment < down_at:
            return "before"
        return "during" if moment < up_at else "after"

    table = collections.Counter((phase(t), kind, status, code) for t, kind, status, code in events)
    first_ok_after = min((t for t, _k, s, _c in events if t >= up_at and s == 200), default=None)
    acknowledged_incr = sum(1 for _t, k, s, _c in events if k == "incr" and s == 200)
    acknowledged_votes = sum(1 for _t, k, s, _c in events if k == "vote" and s == 200)
    result = {
        "outage_seconds": round(up_at - down_at, 2),
        "requests": len(events),
        "by_phase_kind_status_code": sorted(
            [[*key, count] for key, count in table.items()], key=lambda row: row[:3]
        ),
        "seconds_from_database_up_to_first_200": (
            round(first_ok_after - up_at, 2) if first_ok_after else None
        ),
        "same_worker_processes": workers_before == workers_after,
        "increments_acknowledged": acknowledged_incr,
        "counter_value": state["custom_counters"][0]["value"],
        "votes_acknowledged": acknowledged_votes,
        "poll_votes_count": counted["votes_count"],
        "run_seconds": round(time.monotonic() - t0, 1),
    }
    print(json.dumps(result, indent=2))
    # Nothing acknowledged may be lost (>=); a request whose commit landed just as the
    # connection died may be counted without its client seeing the 200.
    ok = (
        result["counter_value"] >= acknowledged_incr
        and result["poll_votes_count"] >= acknowledged_votes
        and result["same_worker_processes"]
        and all(status in (200, 503, 500) for (_p, _k, status, _c) in table)
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
