"""Grade made-up submissions with nbgrader, the way a teacher grades a class.

For each lesson, in a temporary course folder: generate the assignment (with a gradebook),
put five submissions in submitted/<student>/<lesson>/, run `nbgrader autograde` and
`nbgrader export`, and check the scores in the exported CSV:

- perfect:        every answer from solutions/             -> all autograded points
- untouched:      the student notebook as released          -> 0
- wrong:          the first wrong answer of tests/wrong_answers/, other answers right
                                                            -> more than 0, and at least the
                                                               points of the tests it must fail
                                                               are lost
- deleted_test:   perfect, but the first test cell deleted  -> all points: nbgrader puts the
                                                               cell back and runs it
- deleted_failing_test: wrong, and the first test cell it fails deleted
                                                            -> the same score as wrong

Manually graded answers are not graded here, so they count 0 in the CSV.
"""

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from notebook_utils import (
    NBGRADER_CONFIG,
    SOLUTIONS_DIR,
    autograded_points,
    correct_answers,
    fill_in,
    grade_id,
    is_autograded_test,
    is_manually_graded,
    lesson_names,
    load_wrong_answers,
    nbgrader,
    read,
    solution_path,
)


@pytest.fixture(autouse=True)
def venv_on_path(monkeypatch):
    """nbgrader's gradebook runs the `alembic` command by name, so this venv's bin/ must be
    on PATH even when the tests run as .venv/bin/python -m pytest without activating it."""
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))


def run_nbgrader(*args, cwd):
    """Run `nbgrader ARGS` with this Python, so the kernel is this venv's Python too."""
    run_nbgrader_in_parallel([args], cwd=cwd)


def run_nbgrader_in_parallel(commands, cwd):
    """Run several nbgrader commands at once (autograde runs one notebook at a time)."""
    processes = [
        (args, subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        for args in commands
    ]
    for args, process in processes:
        _, stderr = process.communicate()
        assert process.returncode == 0, (
            f"nbgrader {' '.join(args)} failed ({process.returncode}):\n{stderr[-4000:]}"
        )


def autograde(name, students, cwd):
    """`nbgrader autograde`, the students split over as many processes as there are CPUs."""
    workers = max(1, min(len(students), os.cpu_count() or 1))
    groups = [students[i::workers] for i in range(workers)]
    commands = [
        ("autograde", name, "--CourseDirectory.student_id_exclude="
         + ",".join(s for s in students if s not in group))
        for group in groups
    ]
    run_nbgrader_in_parallel(commands, cwd=cwd)


def without_cell(nb, gid):
    trimmed = nbformat.from_dict(nb)
    trimmed.cells = [c for c in nb.cells if grade_id(c) != gid]
    assert len(trimmed.cells) == len(nb.cells) - 1, f"no cell {gid} to delete"
    return trimmed


@pytest.mark.slow
@pytest.mark.parametrize("name", lesson_names())
def test_autograde_scores_submissions(name, tmp_path, capsys):
    course = tmp_path / "course"
    shutil.copytree(SOLUTIONS_DIR / name, course / "solutions" / name)
    shutil.copy(NBGRADER_CONFIG, course / "nbgrader_config.py")
    timings = {}

    start = time.perf_counter()
    run_nbgrader("generate_assignment", name, "--force", cwd=course)
    timings["generate_assignment"] = time.perf_counter() - start
    released = read(course / "lessons" / name / f"{name}.ipynb")

    solution = read(solution_path(name))
    points = autograded_points(solution)
    full = sum(points.values())
    manual = sum(float(nbgrader(c)["points"]) for c in solution.cells if is_manually_graded(c))
    answers = correct_answers(solution)
    wrong = load_wrong_answers(name, solution)[0]
    lost = sum(points[t] for t in wrong.expect_fail)
    first_test = next(grade_id(c) for c in solution.cells if is_autograded_test(c))

    perfect = fill_in(released, answers)
    wrong_nb = fill_in(released, {**answers, wrong.answer_id: wrong.source})
    submissions = {
        "perfect": perfect,
        "untouched": released,
        "wrong": wrong_nb,
        "deleted_test": without_cell(perfect, first_test),
        "deleted_failing_test": without_cell(wrong_nb, wrong.expect_fail[0]),
    }
    for student, nb in submissions.items():
        folder = course / "submitted" / student / name
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{name}.ipynb")

    start = time.perf_counter()
    autograde(name, list(submissions), cwd=course)
    timings["autograde"] = time.perf_counter() - start
    run_nbgrader("export", "--to", "grades.csv", cwd=course)
    with open(course / "grades.csv", newline="") as file:
        rows = {row["student_id"]: row for row in csv.DictReader(file)}
    with capsys.disabled():
        steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in timings.items())
        print(f"\n  {name}: {steps} ({len(submissions)} submissions)")

    assert sorted(rows) == sorted(submissions), "every submission must appear in the export"
    score = {student: float(row["score"]) for student, row in rows.items()}
    for student, row in rows.items():
        assert float(row["max_score"]) == full + manual, f"{student}: max_score is off"
        graded = course / "autograded" / student / name / f"{name}.ipynb"
        assert graded.exists(), f"{student}: nbgrader dropped the submission (kernel died?)"

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        cells = {
            student: {g.name: g.score for g in gradebook.find_submission_notebook(
                name, name, student).grades}
            for student in submissions
        }
    assert all(cells["wrong"][t] == 0 for t in wrong.expect_fail), (
        f"{wrong.expect_fail} must score 0 for the wrong answer: {cells['wrong']}"
    )
    assert score["perfect"] == full, "the solutions must earn every autograded point"
    assert score["untouched"] == 0, "an untouched notebook must earn nothing"
    assert 0 < score["wrong"] <= full - lost, (
        f"answer {wrong.answer_id} wrong: expected more than 0 and at most {full - lost} "
        f"points (without {wrong.expect_fail}), got {score['wrong']}"
    )
    assert score["deleted_test"] == full, (
        f"{first_test} was deleted: nbgrader should put it back and run it"
    )
    restored = read(course / "autograded" / "deleted_test" / name / f"{name}.ipynb")
    assert first_test in [grade_id(c) for c in restored.cells]
    assert score["deleted_failing_test"] == score["wrong"] < full, (
        "deleting the test cell that fails must not earn its points back"
    )
