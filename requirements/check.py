"""Fail, saying what to run, when the virtualenv installed from the lock does not give
pyproject.toml what it asks for (a dependency added or re-bounded without `make lock`).

Run by the Makefile after `pip install -r requirements/lock.txt`, with the virtualenv's
Python: `python requirements/check.py [extra ...]`.
"""

import sys
import tomllib
from importlib import metadata
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:  # pragma: no cover - pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def problems(requirement: Requirement, seen: set[str]) -> list[str]:
    """What is missing or out of range for one requirement, its extras included."""
    if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
        return []
    key = f"{requirement.name.lower()}{sorted(requirement.extras)}"
    if key in seen:
        return []
    seen.add(key)
    try:
        installed = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        return [f"{requirement}: not installed"]
    if not requirement.specifier.contains(installed, prereleases=True):
        return [f"{requirement}: {installed} is installed"]
    found = []
    for extra in requirement.extras:
        for line in metadata.requires(requirement.name) or []:
            needed = Requirement(line)
            if needed.marker is not None and needed.marker.evaluate({"extra": extra}):
                needed.marker = None
                found += problems(needed, seen)
    return found


def main(extras: list[str]) -> int:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    seen: set[str] = set()
    found = [text for line in lines for text in problems(Requirement(line), seen)]
    if found:
        print("requirements/lock.txt is out of date with pyproject.toml:", file=sys.stderr)
        for text in found:
            print(f"  {text}", file=sys.stderr)
        print("Run `make lock` and commit requirements/.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
