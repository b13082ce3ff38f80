"""environment.yml (conda, for learners) and pyproject.toml (pip, for CI) must list the same packages."""

import re
import sys
from pathlib import Path

import pytest
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAME = {"torch": "pytorch"}  # PyPI name -> conda-forge name, where they differ
PIP_ONLY = {"tomli"}  # backports that conda's python>=3.10 pin does not need to list
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*([<>=!~][^;]*)?\s*(;.*)?$")


def parse(requirement: str) -> tuple[str, str]:
    """'numpy>=1.24' -> ('numpy', '>=1.24'), names lower-cased with '_' as '-'."""
    match = REQUIREMENT.match(requirement)
    assert match, f"cannot parse requirement {requirement!r}"
    return match.group(1).lower().replace("_", "-"), (match.group(2) or "").replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + project["optional-dependencies"]["test"]
    pairs = [parse(line) for line in lines]
    return {CONDA_NAME.get(name, name): spec for name, spec in pairs if name not in PIP_ONLY}


def environment_requirements() -> tuple[dict[str, str], list]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            pip.extend(entry.get("pip", []))
        else:
            name, spec = parse(entry)
            conda[name] = spec
    return conda, pip


def test_same_packages_and_lower_bounds():
    conda, _ = environment_requirements()
    conda.pop("python"), conda.pop("pip")
    assert conda == pyproject_requirements()


def test_python_floor_agrees():
    conda, _ = environment_requirements()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert conda["python"] == project["requires-python"]


def test_conda_installs_the_package_itself_with_pip():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    _, pip = environment_requirements()
    assert pip == ["-e ."]


@pytest.mark.parametrize("line,expected", [("numpy>=1.24", ("numpy", ">=1.24")),
                                           ("Foo_Bar == 2", ("foo-bar", "==2")),
                                           ("tqdm", ("tqdm", ""))])
def test_parse(line, expected):
    assert parse(line) == expected
