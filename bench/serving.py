"""The production serving stack on this machine, from the files in ``deploy/``.

Used by ``bench/slow_clients.py`` and ``tests/test_serving.py``: gunicorn started with
``deploy/gunicorn.conf.py``, and nginx with ``deploy/nginx/chatroom.conf`` rendered for
free local ports (the values the shipped file names as the ones to adapt are replaced,
each exactly once, so what runs is the shipped file), under a tiny main configuration
that keeps nginx's pid, logs and temporary files in a private folder and runs it as the
current user. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# Also used as serving.free_port / serving.stop_group by prod_check and the tests.
from bench.run import HOST, free_port, stop_group

ROOT = Path(__file__).resolve().parent.parent
SITE_CONF = ROOT / "deploy" / "nginx" / "chatroom.conf"
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
START_TIMEOUT = 30.0


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


def wait_listening(port: int, process: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}):\n{tail(log)}")
        if listening(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {START_TIMEOUT} s:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and localhost), valid for a day."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def client_tls(cert: Path) -> ssl.SSLContext:
    """Trusts exactly the test certificate, and speaks HTTP/1.1 (no ALPN)."""
    return ssl.create_default_context(cafile=str(cert))


def render_site(
    *,
    https_port: int,
    http_port: int,
    app: str,
    relay: str,
    static_root: Path,
    cert: Path,
    key: Path,
) -> str:
    """deploy/nginx/chatroom.conf with the values to adapt replaced for this machine."""
    text = SITE_CONF.read_text()
    replacements = [
        ("listen 443 ssl http2;", f"listen {HOST}:{https_port} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("listen 80;", f"listen {HOST}:{http_port};"),
        ("listen [::]:80;", ""),
        ("server 127.0.0.1:8000;", f"server {app};"),
        ("server 127.0.0.1:9001;", f"server {relay};"),
        ("ssl_certificate /etc/ssl/chatroom/fullchain.pem;", f"ssl_certificate {cert};"),
        ("ssl_certificate_key /etc/ssl/chatroom/privkey.pem;", f"ssl_certificate_key {key};"),
        ("alias /srv/chatroom/staticfiles/;", f"alias {static_root}/;"),
    ]
    for old, new in replacements:
        count = text.count(old)
        if count != 1:
            raise ValueError(f"{SITE_CONF.name}: expected {old!r} once, found it {count} times")
        text = text.replace(old, new)
    return text


MAIN_CONF = """\
# Test-only main configuration: everything in {prefix}, the shipped site included.
{user}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    include {mime_types};
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    include {prefix}/chatroom.conf;
}}
"""


def mime_types() -> Path:
    for candidate in (Path("/etc/nginx/mime.types"), Path("/usr/local/nginx/conf/mime.types")):
        if candidate.exists():
            return candidate
    raise RuntimeError("nginx's mime.types was not found")


@dataclass
class Nginx:
    """nginx in the foreground with the shipped site, in its own folder."""

    prefix: Path
    static_root: Path
    app_port: int
    relay_port: int
    https_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def start(self) -> Nginx:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx)")
        self.prefix.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = make_certificate(self.prefix)
        (self.prefix / "chatroom.conf").write_text(
            render_site(
                https_port=self.https_port,
                http_port=self.http_port,
                app=f"{HOST}:{self.app_port}",
                relay=f"{HOST}:{self.relay_port}",
                static_root=self.static_root,
                cert=self.cert,
                key=self.key,
            )
        )
        # As root, nginx's workers would otherwise become "nobody", who cannot read a
        # private temporary folder.
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = self.prefix / "nginx.conf"
        conf.write_text(MAIN_CONF.format(prefix=self.prefix, user=user, mime_types=mime_types()))
        log = self.prefix / "error.log"
        command = [binary, "-p", str(self.prefix), "-c", str(conf), "-e", str(log)]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
        if checked.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{checked.stderr}")
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_listening(self.https_port, self.process, "nginx", log)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            # SIGQUIT: a graceful stop; stop_group's SIGTERM follows if it lingers.
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
            stop_group(self.process)

    @property
    def tls(self) -> ssl.SSLContext:
        return client_tls(self.cert)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def production_env(*, static_root: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The app as production runs it: debug off, behind nginx's TLS."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": env.get("DJANGO_SECRET_KEY") or "serving-test-only-key",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_BEHIND_TLS_PROXY": "1",
            "DJANGO_STATIC_ROOT": str(static_root),
            "DATABASE_URL": database_url,
            **extra,
        }
    )
    return env


def collectstatic(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )


@dataclass
class Gunicorn:
    """gunicorn with deploy/gunicorn.conf.py, bound to a free local port."""

    env: dict[str, str]
    log: Path
    workers: int | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        env = dict(self.env, GUNICORN_BIND=f"{HOST}:{self.port}")
        if self.workers is not None:
            env["GUNICORN_WORKERS"] = str(self.workers)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_listening(self.port, self.process, "gunicorn", self.log)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- Clients ----------------------------------------------------------------------


def connect(port: int, tls: ssl.SSLContext | None, timeout: float) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=timeout)
    if tls is not None:
        sock = tls.wrap_socket(sock, server_hostname=HOST)
    return sock


def request(
    port: int,
    path: str,
    *,
    tls: ssl.SSLContext | None = None,
    timeout: float = 10.0,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request on a fresh connection: (status, headers, body).
    Raises OSError (socket.timeout included) when no whole answer came within
    ``timeout`` seconds."""
    if tls is None:
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    else:
        conn = http.client.HTTPSConnection(HOST, port, timeout=timeout, context=tls)
    deadline = time.monotonic() + timeout
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        if time.monotonic() > deadline:
            raise TimeoutError(f"answered after more than {timeout} s")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


class SlowClient(threading.Thread):
    """One slow connection, kept up until ``stop()``: reconnects when the server drops it.

    ``kind="headers"``: ``GET <path> HTTP/1.1``, ``Host``, then ``X-a: b`` every
    ``interval`` seconds, never the blank line that ends the header (issue 9's attack).
    ``kind="body"``: a whole header announcing a form post of 10,000 bytes to the
    console's sign-in page (with an Origin and a CSRF cookie that pass Django's first
    CSRF checks, so the app goes on to read the body), then one byte of it every
    ``interval`` seconds.
    """

    BODY_BYTES = 10_000

    def __init__(
        self,
        port: int,
        *,
        kind: str,
        tls: ssl.SSLContext | None = None,
        interval: float = 3.0,
        path: str = "/api/schema/",
        extra_headers: dict[str, str] | None = None,
    ):
        super().__init__(daemon=True)
        assert kind in ("headers", "body")
        self.port, self.kind, self.tls, self.interval, self.path = port, kind, tls, interval, path
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in (extra_headers or {}).items())
        self.stopping = threading.Event()
        self.connected = threading.Event()  # the first connection is open
        self.connections = 0  # opened, reconnections included
        self.dropped = 0  # closed by the server (nginx's 408, gunicorn killing a worker)
        self.sock: socket.socket | None = None

    def _pieces(self):
        if self.kind == "headers":
            yield f"GET {self.path} HTTP/1.1\r\n".encode()
            yield f"Host: {HOST}\r\n{self.extra}".encode()
            while True:
                yield b"X-a: b\r\n"
        else:
            yield (
                f"POST /moderation/sign-in/ HTTP/1.1\r\nHost: {HOST}\r\n"
                f"Origin: https://{HOST}\r\nCookie: csrftoken={'a' * 32}\r\n{self.extra}"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {self.BODY_BYTES}\r\n\r\n"
            ).encode()
            for _ in range(self.BODY_BYTES):
                yield b"a"

    @staticmethod
    def _closed_by_server(sock: socket.socket) -> bool:
        """Whether the server answered (a 408) or closed: either way it is done with us.
        TLS 1.3 session tickets also make the socket readable; they are not an answer."""
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        sock.settimeout(0)
        try:
            sock.recv(4096)
            return True
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except OSError:
            return True
        finally:
            sock.settimeout(10)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                sock = connect(self.port, self.tls, timeout=10)
            except OSError:
                self.stopping.wait(0.2)
                continue
            self.sock = sock
            self.connections += 1
            try:
                for piece in self._pieces():
                    if self._closed_by_server(sock):
                        self.dropped += 1
                        break
                    sock.sendall(piece)
                    self.connected.set()
                    if self.stopping.wait(self.interval):
                        break
            except (OSError, ssl.SSLError):
                self.dropped += 1
            finally:
                with contextlib.suppress(OSError):
                    sock.close()

    def stop(self) -> None:
        self.stopping.set()
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


def slow_clients(
    port: int,
    count: int,
    *,
    tls: ssl.SSLContext | None = None,
    interval: float = 3.0,
    extra_headers: dict[str, str] | None = None,
) -> list[SlowClient]:
    """``count`` slow connections, half trickling headers and half a body; returns once
    each has sent its first bytes."""
    clients = [
        SlowClient(
            port,
            kind="headers" if i % 2 == 0 else "body",
            tls=tls,
            interval=interval,
            extra_headers=extra_headers,
        )
        for i in range(count)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.connected.wait(10)
    return clients


def stop_all(clients: list[SlowClient]) -> None:
    for client in clients:
        client.stop()
    for client in clients:
        client.join(5)
