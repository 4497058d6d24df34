"""gunicorn for the chatroom service, behind nginx (deploy/nginx/chatroom.conf).

    cd /srv/chatroom && .venv/bin/gunicorn -c deploy/gunicorn.conf.py

Sync workers are safe here only because nginx reads each request whole and buffers each
response before gunicorn sees them: a sync worker serves one connection at a time, so a
client that sends its headers slowly holds a whole worker (docs/deploy.md, "Serving").
Never expose this port to clients directly.

Every value can be overridden from the environment (the variables below) or on the
command line (``--workers 4`` wins over this file).
"""

import multiprocessing
import os
from pathlib import Path

# The project folder, whatever the current directory is (systemd, a shell, the tests).
chdir = str(Path(__file__).resolve().parent.parent)
wsgi_app = "config.wsgi:application"

# Loopback only: nginx is the only client. 127.0.0.1:8000 is also where the broker's auth
# plugin calls the web app (CHATROOM_BROKER_AUTH_URL). A unix socket works too
# (GUNICORN_BIND=unix:/run/chatroom/gunicorn.sock, and the same in nginx's upstream).
bind = [
    address.strip()
    for address in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
    if address.strip()
]

# Requests are short and spend their time in Python and the database: the classic
# 2 x cores + 1 keeps the cores busy while some workers wait on PostgreSQL.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
# More than 1 switches to the gthread worker (each thread holds its own database
# connection, DATABASE_CONN_MAX_AGE).
threads = int(os.environ.get("GUNICORN_THREADS", "1"))

# A request still running after this long is stuck: its worker is killed and replaced.
# nginx's proxy_read_timeout (60 s) is longer, so nginx answers 504 only after that.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM or a reload (SIGHUP), requests in flight get this long to finish.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# nginx talks HTTP/1.0 to the upstream and closes after each request (sync workers do
# not keep connections alive); this only matters with gthread.
keepalive = 2

# nginx writes the access log (with the client's real address); gunicorn's would repeat
# every line with 127.0.0.1. Errors and worker restarts go to stderr (the journal).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# gunicorn's own lines (workers booting, timeouts) in the app's format: one JSON object
# per line unless DJANGO_LOG_FORMAT says text (docs/deploy.md, "Logs"). The default
# follows the app's: JSON unless DJANGO_DEBUG is on.
_debug = os.environ.get("DJANGO_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
if os.environ.get("DJANGO_LOG_FORMAT", "text" if _debug else "json") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            # Not propagated: in the workers Django's own root handler would repeat them.
            "gunicorn.error": {"handlers": ["json"], "propagate": False},
            "gunicorn.access": {"handlers": ["json"], "propagate": False},
        },
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "formatters": {"json": {"()": "chatrooms.logs.JsonFormatter"}},
    }

# Only nginx on this machine may set X-Forwarded-Proto / X-Forwarded-For for gunicorn.
# (Django trusts X-Forwarded-Proto itself only with DJANGO_BEHIND_TLS_PROXY=1.) For a
# unix socket bind, where there is no peer address, set FORWARDED_ALLOW_IPS='*'.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# gunicorn >= 25 opens a control socket under $HOME by default; two instances on one
# machine (tests, benchmarks) would fight over it, and nothing here uses it.
control_socket_disable = True

# The same bounds gunicorn has by default, stated: a request line or header this large
# is refused with 400 before any app code runs (nginx applies about the same bounds first).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# Prometheus multiprocess mode (chatrooms/metrics.py, docs/deploy.md "Metrics"): with
# PROMETHEUS_MULTIPROC_DIR set (chatroom-web.service sets it to its RuntimeDirectory,
# emptied at every start), each worker writes its figures to files there and /metrics
# adds them up. A worker that exits leaves its counters (they still count) and has its
# live gauges removed.


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
