"""nbgrader's gradebook, written only by the trusted parent from the grader's own results.

The gradebook stays the system of record: the formgrader shows these scores, and
instructors grade the reflection answers there. Autograde scores are overwritten on each
run; manual scores already given survive, as with ``nbgrader autograde``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

from .results import NEEDS_REVIEW, StudentResult

REPO_ROOT = Path(__file__).resolve().parents[2]


def db_url(workdir: Path) -> str:
    return f"sqlite:///{(workdir / 'gradebook.db').resolve()}"


def _with_venv_on_path() -> None:
    """nbgrader runs `alembic` by name to create or upgrade the database."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def prepare(lesson: str, workdir: Path) -> None:
    """Put the lesson (its cells, points, checksums) into the gradebook, as nbgrader's
    ``generate_assignment`` does; lessons/ is left alone (the release goes to a temp dir)."""
    import logging

    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    _with_venv_on_path()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO_ROOT)).load_config()
    config.CourseDirectory.root = str(workdir.resolve())
    config.CourseDirectory.source_directory = str(REPO_ROOT / "solutions")
    config.CourseDirectory.db_url = db_url(workdir)
    config.GenerateAssignment.force = True
    config.GenerateAssignment.create_assignment = True
    with tempfile.TemporaryDirectory() as release:
        config.CourseDirectory.release_directory = release
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id = lesson
        converter = GenerateAssignment(coursedir=coursedir, config=config)
        converter.log.setLevel(logging.WARNING)
        converter.start()


def record(result: StudentResult, workdir: Path, timestamp: str) -> tuple[float, float]:
    """Write one student's autograded scores; return (score, max_score) as nbgrader has them
    (the score includes manual points an instructor already gave)."""
    from nbgrader.api import Gradebook

    with warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy's autoflush warnings (harmless).
        warnings.simplefilter("ignore")
        return _record(Gradebook, result, workdir, timestamp)


def _record(Gradebook, result: StudentResult, workdir: Path, timestamp: str):  # noqa: N803
    cells = {c.grade_id: c for c in result.cells}
    lesson = result.lesson
    with Gradebook(db_url(workdir)) as gradebook:
        gradebook.update_or_create_student(result.student_id)
        submission = gradebook.update_or_create_submission(
            lesson, result.student_id, timestamp=timestamp)  # fmt: skip
        notebook = gradebook.find_submission_notebook(lesson, lesson, result.student_id)
        for grade in notebook.grades:
            cell = cells.get(grade.name)
            if cell is None or cell.kind == "manual":
                grade.auto_score = None
                grade.needs_manual_grade = grade.manual_score is None
            else:
                grade.auto_score = cell.points
                grade.needs_manual_grade = grade.manual_score is not None
        notebook.flagged = result.status == NEEDS_REVIEW
        gradebook.db.commit()
        return float(submission.score), float(submission.max_score)
