import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# With DJANGO_DEBUG off, pages need collectstatic's manifest: say so in the log at start-up
# (once per worker), before the first page answers 500 (chatrooms/checks.py).
from chatrooms.checks import log_static_manifest_problems  # noqa: E402

log_static_manifest_problems()
