"""The app under gunicorn for the benchmarks, optionally profiled.

With BENCH_PROFILE=<folder>, every request a worker serves is sampled by
pyinstrument into one session per worker, written to <folder>/profile-<pid>.txt
(and .html) every BENCH_PROFILE_EVERY requests and when the worker exits. Use it
with sync workers: pyinstrument samples the thread that starts it.
"""

import atexit
import os
from pathlib import Path

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

application = get_wsgi_application()

_profile_dir = os.environ.get("BENCH_PROFILE")
if _profile_dir:
    from pyinstrument import Profiler

    _django_app = application
    _profiler = Profiler(interval=0.0005)
    _every = int(os.environ.get("BENCH_PROFILE_EVERY", "500"))
    _served = 0

    def _write() -> None:
        if _profiler.last_session is None:
            return
        stem = Path(_profile_dir) / f"profile-{os.getpid()}"
        stem.with_suffix(".txt").write_text(
            _profiler.output_text(unicode=True, show_all=False, short_mode=False)
        )
        stem.with_suffix(".html").write_text(_profiler.output_html())
        # The raw session, to render again: pyinstrument --load=<file> -r text --show-all
        _profiler.last_session.save(str(stem.with_suffix(".pyisession")))

    def application(environ, start_response):
        global _served
        _profiler.start()
        try:
            # Drain and close inside the profiled span: close() sends request_finished,
            # which is where Django returns or checks the database connection.
            response = _django_app(environ, start_response)
            body = list(response)
            if hasattr(response, "close"):
                response.close()
            return body
        finally:
            _profiler.stop()
            _served += 1
            if _served % _every == 0:
                _write()

    atexit.register(_write)
