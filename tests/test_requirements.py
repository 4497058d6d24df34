"""The lock files (README, "Dependencies"): requirements/lock.txt is what every test run
installs; requirements/runtime.txt, what production installs, must be the same versions
with the same hashes, and hold every runtime dependency of pyproject.toml in its range."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")
HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


def pins(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """Each pinned package's version and hashes."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for entry in re.split(r"\n(?=\S)", path.read_text()):
        if match := PIN.match(entry):
            name = canonicalize_name(match[1])
            found[name] = (match[2], frozenset(HASH.findall(entry)))
    return found


LOCK = pins(ROOT / "requirements" / "lock.txt")
RUNTIME = pins(ROOT / "requirements" / "runtime.txt")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_every_pin_has_hashes():
    assert LOCK and RUNTIME
    assert [name for name, (_, hashes) in {**LOCK, **RUNTIME}.items() if not hashes] == []


def test_production_installs_the_versions_the_tests_ran_on():
    assert {name: LOCK.get(name) for name in RUNTIME} == RUNTIME


@pytest.mark.parametrize(
    ("requirement", "locked"),
    [(line, LOCK) for extra in PROJECT["optional-dependencies"].values() for line in extra]
    + [(line, RUNTIME) for line in PROJECT["dependencies"]],
)
def test_each_dependency_is_locked_in_its_range(requirement, locked):
    wanted = Requirement(requirement)
    version, _ = locked.get(canonicalize_name(wanted.name), (None, None))

    assert version is not None, f"{wanted.name} is not locked: run `make lock`"
    assert wanted.specifier.contains(version), f"{wanted} is locked at {version}: `make lock`"


def test_each_dependency_has_an_upper_bound():
    lines = PROJECT["dependencies"] + [
        line for extra in PROJECT["optional-dependencies"].values() for line in extra
    ]

    unbounded = [
        line
        for line in lines
        if not any(spec.operator in ("<", "<=", "==", "~=") for spec in Requirement(line).specifier)
    ]

    assert unbounded == []
