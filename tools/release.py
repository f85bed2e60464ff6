"""Build what is handed out to students: the graded and the open-book editions.

    python tools/release.py --lesson 05_guided_backprop   # graded edition for lesson 05
    python tools/release.py --open                        # open-book edition (self-study)
    python tools/release.py --open --url https://github.com/ORG/REPO   # another address

An edition is a folder under dist/ that can be pushed as a repository of its own, plus a
wheel of ``course_utils`` next to it (dist/<edition>-wheel/). The graded edition for lesson N
holds lessons 00 to N and a ``course_utils`` whose reference implementations of the graded
exercises of lessons N and later are left out: in ``course_utils`` such a body sits between

    # BEGIN EXERCISE 05_guided_backprop
    ...
    # END EXERCISE

and the edition replaces it with a ``raise NotImplementedError`` that names the lesson whose
exercise it is. The open-book edition holds every lesson and all of ``course_utils``. No edition
holds solutions/, hidden tests, wrong answers, the gradebook, tools/ or nbgrader's
configuration. The weights in data/ travel inside the package (course_utils/weights/), where
``course_utils.env.DATA_DIR`` finds them with importlib.resources.

The hidden tests compare against ``course_reference``: the full ``course_utils`` under another
name, installed in the instructor's copy and mounted by ``make grade``, never in an edition.
"""

from __future__ import annotations

import argparse
import ast
import functools
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO_ROOT / "course_utils"
DATA_DIR = REPO_ROOT / "data"
LESSONS_DIR = REPO_ROOT / "lessons"
DIST_DIR = REPO_ROOT / "dist"

BEGIN = re.compile(r"^(?P<indent>[ ]*)# BEGIN EXERCISE (?P<lesson>\d\d_\w+)\s*$")
END = re.compile(r"^[ ]*# END EXERCISE\s*$")


class ReleaseError(Exception):
    """Something in the repository does not allow building an edition (the message says what)."""


# --- the publication address ----------------------------------------------------------------


def publication() -> dict:
    """The address the editions are published at, from [tool.course.publish] in pyproject.toml:
    ``repository`` (an https GitHub address) and ``branch``."""
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    publish = config.get("tool", {}).get("course", {}).get("publish", {})
    if not publish.get("repository") or not publish.get("branch"):
        raise ReleaseError("pyproject.toml needs [tool.course.publish] repository and branch")
    return {"repository": publish["repository"].rstrip("/"), "branch": publish["branch"]}


# --- course_utils without the answers -------------------------------------------------------


def lesson_names() -> list[str]:
    return sorted(p.name for p in LESSONS_DIR.iterdir() if (p / f"{p.name}.ipynb").exists())


def exercise_regions(path: Path) -> list[tuple[int, int, str, str]]:
    """The marked exercise bodies of one module: (first line, last line, lesson, function),
    line numbers from 0, markers included.

    Raises:
        ReleaseError: a marker without its partner, a region outside a function, an unknown
            lesson.
    """
    lines = path.read_text().splitlines()
    functions = [
        node for node in ast.walk(ast.parse("\n".join(lines)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    known = set(lesson_names())
    regions, start = [], None
    for number, line in enumerate(lines):
        if match := BEGIN.match(line):
            if start is not None:
                raise ReleaseError(f"{path.name}:{number + 1}: BEGIN EXERCISE inside another")
            start, lesson = number, match["lesson"]
            if lesson not in known:
                raise ReleaseError(f"{path.name}:{number + 1}: no lesson {lesson!r} in lessons/")
        elif END.match(line):
            if start is None:
                raise ReleaseError(f"{path.name}:{number + 1}: END EXERCISE without a BEGIN")
            # The END line may follow the function's last statement (comments are not in
            # the syntax tree): a region belongs to the function whose body holds its BEGIN.
            owners = [f for f in functions if f.lineno - 1 < start < f.end_lineno]
            if len(line) - len(line.lstrip()) != len(lines[start]) - len(lines[start].lstrip()):
                raise ReleaseError(f"{path.name}:{number + 1}: END EXERCISE must be indented "
                                   "like its BEGIN")
            if not owners:
                raise ReleaseError(f"{path.name}:{start + 1}: an exercise must sit in a function")
            owner = max(owners, key=lambda f: f.lineno)  # the innermost
            regions.append((start, number, lesson, owner.name))
            start = None
    if start is not None:
        raise ReleaseError(f"{path.name}:{start + 1}: BEGIN EXERCISE without an END")
    return regions


def strip_module(path: Path, first_lesson: str | None) -> str:
    """The text of a module with the exercise bodies of ``first_lesson`` and later replaced by
    a ``raise``; every marker line removed (None keeps every body)."""
    lines = path.read_text().splitlines()
    out, drop_until = [], -1
    regions = {start: (end, lesson, name) for start, end, lesson, name in exercise_regions(path)}
    for number, line in enumerate(lines):
        if number <= drop_until:
            continue
        if number in regions:
            end, lesson, name = regions[number]
            if first_lesson is not None and lesson >= first_lesson:
                indent = BEGIN.match(line)["indent"]
                message = (f"{path.stem}.{name} is left out of this edition: it is part of an "
                           f"exercise of lesson {lesson}, which you write yourself in the "
                           "notebook.")
                pieces = textwrap.wrap(message, 70, drop_whitespace=False)
                out += [f"{indent}raise NotImplementedError(",
                        *(f'{indent}    "{piece}"' for piece in pieces), f"{indent})"]
                drop_until = end
            continue  # the BEGIN line of a body that stays
        if END.match(line):
            continue
        out.append(line)
    text = "\n".join(out) + "\n"
    compile(text, str(path), "exec")  # a marker in the wrong place must not ship broken code
    return text


def write_course_utils(dest: Path, first_lesson: str | None, weights: bool = True) -> Path:
    """Write ``course_utils`` into dest/course_utils with the exercise bodies of
    ``first_lesson`` and later left out (None: all kept), plus the weights as package data."""
    package = dest / "course_utils"
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    for path in sorted(PACKAGE_DIR.iterdir()):
        if path.suffix == ".py":
            (package / path.name).write_text(strip_module(path, first_lesson))
        elif path.name == "py.typed":
            shutil.copy2(path, package / path.name)
    if weights:
        shutil.copytree(DATA_DIR, package / "weights",
                        ignore=shutil.ignore_patterns(".*", "__pycache__"))
    return package


def write_reference(dest: Path) -> Path:
    """The full ``course_utils`` as the package ``course_reference`` (for grading)."""
    package = dest / "course_reference"
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        (package / path.name).write_text(strip_module(path, None))
    return package


# --- the publication address in the notebooks -----------------------------------------------

BADGE = re.compile(r"^\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)[ \t]*$", re.M)
SOURCE = re.compile(r'("COURSE_SOURCE",\s*)"[^"]*"')


def colab_url(address: dict, lesson: str) -> str:
    """The "Open in Colab" address of a lesson of the edition published at ``address``."""
    github = address["repository"].removeprefix("https://github.com/")
    return (f"https://colab.research.google.com/github/{github}/blob/{address['branch']}"
            f"/lessons/{lesson}/{lesson}.ipynb")


def install_source(address: dict) -> str:
    """What the notebooks' setup cell gives to pip in Colab."""
    return f"git+{address['repository']}@{address['branch']}"


def apply_address(nb, lesson: str, address: dict) -> bool:
    """Write the Colab badge (after the title of the first cell) and the setup cell's install
    source for ``address`` into a notebook; True when something changed. nbgrader's
    checksums of the two (locked) cells are updated."""
    from nbgrader.utils import compute_checksum

    badge = (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
             f"({colab_url(address, lesson)})")
    changed = False
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        before = cell.source
        if cell is nb.cells[0]:
            if BADGE.search(cell.source):
                cell.source = BADGE.sub(badge, cell.source, count=1)
            else:
                title, _, rest = cell.source.partition("\n")
                cell.source = f"{title}\n\n{badge}\n{rest}"
        elif meta.get("grade_id") == "setup":  # (tests/test_release.py checks it has one)
            cell.source = SOURCE.sub(rf'\g<1>"{install_source(address)}"', cell.source, count=1)
        if cell.source != before:
            changed = True
            if "checksum" in meta:
                meta["checksum"] = compute_checksum(cell)
    return changed


# --- an edition -----------------------------------------------------------------------------

# What the edition's pyproject asks for: the oldest versions the course is checked with
# (Colab's, tools/colab_versions.txt), so that pip installs nothing over Colab's own.
RUNTIME_PACKAGES = ("torch", "torchvision", "numpy", "matplotlib", "scipy", "scikit-learn",
                    "scikit-image", "tqdm", "ipywidgets")  # fmt: skip
# Never in an edition, whatever else changes (the release test checks the same list).
FORBIDDEN = ("solutions", "tools", "tests", "course_reference", "nbgrader_config.py",
             "gradebook.db", "grades", "autograded", "submitted", "feedback",
             "Makefile")  # fmt: skip


def colab_versions() -> dict[str, str]:
    versions = {}
    for line in (REPO_ROOT / "tools" / "colab_versions.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            versions[name.strip().lower()] = version.strip()
    return versions


def project_pins() -> dict[str, str]:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    pins = {}
    for requirement in config["project"]["dependencies"]:
        name, _, version = requirement.partition("==")
        pins[name.strip().lower()] = version.strip()
    return pins


def edition_pyproject(edition: str) -> str:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    oldest = colab_versions()
    dependencies = "\n".join(f'    "{name}>={oldest[name]}",' for name in RUNTIME_PACKAGES)
    return f"""\
# The course's helper package, as the edition "{edition}" hands it out.
# The lower bounds are the oldest versions the course is checked with (Google Colab's), so
# that installing it in Colab changes nothing there; requirements.txt pins the versions for
# a local setup.
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{config["name"]}"
version = "{config["version"]}"
description = "{config["description"]}"
readme = "README.md"
requires-python = ">=3.11"
license = {{ text = "MIT" }}
dependencies = [
{dependencies}
]

[tool.setuptools]
packages = ["course_utils"]

[tool.setuptools.package-data]
# The trained weights travel inside the package: course_utils.env.DATA_DIR finds them.
course_utils = ["py.typed", "weights/*"]
"""


def edition_requirements() -> str:
    pins = project_pins()
    keep = [name for name in pins if name not in ("nbgrader",)]
    lines = "\n".join(f"{name}=={pins[name]}" for name in keep)
    return ("# The versions the course is tested with, for a local setup (see README.md).\n"
            "# nbgrader is not needed to do the homework.\n" + lines + "\n")


def edition_readme(edition: str, lessons: list[str], address: dict, graded: str | None) -> str:
    rows = "\n".join(
        f"| {name[:2]} | [{titles(name)}](lessons/{name}/{name}.ipynb) | "
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(address, name)}) |" for name in lessons)  # fmt: skip
    if graded:
        about = (f"This is the **graded edition for lesson {graded[:2]}** ({titles(graded)}): "
                 f"lessons {lessons[0][:2]} to {graded[:2]}. The exercises of lesson "
                 f"{graded[:2]} are your homework. The helper package `course_utils` does not "
                 "contain their answers: where a lesson needs the result of an exercise, it "
                 "uses your own function.")
    else:
        about = ("This is the **open-book edition** for self-study: every lesson, and the "
                 "helper package `course_utils` with the course's own implementation of every "
                 "method (read it when you are stuck, after trying).")
    intro = textwrap.fill(
        "A hands-on course: look at what a convolutional network has learned and where it "
        "fails (filters, activations, embeddings, saliency, Grad-CAM, dreaming, adversarial "
        f"examples, style transfer). {about}", width=92)
    return f"""\
# Seeing inside convolutional networks

{intro}

| # | Lesson | Colab |
|---|---|---|
{rows}

## In Google Colab
Click a lesson's badge, then run the cells from the top. The first code cell installs this
course's helper package from `{install_source(address)}`
(about a minute, once per session). If that fails it says why; to install from another copy, run
`import os; os.environ["COURSE_SOURCE"] = "git+https://github.com/<you>/<repo>@main"` in a
cell above it. Save your work with *File > Save a copy in Drive* or *File > Download > .ipynb*.

## On your own computer
With Python 3.11 to 3.13:

    python3 -m venv .venv
    .venv/bin/pip install -r requirements.txt -e .
    .venv/bin/jupyter lab lessons

Everything runs on a laptop CPU and offline: the data and the trained networks come with
the package (`course_utils/weights`).

## Doing the exercises
Write your answer where a cell says `# YOUR CODE HERE` (replace the `raise
NotImplementedError()`), then run the check cell below it. Passing the visible checks does not
guarantee full marks: your instructor's grader runs more tests on new inputs. Do not delete,
copy or reorder the exercise cells, and hand in the `.ipynb` file itself.
"""


@functools.cache
def titles(name: str) -> str:
    """A lesson's title, from the first line of its notebook (without "Lesson NN ·")."""
    import nbformat

    nb = nbformat.read(LESSONS_DIR / name / f"{name}.ipynb", as_version=4)
    title = nb.cells[0].source.splitlines()[0].lstrip("# ").strip()
    return re.sub(r"^Lesson \d+\s*·\s*", "", title)


def build_wheel(folder: Path, out: Path) -> Path:
    """Build the wheel of an edition folder with pip (no network, no build isolation)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(out), str(folder)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    # setuptools builds in the source folder: leave the edition as it was.
    shutil.rmtree(folder / "build", ignore_errors=True)
    for info in folder.glob("*.egg-info"):
        shutil.rmtree(info)
    (wheel,) = out.glob("*.whl")
    return wheel


def build_edition(lesson: str | None, out: Path = DIST_DIR, *, url: str | None = None,
                  branch: str | None = None, wheel: bool = True) -> tuple[Path, Path | None]:
    """Build the graded edition for ``lesson`` (None: the open-book edition) under ``out``.

    Returns:
        (the edition's folder, its wheel or None when ``wheel`` is False).
    """
    import nbformat

    names = lesson_names()
    if lesson is not None and lesson not in names:
        raise ReleaseError(f"no lesson {lesson!r}; the lessons are: {', '.join(names)}")
    included = names if lesson is None else [n for n in names if n <= lesson]
    edition = "open" if lesson is None else f"graded-{lesson}"
    address = publication()
    if url:
        address["repository"] = url.removesuffix(".git").rstrip("/")
    if branch:
        address["branch"] = branch
    if not address["repository"].startswith("https://github.com/"):
        raise ReleaseError("the publication address must be https://github.com/<owner>/<repo> "
                           f"(Colab opens notebooks from GitHub); got {address['repository']}")
    folder = out / edition
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write_course_utils(folder, lesson)
    for name in included:
        shutil.copytree(LESSONS_DIR / name, folder / "lessons" / name,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        path = folder / "lessons" / name / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        if apply_address(nb, name, address):
            nbformat.write(nb, path)
    (folder / "pyproject.toml").write_text(edition_pyproject(edition))
    (folder / "requirements.txt").write_text(edition_requirements())
    (folder / "README.md").write_text(edition_readme(edition, included, address, lesson))
    (folder / ".gitignore").write_text(".venv/\n__pycache__/\n.ipynb_checkpoints/\nbuild/\n"
                                       "*.egg-info/\n")
    present = [p.name for p in folder.rglob("*") if p.name in FORBIDDEN]
    if present:
        raise ReleaseError(f"the edition would contain {present}: refusing")
    built = build_wheel(folder, out / "wheels" / edition) if wheel else None
    return folder, built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--lesson", help="graded edition for this lesson, e.g. 05_guided_backprop")
    which.add_argument("--open", action="store_true", help="the open-book edition")
    parser.add_argument("--url", help="publication address https://github.com/OWNER/REPO "
                        "(default: [tool.course.publish] in pyproject.toml)")
    parser.add_argument("--branch", help="the branch it is published on (default: the same)")
    parser.add_argument("--out", type=Path, default=DIST_DIR, help="where to write (dist/)")
    args = parser.parse_args(argv)
    try:
        folder, wheel = build_edition(None if args.open else args.lesson, args.out,
                                      url=args.url, branch=args.branch)
    except ReleaseError as error:
        print(f"make release: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"make release: building the wheel failed:\n{error.stderr}", file=sys.stderr)
        return 1
    print(f"edition: {folder}\nwheel:   {wheel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
