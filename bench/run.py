#!/usr/bin/env python3
"""Reproduce docs/performance.md: seed, load every endpoint and its floor, time the console.

    .venv/bin/python bench/run.py [--scale 1] [--duration 20] [--connections 32]

Steps, all against 127.0.0.1 only and each bounded in time and requests:

1. create a fresh PostgreSQL database (default ``chatroom_bench``), migrate, and
   ``seed_bench`` it (timings per table);
2. mint credentials (``bench/prepare.py``): an API key, hot-room viewers, distinct
   voters for the API and for the floor, an admin of a side room;
3. in each of ``--runs`` rounds: the machine's ceilings (a bare WSGI app and Django
   without a database under the same gunicorn settings, pgbench single-row INSERT and
   hot-row UPDATE), then for each scenario a fresh gunicorn (``bench.wsgi``: the app
   plus the ``/floor/`` views) and wrk with ``bench/wrk/scenario.lua`` against the API
   and then against its floor, sampling each worker's peak RSS; every figure is the
   median of the rounds, shown with its lowest and highest;
4. stop gunicorn and time the console pages in-process (``bench/console.py``);
5. optionally (``--profile "room state"``) run one scenario again under pyinstrument;
6. print the tables and write them, with the raw numbers, under ``bench/out/``.

Every process started here is stopped in ``finally`` blocks by its process group.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
PYTHON = sys.executable
HOST = "127.0.0.1"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
API = "/bv/chatroom/v1"


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    app_path: str
    floor_path: str
    body: str
    tokens: str  # file under the run folder; "voters" means voters-app / voters-floor
    unique: bool = False
    gzip: bool = False  # send Accept-Encoding: gzip, as mobile HTTP stacks and browsers do
    revalidate: bool = False  # send If-None-Match with the state's current entity tag
    has_floor: bool = True  # False: the floor would repeat another scenario's


SCENARIOS = [
    Scenario("room state", "GET", f"{API}/chatrooms", "/floor/chatrooms/state", "none", "viewers"),
    Scenario(
        "room state, gzip",
        "GET",
        f"{API}/chatrooms",
        "/floor/chatrooms/state",
        "none",
        "viewers",
        gzip=True,
    ),
    Scenario(
        "room state, 304",
        "GET",
        f"{API}/chatrooms",
        "/floor/chatrooms/state",
        "none",
        "viewers",
        gzip=True,
        revalidate=True,
        has_floor=False,  # its floor is the uncached state, already measured above
    ),
    Scenario(
        "list messages",
        "GET",
        f"{API}/chatrooms/messages",
        "/floor/chatrooms/messages",
        "none",
        "viewers",
    ),
    Scenario(
        "send message",
        "POST",
        f"{API}/chatrooms/messages",
        "/floor/chatrooms/messages",
        "send",
        "viewers",
    ),
    Scenario(
        "counter increment",
        "POST",
        f"{API}/chatrooms/messages",
        "/floor/chatrooms/messages",
        "incr",
        "viewers",
    ),
    Scenario(
        "vote",
        "POST",
        f"{API}/chatrooms/polls/{{poll}}:vote",
        "/floor/chatrooms/polls/{poll}:vote",
        "vote",
        "voters",
        unique=True,
    ),
    Scenario(
        "block user",
        "POST",
        f"{API}/chatrooms/users:block",
        "/floor/chatrooms/users:block",
        "block",
        "admin",
    ),
    Scenario(
        "create chatroom", "POST", f"{API}/chatrooms", "/floor/chatrooms", "create", "api_key"
    ),
]
SCENARIO_NAMES = [s.name for s in SCENARIOS]

# The machine's own limits, measured in the same session (issue 10): nothing the service
# does per request can beat the first two; the database's own rates bound the writes.
HTTP_CEILING = "HTTP: bare WSGI app"
DJANGO_CEILING = "Django: middleware, no database"
PG_INSERT = "PostgreSQL: single-row INSERT"
PG_UPDATE = "PostgreSQL: hot-row UPDATE"
WSGI_CEILINGS = {
    HTTP_CEILING: (
        "bench.hello:application",
        Scenario(HTTP_CEILING, "GET", "/", "/", "none", "viewers"),
    ),
    DJANGO_CEILING: (
        "bench.wsgi:application",
        Scenario(DJANGO_CEILING, "GET", "/floor/ping", "/floor/ping", "none", "viewers"),
    ),
}
PGBENCH_CEILINGS = {PG_INSERT: "insert_row.sql", PG_UPDATE: "hot_row_update.sql"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Processes ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def stop_group(process: subprocess.Popen, grace: float = 10) -> None:
    """Stop a process started with start_new_session=True, and everything it started."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ")"
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Broker:
    """The project's broker (``manage.py broker``: Mosquitto with the auth plugin) on a
    port of its own, for the whole run: the API's writes broadcast through it, as in
    production. Without it, each worker's first broadcast waited a second for a broker
    that was not there (``publisher.FIRST_CONNECT_WAIT_SECONDS``), and publishing cost
    nothing."""

    def __init__(self, env: dict, run_dir: Path):
        self.port = free_port()
        self.env = {**env, "CHATROOM_BROKER_PORT": str(self.port)}
        self.run_dir = run_dir
        self.process: subprocess.Popen | None = None
        self.log = None

    def __enter__(self) -> Broker:
        self.log = (self.run_dir / "broker.log").open("a")
        self.process = subprocess.Popen(
            [PYTHON, "manage.py", "broker", "--config-dir", str(self.run_dir / "broker")],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the broker exited; see {self.run_dir / 'broker.log'}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 1):
                return self
            time.sleep(0.1)
        stop_group(self.process)
        raise SystemExit("the broker did not listen within 15 s")

    def __exit__(self, *exc_info) -> None:
        if self.process is not None:
            stop_group(self.process)
        if self.log is not None:
            self.log.close()


class Server:
    """gunicorn serving bench.wsgi on 127.0.0.1."""

    def __init__(
        self,
        args,
        env: dict,
        run_dir: Path,
        extra_env: dict | None = None,
        app: str = "bench.wsgi:application",
    ):
        self.args, self.run_dir, self.app = args, run_dir, app
        self.env = {**env, **(extra_env or {})}
        self.process: subprocess.Popen | None = None
        self.url = f"http://{HOST}:{args.port}"

    def __enter__(self) -> Server:
        command = [
            str(Path(PYTHON).parent / "gunicorn"),
            self.app,
            "--bind",
            f"{HOST}:{self.args.port}",
            "--workers",
            str(self.args.workers),
            "--worker-class",
            self.args.worker_class,
            "--threads",
            str(self.args.threads),
            "--backlog",
            "2048",
            "--timeout",
            "60",
            "--keep-alive",
            "5",
            "--log-level",
            "warning",
            "--error-logfile",
            str(self.run_dir / "gunicorn.log"),
        ]
        if self.args.worker_class == "gthread":
            # A gthread worker accepts connections until it holds worker_connections
            # (1,000 by default): one worker could take all of wrk's kept-alive
            # connections and leave the other idle for the whole run, halving the rate
            # (a third of the runs did, at random). Cap each near its share. gthread
            # closes a response's connection once worker_connections - threads are idle,
            # so the cap leaves room for a whole share idle, and for the readiness
            # probe's connection.
            share = math.ceil(self.args.connections / self.args.workers) + self.args.threads + 1
            command += ["--worker-connections", str(share)]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {self.run_dir / 'gunicorn.log'}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(self.url + "/floor/ping", timeout=2).read()
                if len(self.workers()) >= self.args.workers:
                    return self
            time.sleep(0.2)
        stop_group(self.process)
        raise SystemExit("gunicorn did not answer within 30 s")

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            stop_group(self.process)

    def workers(self) -> list[int]:
        return children(self.process.pid) if self.process else []


def cpu_ticks(pid: int) -> int:
    """A process's user and system CPU time so far, in clock ticks (/proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


class RssSampler:
    """Peak resident memory per worker over one run: the kernel's high-water mark
    (reset through clear_refs before the run), and our own samples as a fallback. And
    the CPU time the workers spent over the run: divided by the requests, what one
    request costs the server whatever wrk and PostgreSQL took of the same cores."""

    def __init__(self, server: Server):
        self.server = server
        self.peak_kb: dict[int, int] = {}
        self.cpu_start: dict[int, int] = {}
        self.cpu_end: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> RssSampler:
        for pid in self.server.workers():
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            self.cpu_start[pid] = cpu_ticks(pid)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            for pid in self.server.workers():
                rss = status_kb(pid, "VmRSS")
                self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), rss)
            self._stop.wait(0.2)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        for pid in self.server.workers():
            hwm = status_kb(pid, "VmHWM")
            self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), hwm)
            self.cpu_end[pid] = cpu_ticks(pid)

    def cpu_seconds(self) -> float:
        pids = self.cpu_start.keys() & self.cpu_end.keys()  # a restarted worker is left out
        ticks = sum(self.cpu_end[pid] - self.cpu_start[pid] for pid in pids)
        return ticks / os.sysconf("SC_CLK_TCK")

    def peak_mb(self) -> float:
        return round(max(self.peak_kb.values(), default=0) / 1024, 1)


# --- One measurement ------------------------------------------------------------------


def probe(url: str, method: str, token: str, body: bytes | None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(300).decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read(300).decode(errors="replace")


def probe_body(scenario: Scenario, run: dict, tag: str) -> bytes | None:
    option = run["options"][0]
    bodies = {
        "none": None,
        "create": {"custom_counters": [{"key": "like"}, {"key": "heart"}]},
        "send": {"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": "probe"}},
        "incr": {
            "type": "INTERACTION_TYPE_CUSTOM",
            "custom_message": {"value": "", "incr": {"key": "like", "value": 1}},
        },
        "vote": {
            "vote": {
                "poll": {
                    "id": run["poll"],
                    "type": run["poll_type"],
                    "multi_choice": {"options": [{"id": option}]},
                }
            }
        },
        "block": {"blocked_user": {"id": f"probe-{tag}", "custom_name": "Probe"}},
    }
    body = bodies[scenario.body]
    return None if body is None else json.dumps(body).encode()


def fetch_etag(url: str, token: str) -> str:
    request = urllib.request.Request(url)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Accept-Encoding", "gzip")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers.get("ETag", "")


def run_wrk(
    args,
    server: Server,
    scenario: Scenario,
    side: str,
    run: dict,
    run_dir: Path,
    round_: int = 0,
):
    path = scenario.floor_path if side == "floor" else scenario.app_path
    tokens = scenario.tokens
    if tokens == "voters":
        tokens = f"voters-{ {'api': 'app', 'floor': 'floor'}.get(side, side) }"
        if round_ and (run_dir / f"{tokens}-r{round_}.txt").exists():
            tokens = f"{tokens}-r{round_}"  # each round its own voters: each votes once
    token_file = run_dir / f"{tokens}.txt"
    tag = f"{side}{int(time.time())}"
    # One request by hand first, so a broken scenario fails loudly instead of
    # measuring how fast the server says no.
    probe_tokens = token_file.read_text().split()
    probe_token = probe_tokens[
        ["api", "floor", "profile", "ceiling"].index(side) % len(probe_tokens)
    ]
    if scenario.unique:
        # Each voter votes once: the probe takes the last voter of this run's share, which
        # wrk never reaches (each thread stops a reserve of credentials short of its end).
        probe_token = probe_tokens[-1]
    url_path = path.replace("{poll}", run["poll"])
    etag = ""
    if scenario.revalidate and side != "floor":
        etag = fetch_etag(server.url + url_path, probe_token)
    status, text = probe(
        server.url + url_path, scenario.method, probe_token, probe_body(scenario, run, tag)
    )
    if not 200 <= status < 300:
        raise SystemExit(f"{scenario.name} ({side}): probe answered {status}: {text}")

    env = {
        **os.environ,
        "BENCH_METHOD": scenario.method,
        "BENCH_PATH": path,
        "BENCH_BODY": scenario.body,
        "BENCH_TOKENS": str(token_file),
        "BENCH_UNIQUE": "1" if scenario.unique else "0",
        "BENCH_GZIP": "1" if scenario.gzip else "0",
        "BENCH_IF_NONE_MATCH": etag,
        "BENCH_MAX": str(args.max_requests),
        "BENCH_POLL": run["poll"],
        "BENCH_POLL_TYPE": run["poll_type"],
        "BENCH_OPTIONS": ",".join(run["options"]),
        "BENCH_TAG": tag,
        "BENCH_CONNECTIONS": str(args.connections),
        "BENCH_THREADS": str(args.wrk_threads),
    }
    command = [
        "wrk",
        f"-t{args.wrk_threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH / "wrk" / "scenario.lua"),
        server.url,
    ]
    with RssSampler(server) as rss:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            output, _ = process.communicate(timeout=args.duration + 60)
        finally:
            stop_group(process)
    match = re.search(r"^WRKJSON (.*)$", output, re.MULTILINE)
    if match is None:
        raise SystemExit(f"wrk printed no result for {scenario.name} ({side}):\n{output}")
    raw = json.loads(match.group(1))
    seconds = raw["duration_us"] / 1e6
    if raw["stopped"] == raw["threads"] and raw["last_stop"] > raw["started"]:
        seconds = raw["last_stop"] - raw["started"]  # every thread used up its share early
    errors = raw["status"] + raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    result = {
        "scenario": scenario.name,
        "side": side,
        "round": round_,
        "path": url_path,
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": raw["p50"] / 1000,
        "p95_ms": raw["p95"] / 1000,
        "p99_ms": raw["p99"] / 1000,
        "max_ms": raw["max"] / 1000,
        "errors": errors,
        "errors_detail": {k: raw[k] for k in ("status", "connect", "read", "write", "timeout")},
        "peak_rss_mb": rss.peak_mb(),
        "rss_per_worker_mb": [round(kb / 1024, 1) for kb in rss.peak_kb.values()],
        "worker_cpu_ms": (
            round(rss.cpu_seconds() * 1000 / raw["requests"], 3) if raw["requests"] else None
        ),
        "bytes_per_response": round(raw["bytes"] / raw["requests"]) if raw["requests"] else 0,
        # Others may share the machine: the 1-minute load average when the run ended.
        "load_after": round(os.getloadavg()[0], 2),
    }
    log(
        f"  {scenario.name:<18} {side:<5} {result['rps']:>8.1f} req/s  p99 "
        f"{result['p99_ms']:>7.1f} ms  errors {errors}  rss {result['peak_rss_mb']} MB"
        f"  cpu {result['worker_cpu_ms']} ms/req  load {result['load_after']}"
    )
    return result


def prepare_pgbench(db: str) -> None:
    """The ceilings' own tables in the bench database (not the app's)."""
    with psycopg.connect(database_url(db), autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS bench_pg_insert (id bigserial PRIMARY KEY, room uuid, "
            "body text, at timestamptz)"
        )
        connection.execute(
            "CREATE TABLE IF NOT EXISTS bench_pg_hot (id int PRIMARY KEY, n bigint NOT NULL)"
        )
        connection.execute("INSERT INTO bench_pg_hot VALUES (1, 0) ON CONFLICT DO NOTHING")


def run_pgbench(args, name: str, round_: int) -> dict:
    """pgbench with the script of one ceiling, against the bench database: transactions
    per second with ``--pgbench-clients`` clients (autocommit, one statement each)."""
    command = [
        "pgbench",
        "-h",
        HOST,
        "-U",
        "postgres",
        "-n",
        "-T",
        str(args.duration),
        "-c",
        str(args.pgbench_clients),
        "-j",
        str(args.wrk_threads),
        "-f",
        str(BENCH / "pgbench" / PGBENCH_CEILINGS[name]),
        args.db,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=args.duration + 120, check=False
    )
    match = re.search(r"^tps = ([0-9.]+)", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"pgbench failed for {name}:\n{done.stdout}\n{done.stderr}")
    latency = re.search(r"^latency average = ([0-9.]+) ms", done.stdout, re.MULTILINE)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    result = {
        "scenario": name,
        "side": "ceiling",
        "round": round_,
        "rps": float(match.group(1)),
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "p99_ms": None,
        "errors": int(failed.group(1)) if failed else 0,
        "clients": args.pgbench_clients,
        "load_after": round(os.getloadavg()[0], 2),
    }
    log(f"  {name:<34} {result['rps']:>9.1f} tps  load {result['load_after']}")
    return result


# --- Database, seeding, credentials -----------------------------------------------------


def database_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def create_database(name: str) -> None:
    if not re.fullmatch(r"chatroom_bench[a-z0-9_]*", name):
        raise SystemExit("The bench database's name must start with chatroom_bench.")
    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict, *arguments: str, capture: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "manage.py", *arguments],
        cwd=ROOT,
        env=env,
        check=True,
        text=True,
        capture_output=capture,
        timeout=3600,
    )


def seed(args, env: dict, db_dir: Path) -> dict:
    log(f"Creating {args.db}, migrating and seeding at scale {args.scale} ...")
    create_database(args.db)
    manage(env, "migrate", "--noinput", "-v0")
    started = time.perf_counter()
    done = manage(env, "seed_bench", "--scale", str(args.scale), "--print-hot-room", capture=True)
    seeding = {
        "scale": args.scale,
        "hot_room": done.stdout.strip().splitlines()[-1],
        "report": done.stderr.strip().splitlines(),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    log("\n".join(seeding["report"]))
    (db_dir / "seed.json").write_text(json.dumps(seeding, indent=2))
    return seeding


def machine() -> dict:
    def command(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in command("lscpu").splitlines()
            if line.startswith("Model name")
        ),
        "?",
    )
    mem_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    with psycopg.connect(PG_ADMIN) as connection:
        pg = connection.execute("SHOW server_version").fetchone()[0]
    commit = command("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD")
    dirty = command("git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no")
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "postgresql": pg,
        "python": platform.python_version(),
        "commit": commit + (" (+ uncommitted changes)" if dirty else ""),
        "load_before": os.getloadavg(),
    }


# --- Tables ------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def summarize(load: list[dict]) -> dict:
    """{(scenario, side): median, min and max of req/s and p99 over the rounds, the
    errors of all rounds and the largest peak RSS}."""
    grouped: dict = {}
    for result in load:
        grouped.setdefault((result["scenario"], result["side"]), []).append(result)
    summary = {}
    for key, results in grouped.items():
        rps = [r["rps"] for r in results]
        p99 = [r["p99_ms"] for r in results if r.get("p99_ms") is not None]
        cpu = [r["worker_cpu_ms"] for r in results if r.get("worker_cpu_ms") is not None]
        summary[key] = {
            "runs": len(results),
            "rps": median(rps),
            "rps_min": min(rps),
            "rps_max": max(rps),
            "p99": median(p99) if p99 else None,
            "p99_min": min(p99) if p99 else None,
            "p99_max": max(p99) if p99 else None,
            "cpu": median(cpu) if cpu else None,
            "cpu_min": min(cpu) if cpu else None,
            "cpu_max": max(cpu) if cpu else None,
            "errors": sum(r.get("errors", 0) for r in results),
            "peak_rss_mb": max((r.get("peak_rss_mb", 0) for r in results), default=0),
            "by_round": {r["round"]: r["rps"] for r in results},
        }
    return summary


def spread(entry: dict, field: str = "rps", digits: int = 0) -> str:
    value, low, high = entry[field], entry[f"{field}_min"], entry[f"{field}_max"]
    if value is None:
        return "-"
    fmt = f"{{:,.{digits}f}}"
    return f"{fmt.format(value)} ({fmt.format(low)}-{fmt.format(high)})"


def ratio(summary: dict, a: tuple, b: tuple) -> str:
    """Median of a over median of b, and the range of the per-round ratios (each
    round's A and B ran next to each other)."""
    if a not in summary or b not in summary or not summary[b]["rps"]:
        return "-"
    first, second = summary[a], summary[b]
    rounds = [
        first["by_round"][n] / second["by_round"][n]
        for n in first["by_round"]
        if second["by_round"].get(n)
    ]
    text = f"{first['rps'] / second['rps']:.0%}"
    if len(rounds) > 1:
        text += f" ({min(rounds):.0%}-{max(rounds):.0%})"
    return text


def tables(results: dict) -> str:
    lines = []
    meta, config = results["machine"], results["config"]
    summary = summarize(results["load"])
    lines.append(
        f"Commit {meta['commit']} · {meta['nproc']} cores ({meta['cpu']}), {meta['ram_gib']} GiB, "
        f"PostgreSQL {meta['postgresql']}, Python {meta['python']} · gunicorn "
        f"{config['workers']} x {config['worker_class']} ({config['threads']} threads) · "
        f"wrk {config['connections']} connections, {config['duration']} s per run · "
        f"{config['runs']} rounds · scale {config['scale']} · load average before "
        f"{meta['load_before'][0]:.1f}"
    )
    lines.append("")
    lines.append("Each figure: median of the rounds (lowest-highest).")
    lines.append("")
    http = (HTTP_CEILING, "ceiling")
    ceilings = [
        name for name in [*WSGI_CEILINGS, *PGBENCH_CEILINGS] if (name, "ceiling") in summary
    ]
    if ceilings:
        lines.append(
            "| ceiling | req/s (or transactions/s) | p99 ms | errors | worker CPU ms/request |"
        )
        lines.append("|---|---:|---:|---:|---:|")
        for name in ceilings:
            entry = summary[(name, "ceiling")]
            lines.append(
                f"| {name} | {spread(entry)} | {spread(entry, 'p99', 1)} | {entry['errors']} "
                f"| {spread(entry, 'cpu', 3)} |"
            )
        lines.append("")
    lines.append(
        "| endpoint | API req/s | p99 ms | errors | peak RSS/worker MB | floor req/s "
        "| API / floor | API / HTTP ceiling | worker CPU ms/request, API | floor |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in config["scenarios"]:
        api = summary.get((name, "api"))
        if api is None:
            continue
        floor = summary.get((name, "floor"))
        lines.append(
            f"| {name} | {spread(api)} | {spread(api, 'p99', 1)} | {api['errors']} | "
            f"{api['peak_rss_mb']:.0f} | {spread(floor) if floor else '-'} | "
            f"{ratio(summary, (name, 'api'), (name, 'floor'))} | "
            f"{ratio(summary, (name, 'api'), http)} | "
            f"{spread(api, 'cpu', 2)} | {spread(floor, 'cpu', 2) if floor else '-'} |"
        )
    single = ("send message", "floor")
    if single in summary:
        lines.append("")
        lines.append(
            "Hot room, against the single-insert floor (the send-message floor: token check, "
            "block check, one INSERT) and PostgreSQL's own single-row INSERT rate:"
        )
        lines.append("")
        lines.append("| into the hot room | API req/s | / single-insert floor | / pgbench INSERT |")
        lines.append("|---|---:|---:|---:|")
        for name in ("vote", "counter increment"):
            if (name, "api") in summary:
                lines.append(
                    f"| {name} | {spread(summary[(name, 'api')])} | "
                    f"{ratio(summary, (name, 'api'), single)} | "
                    f"{ratio(summary, (name, 'api'), (PG_INSERT, 'ceiling'))} |"
                )
    lines.extend(["", *targets(summary)])
    if results.get("console"):
        lines.append("")
        lines.append("| console page | median ms | p95 ms | queries | bytes |")
        lines.append("|---|---:|---:|---:|---:|")
        for name, page in results["console"].items():
            lines.append(
                f"| {name} | {page['median_ms']:.1f} | {page['p95_ms']:.1f} | "
                f"{page['queries']} | {page['bytes']:,} |"
            )
    if results.get("seeding"):
        lines.append("")
        lines.append(f"Seeding at scale {results['seeding']['scale']}:")
        lines.append("")
        lines.append("```")
        lines.extend(results["seeding"]["report"])
        lines.append("```")
    return "\n".join(lines)


def targets(summary: dict) -> list[str]:
    """Issue 10's targets, each met only in the median (the spread is shown beside it)."""
    rows = []

    def row(target: str, measured: str, met: bool | None) -> None:
        verdict = "-" if met is None else ("met" if met else "**missed**")
        rows.append(f"| {target} | {measured} | {verdict} |")

    http = summary.get((HTTP_CEILING, "ceiling"))
    gzip_state = summary.get(("room state, gzip", "api"))
    if http and gzip_state:
        share = gzip_state["rps"] / http["rps"]
        row(
            "room state (cached, gzip) >= 25% of the bare-WSGI ceiling",
            ratio(summary, ("room state, gzip", "api"), (HTTP_CEILING, "ceiling")),
            share >= 0.25,
        )
    if gzip_state:
        row(
            "room state (gzip) p99 < 50 ms at 32 connections",
            f"{spread(gzip_state, 'p99', 1)} ms",
            gzip_state["p99"] < 50,
        )
    for (name, side), api in summary.items():
        floor = summary.get((name, "floor"))
        if side != "api" or floor is None or name.startswith("room state"):
            continue
        row(
            f"{name} >= 100% of its floor",
            ratio(summary, (name, "api"), (name, "floor")),
            api["rps"] >= floor["rps"],
        )
    single = summary.get(("send message", "floor"))
    for name in ("vote", "counter increment"):
        api = summary.get((name, "api"))
        if api and single:
            row(
                f"hot room: {name} >= the single-insert floor",
                ratio(summary, (name, "api"), ("send message", "floor")),
                api["rps"] >= single["rps"],
            )
    rss = [(e["peak_rss_mb"], name) for (name, side), e in summary.items() if side == "api"]
    if rss:
        worst, name = max(rss)
        row(
            "peak RSS per worker < 150 MB in every scenario",
            f"{worst:.0f} MB ({name})",
            worst < 150,
        )
    if not rows:
        return []
    return ["| target | median (spread) | |", "|---|---|---|", *rows]


# --- Main -----------------------------------------------------------------------------------


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--max-requests", type=int, default=200_000, help="cap on requests per wrk run"
    )
    # 2 gthread workers x 4 threads did best on 2 cores (docs/performance.md): one
    # process per core, and threads to overlap each request's waits on PostgreSQL.
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--db", default="chatroom_bench")
    parser.add_argument(
        "--reuse-db", action="store_true", help="keep the seeded database of an earlier run"
    )
    parser.add_argument("--voters", type=int, default=10_000, help="distinct voters per side")
    parser.add_argument(
        "--only", action="append", choices=SCENARIO_NAMES, help="run only these scenarios"
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the floor runs")
    parser.add_argument(
        "--runs", type=int, default=3, help="rounds; every figure is their median (min-max)"
    )
    parser.add_argument(
        "--no-ceilings",
        action="store_true",
        help="skip the machine's limits (bare WSGI, Django without a database, pgbench)",
    )
    parser.add_argument("--pgbench-clients", type=int, default=16)
    parser.add_argument("--skip-console", action="store_true")
    parser.add_argument("--console-requests", type=int, default=50)
    parser.add_argument(
        "--profile",
        action="append",
        choices=[*SCENARIO_NAMES, "auto"],
        help="profile a scenario under load; auto: the lowest API/floor ratio",
    )
    return parser.parse_args()


def measure_rounds(args, env: dict, run: dict, run_dir: Path, scenarios, results: dict):
    """Rounds: every ceiling, then every scenario's API and floor side by side, then the
    next round (A B A B): what the machine does meanwhile touches all of them alike."""
    for round_ in range(1, args.runs + 1):
        log(f"Round {round_} of {args.runs}")
        if not args.no_ceilings:
            for app, ceiling in WSGI_CEILINGS.values():
                with Server(args, env, run_dir, app=app) as server:
                    results["load"].append(
                        run_wrk(args, server, ceiling, "ceiling", run, run_dir, round_)
                    )
            for name in PGBENCH_CEILINGS:
                results["load"].append(run_pgbench(args, name, round_))
        for scenario in scenarios:
            sides = ("api",) if args.no_floor or not scenario.has_floor else ("api", "floor")
            for side in sides:
                # A fresh server for every run: each peak RSS belongs to one endpoint.
                with Server(args, env, run_dir) as server:
                    results["load"].append(
                        run_wrk(args, server, scenario, side, run, run_dir, round_)
                    )
        (run_dir / "results.json").write_text(json.dumps(results, indent=2))


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    db_dir = OUT / args.db
    run_dir = OUT / f"run-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    db_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(args.db),
        "DJANGO_SECRET_KEY": "bench-only-not-a-secret",
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_HSTS_SECONDS": "0",
        # Each load client stands for many users: the per-user limits (docs/api.md) would
        # refuse most of the load. Their own cost is measured by bench/ratelimit.py.
        "CHATROOM_SEND_RATE": "off",
        "CHATROOM_INCREMENT_RATE": "off",
        "CHATROOM_INCREMENT_VALUE_RATE": "off",
    }
    scenarios = [s for s in SCENARIOS if not args.only or s.name in args.only]
    results: dict = {
        "machine": machine(),
        "config": {
            "scale": args.scale,
            "duration": args.duration,
            "connections": args.connections,
            "wrk_threads": args.wrk_threads,
            "workers": args.workers,
            "worker_class": args.worker_class,
            "threads": args.threads,
            "runs": args.runs,
            "pgbench_clients": args.pgbench_clients,
            "scenarios": [s.name for s in scenarios],
        },
        "load": [],
    }
    seed_file = db_dir / "seed.json"
    if args.reuse_db and seed_file.exists():
        results["seeding"] = json.loads(seed_file.read_text())
        log(f"Reusing {args.db} (seeded at scale {results['seeding']['scale']}).")
    else:
        results["seeding"] = seed(args, env, db_dir)
    hot_room = results["seeding"]["hot_room"]

    log("Minting credentials ...")
    prepared = subprocess.run(
        [
            PYTHON,
            str(BENCH / "prepare.py"),
            "--hot-room",
            hot_room,
            "--voters",
            str(args.voters * args.runs),
            "--tag",
            stamp.replace("-", ""),
            "--out",
            str(run_dir),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    run = json.loads(prepared.stdout.strip().splitlines()[-1])
    log(f"  minted in {run['minted_in_s']} s")
    for side in ("app", "floor"):  # each round its own voters
        voters = (run_dir / f"voters-{side}.txt").read_text().split()
        for round_ in range(1, args.runs + 1):
            share = voters[(round_ - 1) * args.voters : round_ * args.voters]
            (run_dir / f"voters-{side}-r{round_}.txt").write_text("\n".join(share) + "\n")
    if not args.no_ceilings:
        prepare_pgbench(args.db)

    log(
        f"Load: gunicorn {args.workers} x {args.worker_class} ({args.threads} threads), "
        f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s"
    )
    with Broker(env, run_dir) as broker:
        log(f"Broker: mqtt://{HOST}:{broker.port} (manage.py broker)")
        env = broker.env
        measure_rounds(args, env, run, run_dir, scenarios, results)

        if not args.skip_console:
            log("Console pages (in-process, 50 requests each) ...")
            console_json = run_dir / "console.json"
            subprocess.run(
                [
                    PYTHON,
                    str(BENCH / "console.py"),
                    "--hot-room",
                    hot_room,
                    "--requests",
                    str(args.console_requests),
                    "--json",
                    str(console_json),
                ],
                cwd=ROOT,
                env=env,
                check=True,
                timeout=1800,
            )
            results["console"] = json.loads(console_json.read_text())

        if args.profile:
            results["profile"] = {}
            for name in dict.fromkeys(args.profile):
                if name == "auto":
                    name = lowest_ratio(results["load"])
                if name and name not in results["profile"]:
                    results["profile"][name] = profile(args, name, env, run, run_dir)

    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    text = tables(results)
    (run_dir / "tables.md").write_text(text + "\n")
    print(text)
    log(f"\nRaw results: {run_dir}")


def lowest_ratio(load: list[dict]) -> str | None:
    by = {key: entry["rps"] for key, entry in summarize(load).items()}
    ratios = {
        name: rps / by[(name, "floor")]
        for (name, side), rps in by.items()
        if side == "api" and by.get((name, "floor"))
    }
    return min(ratios, key=ratios.get) if ratios else None


def profile(args, name: str, env: dict, run: dict, run_dir: Path) -> str:
    """One scenario again, against the API only, with pyinstrument in each sync worker."""
    scenario = next(s for s in SCENARIOS if s.name == name)
    profile_dir = run_dir / f"profile-{name.replace(' ', '-')}"
    profile_dir.mkdir(exist_ok=True)
    log(f"Profiling {scenario.name} under load ...")
    profiled = argparse.Namespace(**{**vars(args), "worker_class": "sync", "threads": 1})
    with Server(profiled, env, run_dir, {"BENCH_PROFILE": str(profile_dir)}) as server:
        run_wrk(profiled, server, scenario, "profile", run, run_dir)
    reports = sorted(profile_dir.glob("profile-*.txt"))
    log(f"  profiles: {', '.join(str(p) for p in reports)}")
    return str(reports[0]) if reports else ""


if __name__ == "__main__":
    main()
