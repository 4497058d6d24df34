#!/usr/bin/env python3
"""Measure the realtime link (docs/performance.md, "The realtime link").

    .venv/bin/python bench/realtime.py [--runs 3] [--duration 10] [--rate 5000]
                                       [--subscribers 1000] [--fanout-rate 50]

Against 127.0.0.1 only, on a fresh PostgreSQL database (``chatroom_bench_rt``), with
the project's broker (``manage.py broker``), gunicorn serving the app (the broker's auth
calls and the REST path) and ``manage.py realtime`` workers as separate processes:

- **ingest**: publishers (MQTT 5 over TCP, each with its own viewer token) offer
  ``--rate`` messages/s to one room for ``--duration`` s, a quarter of them counter
  increments; once the workers have drained, every stored message and the counter's value
  are checked against what was sent. Durable rate = messages stored / (last
  ``received_at`` - first publish). Run with one worker and with two.
- **REST**: the same room, ``POST /chatrooms/messages`` with wrk for ``--duration`` s.
- **fan-out**: ``--subscribers`` MQTT 5 clients over WebSocket in one room, one
  publisher offering ``--fanout-rate`` messages/s; every delivery's publish-to-receive
  latency (receive time - the publisher's ``sent_at``) and whether every subscriber got
  every stored message.

The scenarios alternate (ingest x1, ingest x2, REST, fan-out), ``--runs`` rounds, so each
figure is a median of ``--runs`` with its min and max. CPU seconds per process group
(broker, workers, PostgreSQL, gunicorn, load generators) say where the time goes.
Results go to ``bench/out/realtime-<time>/`` (``results.json``, ``tables.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402
    BENCH,
    HOST,
    OUT,
    PYTHON,
    children,
    create_database,
    database_url,
    free_port,
    log,
    machine,
    manage,
    stop_group,
)

API = "/bv/chatroom/v1"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- Load generators (run as subprocesses of this script) -------------------------------


def mqtt_client(client_id: str, token: str, *, transport: str = "tcp"):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, transport=transport
    )
    if transport == "websockets":
        client.ws_set_options(path="/mqtt")
    client.username_pw_set("bench", token)
    client.max_queued_messages_set(0)
    return client


def publisher(args) -> None:
    """Offer ``rate`` messages/s to one topic for ``duration`` s; every
    ``incr_every``-th is a counter increment. Prints one JSON line."""
    client = mqtt_client(f"bench-pub-{uuid.uuid4().hex[:8]}", args.token)
    connected = []
    client.on_connect = lambda *a: connected.append(True)
    client.connect(HOST, args.port, keepalive=30)
    client.loop_start()
    deadline = time.monotonic() + 10
    while not connected and time.monotonic() < deadline:
        time.sleep(0.01)
    sent = incr = 0
    tick = 0.005
    started = time.monotonic()
    first_wall = now_iso()
    end = started + args.duration
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = int((now - started) * args.rate) - sent
        stamp = now_iso()
        for _ in range(max(0, due)):
            sent += 1
            if args.incr_every and sent % args.incr_every == 0:
                incr += 1
                body = {
                    "type": "INTERACTION_TYPE_CUSTOM",
                    "custom_message": {"value": "tap", "incr": {"key": "like", "value": 1}},
                    "sent_at": stamp,
                }
                client.publish(args.topic, json.dumps(body), qos=0)
            else:
                body = {
                    "type": "INTERACTION_TYPE_TEXT",
                    "text_message": {"text": f"message {sent} from a bench client"},
                    "sent_at": stamp,
                }
                client.publish(args.topic, json.dumps(body), qos=0)
        time.sleep(tick)
    time.sleep(0.5)  # let paho's thread write what is queued
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"sent": sent, "incr": incr, "first": first_wall}), flush=True)


def subscribers(args) -> None:
    """``count`` WebSocket clients in one thread (paho driven by a selector). Runs until
    ``stop_file`` exists; prints per-client counts and latency percentiles as JSON."""
    selector = selectors.DefaultSelector()
    clients = []
    received = [0] * args.count
    latencies: list[float] = []
    on_the_wire: list[float] = []  # from the server's publish to the subscriber
    subscribed = [False] * args.count

    def on_message(index):
        def handle(_client, _userdata, message):
            arrived = time.time()
            for item in json.loads(message.payload):
                if item.get("type") != "INTERACTION_TYPE_TEXT":
                    continue
                received[index] += 1
                sent = datetime.fromisoformat(item["sent_at"]).timestamp()
                latencies.append(arrived - sent)
                published = datetime.fromisoformat(item["published_at"]).timestamp()
                on_the_wire.append(arrived - published)

        return handle

    def on_subscribe(index):
        def handle(*_args):
            subscribed[index] = True

        return handle

    for index in range(args.count):
        client = mqtt_client(
            f"bench-sub-{uuid.uuid4().hex[:12]}", args.token, transport="websockets"
        )
        client.on_message = on_message(index)
        client.on_subscribe = on_subscribe(index)
        client.connect(HOST, args.port, keepalive=60)
        client.subscribe(args.topic, qos=0)
        selector.register(client.socket(), selectors.EVENT_READ, client)
        clients.append(client)
        while client.want_write():
            client.loop_write()
    ready_written = False
    stop = Path(args.stop_file)
    last_misc = 0.0
    while not stop.exists():
        for key, _events in selector.select(timeout=0.05):
            key.data.loop_read(max_packets=100)  # drain what the WebSocket buffered
        now = time.monotonic()
        if now - last_misc > 1:
            last_misc = now
            for client in clients:
                client.loop_misc()
        for client in clients:
            if client.want_write():
                client.loop_write()
        if not ready_written and all(subscribed):
            Path(args.ready_file).write_text("ready")
            ready_written = True
    print(
        json.dumps(
            {
                "received": received,
                "p50": percentile(latencies, 0.5),
                "p99": percentile(latencies, 0.99),
                "max": max(latencies, default=0.0),
                "wire_p50": percentile(on_the_wire, 0.5),
                "wire_p99": percentile(on_the_wire, 0.99),
                "deliveries": len(latencies),
            }
        ),
        flush=True,
    )


# --- Processes and CPU accounting ------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes, and of their children that have exited
    (PostgreSQL's backends come and go: the postmaster's children totals keep theirs)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


def own_children_cpu() -> float:
    """CPU of this script's exited children (the load generators, once reaped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree(pid: int) -> list[int]:
    found = [pid]
    for child in children(pid):
        found.extend(tree(child))
    return found


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


class CpuMeter:
    """CPU seconds used by each named group of processes between start() and stop()."""

    def __init__(self, groups: dict):
        self.groups = groups  # name -> callable returning pids
        self.before: dict[str, float] = {}

    def start(self):
        self.before = {name: cpu_seconds(pids()) for name, pids in self.groups.items()}

    def stop(self) -> dict[str, float]:
        return {
            name: round(cpu_seconds(pids()) - self.before.get(name, 0.0), 2)
            for name, pids in self.groups.items()
        }


# --- The stack ---------------------------------------------------------------------------


class Stack:
    def __init__(self, args, run_dir: Path):
        self.args, self.run_dir = args, run_dir
        self.web_port, self.tcp_port, self.ws_port = free_port(), free_port(), free_port()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
            "DATABASE_URL": database_url(args.db),
            "DJANGO_ALLOWED_HOSTS": HOST,
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_LOG_LEVEL": "WARNING",
            "CHATROOM_BROKER_PORT": str(self.tcp_port),
            "CHATROOM_BROKER_WS_PORT": str(self.ws_port),
            "CHATROOM_BROKER_AUTH_URL": f"http://{HOST}:{self.web_port}/internal/realtime/auth",
            "CHATROOM_AUTH_FAILURE_LIMIT": "1000000",
            # Each load client stands for many users: the per-user limits (docs/api.md) would
            # refuse most of the load. Their own cost is measured by bench/ratelimit.py.
            "CHATROOM_SEND_RATE": "off",
            "CHATROOM_INCREMENT_RATE": "off",
            "CHATROOM_INCREMENT_VALUE_RATE": "off",
        }
        self.web = self.broker = self.relay = None
        self.workers: list[subprocess.Popen] = []
        self.logs: dict[str, object] = {}

    def log(self, name: str):
        """An open log file for a process (appended to across rounds), closed in stop()."""
        if name not in self.logs:
            self.logs[name] = (self.run_dir / f"{name}.log").open("a")
        return self.logs[name]

    def start(self):
        log(f"Creating {self.args.db} and migrating ...")
        create_database(self.args.db)
        manage(self.env, "migrate", "--noinput", "-v0")
        self.web = subprocess.Popen(
            [
                str(Path(PYTHON).parent / "gunicorn"),
                "config.wsgi:application",
                "--bind",
                f"{HOST}:{self.web_port}",
                "--workers",
                str(self.args.web_workers),
                "--log-level",
                "warning",
                "--error-logfile",
                str(self.run_dir / "gunicorn.log"),
            ],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
        )
        self.broker = subprocess.Popen(
            [PYTHON, "manage.py", "broker", "--config-dir", str(self.run_dir / "broker")],
            cwd=ROOT,
            env=self.env,
            stdout=self.log("broker"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_port(self.tcp_port)
        self.relay = subprocess.Popen(
            [PYTHON, "manage.py", "wsrelay"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log("relay"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for port in (self.web_port, self.ws_port):
            wait_port(port)

    def start_workers(self, n: int):
        for i in range(n):
            self.workers.append(
                subprocess.Popen(
                    [PYTHON, "manage.py", "realtime", "--name", f"bench{i}"],
                    cwd=ROOT,
                    env=self.env,
                    stdout=self.log(f"worker{i}"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        time.sleep(2)  # connected and subscribed

    def stop_workers(self):
        for worker in self.workers:
            stop_group(worker, grace=30)
        self.workers = []

    def worker_pids(self) -> list[int]:
        return [pid for w in self.workers for pid in tree(w.pid)]

    def stop(self):
        self.stop_workers()
        for process in (self.relay, self.broker, self.web):
            if process is not None:
                stop_group(process)
        for log_file in self.logs.values():
            log_file.close()


def wait_port(port: int, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port} after {timeout} s")


def new_room(n_tokens: int):
    from chatrooms import auth, services
    from chatrooms.auth import Actor
    from chatrooms.models import Role

    room = services.chatroom_create(actor=Actor.system("bench"), custom_counter_keys=["like"])
    tokens = [
        auth.chatroom_token_issue(room=room, role=Role.VIEWER, subject=f"bench-{i}").token
        for i in range(n_tokens)
    ]
    return room, tokens


def run_self(mode: str, *arguments: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, str(Path(__file__)), mode, *arguments],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kwargs,
    )


# --- Scenarios ---------------------------------------------------------------------------


def ingest(stack: Stack, n_workers: int) -> dict:
    from django.db.models import Max, Min

    from chatrooms import services
    from chatrooms.models import ChatMessage, CustomCounter
    from chatrooms.realtime import topics

    args = stack.args
    stack.start_workers(n_workers)
    room, tokens = new_room(args.publishers)
    meter = CpuMeter(
        {
            "broker": lambda: tree(stack.broker.pid),
            "workers": stack.worker_pids,
            "postgres": postgres_pids,
        }
    )
    publishers: list[subprocess.Popen] = []
    children_before = own_children_cpu()
    meter.start()
    for token in tokens:
        publishers.append(
            run_self(
                "publish",
                "--port",
                str(stack.tcp_port),
                "--token",
                token,
                "--topic",
                topics.publish_topic(room.pk),
                "--rate",
                str(args.rate / args.publishers),
                "--duration",
                str(args.duration),
                "--incr-every",
                "4",
            )
        )
    results = [json.loads(p.communicate(timeout=args.duration + 60)[0]) for p in publishers]
    publishers_cpu = own_children_cpu() - children_before
    sent = sum(r["sent"] for r in results)
    incr = sum(r["incr"] for r in results)
    first = min(datetime.fromisoformat(r["first"]) for r in results)
    stored_query = ChatMessage.objects.filter(room=room)
    deadline = time.monotonic() + 60
    stored = previous = -1
    while time.monotonic() < deadline:
        stored = stored_query.count()
        if stored >= sent or stored == previous:
            if stored >= sent:
                break
            time.sleep(2)  # nothing new for 2 s: the workers have drained
            if stored_query.count() == stored:
                break
        previous = stored
        time.sleep(0.5)
    cpu = meter.stop() | {"publishers": round(publishers_cpu, 2)}
    span = stored_query.aggregate(first=Min("received_at"), last=Max("received_at"))
    # Counts roll up within a window; then the value must be exact.
    time.sleep(2.5)
    services.chatroom_rollup(room=room, force=True)
    counter = CustomCounter.objects.get(room=room, key="like").value
    seconds = (span["last"] - first).total_seconds() if span["last"] else float("nan")
    lags = [
        (r - s).total_seconds()
        for r, s in stored_query.values_list("received_at", "sent_at").iterator()
    ]
    stack.stop_workers()
    result = {
        "scenario": f"ingest, {n_workers} worker{'s' if n_workers > 1 else ''}",
        "offered_per_s": args.rate,
        "sent": sent,
        "stored": stored,
        "delivered_pct": round(100 * stored / sent, 2) if sent else 0,
        "increments_sent": incr,
        "counter_value": counter,
        "exact": stored == sent and counter == incr,
        "durable_per_s": round(stored / seconds, 1) if seconds else 0,
        "store_lag_p50_ms": round(1000 * percentile(lags, 0.5)),
        "store_lag_p99_ms": round(1000 * percentile(lags, 0.99)),
        "cpu_s": cpu,
        "load_after": round(os.getloadavg()[0], 2),
    }
    log(
        f"  {result['scenario']:<18} {result['durable_per_s']:>8.1f} msg/s durable, "
        f"{result['delivered_pct']}% stored, exact={result['exact']}, lag p99 "
        f"{result['store_lag_p99_ms']} ms, cpu {cpu}"
    )
    return result


def rest(stack: Stack) -> dict:
    import re

    _room, tokens = new_room(200)
    token_file = stack.run_dir / "rest-tokens.txt"
    token_file.write_text("\n".join(tokens))
    stack.start_workers(1)  # REST sends broadcast, and counts roll up, as in production
    env = {
        **os.environ,
        "BENCH_METHOD": "POST",
        "BENCH_PATH": f"{API}/chatrooms/messages",
        "BENCH_BODY": "send",
        "BENCH_TOKENS": str(token_file),
        "BENCH_UNIQUE": "0",
        "BENCH_GZIP": "0",
        "BENCH_MAX": "100000000",
        "BENCH_POLL": "",
        "BENCH_POLL_TYPE": "",
        "BENCH_OPTIONS": "",
        "BENCH_TAG": f"rt{int(time.time())}",
        "BENCH_CONNECTIONS": "32",
        "BENCH_THREADS": "2",
    }
    meter = CpuMeter(
        {
            "gunicorn": lambda: tree(stack.web.pid),
            "postgres": postgres_pids,
            "broker": lambda: tree(stack.broker.pid),
        }
    )
    meter.start()
    process = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c32",
            f"-d{int(stack.args.duration)}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / "wrk" / "scenario.lua"),
            f"http://{HOST}:{stack.web_port}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=stack.args.duration + 60,
    )
    cpu = meter.stop()
    stack.stop_workers()
    match = re.search(r"^WRKJSON (.*)$", process.stdout, re.MULTILINE)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{process.stdout}\n{process.stderr}")
    raw = json.loads(match.group(1))
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw[k] for k in ("status", "connect", "read", "write", "timeout"))
    result = {
        "scenario": "REST send message",
        "durable_per_s": round(raw["requests"] / seconds, 1),
        "p99_ms": raw["p99"] / 1000,
        "errors": errors,
        "cpu_s": cpu,
        "load_after": round(os.getloadavg()[0], 2),
    }
    log(
        f"  {result['scenario']:<18} {result['durable_per_s']:>8.1f} req/s, p99 "
        f"{result['p99_ms']} ms, errors {errors}, cpu {cpu}"
    )
    return result


def fanout(stack: Stack) -> dict:
    from chatrooms.models import ChatMessage
    from chatrooms.realtime import topics

    args = stack.args
    stack.start_workers(1)
    room, tokens = new_room(2)
    per_process = [args.subscribers // args.subscriber_processes] * args.subscriber_processes
    per_process[0] += args.subscribers - sum(per_process)
    stop_file = stack.run_dir / f"stop-{uuid.uuid4().hex}"
    ready = []
    subs = []
    started = time.monotonic()
    for count in per_process:
        ready_file = stack.run_dir / f"ready-{uuid.uuid4().hex}"
        ready.append(ready_file)
        subs.append(
            run_self(
                "subscribe",
                "--port",
                str(stack.ws_port),
                "--token",
                tokens[0],
                "--topic",
                topics.viewer_topic(room.pk),
                "--count",
                str(count),
                "--stop-file",
                str(stop_file),
                "--ready-file",
                str(ready_file),
            )
        )
    deadline = time.monotonic() + 300
    while not all(f.exists() for f in ready):
        if time.monotonic() > deadline or any(s.poll() is not None for s in subs):
            raise SystemExit("subscribers did not all connect")
        time.sleep(0.2)
    connect_s = round(time.monotonic() - started, 1)
    log(f"  {args.subscribers} WebSocket subscribers connected in {connect_s} s")
    meter = CpuMeter(
        {
            "broker": lambda: tree(stack.broker.pid),
            "relay": lambda: tree(stack.relay.pid),
            "workers": stack.worker_pids,
            "postgres": postgres_pids,
            "subscribers": lambda: [s.pid for s in subs],
        }
    )
    meter.start()
    pub = run_self(
        "publish",
        "--port",
        str(stack.tcp_port),
        "--token",
        tokens[1],
        "--topic",
        topics.publish_topic(room.pk),
        "--rate",
        str(args.fanout_rate),
        "--duration",
        str(args.duration),
        "--incr-every",
        "0",
    )
    sent = json.loads(pub.communicate(timeout=args.duration + 60)[0])["sent"]
    time.sleep(4)  # the last window, its broadcast and delivery
    cpu = meter.stop()
    stop_file.write_text("stop")
    outcomes = [json.loads(s.communicate(timeout=60)[0]) for s in subs]
    stack.stop_workers()
    stored = ChatMessage.objects.filter(room=room).count()
    received = [n for o in outcomes for n in o["received"]]
    # Percentiles over all deliveries: merge each process's by weight (close enough for
    # p50; p99 and max are taken as the worst process's, an upper bound).
    result = {
        "scenario": f"fan-out to {args.subscribers} WebSocket subscribers",
        "offered_per_s": args.fanout_rate,
        "sent": sent,
        "stored": stored,
        "deliveries": sum(o["deliveries"] for o in outcomes),
        "expected_deliveries": stored * args.subscribers,
        "every_message_delivered": min(received) == stored and max(received) == stored,
        "min_received": min(received),
        "latency_p50_ms": round(1000 * max(o["p50"] for o in outcomes)),
        "latency_p99_ms": round(1000 * max(o["p99"] for o in outcomes)),
        "latency_max_ms": round(1000 * max(o["max"] for o in outcomes)),
        "wire_p50_ms": round(1000 * max(o["wire_p50"] for o in outcomes)),
        "wire_p99_ms": round(1000 * max(o["wire_p99"] for o in outcomes)),
        "connect_s": connect_s,
        "cpu_s": cpu,
        "load_after": round(os.getloadavg()[0], 2),
    }
    log(
        f"  {result['scenario']}: {result['deliveries']}/{result['expected_deliveries']} "
        f"deliveries, p50 {result['latency_p50_ms']} ms, p99 {result['latency_p99_ms']} ms, "
        f"max {result['latency_max_ms']} ms (publish to receive p50 {result['wire_p50_ms']} "
        f"p99 {result['wire_p99_ms']} ms), cpu {cpu}"
    )
    return result


# --- Summary -----------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def tables(results: list[dict]) -> str:
    by_name: dict[str, list[dict]] = {}
    for r in results:
        by_name.setdefault(r["scenario"], []).append(r)
    lines = [
        "| scenario | runs | durable msgs/s, median (min-max) | stored / sent | exact counts "
        "| lag to commit p99, ms | CPU s per 1,000 msgs: broker / workers / PostgreSQL |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, runs in by_name.items():
        if name.startswith("fan-out"):
            continue
        rate = spread([r["durable_per_s"] for r in runs])
        if name.startswith("ingest"):
            stored = f"{sum(r['stored'] for r in runs):,} / {sum(r['sent'] for r in runs):,}"
            exact = "yes" if all(r["exact"] for r in runs) else "**no**"
            lag = spread([r["store_lag_p99_ms"] for r in runs])
            per_k = [
                "/".join(
                    f"{1000 * r['cpu_s'].get(k, 0) / max(1, r['stored']):.2f}"
                    for k in ("broker", "workers", "postgres")
                )
                for r in runs
            ]
            lines.append(
                f"| {name} | {len(runs)} | {rate} | {stored} | {exact} | {lag} | "
                f"{statistics.median_low(per_k)} |"
            )
        else:
            lines.append(
                f"| {name} | {len(runs)} | {rate} | n/a | n/a | p99 "
                f"{spread([r['p99_ms'] for r in runs])} ms per request | n/a |"
            )
    lines += [
        "",
        "| fan-out | runs | deliveries | every message to every subscriber | latency p50 ms "
        "| p99 ms | max ms | subscribers connected in, s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in by_name.items():
        if not name.startswith("fan-out"):
            continue
        lines.append(
            f"| {name}, {runs[0]['offered_per_s']} msgs/s | {len(runs)} | "
            f"{sum(r['deliveries'] for r in runs):,} / "
            f"{sum(r['expected_deliveries'] for r in runs):,} | "
            f"{'yes' if all(r['every_message_delivered'] for r in runs) else '**no**'} | "
            f"{spread([r['latency_p50_ms'] for r in runs])} | "
            f"{spread([r['latency_p99_ms'] for r in runs])} | "
            f"{spread([r['latency_max_ms'] for r in runs])} | "
            f"{spread([r['connect_s'] for r in runs])} |"
        )
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode")
    pub = sub.add_parser("publish")
    pub.add_argument("--port", type=int, required=True)
    pub.add_argument("--token", required=True)
    pub.add_argument("--topic", required=True)
    pub.add_argument("--rate", type=float, required=True)
    pub.add_argument("--duration", type=float, required=True)
    pub.add_argument("--incr-every", type=int, default=4)
    subp = sub.add_parser("subscribe")
    subp.add_argument("--port", type=int, required=True)
    subp.add_argument("--token", required=True)
    subp.add_argument("--topic", required=True)
    subp.add_argument("--count", type=int, required=True)
    subp.add_argument("--stop-file", required=True)
    subp.add_argument("--ready-file", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rate", type=float, default=5000, help="offered ingest msgs/s")
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--subscriber-processes", type=int, default=2)
    parser.add_argument("--fanout-rate", type=float, default=50)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--db", default="chatroom_bench_rt")
    parser.add_argument("--only", choices=["ingest1", "ingest2", "rest", "fanout"], action="append")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if args.mode == "publish":
        return publisher(args)
    if args.mode == "subscribe":
        return subscribers(args)
    run_dir = OUT / f"realtime-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(args, run_dir)
    os.environ.update(
        {k: v for k, v in stack.env.items() if k.startswith(("DJANGO", "DATA", "CHAT"))}
    )
    import django

    django.setup()
    chosen = args.only or ["ingest1", "ingest2", "rest", "fanout"]
    results = []
    try:
        stack.start()
        for round_ in range(1, args.runs + 1):
            log(f"Round {round_} of {args.runs}")
            for name in chosen:
                if name == "ingest1":
                    results.append(ingest(stack, 1))
                elif name == "ingest2":
                    results.append(ingest(stack, 2))
                elif name == "rest":
                    results.append(rest(stack))
                else:
                    results.append(fanout(stack))
    finally:
        stack.stop()
    summary = tables(results)
    (run_dir / "results.json").write_text(
        json.dumps({"machine": machine(), "args": vars(args), "results": results}, indent=2)
    )
    (run_dir / "tables.md").write_text(summary + "\n")
    print(summary)
    log(f"Written to {run_dir}")


if __name__ == "__main__":
    main()
