"""The HTTP ceiling: a bare WSGI app answering ``{}`` to every request, served by
``bench/run.py`` under the same gunicorn settings as the API. Nothing the service
does per request can be faster than this on the same machine."""

BODY = b"{}"
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
