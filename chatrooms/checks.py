"""System checks for a production deployment (``manage.py check --deploy``).

With ``DJANGO_DEBUG`` off the app names static files by their content hash, read from the
manifest that ``collectstatic`` writes. Without it, every page that links a static file
(the console's sign-in, the admin, ``/api/docs/``) answers 500 with "Missing staticfiles
manifest entry". The same problems are logged when the WSGI app starts (config/wsgi.py)
and fail ``/readyz`` (chatrooms/health.py), so an operator meets them whichever comes first.
"""

from __future__ import annotations

import logging

from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core import checks
from django.core.files.storage import storages

logger = logging.getLogger(__name__)

# collectstatic's default ignore patterns: files it never copies, so never in the manifest.
IGNORED = ["CVS", ".*", "*~"]
SHOWN = 5  # names listed in a message


def static_manifest_problems(storage=None) -> list[checks.Error]:
    """What is wrong with the static files manifest this process uses: missing, or
    missing some of the files the app ships (``collectstatic`` not run after an upgrade).
    Nothing when the storage does not use a manifest (``DJANGO_DEBUG=1``)."""
    storage = storage if storage is not None else storages["staticfiles"]
    if not isinstance(storage, ManifestFilesMixin):
        return []
    manifest = storage.manifest_storage.path(storage.manifest_name)
    fix = (
        "Run `python manage.py collectstatic --noinput` with the app's environment "
        f"(it writes to STATIC_ROOT, {storage.location}, set by DJANGO_STATIC_ROOT), "
        "then restart the app."
    )
    if not storage.hashed_files:
        state = (
            "is empty, or was written after this process loaded it"
            if storage.read_manifest() is not None
            else "does not exist"
        )
        return [
            checks.Error(
                f"The static files manifest {manifest} {state}. With DJANGO_DEBUG off every "
                "page that links a static file (the console's sign-in, /admin/, /api/docs/) "
                "answers 500 without it.",
                hint=fix,
                id="chatrooms.E001",
            )
        ]
    shipped = {path for finder in finders.get_finders() for path, _ in finder.list(IGNORED)}
    missing = sorted(shipped - storage.hashed_files.keys())
    if missing:
        return [
            checks.Error(
                f"{len(missing)} static files the app ships are not in the manifest "
                f"{manifest} (e.g. {', '.join(missing[:SHOWN])}): pages that link them "
                "answer 500.",
                hint=fix + " Do this after every upgrade.",
                id="chatrooms.E002",
            )
        ]
    return []


@checks.register(checks.Tags.staticfiles, deploy=True)
def check_static_manifest(app_configs=None, **kwargs):
    return static_manifest_problems()


def log_static_manifest_problems() -> None:
    """At start-up (config/wsgi.py): say what will fail, and how to fix it, before the
    first page does. The API (/bv/) does not need static files and keeps working."""
    for problem in static_manifest_problems():
        logger.error("%s %s (%s)", problem.msg, problem.hint, problem.id)
