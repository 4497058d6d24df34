"""With DJANGO_DEBUG off and no collectstatic, pages answer 500: `check --deploy` says so.

Issue 13: `/moderation/sign-in/`, `/admin/login/` and `/api/docs/` answered 500 ("Missing
staticfiles manifest entry") until the operator guessed `collectstatic`, and
`check --deploy` was silent.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import ManifestStaticFilesStorage

from chatrooms.checks import IGNORED, static_manifest_problems

ROOT = Path(__file__).resolve().parent.parent.parent
PRODUCTION_SECRET = "x7!" + "k" * 60 + "Qz9#-production-like-secret"


def shipped_static_files() -> set[str]:
    return {path for finder in finders.get_finders() for path, _ in finder.list(IGNORED)}


def write_manifest(static_root: Path, names) -> None:
    """The manifest collectstatic would write, naming ``names`` (the hashed files
    themselves are not needed for the check)."""
    static_root.mkdir(parents=True, exist_ok=True)
    (static_root / "staticfiles.json").write_text(
        json.dumps({"paths": {name: name for name in names}, "version": "1.1", "hash": "x"})
    )


def check_deploy(static_root: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": PRODUCTION_SECRET,
            "DJANGO_ALLOWED_HOSTS": "chat.example.com",
            "DJANGO_STATIC_ROOT": str(static_root),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_fails_without_collectstatic_and_says_what_to_run(tmp_path):
    result = check_deploy(tmp_path / "never-collected")

    assert result.returncode != 0
    assert "chatrooms.E001" in result.stderr
    assert "collectstatic --noinput" in result.stderr
    assert str(tmp_path / "never-collected") in result.stderr


def test_check_deploy_passes_once_the_manifest_covers_every_shipped_file(tmp_path):
    write_manifest(tmp_path / "static", shipped_static_files())

    result = check_deploy(tmp_path / "static")

    assert result.returncode == 0, result.stderr


def test_a_manifest_missing_files_the_app_now_ships_is_an_error(tmp_path):
    """An upgrade that adds a static file, without collectstatic run again."""
    shipped = sorted(shipped_static_files())
    write_manifest(tmp_path, [name for name in shipped if name != "moderation/console.css"])

    [problem] = static_manifest_problems(ManifestStaticFilesStorage(location=tmp_path))

    assert problem.id == "chatrooms.E002"
    assert "moderation/console.css" in problem.msg
    assert "after every upgrade" in problem.hint


def test_a_missing_manifest_is_an_error_and_a_complete_one_is_not(tmp_path):
    [problem] = static_manifest_problems(ManifestStaticFilesStorage(location=tmp_path))
    assert problem.id == "chatrooms.E001"

    write_manifest(tmp_path, shipped_static_files())
    assert static_manifest_problems(ManifestStaticFilesStorage(location=tmp_path)) == []


def test_no_manifest_is_needed_when_static_files_are_served_in_place(settings):
    # The tests' own storage (tests/conftest.py), as with DJANGO_DEBUG=1.
    assert static_manifest_problems() == []


def test_the_web_app_logs_the_missing_manifest_when_it_starts(tmp_path):
    """What gunicorn's workers do first (config/wsgi.py): the journal says it before the
    first page answers 500. The app still starts: the API does not need static files."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    result = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": PRODUCTION_SECRET,
            "DJANGO_STATIC_ROOT": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "chatrooms.E001" in result.stderr
    assert "collectstatic --noinput" in result.stderr
