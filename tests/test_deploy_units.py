"""The systemd units and the environment file in deploy/ (issue 13, #4).

`make prod-check` (bench/prod_check.py, run by CI) starts each unit's ExecStart with the
environment file as systemd would; these tests check the files themselves: that systemd
accepts them (`systemd-analyze verify`, when this machine has it), that each runs the
right command as the dedicated user with restarts and hardening, and that the
environment file names only settings the app reads.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.prod_check import ENV_FILE, ROOT, UNITS, exec_start, parse_env_file, parse_unit

ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")

SERVICES = {
    "chatroom-web.service": [
        "/srv/chatroom/.venv/bin/gunicorn",
        "-c",
        "/srv/chatroom/deploy/gunicorn.conf.py",
    ],
    "chatroom-realtime.service": [
        "/srv/chatroom/.venv/bin/python",
        "/srv/chatroom/manage.py",
        "realtime",
    ],
    "chatroom-broker.service": [
        "/srv/chatroom/.venv/bin/python",
        "/srv/chatroom/manage.py",
        "broker",
    ],
    "chatroom-tasks.service": [
        "/srv/chatroom/.venv/bin/python",
        "/srv/chatroom/manage.py",
        "db_worker",
        "--queue-name",
        "reports",
    ],
    "chatroom-wsrelay.service": [
        "/srv/chatroom/.venv/bin/python",
        "/srv/chatroom/manage.py",
        "wsrelay",
    ],
}
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "SystemCallFilter": "@system-service",
}


def rendered(folder: Path, *, root: Path = ROOT) -> list[Path]:
    """The units with /srv/chatroom read as ``root``, so that systemd-analyze finds the
    executables they name."""
    paths = []
    for unit in sorted(UNITS.iterdir()):
        path = folder / unit.name
        path.write_text(unit.read_text().replace("/srv/chatroom", str(root)))
        paths.append(path)
    return paths


def verify(paths: list[Path]) -> str:
    result = subprocess.run(
        [ANALYZE, "verify", *map(str, paths)], capture_output=True, text=True, timeout=60
    )
    return f"{result.returncode} {result.stdout}{result.stderr}".strip()


@needs_systemd
def test_systemd_accepts_every_unit(tmp_path):
    assert verify(rendered(tmp_path)) == "0"


@needs_systemd
def test_the_verification_would_notice_a_wrong_path_or_a_misspelt_option(tmp_path):
    for name in ("moved", "typo"):
        (tmp_path / name).mkdir()
    assert "is not executable" in verify(rendered(tmp_path / "moved", root=tmp_path / "nowhere"))
    typo = rendered(tmp_path / "typo")
    web = tmp_path / "typo" / "chatroom-web.service"
    web.write_text(web.read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    assert "Unknown key" in verify(typo)


@needs_systemd
def test_each_units_exposure_is_low(tmp_path):
    for path in rendered(tmp_path):
        if path.suffix != ".service":
            continue
        result = subprocess.run(
            [ANALYZE, "security", "--offline=true", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if "--offline" in result.stderr:
            pytest.skip("this systemd-analyze has no --offline")
        [score] = re.findall(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
        # systemd's scale: 0 (locked down) to 10 (exposed); "OK" is below 2.
        assert float(score) < 2.0, (path.name, result.stdout[-2000:])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_unit_runs_its_command_as_the_chatroom_user_and_restarts(name):
    unit = parse_unit((UNITS / name).read_text())
    service = unit["Service"]

    assert exec_start(unit)[: len(SERVICES[name])] == SERVICES[name]
    assert service["User"] == service["Group"] == ["chatroom"]
    assert service["EnvironmentFile"] == ["/etc/chatroom/chatroom.env"]
    assert service["WorkingDirectory"] == ["/srv/chatroom"]
    assert service["Restart"] == ["always"]
    assert {key: service[key][0] for key in HARDENING} == HARDENING
    assert unit["Install"]["WantedBy"] == ["chatroom.target"]
    assert name in parse_unit((UNITS / "chatroom.target").read_text())["Unit"]["Wants"][0]


def test_the_broker_writes_its_configuration_where_systemd_lets_it():
    service = parse_unit((UNITS / "chatroom-broker.service").read_text())["Service"]

    # ProtectSystem=strict leaves only the runtime directory writable.
    assert service["RuntimeDirectory"] == ["chatroom-broker"]
    assert exec_start({"Service": service})[-2:] == ["--config-dir", "/run/chatroom-broker"]


def test_the_environment_file_names_only_settings_the_app_reads():
    read = set()
    for source in (ROOT / "config" / "settings.py", ROOT / "deploy" / "gunicorn.conf.py"):
        read |= set(
            re.findall(
                r"""(?:env_\w+|os\.environ\.get)\(\s*["']([A-Z_]+)["']""", source.read_text()
            )
        )
    env = parse_env_file(ENV_FILE)
    commented = set(re.findall(r"^#([A-Z_]+)=", ENV_FILE.read_text(), re.M))

    assert (env.keys() | commented) - read == set()
    # What production cannot do without (the rest have defaults).
    assert {
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "DATABASE_URL",
        "DJANGO_DEBUG",
        "DJANGO_BEHIND_TLS_PROXY",
        "DJANGO_STATIC_ROOT",
    } <= env.keys()
    assert env["DJANGO_DEBUG"] == "0"
