"""Grade made-up submissions of every lesson with `tools/grade.py`, as an instructor would.

For each lesson 01-10, in a temporary work folder, two submissions go through the whole
sandboxed pipeline (collect, repair, run, score, gradebook, CSV):

- perfect:  every answer from solutions/, handed in as <student>/<anything>.ipynb
            -> all autograded points, status graded
- wrong:    the first wrong answer of tests/wrong_answers/, other answers right, and the
            first test cell it must fail deleted (the grader puts it back and runs it)
            -> more than 0, and at least the points of the tests it must fail are lost

Lesson 00 is graded by tests/test_grade_class.py with a whole hostile class instead. The
per-cell time limit is fixed (--timeout) so the instructor's reference run is skipped; the
perfect submission checks the same thing.
"""

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from notebook_utils import (
    REPO_ROOT,
    autograded_points,
    correct_answers,
    fill_in,
    grade_id,
    is_manually_graded,
    lesson_names,
    lesson_path,
    load_wrong_answers,
    nbgrader,
    read,
    solution_path,
)


def without_cell(nb, gid):
    trimmed = nbformat.from_dict(nb)
    trimmed.cells = [c for c in nb.cells if grade_id(c) != gid]
    assert len(trimmed.cells) == len(nb.cells) - 1, f"no cell {gid} to delete"
    return trimmed


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in lesson_names() if not n.startswith("00_")])
def test_grade_scores_submissions(name, tmp_path, capsys):
    solution = read(solution_path(name))
    released = read(lesson_path(name))
    points = autograded_points(solution)
    full = sum(points.values())
    manual = sum(float(nbgrader(c)["points"]) for c in solution.cells if is_manually_graded(c))
    answers = correct_answers(solution)
    wrong = load_wrong_answers(name, solution)[0]
    lost = sum(points[t] for t in wrong.expect_fail)

    submissions = tmp_path / "submissions"
    (submissions / "perfect").mkdir(parents=True)
    nbformat.write(fill_in(released, answers), submissions / "perfect" / "my lesson.ipynb")
    wrong_nb = fill_in(released, {**answers, wrong.answer_id: wrong.source})
    nbformat.write(without_cell(wrong_nb, wrong.expect_fail[0]), submissions / "wrong.ipynb")

    workdir = tmp_path / "work"
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "grade.py"), name, str(submissions),
         "--workdir", str(workdir), "--timeout", "120", "--quiet"],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep
             + os.environ.get("PATH", "")},
    )  # fmt: skip
    with capsys.disabled():
        print(f"\n  {name}: " + (completed.stdout.strip().splitlines() or ["no output"])[0])
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    with open(workdir / "grades" / name / "grades.csv", newline="") as file:
        rows = {row["student_id"]: row for row in csv.DictReader(file)}
    assert sorted(rows) == ["perfect", "wrong"]
    for student, row in rows.items():
        assert float(row["max_score"]) == full + manual, f"{student}: max_score is off"
    assert (float(rows["perfect"]["score"]), rows["perfect"]["status"]) == (full, "graded"), (
        f"the solutions must earn every autograded point: {completed.stdout[-2000:]}"
    )
    assert rows["wrong"]["status"] == "graded"
    assert "restored_cell" in rows["wrong"]["flags"].split(";")
    score = float(rows["wrong"]["score"])
    assert 0 < score <= full - lost, (
        f"answer {wrong.answer_id} wrong: expected more than 0 and at most {full - lost} "
        f"points (without {wrong.expect_fail}), got {score}"
    )

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{workdir / 'gradebook.db'}") as gradebook:
        cells = {g.name: g.score for g in gradebook.find_submission_notebook(
            name, name, "wrong").grades}  # fmt: skip
    assert all(cells[t] == 0 for t in wrong.expect_fail), (
        f"{wrong.expect_fail} must score 0 for the wrong answer: {cells}"
    )
    graded = workdir / "autograded" / "wrong" / name / f"{name}.ipynb"
    assert wrong.expect_fail[0] in [grade_id(c) for c in read(graded).cells], (
        "the deleted test cell must be put back"
    )
