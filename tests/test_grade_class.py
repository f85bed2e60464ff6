"""`make grade` end to end on lesson 00 with a hostile, careless and odd class.

One run grades every submission of tests/hostile_class.py from a .zip and checks, per
student, the exact score and status and the flags that explain them; then that nothing
of the course changed, no process of a submission is left, the gradebook holds exactly
the CSV's scores, and no student-facing page holds a hidden test's line or a script.
"""

import csv
import hashlib
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import hostile_class
import nbformat
import pytest
from grader import collect, sandbox
from notebook_utils import REPO_ROOT, lesson_path, solution_path

COURSE_FILES = ("solutions", "lessons", "course_utils", "data", "tools", "nbgrader_config.py")


def checksums() -> dict[str, str]:
    sums = {}
    for name in COURSE_FILES:
        root = REPO_ROOT / name
        for path in sorted([root] if root.is_file() else root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                sums[str(path.relative_to(REPO_ROOT))] = hashlib.sha256(
                    path.read_bytes()).hexdigest()  # fmt: skip
    return sums


def sandbox_processes() -> list[str]:
    """Command lines of processes a submission could have left behind."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "/grader/kernel_boot.py" in cmd or "echo hacked" in cmd or cmd.startswith("bwrap"):
                found.append(cmd)
    return found


def hidden_lines() -> list[str]:
    """Distinctive lines of lesson 00's hidden tests (not also in the student notebook)."""
    released = "\n".join(c.source for c in nbformat.read(lesson_path(hostile_class.LESSON),
                                                         4).cells)  # fmt: skip
    lines, inside = [], False
    for cell in nbformat.read(solution_path(hostile_class.LESSON), 4).cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                inside = "BEGIN" in line
            elif inside and len(line.strip()) >= 20 and line.strip() not in released:
                lines.append(line.strip())
    assert len(lines) > 10
    return lines


def test_the_sandbox_works_here():
    """CI installs bubblewrap: the grading tests must run sandboxed, never skip."""
    assert sandbox.sandbox_problem() is None


def test_collect_reads_folders_and_zips_without_escaping(tmp_path):
    folder = tmp_path / "export"
    (folder / "ann").mkdir(parents=True)
    (folder / "ann" / "deep" / "x").mkdir(parents=True)
    (folder / "ann" / "deep" / "x" / "work.ipynb").write_text("{}")
    (folder / "bob.ipynb").write_text("{}")
    (folder / "carl smith").mkdir()
    (folder / "__MACOSX").mkdir()
    (folder / "__MACOSX" / "ann.ipynb").write_text("{}")
    (folder / "dan").mkdir()
    (folder / "dan" / "a.ipynb").write_text("{}")
    (folder / "dan" / ".ipynb_checkpoints").mkdir()
    (folder / "dan" / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("{}")
    found = {s.student_id: s for s in collect.collect(folder, tmp_path / "staging")}
    assert sorted(found) == ["ann", "bob", "carl_smith", "dan"]
    assert [found["ann"].relative(p) for p in found["ann"].notebooks] == ["ann/deep/x/work.ipynb"]
    assert [f.kind for f in found["carl_smith"].flags] == ["renamed_id", "no_notebook"]
    assert len(found["dan"].notebooks) == 1

    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("eve.ipynb", "{}")
        zipped.writestr("../escape.ipynb", "{}")
        zipped.writestr("/abs/evil.ipynb", "{}")
        zipped.writestr("fay/sub/f.ipynb", "{}")
    found = {s.student_id: s for s in collect.collect(archive, tmp_path / "staging2")}
    assert sorted(found) == ["eve", "fay"]
    assert not (tmp_path / "escape.ipynb").exists()


@pytest.mark.slow
def test_make_grade_on_a_hostile_class(tmp_path):
    expected = hostile_class.build(tmp_path / "class")
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted((tmp_path / "class").rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(tmp_path / "class"))
    workdir = tmp_path / "course"
    workdir.mkdir()
    before = checksums()
    assert not sandbox_processes(), "a sandbox of an earlier run is still alive"

    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep
           + os.environ.get("PATH", "")}  # fmt: skip
    completed = subprocess.run(
        ["make", "--no-print-directory", "grade", f"LESSON={hostile_class.LESSON}",
         f"SUBMISSIONS={archive}", f"VENV={Path(sys.executable).parents[1]}",
         f"GRADE_ARGS=--workdir {workdir} --quiet"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    print(completed.stdout[-6000:])
    assert completed.returncode == 0, completed.stderr[-4000:]

    out = workdir / "grades" / hostile_class.LESSON
    with open(out / "grades.csv", newline="") as file:
        rows = {row["student_id"]: row for row in csv.DictReader(file)}
    assert sorted(rows) == sorted(expected), "every submission has exactly one row"
    problems = []
    for student, want in expected.items():
        row = rows[student]
        flags = row["flags"].split(";") if row["flags"] else []
        got = (float(row["score"]), row["status"])
        if got != (want.score, want.status) or not set(want.flags) <= set(flags):
            problems.append(f"{student}: got {got} {flags}, expected "
                            f"{(want.score, want.status)} with {list(want.flags)}")  # fmt: skip
        assert float(row["max_score"]) == hostile_class.MAX
    assert not problems, "\n".join(problems)

    # Nothing of the course changed, nothing of a submission is still running.
    assert checksums() == before
    assert not sandbox_processes()

    # The gradebook holds the scores of the CSV, for these students only.
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{workdir / 'gradebook.db'}") as gradebook:
        assert sorted(s.id for s in gradebook.students) == sorted(expected)
        for student in expected:
            submission = gradebook.find_submission(hostile_class.LESSON, student)
            assert submission.score == float(rows[student]["score"]), student
            assert submission.max_score == hostile_class.MAX

    # Student-facing pages: one per student, no hidden test, no script.
    secret = hidden_lines()
    for student in expected:
        page = (out / "feedback" / f"{student}.html").read_text()
        leaked = [line for line in secret if line in page]
        assert not leaked, f"{student}'s feedback shows hidden tests: {leaked[:3]}"
        assert not re.search(r"<script", page, re.IGNORECASE), student
    report = (out / "report.html").read_text()
    assert not re.search(r"<script", report, re.IGNORECASE)
    needs_person = report[report.index("Needs a person") : report.index("Students")]
    for student, want in expected.items():
        assert (student in needs_person) == (want.status != "graded"), student
    assert "gradebook.db" in report, "the evidence of reads_outside is shown to the instructor"
