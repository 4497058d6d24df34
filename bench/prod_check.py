#!/usr/bin/env python3
"""Bring the production stack up on this machine from the files in deploy/, and check it.

    make prod-check            # or: .venv/bin/python bench/prod_check.py [--keep]

What runs is what an operator installs (README.md, "Deploy"; docs/deploy.md):

- the environment file ``deploy/chatroom.env``, its values for this machine replaced (free
  ports on 127.0.0.1, a fresh secret, a temporary STATIC_ROOT, a fresh PostgreSQL database);
- the one-off commands of the Deploy section through ``deploy/manage.sh``: ``check --deploy``
  (which must fail before ``collectstatic``), ``migrate``, ``collectstatic``,
  ``createsuperuser``, ``create_api_key``;
- the five units in ``deploy/systemd/``: each one's ``ExecStart`` command line, run as
  systemd would run it (its ``WorkingDirectory``, only its ``EnvironmentFile`` and
  systemd's default PATH, ``/srv/chatroom`` read as this checkout, the web unit's
  ``Type=notify`` answered through a ``NOTIFY_SOCKET``), after ``systemd-analyze verify``
  when this machine has it;
- nginx with the shipped site (``deploy/nginx/chatroom.conf``) in front of them, rendered
  by bench/serving.py for the same ports and a self-signed certificate.

Then probes through nginx over HTTPS: health and readiness, the sign-in page and its
static files, the admin and API docs pages, a room created with the API key, a viewer
token reading its state, two MQTT clients over wss://…/mqtt (one sends, the worker stores,
the other receives), a report built by the task worker and downloaded by its signed
link, a normal request with 20 slow connections open, and /readyz failing
once the broker is stopped. Each probe prints one line; the last line is
``prod-check: N passed, N failed`` and the exit status is 1 if any failed.

PostgreSQL: ``--admin-url`` (or ``PROD_CHECK_ADMIN_URL``; default
``postgres://postgres@127.0.0.1:5432/postgres``, a superuser) creates the database and
drops it at the end. The role split is applied by ``deploy/postgres/roles.sql`` when the
checkout has it: the check then creates an owner and an app role for this run with it
(before and after ``migrate``, as its header says), migrates as the owner and runs
everything else as the app role, and drops both roles at the end. Without that file the
superuser plays both roles.

The one-off commands go through ``deploy/manage.sh`` (the environment file, with the
owner's ``DATABASE_URL`` given over it for ``migrate``), as the README runs them.

Every process started is stopped in a ``finally`` block; the working folder (logs,
rendered units) is removed unless ``--keep`` or a probe failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import serving  # noqa: E402

ENV_FILE = ROOT / "deploy" / "chatroom.env"
ROLES_SQL = ROOT / "deploy" / "postgres" / "roles.sql"
UNITS = ROOT / "deploy" / "systemd"
INSTALLED_ROOT = "/srv/chatroom"
INSTALLED_ENV_FILE = "/etc/chatroom/chatroom.env"
BROKER_RUNTIME_DIR = "/run/chatroom-broker"
# What systemd gives a service besides its EnvironmentFile.
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST = serving.HOST
API = "/bv/chatroom/v1"
WAIT = 20.0  # seconds for anything to come up or arrive; waits end once satisfied
SLOW_CONNECTIONS = 20
ANSWER_WITHIN = 10.0


def say(line: str) -> None:
    print(line, flush=True)


# --- Probes -------------------------------------------------------------------------


@dataclass
class Probes:
    passed: int = 0
    failed: list[str] = field(default_factory=list)

    def run(self, name: str, check: Callable[[], str | None], *, fatal: bool = False):
        """Run one probe; print ``ok``/``FAIL``, its detail and its time. A fatal probe's
        failure stops the check (what follows needs it)."""
        started = time.monotonic()
        try:
            detail = check()
        except Exception as exc:  # any failure is the probe's
            ms = (time.monotonic() - started) * 1000
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            say(f"FAIL  {name}  ({ms:,.0f} ms): {reason}")
            if os.environ.get("PROD_CHECK_TRACEBACK"):
                traceback.print_exc()
            self.failed.append(name)
            if fatal:
                raise Stop(name) from exc
            return None
        ms = (time.monotonic() - started) * 1000
        say(f"ok    {name}  ({ms:,.0f} ms)" + (f": {detail}" if detail else ""))
        self.passed += 1
        return detail


class Stop(Exception):
    """A probe that later ones depend on failed."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def wait_until(predicate: Callable[[], object], what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
        except Stop:  # a process it waits for exited: no use waiting longer
            raise
        except Exception as exc:  # not yet
            last, result = exc, None
        if result:
            return result
        time.sleep(0.2)
    raise TimeoutError(f"{what} within {timeout:.0f} s" + (f" (last: {last})" if last else ""))


# --- The environment file and the units -------------------------------------------------


def parse_env_file(path: Path) -> dict[str, str]:
    """systemd's EnvironmentFile format as deploy/chatroom.env uses it: KEY=value lines,
    '#' comments, optional quotes."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path.name}: not KEY=value: {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def render_unit(text: str, *, env_file: Path, runtime: Path) -> str:
    """A shipped unit for this machine: the project is this checkout, the environment
    file and the broker's runtime directory are in the working folder."""
    for installed, here in (
        (INSTALLED_ENV_FILE, str(env_file)),
        (BROKER_RUNTIME_DIR, str(runtime)),
        (INSTALLED_ROOT, str(ROOT)),
    ):
        text = text.replace(installed, here)
    return text


def exec_start(unit: dict[str, dict[str, list[str]]]) -> list[str]:
    [command] = unit["Service"]["ExecStart"]
    hostname = socket.gethostname()
    return [arg.replace("%H", hostname) for arg in shlex.split(command)]


# --- Processes ------------------------------------------------------------------------


@dataclass
class Service:
    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    def start(self, extra_env: dict[str, str] | None = None) -> Service:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env={**self.env, **(extra_env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            serving.stop_group(self.process)

    def tail(self) -> str:
        return serving.tail(self.log, 15)


def notify_socket(path: Path) -> socket.socket:
    """What systemd listens on for a Type=notify service."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    return sock


def wait_ready(sock: socket.socket, service: Service) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if not service.alive():
            raise RuntimeError(f"{service.name} exited:\n{service.tail()}")
        with contextlib.suppress(TimeoutError):
            message = sock.recv(4096).decode()
            if "READY=1" in message.split("\n"):
                return message.replace("\n", "; ")
    raise TimeoutError(f"{service.name} sent no READY=1 within {WAIT:.0f} s:\n{service.tail()}")


# --- PostgreSQL -----------------------------------------------------------------------


@dataclass
class Database:
    name: str
    admin_url: str  # a superuser, connected to this database
    owner_url: str  # runs migrate
    app_url: str  # everything else (the environment file's DATABASE_URL)
    roles: tuple[str, str] | None  # (owner, app) when roles.sql made them


def _url(url: str, *, user: str | None = None, database: str | None = None) -> str:
    parts = urllib.parse.urlsplit(url)
    if user is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{user}@{host}")
    if database is not None:
        parts = parts._replace(path=f"/{database}")
    return urllib.parse.urlunsplit(parts)


@contextlib.contextmanager
def fresh_database(admin_url: str):
    """A new database on the server of ``admin_url`` (a superuser's), dropped at the end.
    With deploy/postgres/roles.sql in the checkout, its two roles are made for this run
    (and dropped after); without it, the superuser plays both."""
    import psycopg

    name = f"chatroom_prod_check_{os.getpid()}"
    roles = (f"{name}_owner", f"{name}_app") if ROLES_SQL.exists() else None

    def drop(conn) -> None:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for role in roles or ():
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')

    with psycopg.connect(admin_url, autocommit=True) as conn:
        drop(conn)
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _url(admin_url, database=name)
    try:
        yield Database(
            name=name,
            admin_url=url,
            owner_url=_url(url, user=roles[0]) if roles else url,
            app_url=_url(url, user=roles[1]) if roles else url,
            roles=roles,
        )
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            drop(conn)


def redis_answers(port: int = 6379) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# --- The check ------------------------------------------------------------------------


class ProdCheck:
    def __init__(self, args, work: Path, database: Database):
        self.args, self.work = args, work
        self.probes = Probes()
        self.ports = {
            "gunicorn": serving.free_port(),
            "worker_metrics": serving.free_port(),
            "broker": serving.free_port(),
            "relay": serving.free_port(),
        }
        self.static_root = work / "static"
        self.runtime = work / "run" / "chatroom-broker"
        self.services: dict[str, Service] = {}
        self.nginx: serving.Nginx | None = None
        self.database = database

    # The environment file: the shipped one, this machine's values replaced.
    def environment(self) -> str:
        shipped = parse_env_file(ENV_FILE)
        gunicorn = f"{HOST}:{self.ports['gunicorn']}"
        machine = {
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": f"{HOST},localhost",
            "DJANGO_CSRF_TRUSTED_ORIGINS": f"https://{HOST}",
            "DJANGO_STATIC_ROOT": str(self.static_root),
            "DJANGO_MEDIA_ROOT": str(self.work / "media"),
            "DATABASE_URL": self.database.app_url,
            "CHATROOM_REALTIME_ENDPOINT": "localhost",
            "GUNICORN_BIND": gunicorn,
            "CHATROOM_BROKER_AUTH_URL": f"http://{gunicorn}/internal/realtime/auth",
            "CHATROOM_BROKER_PORT": str(self.ports["broker"]),
            "CHATROOM_BROKER_WS_PORT": str(self.ports["relay"]),
            "CHATROOM_REALTIME_METRICS_PORT": str(self.ports["worker_metrics"]),
        }
        unknown = machine.keys() - shipped.keys()
        expect(not unknown, f"deploy/chatroom.env does not list {sorted(unknown)}")
        env = {**shipped, **machine, "GUNICORN_WORKERS": str(self.args.workers)}
        if redis_answers():
            # A database of its own on the machine's Redis.
            env["REDIS_URL"] = "redis://127.0.0.1:6379/13"
            note = "Redis on 6379 (database 13)"
        else:
            del env["REDIS_URL"]
            note = "no Redis on 6379: per-process cache"
        self.env_file = self.work / "chatroom.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        # What a unit's process gets: the environment file and systemd's own few.
        self.base_env = {"PATH": SYSTEMD_PATH, "HOME": str(self.work), "LANG": "C.UTF-8"}
        self.env = {**env, **self.base_env}
        return f"{len(shipped)} settings from deploy/chatroom.env, {len(machine)} replaced; {note}"

    def manage(self, *args: str, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
        """A one-off command of the Deploy section, as the README runs it: through
        deploy/manage.sh, which reads the environment file (``extra`` wins over it)."""
        result = subprocess.run(
            [str(ROOT / "deploy" / "manage.sh"), *args],
            cwd=self.work,
            env={**self.base_env, "CHATROOM_ENV_FILE": str(self.env_file), **extra},
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"manage.py {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
        return result

    def apply_roles(self) -> str:
        """deploy/postgres/roles.sql as its header says to run it, for this run's roles."""
        psql = shutil.which("psql")
        expect(psql is not None, "psql is not installed (apt-get install postgresql-client)")
        owner, app = self.database.roles
        result = subprocess.run(
            [
                psql,
                "-q",
                "-X",
                "-d",
                self.database.admin_url,
                "-v",
                f"owner={owner}",
                "-v",
                f"app={app}",
                "-f",
                str(ROLES_SQL),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        expect(result.returncode == 0, f"roles.sql: {result.stdout}{result.stderr}")
        return f"owner {owner}, app {app} (the app's DATABASE_URL)"

    def units(self) -> str:
        folder = self.work / "units"
        folder.mkdir()
        self.unit_files = {}
        for path in sorted(UNITS.iterdir()):
            rendered = folder / path.name
            rendered.write_text(
                render_unit(path.read_text(), env_file=self.env_file, runtime=self.runtime)
            )
            self.unit_files[path.name] = rendered
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            return f"{len(self.unit_files)} units rendered (no systemd-analyze on this machine)"
        result = subprocess.run(
            [analyze, "verify", *map(str, self.unit_files.values())],
            capture_output=True,
            text=True,
            timeout=60,
        )
        output = (result.stdout + result.stderr).strip()
        expect(result.returncode == 0 and not output, f"systemd-analyze verify: {output}")
        return f"systemd-analyze verify: {len(self.unit_files)} units clean"

    def service(self, unit_name: str) -> Service:
        unit = parse_unit(self.unit_files[unit_name].read_text())
        service_section = unit["Service"]
        [env_file] = service_section["EnvironmentFile"]
        expect(env_file == str(self.env_file), f"{unit_name}: EnvironmentFile is {env_file}")
        expect(
            "User" in service_section and "Restart" in service_section,
            f"{unit_name}: no User= or Restart=",
        )
        [cwd] = service_section["WorkingDirectory"]
        runtime_dirs = {}
        for directory in service_section.get("RuntimeDirectory", []):
            expect(
                directory in ("chatroom-broker", "chatroom-web-metrics"),
                f"{unit_name}: RuntimeDirectory {directory}",
            )
            runtime_dirs[f"/run/{directory}"] = here = self.work / "run" / directory
            here.mkdir(parents=True, exist_ok=True)
            here.chmod(0o700)
        # The unit's own Environment= lines, its runtime directories in the work folder.
        extra = {}
        for assignment in service_section.get("Environment", []):
            key, _, value = assignment.partition("=")
            for installed, here in runtime_dirs.items():
                value = value.replace(installed, str(here))
            extra[key] = value
        name = unit_name.removesuffix(".service")
        service = Service(
            name=name,
            argv=exec_start(unit),
            cwd=Path(cwd),
            env={**self.env, **extra},
            log=self.work / f"{name}.log",
        )
        self.services[name] = service
        return service

    def start_web(self) -> str:
        service = self.service("chatroom-web.service")
        expect(
            parse_unit(self.unit_files["chatroom-web.service"].read_text())["Service"]["Type"]
            == ["notify"],
            "the web unit is Type=notify",
        )
        path = self.work / "notify.sock"
        sock = notify_socket(path)
        try:
            service.start({"NOTIFY_SOCKET": str(path)})
            message = wait_ready(sock, service)
        finally:
            sock.close()
        expect(serving.listening(self.ports["gunicorn"]), "gunicorn is not listening")
        return f"{shlex.join(service.argv)} -> {message}"

    def start_listening(self, unit: str, port: int) -> str:
        service = self.service(unit).start()
        wait_until(
            lambda: self._alive_and(service, serving.listening(port)),
            f"{service.name} listening on {port}",
        )
        return f"{shlex.join(service.argv)} -> listening on {port}"

    def start_worker(self) -> str:
        service = self.service("chatroom-realtime.service").start()
        wait_until(
            lambda: self._alive_and(service, "connected to the broker" in service.log.read_text()),
            "the worker connected to the broker",
        )
        return f"{shlex.join(service.argv)} -> connected to the broker"

    def start_tasks(self) -> str:
        service = self.service("chatroom-tasks.service").start()
        wait_until(
            lambda: self._alive_and(service, "Starting worker" in service.log.read_text()),
            "the task worker started",
        )
        return f"{shlex.join(service.argv)} -> waiting for tasks"

    @staticmethod
    def _alive_and(service: Service, condition: bool) -> bool:
        if not service.alive():
            raise Stop(f"{service.name} exited:\n{service.tail()}")
        return condition

    def start_nginx(self) -> str:
        self.nginx = serving.Nginx(
            prefix=self.work / "nginx",
            static_root=self.static_root,
            app_port=self.ports["gunicorn"],
            relay_port=self.ports["relay"],
        ).start()
        return f"https://{HOST}:{self.nginx.https_port} (deploy/nginx/chatroom.conf)"

    # --- HTTP through nginx

    def get(self, path: str, **kwargs):
        return serving.request(
            self.nginx.https_port, path, tls=self.nginx.tls, timeout=ANSWER_WITHIN, **kwargs
        )

    def api(self, method: str, path: str, credential: str, body: dict | None = None) -> dict:
        status, _, data = self.get(
            API + path,
            method=method,
            headers={"Authorization": f"Bearer {credential}", "Content-Type": "application/json"},
            body=json.dumps(body).encode() if body is not None else b"",
        )
        expect(status == 200, f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data)

    def probe_json(self, path: str, status: int) -> dict:
        got, _headers, data = self.get(path)
        body = json.loads(data)
        expect(got == status, f"{path}: {got} {body}")
        return body

    def run(self) -> None:
        p = self.probes
        p.run("environment file", self.environment, fatal=True)
        p.run("units", self.units, fatal=True)

        def deploy_check_fails_first() -> str:
            result = self.manage("check", "--deploy", check=False)
            expect(
                result.returncode != 0 and "chatrooms.E001" in result.stderr,
                f"check --deploy did not fail on the missing manifest: {result.stderr[-500:]}",
            )
            return "chatrooms.E001 (run collectstatic) before collectstatic"

        p.run("check --deploy fails without collectstatic", deploy_check_fails_first)
        if self.database.roles:
            p.run("roles.sql (before migrate)", self.apply_roles, fatal=True)
        # As the owner role (README "Deploy"): its URL given over the environment file's.
        p.run(
            "migrate as the owner",
            lambda: (
                self.manage(
                    "migrate", "--noinput", "-v0", DATABASE_URL=self.database.owner_url
                ).stdout.strip()
                or f"as {urllib.parse.urlsplit(self.database.owner_url).username}"
            ),
            fatal=True,
        )
        if self.database.roles:
            p.run("roles.sql (after migrate)", self.apply_roles, fatal=True)
        p.run(
            "collectstatic",
            lambda: (
                self.manage("collectstatic", "--noinput", "-v0")
                and f"{sum(1 for _ in self.static_root.rglob('*'))} files in STATIC_ROOT"
            ),
            fatal=True,
        )
        p.run(
            "check --deploy --fail-level WARNING",
            lambda: self.manage("check", "--deploy", "--fail-level", "WARNING").stdout.strip(),
        )
        password = secrets.token_urlsafe(16)
        p.run(
            "createsuperuser",
            lambda: (
                self.manage(
                    "createsuperuser",
                    "--noinput",
                    "--username",
                    "admin",
                    "--email",
                    "admin@example.com",
                    DJANGO_SUPERUSER_PASSWORD=password,
                )
                and None
            ),
            fatal=True,
        )

        def api_key() -> str:
            result = self.manage("create_api_key", "--name", "prod-check", "--created-by", "admin")
            self.key = result.stdout.strip()
            expect(
                re.fullmatch(r"crk_[0-9a-f]+_\S+", self.key) is not None,
                f"stdout is not only the key: {result.stdout!r}",
            )
            return f"printed once ({self.key[:12]}…); {result.stderr.strip()}"

        p.run("create_api_key", api_key, fatal=True)

        p.run("unit chatroom-web (gunicorn)", self.start_web, fatal=True)
        p.run(
            "unit chatroom-broker",
            lambda: self.start_listening("chatroom-broker.service", self.ports["broker"]),
            fatal=True,
        )
        p.run("unit chatroom-realtime", self.start_worker, fatal=True)
        p.run(
            "unit chatroom-wsrelay",
            lambda: self.start_listening("chatroom-wsrelay.service", self.ports["relay"]),
            fatal=True,
        )
        p.run("unit chatroom-tasks", self.start_tasks, fatal=True)
        p.run("nginx", self.start_nginx, fatal=True)

        p.run("GET /healthz through nginx", lambda: json.dumps(self.probe_json("/healthz", 200)))

        def ready() -> str:
            body = wait_until(lambda: self.probe_json("/readyz", 200), "/readyz 200")
            return ", ".join(f"{k} {v['status']}" for k, v in body["checks"].items())

        p.run("GET /readyz through nginx", ready)

        def direct_probes() -> str:
            # What systemd-side or local monitoring uses: gunicorn on loopback, plain HTTP.
            port = self.ports["gunicorn"]
            for path in ("/healthz", "/readyz"):
                status, _, _ = serving.request(port, path, timeout=ANSWER_WITHIN)
                expect(status == 200, f"{path} on gunicorn directly: {status}")
            return "200 over plain HTTP on 127.0.0.1 (no redirect, no host check)"

        p.run("/healthz and /readyz on gunicorn directly", direct_probes)
        p.run("sign-in page and its static files", self.sign_in_and_static)

        def pages() -> str:
            for path in ("/admin/login/", "/api/docs/"):
                status, _, _ = self.get(path)
                expect(status == 200, f"{path}: {status}")
            return "/admin/login/ 200, /api/docs/ 200"

        p.run("admin and API docs pages", pages)

        def room() -> str:
            self.room = self.api("POST", "/chatrooms", self.key, {})["chatroom"]["id"]
            return f"room {self.room}"

        p.run("create a room with the API key", room, fatal=True)

        def viewer_state() -> str:
            self.viewer = {}
            for subject in ("ann", "bob"):
                self.viewer[subject] = self.api(
                    "POST",
                    f"/chatrooms/{self.room}/tokens",
                    self.key,
                    {"role": "ROLE_VIEWER", "subject": subject, "name": subject.title()},
                )["token"]
            state = self.api("GET", "/chatrooms", self.viewer["ann"])["chatroom"]
            expect(state["id"] == self.room, f"the viewer read {state['id']}")
            return f"status {state['status']}"

        p.run("a viewer token reads the room's state", viewer_state, fatal=True)
        p.run("MQTT over wss through nginx: sent, stored, received", self.realtime)
        p.run("a report built by the task worker, downloaded through nginx", self.report)
        p.run("/metrics on gunicorn from loopback, 404 through nginx", self.metrics)
        p.run("the realtime worker's metrics on its loopback port", self.worker_metrics)
        p.run("a request's id in its response and its JSON log line", self.request_id)
        p.run(
            f"{SLOW_CONNECTIONS} slow connections do not delay a normal request", self.slow_clients
        )

        def broker_down() -> str:
            self.services["chatroom-broker"].stop()
            body = wait_until(lambda: self.probe_json("/readyz", 503), "/readyz 503")
            failing = {
                k: v.get("error") for k, v in body["checks"].items() if v["status"] == "fail"
            }
            expect(failing.keys() == {"broker"}, f"failing: {failing}")
            expect(self.probe_json("/healthz", 200)["status"] == "ok", "/healthz")
            return f"503, broker: {failing['broker']}; /healthz still 200"

        p.run("/readyz 503 once the broker is stopped", broker_down)

    def metrics(self) -> str:
        status, headers, body = serving.request(self.ports["gunicorn"], "/metrics")
        expect(status == 200, f"/metrics on gunicorn: {status}")
        expect(headers["content-type"].startswith("text/plain"), f"{headers['content-type']}")
        text = body.decode()
        # Requests by URL pattern name (the room id is not a label), from every worker.
        for needle in (
            'chatroom_http_requests_total{method="POST",route="chatroom_api:chatrooms",'
            'status="200"}',
            'chatroom_http_requests_total{method="GET",route="/healthz",status="200"}',
        ):
            expect(needle in text, f"no {needle}")
        expect(self.room not in text, "a room id is a label value")
        # Every worker's requests in one answer (multiprocess mode): 12 requests spread
        # over the workers add exactly 12, whichever worker answers the scrape.
        healthz = 'chatroom_http_requests_total{method="GET",route="/healthz",status="200"}'

        def count() -> float:
            _, _, body = serving.request(self.ports["gunicorn"], "/metrics")
            return float(
                next(
                    line for line in body.decode().splitlines() if line.startswith(healthz)
                ).rsplit(" ", 1)[1]
            )

        before = count()
        for _ in range(12):
            serving.request(self.ports["gunicorn"], "/healthz")
        expect(count() == before + 12, f"12 requests added {count() - before}")
        status, _, _ = self.get("/metrics")
        expect(status == 404, f"/metrics through nginx: {status}")
        return "200 with requests by route from 127.0.0.1 on gunicorn; 404 through nginx"

    def worker_metrics(self) -> str:
        def exported():
            _, _, body = serving.request(self.ports["worker_metrics"], "/metrics")
            values = dict(
                line.rsplit(" ", 1) for line in body.decode().splitlines() if line[:1] != "#"
            )
            received = float(values.get('chatroom_realtime_events_total{event="received"}', 0))
            accepted = float(values.get("chatroom_messages_accepted_total", 0))
            return (received, accepted) if received and accepted else None

        received, accepted = wait_until(exported, "the worker's counts on its metrics port")
        return f"received {received:.0f}, messages accepted {accepted:.0f}"

    def request_id(self) -> str:
        rid = f"prod-check-{secrets.token_hex(8)}"
        status, headers, _ = self.get(f"/no-such-page-{rid}", headers={"X-Request-ID": rid})
        expect(status == 404, f"{status}")
        expect(headers.get("x-request-id") == rid, f"X-Request-ID: {headers.get('x-request-id')}")

        def logged():
            for line in self.services["chatroom-web"].log.read_text().splitlines():
                if rid in line and line.startswith("{"):
                    entry = json.loads(line)
                    if entry.get("request_id") == rid:
                        return entry
            return None

        entry = wait_until(logged, "the web log line with the request id")
        lines = self.services["chatroom-web"].log.read_text().splitlines()
        not_json = [line for line in lines if not line.startswith("{")]
        expect(not not_json, f"{len(not_json)} web log lines are not JSON: {not_json[:3]}")
        _, headers, _ = self.get("/no-such-page")
        generated = headers.get("x-request-id", "")
        expect(re.fullmatch(r"[0-9a-f]{32}", generated) is not None, f"nginx's id {generated!r}")
        return (
            f"{entry['level']} {entry['message']!r}; without one, nginx's {generated}; "
            f"all {len(lines)} lines of the web unit JSON"
        )

    def sign_in_and_static(self) -> str:
        status, headers, page = self.get("/moderation/sign-in/")
        expect(status == 200, f"sign-in page: {status}")
        expect("max-age=" in headers.get("strict-transport-security", ""), "no HSTS")
        urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.decode())
        expect(bool(urls), "the sign-in page links no static file")
        for url in urls:
            expect(re.search(r"\.[0-9a-f]{12}\.", url) is not None, f"{url} has no hash")
            status, headers, body = self.get(url)
            expect(status == 200, f"{url}: {status}")
            expect(
                headers.get("cache-control") == "public, max-age=31536000, immutable",
                f"{url}: cache-control {headers.get('cache-control')}",
            )
            on_disk = self.static_root / url.removeprefix("/static/")
            expect(body == on_disk.read_bytes(), f"{url} is not the collected file")
        return f"200 with HSTS; {len(urls)} hashed static files from nginx, cached immutable"

    def realtime(self) -> str:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.subscribeoptions import SubscribeOptions

        clients = {}
        received: queue.Queue = queue.Queue()
        try:
            for subject in ("bob", "ann"):
                config = self.api("GET", "/chatrooms/config", self.viewer[subject])
                connection = config["connection"]
                client = mqtt.Client(
                    CallbackAPIVersion.VERSION2,
                    client_id=connection["client_id"],
                    protocol=mqtt.MQTTv5,
                    transport="websockets",
                )
                client.ws_set_options(path="/mqtt")
                client.tls_set_context(self.nginx.tls)
                # The upstream Android SDK's CONNECT username (docs/realtime.md).
                client.username_pw_set(
                    "username?"
                    + urllib.parse.urlencode(
                        {
                            "x-amz-customauthorizer-name": connection["authorizer"],
                            "x-amz-customauthorizer-signature": connection["signature"],
                            "x-token": connection["token"],
                        }
                    )
                )
                connacks: queue.Queue = queue.Queue()
                subacks: queue.Queue = queue.Queue()
                client.on_connect = lambda _c, _u, _f, rc, _p, q=connacks: q.put(rc)
                client.on_subscribe = lambda _c, _u, _m, codes, _p, q=subacks: q.put(codes)
                if subject == "bob":
                    client.on_message = lambda _c, _u, m: received.put(json.loads(m.payload))
                client.connect(HOST, self.nginx.https_port, keepalive=10, clean_start=True)
                client.loop_start()
                clients[subject] = (client, config)
                rc = connacks.get(timeout=WAIT)
                expect(not rc.is_failure, f"{subject}'s CONNECT through nginx: {rc}")
                if subject == "bob":
                    client.subscribe(config["topic"]["sub"], options=SubscribeOptions(qos=0))
                    [granted] = subacks.get(timeout=WAIT)
                    expect(not granted.is_failure, f"bob's SUBSCRIBE: {granted}")
            text = f"hello from prod-check {secrets.token_hex(4)}"
            ann, config = clients["ann"]
            ann.publish(
                config["topic"]["pub"],
                json.dumps({"type": "INTERACTION_TYPE_TEXT", "text_message": {"text": text}}),
                qos=0,
            )
            started = time.monotonic()

            def arrived():
                for message in received.get(timeout=WAIT):
                    if message.get("text_message", {}).get("text") == text:
                        return message
                return None

            message = wait_until(arrived, "bob received ann's message")
            seconds = time.monotonic() - started
            expect(message["user"]["id"] == "ann", f"sent by {message['user']}")
            stored = self.api("GET", "/chatrooms/messages", self.viewer["bob"])["messages"]
            expect(
                any(m.get("text_message", {}).get("text") == text for m in stored),
                "the message is not in the room's history",
            )
            return (
                f"ann -> bob in {seconds * 1000:,.0f} ms, stamped user ann, "
                "in GET /chatrooms/messages"
            )
        finally:
            for client, _config in clients.values():
                client.disconnect()
                client.loop_stop()

    def report(self) -> str:
        started = time.monotonic()
        body = {"type": "REPORT_TYPE_CHAT_HISTORIES", "time_zone": "Asia/Taipei"}
        report_id = self.api("POST", f"/chatrooms/{self.room}/reports", self.key, body)["id"]
        path = f"/chatrooms/{self.room}/reports/{report_id}"

        def finished():
            answer = self.api("GET", path, self.key)
            return answer if answer["status"] != "REPORT_STATUS_RUNNING" else None

        answer = wait_until(finished, "the report built")
        seconds = time.monotonic() - started
        expect(answer["status"] == "REPORT_STATUS_SUCCEEDED", f"report: {answer}")
        uri = urllib.parse.urlsplit(answer["uri"])
        expect(uri.scheme == "https", f"the uri is not https: {answer['uri']}")
        status, headers, data = self.get(f"{uri.path}?{uri.query}")
        expect(status == 200, f"download: {status} {data[:300]!r}")
        expect(headers.get("content-type", "").startswith("text/csv"), f"download: {headers}")
        text = data.decode("utf-8-sig")
        expect(text.startswith("Sent at (Asia/Taipei),"), f"header: {text[:200]!r}")
        rows = text.count("\n") - 1
        expect(rows >= 1, "the report has no message")
        forged, _, _ = self.get(f"{uri.path}?token=forged")
        expect(forged == 403, f"a forged link: {forged}")
        return f"built in {seconds * 1000:,.0f} ms, {rows} row(s) downloaded; a forged link 403"

    def slow_clients(self) -> str:
        slow = serving.slow_clients(self.nginx.https_port, SLOW_CONNECTIONS, tls=self.nginx.tls)
        try:
            started = time.monotonic()
            status, _, _ = self.get(
                f"{API}/chatrooms", headers={"Authorization": f"Bearer {self.viewer['ann']}"}
            )
            seconds = time.monotonic() - started
            expect(status == 200, f"GET /chatrooms: {status}")
            expect(
                all(c.is_alive() and c.dropped == 0 for c in slow),
                "nginx dropped a slow connection early",
            )
        finally:
            serving.stop_all(slow)
        return f"GET {API}/chatrooms answered in {seconds * 1000:,.0f} ms with them open"

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for name in (
            "chatroom-tasks",
            "chatroom-wsrelay",
            "chatroom-realtime",
            "chatroom-broker",
            "chatroom-web",
        ):
            if name in self.services:
                self.services[name].stop()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "PROD_CHECK_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL superuser's URL: creates and drops the check's database",
    )
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (3)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if serving.nginx_binary() is None:
        say("FAIL  nginx is not installed (apt-get install nginx; `make prod-check` does)")
        return 1
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="prod-check-"))
    # Private, like /etc/chatroom and /run/chatroom-broker; nginx (as this user) reads it.
    work.chmod(0o700)
    say(f"prod-check: the production stack from deploy/ in {work}")
    check = None
    try:
        with fresh_database(args.admin_url) as database:
            check = ProdCheck(args, work, database)
            say(f"ok    database {database.name} created (dropped at the end)")
            check.probes.passed += 1
            try:
                check.run()
            except Stop:
                pass
            finally:
                check.stop()
    except Exception as exc:
        say(f"FAIL  prod-check could not run: {type(exc).__name__}: {exc}")
        traceback.print_exc()
        return 1
    probes = check.probes
    if probes.failed:
        say(f"Logs and rendered files kept in {work}:")
        for log in sorted(work.glob("*.log")):
            say(f"--- {log.name}\n{serving.tail(log, 20)}")
    elif not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    say(f"Took {time.monotonic() - started:.0f} s.")
    say(f"prod-check: {probes.passed} passed, {len(probes.failed)} failed")
    return 1 if probes.failed else 0


if __name__ == "__main__":
    sys.exit(main())
