"""The app's settings plus the bare-Django floor routes (bench/urls.py).

The same middleware, database and connection settings as production, so the
floor and the API differ only in what their views do.
"""

import warnings

from config.settings import *  # noqa: F403

# Static files are served from their app folders here (see STORAGES): no collectstatic.
warnings.filterwarnings("ignore", message="No directory at")

ROOT_URLCONF = "bench.urls"

# The console is measured in-process without collectstatic: find static files in place.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Rejected requests (a 4xx under load) are counted by the load tool; one log line
# per request would cost more than the request.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "ERROR"},
    "loggers": {"django": {"level": "ERROR"}},
}

# The floor stands for the API's endpoints written by hand, which live under /bv/: like
# them, its routes carry no Content-Security-Policy (nor build one).
CONTENT_SECURITY_POLICY = {
    **CONTENT_SECURITY_POLICY,  # noqa: F405
    "EXCLUDE_URL_PREFIXES": [*CONTENT_SECURITY_POLICY["EXCLUDE_URL_PREFIXES"], "/floor/"],  # noqa: F405
}
