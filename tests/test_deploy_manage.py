"""deploy/manage.sh: manage.py with the units' environment file (README "Deploy")."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "manage.sh"
PRINT = "from django.conf import settings as s; print(s.CHATROOM_TENANT_ID, s.DEBUG)"


def run(env_file: Path, **caller: str) -> subprocess.CompletedProcess:
    # What a shell started by `sudo -u chatroom` has: no DJANGO_* variables of its own.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CHATROOM_"))}
    return subprocess.run(
        [str(SCRIPT), "shell", "-v", "0", "-c", PRINT],
        cwd="/",
        env={**clean, "CHATROOM_ENV_FILE": str(env_file), **caller},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_reads_the_environment_file_and_the_caller_wins(tmp_path):
    env_file = tmp_path / "chatroom.env"
    env_file.write_text(
        "# a comment\n\nDJANGO_DEBUG=1\nCHATROOM_TENANT_ID=from-the-file\nDJANGO_LOG_LEVEL=ERROR\n"
    )

    assert run(env_file).stdout.split() == ["from-the-file", "True"]
    assert run(env_file, CHATROOM_TENANT_ID="from-the-caller").stdout.split() == [
        "from-the-caller",
        "True",
    ]


def test_it_refuses_a_line_that_is_not_key_value(tmp_path):
    env_file = tmp_path / "chatroom.env"
    env_file.write_text("DJANGO_DEBUG=1\nexport X=1\n")

    result = run(env_file)

    assert result.returncode == 1
    assert "not KEY=value: export X=1" in result.stderr
    assert "cannot read" in run(tmp_path / "missing.env").stderr
