"""pyproject.toml (pip, `make setup`) and environment.yml (conda) must install the same things.

Every dependency is pinned to one version in both files, so that everybody runs the course
on the versions it is tested on. (yaml comes with Jupyter: jupyter-events depends on it.)
"""

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = REPO_ROOT / "pyproject.toml"
ENVIRONMENT = REPO_ROOT / "environment.yml"
MAKEFILE = REPO_ROOT / "Makefile"

# conda-forge names that differ from the PyPI names.
CONDA_TO_PYPI = {"pytorch": "torch"}
# Entries that only the conda file needs: the interpreter and the pip that reads `pip:`.
CONDA_ONLY = {"python", "pip"}


def normalise(name: str) -> str:
    """PyPI's rule: case and runs of -, _ and . do not matter (scikit_learn == scikit-learn)."""
    name = re.sub(r"[-_.]+", "-", name).lower()
    return CONDA_TO_PYPI.get(name, name)


def parse_pin(requirement: str, where: str) -> tuple[str, str]:
    """'numpy==2.4.6' -> ('numpy', '2.4.6'); anything but an exact pin is an error."""
    match = re.fullmatch(r"\s*([A-Za-z0-9][\w.-]*)\s*==\s*([\w.+!-]+)\s*", requirement)
    if match is None:
        pytest.fail(f"{where}: {requirement!r} is not pinned as name==version")
    return normalise(match.group(1)), match.group(2)


def pyproject():
    with open(PYPROJECT, "rb") as file:
        return tomllib.load(file)


def environment():
    with open(ENVIRONMENT) as file:
        return yaml.safe_load(file)


def pyproject_pins() -> dict[str, str]:
    project = pyproject()["project"]
    requirements = project["dependencies"] + project.get("optional-dependencies", {}).get("dev", [])
    pins = dict(parse_pin(r, "pyproject.toml") for r in requirements)
    assert len(pins) == len(requirements), "a package appears twice in pyproject.toml"
    return pins


def conda_entries() -> tuple[dict[str, str], list[str]]:
    """(name -> version for conda and pip packages, other pip lines such as '-e .')."""
    pins, other = {}, []
    for entry in environment()["dependencies"]:
        if isinstance(entry, dict):
            for line in entry.get("pip", []):
                if line.startswith("-"):
                    other.append(line)
                else:
                    name, version = parse_pin(line, "environment.yml pip section")
                    assert name not in pins, f"{name} appears twice in environment.yml"
                    pins[name] = version
            continue
        name = normalise(re.split(r"[=<>!\s]", entry, maxsplit=1)[0])
        if name in CONDA_ONLY:
            continue
        name, version = parse_pin(entry, "environment.yml")
        assert name not in pins, f"{name} appears twice in environment.yml"
        pins[name] = version
    return pins, other


def conda_python() -> str:
    for entry in environment()["dependencies"]:
        if isinstance(entry, str) and normalise(re.split(r"[=<>!\s]", entry)[0]) == "python":
            return entry.split("=")[-1].strip()
    pytest.fail("environment.yml does not name a python version")


def test_same_packages_in_both_files():
    pip_pins, (conda_pins, _) = pyproject_pins(), conda_entries()
    only_pip = sorted(set(pip_pins) - set(conda_pins))
    only_conda = sorted(set(conda_pins) - set(pip_pins))
    assert not only_pip, f"in pyproject.toml but not in environment.yml: {only_pip}"
    assert not only_conda, f"in environment.yml but not in pyproject.toml: {only_conda}"


def test_same_versions_in_both_files():
    pip_pins, (conda_pins, _) = pyproject_pins(), conda_entries()
    differ = {
        name: (pip_pins[name], conda_pins[name])
        for name in sorted(set(pip_pins) & set(conda_pins))
        if pip_pins[name] != conda_pins[name]
    }
    assert not differ, f"versions differ (pyproject.toml, environment.yml): {differ}"


def test_environment_installs_course_utils():
    _, other = conda_entries()
    assert "-e ." in other, "environment.yml needs '- -e .' under pip: to install course_utils"


def test_python_versions_agree():
    allowed = SpecifierSet(pyproject()["project"]["requires-python"])
    python = conda_python()
    assert Version(python) in allowed, f"environment.yml python={python} is not {allowed}"
    default = re.search(r"^PYTHON\s*\?=\s*python(\d+\.\d+)\s*$", MAKEFILE.read_text(), re.M)
    assert default, "Makefile should set `PYTHON ?= python3.X`"
    assert default.group(1) == python, (
        f"Makefile uses python{default.group(1)}, environment.yml python={python}"
    )


def test_environment_name_and_comments():
    assert environment()["name"] == pyproject()["project"]["name"]
    uncommented = [
        line.strip()
        for line in ENVIRONMENT.read_text().splitlines()
        if line.strip().startswith("- ") and "#" not in line
    ]
    assert not uncommented, f"say why each dependency is there (a # comment): {uncommented}"


def test_no_deps_requirements_are_pinned_and_installed_by_make_setup():
    path = REPO_ROOT / "requirements-nodeps.txt"
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    pins = dict(parse_pin(line, path.name) for line in lines if line)
    assert pins, "requirements-nodeps.txt pins nothing"
    overlap = sorted(set(pins) & set(pyproject_pins()))
    assert not overlap, f"pinned in pyproject.toml and requirements-nodeps.txt: {overlap}"
    assert "pip install --no-deps -r requirements-nodeps.txt" in MAKEFILE.read_text()
    assert "--no-deps -r requirements-nodeps.txt" in ENVIRONMENT.read_text()
