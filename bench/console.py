#!/usr/bin/env python3
"""Time the moderation console's heaviest pages in-process, on the bench database.

    DJANGO_SETTINGS_MODULE=bench.settings DATABASE_URL=... \
        python bench/console.py --hot-room ID [--requests 50] [--json out.json]

Django's test ``Client`` signed in as a superuser requests each page
``--requests`` times after a few warm-up requests; the time is the whole
request through the middleware and the template, measured server-side (no
network, no browser). The query count comes from one more request under
``CaptureQueriesContext``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

WARMUP = 3
USERNAME = "bench-superuser"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(client: Client, url: str, requests: int) -> dict:
    for _ in range(WARMUP):
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}")
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return {
        "url": url,
        "requests": requests,
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "max_ms": round(max(times), 1),
        "queries": len(captured.captured_queries),
        "bytes": len(response.content),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hot-room", required=True)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    user_model = get_user_model()
    user = user_model.objects.filter(username=USERNAME).first()
    if user is None:
        user = user_model.objects.create_superuser(USERNAME, password=None)
    client = Client()
    client.force_login(user)

    pages = {
        "rooms": reverse("moderation:rooms"),
        "hot room": reverse("moderation:room", kwargs={"room_id": args.hot_room}),
        "audit log": reverse("moderation:audit"),
    }
    results = {name: measure(client, url, args.requests) for name, url in pages.items()}
    for name, result in results.items():
        print(
            f"{name:<10} median {result['median_ms']:>7.1f} ms  p95 {result['p95_ms']:>7.1f} ms"
            f"  queries {result['queries']:>3}  {result['bytes']:>8,} bytes"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
