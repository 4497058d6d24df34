#!/usr/bin/env python3
"""Slow clients against gunicorn alone and behind nginx (docs/performance.md, "Slow clients").

    .venv/bin/python bench/slow_clients.py [--slow 20] [--duration 30] [--runs 3]
                                           [--rate 2] [--timeout 10] [--path /api/schema/]

Issue 9 found that two connections sending one header line every 3 s stall gunicorn's
sync workers. For each run and each side this starts gunicorn with
``deploy/gunicorn.conf.py`` (its default worker count unless ``--workers``), on
``DATABASE_URL`` or, without it, a fresh SQLite file (migrated either way, static files
collected into a temporary STATIC_ROOT), then:

- **gunicorn alone**: clients connect to gunicorn's port directly, as they would if it
  were exposed or behind a proxy that does not buffer (they send
  ``X-Forwarded-Proto: https``, as such a proxy would);
- **behind nginx**: nginx runs ``deploy/nginx/chatroom.conf`` (bench/serving.py renders it
  for free ports and a self-signed certificate) and clients speak HTTPS to it;
- **behind nginx, no slow clients**: the same without the slow connections, for reference.

``--slow`` connections are opened first and kept open for the whole side: half send
``GET <path> HTTP/1.1``, ``Host``, then ``X-a: b`` every 3 s and never finish the header;
half send a whole header for a 10,000-byte form post to the console's sign-in page and
then one byte of the body every 3 s. A connection the server drops is reopened at once.
After a second, normal requests (``GET --path``, each on a new connection) start at
``--rate`` per second for ``--duration`` seconds; one that has no whole answer within
``--timeout`` seconds counts as failed. Printed per side: answered / sent, the median, p99
and maximum time of the answered ones, and how many workers gunicorn killed for hanging.
Results go to ``bench/out/slow-clients-<time>/`` (``results.json``, ``tables.md``, logs).
Only 127.0.0.1 is used; every process started is stopped in a ``finally`` block.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import serving  # noqa: E402

OUT = ROOT / "bench" / "out"
SIDES = ("gunicorn alone", "behind nginx", "behind nginx, no slow clients")
# What a proxy that does not buffer would pass on; without it, the app (DEBUG off)
# would redirect every plain-HTTP request to HTTPS.
FORWARDED = {"X-Forwarded-Proto": "https"}


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed_requests(port: int, args, *, tls, headers: dict[str, str]) -> list[dict]:
    """``--rate`` requests per second for ``--duration`` s, each in its own thread."""
    results: list[dict] = []
    lock = threading.Lock()

    def one(sent_at: float) -> None:
        started = time.monotonic()
        outcome = {"sent": sent_at}
        try:
            status, _, _ = serving.request(
                port, args.path, tls=tls, timeout=args.timeout, headers=headers
            )
            outcome.update(status=status, seconds=time.monotonic() - started)
        except OSError as exc:
            outcome.update(error=type(exc).__name__, seconds=time.monotonic() - started)
        with lock:
            results.append(outcome)

    threads = []
    start = time.monotonic()
    n = int(args.duration * args.rate)
    for i in range(n):
        due = start + i / args.rate
        time.sleep(max(0.0, due - time.monotonic()))
        thread = threading.Thread(target=one, args=(due - start,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(args.timeout + 5)
    return results


def summarise(results: list[dict], slow: list[serving.SlowClient], killed: int) -> dict:
    answered = [r["seconds"] for r in results if r.get("status") == 200]
    return {
        "sent": len(results),
        "answered": len(answered),
        "failed": len(results) - len(answered),
        "median_ms": _ms(statistics.median(answered) if answered else None),
        "p99_ms": _ms(percentile(answered, 0.99)),
        "max_ms": _ms(max(answered) if answered else None),
        "slow_connections_opened": sum(c.connections for c in slow),
        "slow_connections_dropped_by_server": sum(c.dropped for c in slow),
        "workers_killed": killed,
        "errors": sorted({r.get("error") or str(r.get("status")) for r in results} - {"200"}),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def warm_up(port: int, path: str, *, tls, headers, workers: int) -> None:
    """Every worker builds the schema once (about 2 s) before anything is timed."""
    for _ in range(3):
        threads = [
            threading.Thread(
                target=lambda: serving.request(port, path, tls=tls, headers=headers, timeout=30)
            )
            for _ in range(workers * 2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def run_side(side: str, args, env: dict, static_root: Path, run_dir: Path, tag: str) -> dict:
    gunicorn_log = run_dir / f"gunicorn-{tag}.log"
    gunicorn = serving.Gunicorn(env=env, log=gunicorn_log, workers=args.workers)
    nginx = None
    slow: list[serving.SlowClient] = []
    try:
        gunicorn.start()
        if side.startswith("behind nginx"):
            nginx = serving.Nginx(
                prefix=run_dir / f"nginx-{tag}",
                static_root=static_root,
                app_port=gunicorn.port,
                relay_port=serving.free_port(),
            ).start()
            port, tls, headers = nginx.https_port, nginx.tls, {}
        else:
            port, tls, headers = gunicorn.port, None, FORWARDED
        warm_up(port, args.path, tls=tls, headers=headers, workers=args.effective_workers)
        killed_before = gunicorn_log.read_text().count("WORKER TIMEOUT")
        if not side.endswith("no slow clients"):
            slow = serving.slow_clients(port, args.slow, tls=tls, extra_headers=headers)
            time.sleep(1)
        results = timed_requests(port, args, tls=tls, headers=headers)
        killed = gunicorn_log.read_text().count("WORKER TIMEOUT") - killed_before
        return summarise(results, slow, killed)
    finally:
        serving.stop_all(slow)
        if nginx is not None:
            nginx.stop()
        gunicorn.stop()


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    return str(value)


def spread(values: list) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    middle = statistics.median(present)
    if len(present) == 1:
        return fmt(middle)
    return f"{fmt(middle)} ({fmt(min(present))}-{fmt(max(present))})"


def tables(results: dict) -> str:
    args = results["args"]
    lines = [
        f"{args['slow']} slow connections, `GET {args['path']}` at {args['rate']}/s for "
        f"{args['duration']} s, {args['timeout']} s timeout; gunicorn "
        f"`deploy/gunicorn.conf.py` with {results['workers']} sync workers; "
        f"{len(results['runs'])} runs, median (min-max).",
        "",
        "| | answered / sent | median ms | p99 ms | max ms | gunicorn workers killed |",
        "|---|---|---|---|---|---|",
    ]
    for side in SIDES:
        rows = [run[side] for run in results["runs"]]
        lines.append(
            f"| {side} | {spread([r['answered'] for r in rows])} / "
            f"{spread([r['sent'] for r in rows])} | {spread([r['median_ms'] for r in rows])} | "
            f"{spread([r['p99_ms'] for r in rows])} | {spread([r['max_ms'] for r in rows])} | "
            f"{spread([r['workers_killed'] for r in rows])} |"
        )
    return "\n".join(lines) + "\n"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=20, help="slow connections (20)")
    parser.add_argument("--duration", type=float, default=30, help="seconds per side (30)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=2, help="normal requests per second (2)")
    parser.add_argument("--timeout", type=float, default=10, help="a normal request's (10 s)")
    parser.add_argument("--path", default="/api/schema/")
    parser.add_argument(
        "--workers", type=int, default=None, help="gunicorn workers (the conf's: 2 x cores + 1)"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if serving.nginx_binary() is None:
        raise SystemExit("nginx is not installed: apt-get install nginx")
    run_dir = OUT / f"slow-clients-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    run_dir.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="slow-clients-"))
    static_root = work / "static"
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{work / 'db.sqlite3'}"
    env = serving.production_env(static_root=static_root, database_url=database_url)
    log(f"Migrating {database_url.split('@')[-1]} and collecting static files ...")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    serving.collectstatic(env)
    workers = args.workers or (os.cpu_count() or 1) * 2 + 1
    args.effective_workers = workers
    results = {
        "args": {k: v for k, v in vars(args).items() if k != "effective_workers"},
        "workers": workers,
        "machine": {"cpus": os.cpu_count(), "load": os.getloadavg()},
        "runs": [],
    }
    for number in range(1, args.runs + 1):
        run = {}
        for side in SIDES:
            log(f"run {number}/{args.runs}: {side} ...")
            tag = f"{number}-{SIDES.index(side)}"
            run[side] = run_side(side, args, env, static_root, run_dir, tag)
            log(f"  {json.dumps(run[side])}")
        results["runs"].append(run)
    results["machine"]["load_after"] = os.getloadavg()
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    text = tables(results)
    (run_dir / "tables.md").write_text(text)
    print(text)
    log(f"Results in {run_dir}")


if __name__ == "__main__":
    main()
