"""Settings for the chatroom service.

Everything that differs between machines comes from the environment, read
through the strict helpers below: a malformed value is a start-up error, not a
silent default. With ``DJANGO_DEBUG`` off there is no fallback secret.
"""

import ipaddress
import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


class Rate(NamedTuple):
    """At most ``count`` per ``seconds``."""

    count: int
    seconds: int


def parse_rate(name: str, raw: str) -> Rate | None:
    """``"<count>/<seconds>s"`` (``"50/10s"``: 50 per 10 seconds), or ``"off"``."""
    value = raw.strip()
    if value == "off":
        return None
    match = re.fullmatch(r"(\d{1,9})/(\d{1,6})s", value)
    if not match or int(match[1]) < 1 or not 1 <= int(match[2]) <= 86400:
        raise ImproperlyConfigured(
            f"{name} must be '<count>/<seconds>s' with a count of at least 1 and 1 to 86400 "
            f"seconds (e.g. '50/10s'), or 'off'; got {raw!r}"
        )
    return Rate(int(match[1]), int(match[2]))


def env_rate(name: str, default: str) -> Rate | None:
    return parse_rate(name, os.environ.get(name, default))


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it, or set DJANGO_DEBUG=1 for local development."
        )
    SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production"

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    # The task queue that builds reports (docs/api.md, "Reports"): Django 6's tasks
    # framework (backported) and its database backend; `manage.py db_worker` runs them.
    "django_tasks",
    "django_tasks_db",
    "chatrooms",
    "moderation",
]

MIDDLEWARE = [
    # Before everything: every log line of the request carries its id (chatrooms/logs.py),
    # and every request is counted and timed by route (chatrooms/metrics.py).
    "chatrooms.logs.RequestIdMiddleware",
    "chatrooms.metrics.RequestMetricsMiddleware",
    # /metrics, for allowed callers only, before any host check or redirect.
    "chatrooms.metrics.MetricsEndpointMiddleware",
    # First: /healthz and /readyz are answered before any host check, redirect, session
    # or CSRF work (chatrooms/health.py).
    "chatrooms.health.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "chatrooms.middleware.RejectNulBytesMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-csp's, which skips building the policy for the prefixes it leaves out (/bv/).
    "chatrooms.middleware.CSPMiddleware",
    # Console pages may connect to the realtime link's broker (computed per request).
    "moderation.middleware.RealtimeConnectSrcMiddleware",
    # Last, as django-axes asks: it answers locked-out sign-ins.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# An SQLite file in the project folder unless DATABASE_URL says otherwise
# (postgres://user@host:5432/name uses psycopg 3).
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # Off by default: a SELECT 1 before every request costs ~10% of a write.
        # Without it, a connection broken by a database restart fails one request
        # (503, code 14) and is replaced at the end of that request.
        conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", False),
    )
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers (runserver is threaded) wait for the lock instead of failing:
    # IMMEDIATE transactions take the write lock up front, WAL lets readers continue.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Tests use a file too, not Django's shared in-memory database: the realtime
    # worker and the live server run beside the test in threads, and only a file gives
    # each its own connection with the locking above (in shared-cache memory a
    # concurrent write fails at once with "database table is locked").
    # One file per test process, so two runs at once never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"chatroom-test-{os.getpid()}.sqlite3")
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Shared by every worker when REDIS_URL is set (the auth-failure limits need
# that with more than one process); per-process memory otherwise.
REDIS_URL = env_str("REDIS_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic writes and nginx serves /static/ from (deploy/nginx/chatroom.conf).
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Report files (chatrooms.reports) go to the default storage: a folder here, or any
# django-storages backend put in its place. The report worker writes it, the web app
# reads it (deploy/systemd/chatroom-tasks.service: StateDirectory=chatroom).
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT") or BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

LOGIN_URL = "moderation:login"

# Staff sign-in (console and admin) against password guessing: django-axes. After
# DJANGO_SIGNIN_FAILURE_LIMIT wrong passwords for one username from one address, that
# pair is refused (429 and a page saying so) for DJANGO_SIGNIN_COOLOFF_MINUTES; the
# same account from another address, and other accounts behind the same NAT, are not.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("DJANGO_SIGNIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("DJANGO_SIGNIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "moderation/locked_out.html"
# The client's address as the API's brute-force limit sees it (proxy-aware).
AXES_CLIENT_IP_CALLABLE = "chatrooms.auth.client_address"
AXES_VERBOSE = False  # no banner in every command's output
LOGIN_REDIRECT_URL = "moderation:rooms"
LOGOUT_REDIRECT_URL = "moderation:login"

# Production hardening: on unless DEBUG, each overridable for a TLS-terminating proxy setup.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# Except the broker plugin's call, which comes over plain HTTP on loopback straight to
# gunicorn (CHATROOM_BROKER_AUTH_URL); nginx does not route /internal/ (deploy/).
SECURE_REDIRECT_EXEMPT = [r"^internal/"]
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content Security Policy for every page (console, admin, API docs): our own
# scripts and styles only, no inline code, no framing. The JSON API needs none.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/bv/"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],  # console pages add the broker (moderation.middleware)
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["chatrooms.auth.BearerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "chatrooms.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "chatrooms.api.schema.ChatroomAutoSchema",
    "UNAUTHENTICATED_USER": None,
    "UNICODE_JSON": True,
    "COMPACT_JSON": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Chatroom API",
    "DESCRIPTION": (
        "Wire-compatible implementation of the public `/bv/chatroom/v1` chatroom API. "
        "Every error body is a `google.rpc.Status` (`code`, `message`, `details`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/bv/chatroom/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PARSER_WHITELIST": ["chatrooms.api.parsers.BoundedJSONParser"],
    "ENUM_NAME_OVERRIDES": {
        "ChatStatus": "chatrooms.models.ChatStatus",
        "ChatMode": "chatrooms.models.ChatMode",
        "PollType": "chatrooms.models.PollType",
        "PollStatus": "chatrooms.models.PollStatus",
        "InteractionType": "chatrooms.models.InteractionType",
        "Role": "chatrooms.models.Role",
        "SendableInteractionType": "chatrooms.api.serializers.SENDABLE_CHOICES",
        "RoleOnInput": "chatrooms.api.serializers.ROLE_INPUT_CHOICES",
        "ChangeChatStatusAction": ["ACTION_ACTIVE", "ACTION_INACTIVE"],
        "ChangeChatroomPollAction": ["ACTION_START", "ACTION_CLOSE", "ACTION_ARCHIVE"],
    },
}

# Every process logs to stderr (the journal under systemd): one JSON object per line
# with the request's id (chatrooms/logs.py, docs/deploy.md "Logs"), or plain text,
# the default with DJANGO_DEBUG on.
DJANGO_LOG_FORMAT = env_str("DJANGO_LOG_FORMAT", "text" if DEBUG else "json")
if DJANGO_LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be json or text, got {DJANGO_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "chatrooms.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "chatrooms.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": DJANGO_LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    # Django's loggers reach the root's handler (one line each, one format); Django's
    # own console handler would print a second, unformatted copy with DEBUG on.
    "loggers": {"django": {"handlers": [], "propagate": True}},
}

# Errors (unhandled exceptions and ERROR log lines) to Sentry, only when SENTRY_DSN is
# set: without it sentry_sdk is not even imported. No personal data is sent (no user,
# address or cookies); each event carries the request's id as the tag request_id.
SENTRY_DSN = env_str("SENTRY_DSN") or None
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration()],
        environment=env_str("SENTRY_ENVIRONMENT", "production"),
        send_default_pii=False,
        traces_sample_rate=0.0,
    )

# /metrics (chatrooms/metrics.py, docs/deploy.md "Metrics"): answered only to these
# addresses or networks (a direct connection, not through nginx), or with
# "Authorization: Bearer <CHATROOM_METRICS_TOKEN>" when that is set.
CHATROOM_METRICS_ALLOWED_IPS = []
for _network in env_list("CHATROOM_METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"]):
    try:
        CHATROOM_METRICS_ALLOWED_IPS.append(ipaddress.ip_network(_network, strict=False))
    except ValueError:
        raise ImproperlyConfigured(
            f"CHATROOM_METRICS_ALLOWED_IPS: {_network!r} is not an address or network."
        ) from None
CHATROOM_METRICS_TOKEN = env_str("CHATROOM_METRICS_TOKEN") or None
if CHATROOM_METRICS_TOKEN and len(CHATROOM_METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("CHATROOM_METRICS_TOKEN must be at least 32 characters.")
# The realtime worker serves its own metrics on 127.0.0.1:<this port>; 0 turns it off.
CHATROOM_REALTIME_METRICS_PORT = env_int("CHATROOM_REALTIME_METRICS_PORT", 9108)

# --- The chatroom domain -------------------------------------------------------

# The largest request body the API reads (bytes); a larger one is 413 with code 8.
CHATROOM_MAX_BODY_BYTES = env_int("CHATROOM_MAX_BODY_BYTES", 64 * 1024)
# Forms and admin posts: Django's own bound.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024)

# Brute force: after this many failed API key / token / refresh attempts from one
# client address within the window, that address gets 429 (code 8) until the
# window ends. Other addresses are unaffected.
CHATROOM_AUTH_FAILURE_LIMIT = env_int("CHATROOM_AUTH_FAILURE_LIMIT", 20)
CHATROOM_AUTH_FAILURE_WINDOW_SECONDS = env_int("CHATROOM_AUTH_FAILURE_WINDOW_SECONDS", 60)

# Per-user limits in each room (issue 9, #4; docs/api.md "Limits"), per token subject,
# counted in fixed windows in the cache (shared by every process when REDIS_URL is set):
# messages sent, messages that carry a counter increment (taps), and the total those
# add. Far above what a person chatting or tapping does; "off" turns one off.
CHATROOM_SEND_RATE = env_rate("CHATROOM_SEND_RATE", "50/10s")
CHATROOM_INCREMENT_RATE = env_rate("CHATROOM_INCREMENT_RATE", "100/10s")
CHATROOM_INCREMENT_VALUE_RATE = env_rate("CHATROOM_INCREMENT_VALUE_RATE", "10000/10s")
if CHATROOM_INCREMENT_VALUE_RATE and CHATROOM_INCREMENT_VALUE_RATE.count < 10_000:
    raise ImproperlyConfigured(
        "CHATROOM_INCREMENT_VALUE_RATE must allow at least one largest increment (10000) "
        f"per window; got {CHATROOM_INCREMENT_VALUE_RATE.count}."
    )

# Defaults for a new room's message_setting (upstream exposes them read-only).
CHATROOM_MESSAGE_TTL = timedelta(seconds=env_int("CHATROOM_MESSAGE_TTL_SECONDS", 86400))
CHATROOM_BATCH_WINDOW = timedelta(milliseconds=env_int("CHATROOM_BATCH_WINDOW_MS", 1000))

# Chatroom tokens (JWT, HS256). The key "default" is CHATROOM_TOKEN_SECRET, or one
# derived from SECRET_KEY when that is unset (resolved in chatrooms.auth, so tests can
# change it).
CHATROOM_TOKEN_SECRET = env_str("CHATROOM_TOKEN_SECRET") or None
# Signing keys by id (the JWT header's kid): every key listed is accepted, the one
# CHATROOM_TOKEN_SIGNING_KEY_ID names signs. "kid:secret,kid:secret"; a bare "default"
# keeps the default key. Unset: the default key alone. A key left out is retired:
# everything it signed stops working (docs/api.md, "Revocation").
TOKEN_KEY_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}"
TOKEN_KEY_MIN_SECRET_LENGTH = 32
DEFAULT_TOKEN_KEY_ID = "default"


def parse_token_keys(raw: str | None, signing_key_id: str | None) -> tuple[dict, str]:
    """({kid: secret, or None for the default key}, the signing kid), or
    ImproperlyConfigured."""
    if raw is None or not raw.strip():
        if signing_key_id not in (None, "", DEFAULT_TOKEN_KEY_ID):
            raise ImproperlyConfigured(
                "CHATROOM_TOKEN_SIGNING_KEY_ID names a key, but CHATROOM_TOKEN_KEYS is not set."
            )
        return {DEFAULT_TOKEN_KEY_ID: None}, DEFAULT_TOKEN_KEY_ID
    keys: dict[str, str | None] = {}
    for entry in raw.split(","):
        kid, separator, secret = entry.strip().partition(":")
        if not re.fullmatch(TOKEN_KEY_ID_PATTERN, kid):
            raise ImproperlyConfigured(
                f"CHATROOM_TOKEN_KEYS: a key id is 1 to 32 letters, digits, '.', '_' or '-'; "
                f"got {kid!r}."
            )
        if kid in keys:
            raise ImproperlyConfigured(f"CHATROOM_TOKEN_KEYS names the key {kid!r} twice.")
        if kid.startswith(DEFAULT_TOKEN_KEY_ID + "-"):
            raise ImproperlyConfigured(
                f"CHATROOM_TOKEN_KEYS: ids starting with {DEFAULT_TOKEN_KEY_ID + '-'!r} are "
                f"reserved for the default key; got {kid!r}."
            )
        if not separator and kid == DEFAULT_TOKEN_KEY_ID:
            keys[kid] = None
            continue
        if len(secret) < TOKEN_KEY_MIN_SECRET_LENGTH:
            raise ImproperlyConfigured(
                f"CHATROOM_TOKEN_KEYS: the secret of {kid!r} must be at least "
                f"{TOKEN_KEY_MIN_SECRET_LENGTH} characters."
            )
        keys[kid] = secret
    if len(set(keys.values()) - {None}) != len([v for v in keys.values() if v is not None]):
        raise ImproperlyConfigured("CHATROOM_TOKEN_KEYS: two keys share a secret.")
    if not signing_key_id:
        if len(keys) != 1:
            raise ImproperlyConfigured(
                "CHATROOM_TOKEN_KEYS lists several keys: set CHATROOM_TOKEN_SIGNING_KEY_ID "
                "to the one that signs."
            )
        signing_key_id = next(iter(keys))
    if signing_key_id not in keys:
        raise ImproperlyConfigured(
            f"CHATROOM_TOKEN_SIGNING_KEY_ID {signing_key_id!r} is not in CHATROOM_TOKEN_KEYS."
        )
    return keys, signing_key_id


if CHATROOM_TOKEN_SECRET and len(CHATROOM_TOKEN_SECRET) < TOKEN_KEY_MIN_SECRET_LENGTH:
    raise ImproperlyConfigured(
        f"CHATROOM_TOKEN_SECRET must be at least {TOKEN_KEY_MIN_SECRET_LENGTH} characters."
    )
CHATROOM_TOKEN_KEYS, CHATROOM_TOKEN_SIGNING_KEY_ID = parse_token_keys(
    env_str("CHATROOM_TOKEN_KEYS"), env_str("CHATROOM_TOKEN_SIGNING_KEY_ID")
)
CHATROOM_TOKEN_TTL = timedelta(seconds=env_int("CHATROOM_TOKEN_TTL_SECONDS", 86400))
CHATROOM_REFRESH_TOKEN_TTL = timedelta(
    seconds=env_int("CHATROOM_REFRESH_TOKEN_TTL_SECONDS", 30 * 86400)
)
CHATROOM_TOKEN_ISSUER = env_str("CHATROOM_TOKEN_ISSUER", "chatroom")
CHATROOM_TENANT_ID = env_str("CHATROOM_TENANT_ID", "default")

# --- The realtime link (MQTT 5 through Mosquitto; docs/realtime.md) ---------------

# What GET /chatrooms/config tells clients. The upstream SDKs connect to
# wss://<endpoint>:443/mqtt, so ENDPOINT is a bare host name behind TLS; URL is our
# extension (connection.url) for clients that can connect anywhere.
CHATROOM_REALTIME_ENDPOINT = env_str("CHATROOM_REALTIME_ENDPOINT", "localhost")
if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", CHATROOM_REALTIME_ENDPOINT):
    raise ImproperlyConfigured(
        "CHATROOM_REALTIME_ENDPOINT must be a bare host name (no scheme, port or path): "
        f"the upstream SDKs always connect to port 443. Got {CHATROOM_REALTIME_ENDPOINT!r}."
    )
CHATROOM_REALTIME_AUTHORIZER = env_str("CHATROOM_REALTIME_AUTHORIZER", "chatroom-token")
# {room} is filled per room. Admins' topic.sub carries everything viewers get, plus
# what only admins see (blocked users' messages, viewers' messages in one-way rooms).
CHATROOM_TOPIC_SUB = env_str("CHATROOM_TOPIC_SUB", "chatrooms/{room}/messages")
CHATROOM_TOPIC_SUB_ADMIN = env_str("CHATROOM_TOPIC_SUB_ADMIN", "chatrooms/{room}/admin")
CHATROOM_TOPIC_PUB = env_str("CHATROOM_TOPIC_PUB", "chatrooms/{room}/inbox")
for _name in ("CHATROOM_TOPIC_SUB", "CHATROOM_TOPIC_SUB_ADMIN", "CHATROOM_TOPIC_PUB"):
    _topic = globals()[_name]
    if _topic.count("{room}") != 1 or re.search(r"[#+\x00]|^\$|\{(?!room\})", _topic):
        raise ImproperlyConfigured(
            f"{_name} must contain {{room}} once and no wildcard, '$' prefix or other "
            f"placeholder; got {_topic!r}."
        )
if len({CHATROOM_TOPIC_SUB, CHATROOM_TOPIC_SUB_ADMIN, CHATROOM_TOPIC_PUB}) != 3:
    raise ImproperlyConfigured("The three CHATROOM_TOPIC_* templates must differ.")

# The project's own broker (never the stock one on 1883): the server and worker
# connect over TCP; clients over WebSocket at /mqtt (behind nginx's TLS in production).
CHATROOM_BROKER_HOST = env_str("CHATROOM_BROKER_HOST", "127.0.0.1")
CHATROOM_BROKER_PORT = env_int("CHATROOM_BROKER_PORT", 1884)
CHATROOM_BROKER_WS_PORT = env_int("CHATROOM_BROKER_WS_PORT", 9001)
CHATROOM_REALTIME_URL = env_str(
    "CHATROOM_REALTIME_URL",
    f"ws://127.0.0.1:{CHATROOM_BROKER_WS_PORT}/mqtt"
    if DEBUG
    else f"wss://{CHATROOM_REALTIME_ENDPOINT}/mqtt",
)
# Shared by the broker plugin, the web app and the worker: the server's MQTT password
# and the key of the broker's calls to the auth endpoint. Derived from SECRET_KEY
# unless set.
CHATROOM_BROKER_SECRET = env_str("CHATROOM_BROKER_SECRET") or None
# Where the broker plugin asks whether a CONNECT may proceed (our /internal/ view).
CHATROOM_BROKER_AUTH_URL = env_str(
    "CHATROOM_BROKER_AUTH_URL", "http://127.0.0.1:8000/internal/realtime/auth"
)
# The worker: messages held in memory while PostgreSQL is away (beyond: dropped and
# counted), and the largest payload it reads.
CHATROOM_REALTIME_BUFFER_MESSAGES = env_int("CHATROOM_REALTIME_BUFFER_MESSAGES", 200_000)
CHATROOM_REALTIME_MAX_PAYLOAD_BYTES = env_int("CHATROOM_REALTIME_MAX_PAYLOAD_BYTES", 16 * 1024)
# How often a room's connected-viewer count may be broadcast (when viewer info is on).
CHATROOM_VIEWER_COUNT_INTERVAL = timedelta(
    seconds=env_int("CHATROOM_VIEWER_COUNT_INTERVAL_SECONDS", 5)
)

# --- Per-room moderators (moderation.access; docs/console.md) ------------------------
# What a Moderator assigned to no room sees in the console: "all" the rooms nobody is
# assigned to (as before assignments existed), or "none". Assigned Moderators see their
# rooms only; room admins and superusers see every room.
CHATROOM_CONSOLE_UNASSIGNED_ROOMS = (
    (env_str("CHATROOM_CONSOLE_UNASSIGNED_ROOMS", "all") or "").strip().lower()
)
if CHATROOM_CONSOLE_UNASSIGNED_ROOMS not in ("all", "none"):
    raise ImproperlyConfigured(
        "CHATROOM_CONSOLE_UNASSIGNED_ROOMS must be 'all' or 'none', got "
        f"{os.environ.get('CHATROOM_CONSOLE_UNASSIGNED_ROOMS')!r}"
    )

# --- Reports (chatrooms.reports; docs/api.md, "Reports") ----------------------------
# The queue: rows in this same database, run by `manage.py db_worker` (make run,
# deploy/systemd/chatroom-tasks.service).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["reports"]}}
# How long a report's download link works after it is handed out.
CHATROOM_REPORT_LINK_TTL = timedelta(seconds=env_int("CHATROOM_REPORT_LINK_TTL_SECONDS", 3600))
# How long a built report's file is kept; older files are deleted by the worker.
CHATROOM_REPORT_RETENTION = timedelta(
    seconds=env_int("CHATROOM_REPORT_RETENTION_SECONDS", 7 * 86400)
)

# --- Housekeeping (chatrooms.housekeeping; docs/deploy.md, "Housekeeping") -----------
# How often the realtime worker runs a pass (0: never; then run `manage.py housekeeping`
# from a timer instead).
CHATROOM_HOUSEKEEPING_INTERVAL = timedelta(
    seconds=env_int("CHATROOM_HOUSEKEEPING_INTERVAL_SECONDS", 60)
)
# Rows per DELETE statement (each its own transaction).
CHATROOM_HOUSEKEEPING_BATCH = env_int("CHATROOM_HOUSEKEEPING_BATCH", 5000)
# How long the task queue's finished rows are kept.
CHATROOM_TASK_RESULT_RETENTION = timedelta(
    seconds=env_int("CHATROOM_TASK_RESULT_RETENTION_SECONDS", 14 * 86400)
)
# A report still RUNNING this long after it was requested is marked FAILED.
CHATROOM_REPORT_STUCK_AFTER = timedelta(
    seconds=env_int("CHATROOM_REPORT_STUCK_AFTER_SECONDS", 6 * 3600)
)

# --- Stickers (chatrooms.stickers; docs/api.md and docs/deploy.md, "Stickers") -------
# Where sticker images are kept: "local" (a folder under MEDIA_ROOT, uploads PUT to a
# signed, single-use URL of this app, images served by the app or by nginx under
# /media/stickers/public/) or "s3" (any S3-compatible bucket through django-storages;
# uploads PUT to a presigned URL of the bucket; needs the `s3` extra, boto3).
CHATROOM_STICKER_STORAGE = env_str("CHATROOM_STICKER_STORAGE", "local")
if CHATROOM_STICKER_STORAGE not in ("local", "s3"):
    raise ImproperlyConfigured("CHATROOM_STICKER_STORAGE must be 'local' or 's3'.")
MEDIA_URL = env_str("DJANGO_MEDIA_URL", "/media/")
if CHATROOM_STICKER_STORAGE == "s3":
    STORAGES["stickers"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("CHATROOM_STICKER_S3_BUCKET"),
            "endpoint_url": env_str("CHATROOM_STICKER_S3_ENDPOINT_URL") or None,
            "region_name": env_str("CHATROOM_STICKER_S3_REGION") or None,
            "access_key": env_str("CHATROOM_STICKER_S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("CHATROOM_STICKER_S3_SECRET_ACCESS_KEY") or None,
            # Public images through a CDN or public-read bucket by default; signed GET
            # links (which expire) when CHATROOM_STICKER_S3_SIGNED_URLS=1.
            "custom_domain": env_str("CHATROOM_STICKER_S3_CUSTOM_DOMAIN") or None,
            "querystring_auth": env_bool("CHATROOM_STICKER_S3_SIGNED_URLS", False),
            "file_overwrite": True,
        },
    }
    if not STORAGES["stickers"]["OPTIONS"]["bucket_name"]:
        raise ImproperlyConfigured("CHATROOM_STICKER_S3_BUCKET is required with s3 storage.")
else:
    STORAGES["stickers"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": MEDIA_URL},
    }
# How long an upload URL (local or presigned) works after it is handed out.
CHATROOM_STICKER_UPLOAD_TTL = timedelta(seconds=env_int("CHATROOM_STICKER_UPLOAD_TTL_SECONDS", 900))
# How long a sticker token (POST /stickerpacks/tokens) works.
CHATROOM_STICKER_TOKEN_TTL = timedelta(
    seconds=env_int("CHATROOM_STICKER_TOKEN_TTL_SECONDS", 7 * 86400)
)
# What an image may be: bytes, pixels per side, animation frames (GIF).
CHATROOM_STICKER_MAX_BYTES = env_int("CHATROOM_STICKER_MAX_BYTES", 1024 * 1024)
CHATROOM_STICKER_MAX_DIMENSION = env_int("CHATROOM_STICKER_MAX_DIMENSION", 512)
CHATROOM_STICKER_MAX_FRAMES = env_int("CHATROOM_STICKER_MAX_FRAMES", 60)
# The longest side of the served sizes (each no larger than the original).
CHATROOM_STICKER_THUMBNAIL_SIZES = [
    int(size) for size in env_list("CHATROOM_STICKER_THUMBNAIL_SIZES", ["512", "128", "64"])
]
# Counts: packs in all, stickers per pack, stickers per batch-upload call.
CHATROOM_STICKER_MAX_PACKS = env_int("CHATROOM_STICKER_MAX_PACKS", 100)
CHATROOM_STICKER_MAX_PER_PACK = env_int("CHATROOM_STICKER_MAX_PER_PACK", 100)
CHATROOM_STICKER_MAX_BATCH = env_int("CHATROOM_STICKER_MAX_BATCH", 20)
