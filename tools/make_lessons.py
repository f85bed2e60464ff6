"""Generate the student notebooks in lessons/ from the teacher notebooks in solutions/.

Each solutions/NN_slug/NN_slug.ipynb goes through nbgrader's generate_assignment with the
settings in nbgrader_config.py: answers become stubs, hidden tests are removed, test cells
are locked and get checksums. Other files in solutions/NN_slug/ are copied as they are.
The result is then normalised so that running this twice gives byte-identical files.

Usage:
    python tools/make_lessons.py                    # all lessons into lessons/
    python tools/make_lessons.py 00_getting_started # only this one
    python tools/make_lessons.py --out /tmp/check   # somewhere else (used by the tests)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import release  # noqa: E402  (tools/release.py)

REPO_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS_DIR = REPO_ROOT / "solutions"
LESSONS_DIR = REPO_ROOT / "lessons"

# Cell metadata that records how a notebook was last run or displayed, not what it teaches.
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled")
# Notebook metadata of the same kind (saved widget state is large and changes every run).
VOLATILE_NOTEBOOK_METADATA = ("widgets", "celltoolbar")


def lesson_names() -> list[str]:
    """Names of all lessons: folders solutions/NN_slug holding NN_slug.ipynb."""
    return sorted(p.parent.name for p in SOLUTIONS_DIR.glob("*/*.ipynb") if p.stem == p.parent.name)


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop outputs, execution counts and volatile metadata; keep nbgrader metadata."""
    for key in VOLATILE_NOTEBOOK_METADATA:
        nb.metadata.pop(key, None)
    for index, cell in enumerate(nb.cells):
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        # Notebooks written before nbformat 4.5 have no cell ids; nbformat would make up
        # random ones, so give them stable ones instead.
        if nb.nbformat_minor >= 5 and not cell.get("id"):
            cell.id = f"cell-{index}"
    return nb


def has_student_work(path: Path) -> bool:
    """True when a lesson notebook was run or its answers were edited since generation.

    Regenerating would overwrite that work, so `main` refuses unless --force is given.
    """
    from nbgrader.utils import compute_checksum, is_solution

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count):
            return True
        checksum = cell.metadata.get("nbgrader", {}).get("checksum")
        if is_solution(cell) and checksum and checksum != compute_checksum(cell):
            return True
    return False


def generate(name: str, out_dir: Path) -> Path:
    """Run nbgrader's generate_assignment for one lesson and normalise the result.

    Args:
        name: lesson folder name, e.g. "00_getting_started".
        out_dir: folder that receives out_dir/name/ (replaced if it exists).

    Returns:
        Path of the generated notebook.
    """
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO_ROOT)).load_config()
    config.CourseDirectory.root = str(REPO_ROOT)
    # An absolute path wins over the root, which is how --out works.
    config.CourseDirectory.release_directory = str(out_dir.resolve())
    # No gradebook (like `--no-db`): generating lessons must not create or need gradebook.db.
    config.GenerateAssignment.no_database = True
    config.SaveCells.enabled = False
    config.GenerateAssignment.force = True
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = name
    GenerateAssignment(coursedir=coursedir, config=config).start()

    path = out_dir / name / f"{name}.ipynb"
    if not path.exists():
        raise RuntimeError(f"nbgrader did not write {path}; see its log above.")
    nb = normalise(nbformat.read(path, as_version=4))
    # The Colab badge and install source come from pyproject.toml ([tool.course.publish]).
    release.apply_address(nb, name, release.publication())
    nbformat.write(nb, path)
    return path


def publish_address_in_solutions(name: str) -> None:
    """Write the publication address of pyproject.toml into the teacher notebook (its badge
    and setup cell), so that both copies say the same; a no-op when they already do."""
    path = SOLUTIONS_DIR / name / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    if release.apply_address(nb, name, release.publication()):
        nbformat.write(nb, path)
        print(f"updated the Colab address in {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate lessons/NN_slug/ from solutions/NN_slug/ with nbgrader.",
    )
    parser.add_argument(
        "names", nargs="*", help="lesson folder names (default: every folder in solutions/)"
    )
    parser.add_argument(
        "--out", type=Path, default=LESSONS_DIR, help="output folder (default: lessons/)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite lesson notebooks even when they hold outputs or edited answers",
    )
    args = parser.parse_args(argv)
    # nbgrader reports problems in a notebook (say, a solution region outside a solution
    # cell) through logging; without a handler the reason would be lost.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")

    available = lesson_names()
    names = args.names or available
    unknown = sorted(set(names) - set(available))
    if unknown:
        parser.error(f"no such lesson(s) {unknown}; solutions/ has {available}")

    for name in names:
        existing = args.out / name / f"{name}.ipynb"
        if existing.exists() and not args.force and has_student_work(existing):
            print(
                f"{existing} has outputs or edited answers; not overwriting it. "
                "Save your work elsewhere or rerun with --force.",
                file=sys.stderr,
            )
            return 1
        if args.out == LESSONS_DIR:
            publish_address_in_solutions(name)
        print(f"generated {generate(name, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
