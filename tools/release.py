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

and the edition replaces it with a ``raise NotImplementedError`` that says where the student
writes it. The open-book edition holds every lesson and all of ``course_utils``. No edition
holds solutions/, hidden tests, wrong answers, the gradebook, tools/ or nbgrader's
configuration. The weights in data/ travel inside the package (course_utils/weights/), where
``course_utils.env.DATA_DIR`` finds them with importlib.resources.

The hidden tests compare against ``course_reference``: the full ``course_utils`` under another
name, installed in the instructor's copy and mounted by ``make grade``, never in an edition.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
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
            owners = [f for f in functions if f.lineno - 1 < start and f.end_lineno - 1 > number]
            if not owners:
                raise ReleaseError(f"{path.name}:{start + 1}: an exercise must be inside a function")
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
                out.append(
                    f"{indent}raise NotImplementedError(\n"
                    f'{indent}    "{path.stem}.{name} is left out of this edition: you write '
                    f'{name} yourself in lesson {lesson}."\n'
                    f"{indent})"
                )
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--lesson", help="graded edition for this lesson, e.g. 05_guided_backprop")
    which.add_argument("--open", action="store_true", help="the open-book edition")
    parser.add_argument("--url", help="publication address (default: pyproject.toml)")
    parser.add_argument("--out", type=Path, default=DIST_DIR, help="where to write (dist/)")
    args = parser.parse_args(argv)
    try:
        folder, wheel = build_edition(None if args.open else args.lesson, args.out, url=args.url)
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
