"""Settings come from the environment, strictly."""

import os
import subprocess
import sys
from pathlib import Path

from tests.chatrooms.test_deploy_checks import shipped_static_files, write_manifest

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_secret_key_without_debug_is_a_startup_error():
    result = run_manage("check")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_malformed_boolean_is_a_startup_error():
    result = run_manage("check", DJANGO_DEBUG="maybe")

    assert result.returncode != 0
    assert "DJANGO_DEBUG must be a boolean" in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    # After collectstatic: without its manifest `check --deploy` fails (tests/chatrooms).
    write_manifest(tmp_path, shipped_static_files())
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY="x7!" + "k" * 60 + "Qz9#-production-like-secret",
        DJANGO_ALLOWED_HOSTS="chat.example.com",
        DJANGO_STATIC_ROOT=str(tmp_path),
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_seed_demo_is_refused_without_debug():
    result = run_manage("seed_demo", DJANGO_SECRET_KEY="s" * 60, DATABASE_URL="sqlite:///:memory:")

    assert result.returncode != 0
    assert "development only" in result.stderr


def test_malformed_rate_limit_is_a_startup_error():
    result = run_manage("check", DJANGO_DEBUG="1", CHATROOM_SEND_RATE="50 per 10 seconds")

    assert result.returncode != 0
    assert "CHATROOM_SEND_RATE must be '<count>/<seconds>s'" in result.stderr


def test_a_value_limit_below_one_largest_increment_is_a_startup_error():
    result = run_manage("check", DJANGO_DEBUG="1", CHATROOM_INCREMENT_VALUE_RATE="500/10s")

    assert result.returncode != 0
    assert "CHATROOM_INCREMENT_VALUE_RATE must allow at least one largest increment" in (
        result.stderr
    )


def test_unassigned_rooms_setting_takes_all_or_none_only():
    for value in ("all", "NONE"):
        result = run_manage("check", DJANGO_DEBUG="1", CHATROOM_CONSOLE_UNASSIGNED_ROOMS=value)
        assert result.returncode == 0, result.stderr
    result = run_manage("check", DJANGO_DEBUG="1", CHATROOM_CONSOLE_UNASSIGNED_ROOMS="some")

    assert result.returncode != 0
    assert "CHATROOM_CONSOLE_UNASSIGNED_ROOMS must be 'all' or 'none'" in result.stderr
