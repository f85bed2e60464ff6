"""Checks of every lesson: the teacher notebook in solutions/ and its student copy in lessons/.

Fast checks read the notebooks; the tests marked slow run them with nbgrader's Validator:
the solutions must pass every test, the stubs must fail every test, and the plausible
wrong answers in tests/wrong_answers/ must fail the tests they name.
Run only the fast ones with `pytest -m "not slow"`.
"""

import subprocess
import sys

import nbformat
import pytest
import release
from notebook_utils import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_HIDDEN,
    END_SOLUTION,
    LESSONS_DIR,
    REPO_ROOT,
    cells_by_id,
    grade_id,
    has_code,
    is_answer,
    is_autograded_test,
    lesson_names,
    lesson_path,
    load_wrong_answers,
    nbgrader,
    read,
    run_notebooks,
    solution_path,
    stub_solutions,
    wrong_answers_notebook,
)

LESSONS = lesson_names()
MAKE_LESSONS = "run `make lessons` and commit lessons/"


def test_there_are_lessons():
    assert LESSONS, "solutions/ holds no lesson (expected solutions/NN_slug/NN_slug.ipynb)"


# --- fast checks of the files -------------------------------------------------------------


@pytest.mark.parametrize("name", LESSONS)
def test_notebooks_are_valid(name):
    for path in (solution_path(name), lesson_path(name)):
        assert path.exists(), f"{path.relative_to(REPO_ROOT)} is missing; {MAKE_LESSONS}"
        nb = read(path)
        nbformat.validate(nb)
        kernel = nb.metadata.get("kernelspec", {}).get("name")
        assert kernel == "python3", f"{path.name}: kernelspec is {kernel!r}, expected 'python3'"


@pytest.mark.parametrize("name", LESSONS)
def test_no_outputs_committed(name):
    for path in (solution_path(name), lesson_path(name)):
        dirty = [
            i for i, c in enumerate(read(path).cells)
            if c.cell_type == "code" and (c.outputs or c.execution_count is not None)
        ]
        assert not dirty, (
            f"{path.relative_to(REPO_ROOT)}: cells {dirty} have outputs or execution counts; "
            "clear them (Edit > Clear Outputs of All Cells) before committing"
        )


@pytest.mark.parametrize("name", LESSONS)
def test_grade_ids_are_unique_and_points_positive(name):
    nb = read(solution_path(name))
    ids = [grade_id(c) for c in nb.cells if nbgrader(c)]
    assert None not in ids, "every cell with nbgrader metadata needs a grade_id"
    duplicates = sorted({gid for gid in ids if ids.count(gid) > 1})
    assert not duplicates, f"duplicate grade_ids break nbgrader: {duplicates}"
    for cell in nb.cells:
        meta = nbgrader(cell)
        if meta.get("grade") or meta.get("task"):
            assert float(meta.get("points", 0)) > 0, f"{grade_id(cell)} is graded but has no points"


@pytest.mark.parametrize("name", LESSONS)
def test_deleted_grade_cells_can_be_put_back(name):
    """nbgrader 0.9.6 puts a deleted grade cell back after the nbgrader cell before it, but
    only finds that cell if it is a grade or answer cell: after a read-only cell, autograde
    stops with a KeyError and the student's whole submission is dropped. (JupyterLab keeps
    students from deleting these cells; other editors, Colab among them, do not.)"""
    previous, broken = None, []
    for cell in read(solution_path(name)).cells:
        meta = nbgrader(cell)
        if not (meta.get("grade") or meta.get("solution") or meta.get("locked")):
            continue
        if meta.get("grade") and previous is not None:
            prev_meta = nbgrader(previous)
            if not (prev_meta.get("grade") or prev_meta.get("solution")):
                broken.append(f"{grade_id(cell)} (after read-only {grade_id(previous)})")
        previous = cell
    assert not broken, (
        f"grade cells that autograde cannot put back if deleted: {broken}; make the cell "
        "before them an ordinary cell (no nbgrader type) instead of a read-only one"
    )


@pytest.mark.parametrize("name", LESSONS)
def test_answers_are_marked_and_graded(name):
    nb = read(solution_path(name))
    code_answers = [c for c in nb.cells if is_answer(c) and c.cell_type == "code"]
    assert code_answers, "a lesson needs at least one code exercise"
    for cell in code_answers:
        assert BEGIN_SOLUTION in cell.source and END_SOLUTION in cell.source, (
            f"answer cell {grade_id(cell)} needs ### BEGIN SOLUTION / ### END SOLUTION around "
            "the answer, so the student keeps the rest of the cell"
        )
    assert any(is_autograded_test(c) for c in nb.cells), "a lesson needs autograded test cells"
    written = [
        c for c in nb.cells
        if c.cell_type == "markdown" and nbgrader(c).get("solution") and nbgrader(c).get("grade")
    ]
    assert written, "a lesson needs at least one manually graded written answer (markdown)"


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_hides_solutions_and_has_title(name):
    nb = read(lesson_path(name))
    for index, cell in enumerate(nb.cells):
        for marker in (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN):
            assert marker not in cell.source, f"{marker!r} in lesson cell {index}; {MAKE_LESSONS}"
    first = nb.cells[0] if nb.cells else None
    assert first is not None and first.cell_type == "markdown", "first cell must be markdown"
    assert first.source.startswith("# "), "first cell must start with a '# Title' line"


@pytest.mark.parametrize("name", LESSONS)
def test_wrong_answers_file_is_valid(name):
    answers = load_wrong_answers(name, read(solution_path(name)))
    assert answers


# --- lessons/ is what `make lessons` generates ------------------------------------------


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """A fresh `make lessons` into a temporary folder."""
    out = tmp_path_factory.mktemp("regenerated")
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "make_lessons.py"), "--out", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, f"tools/make_lessons.py failed:\n{result.stderr[-4000:]}"
    return out


def _files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def _comparable(nb):
    return [(c.cell_type, c.source, nbgrader(c)) for c in nb.cells]


def test_no_stale_lessons():
    folders = {p.name for p in LESSONS_DIR.glob("*") if p.is_dir()}
    stale = sorted(folders - set(LESSONS))
    assert not stale, f"lessons/{stale} have no notebook in solutions/; delete them"


@pytest.mark.parametrize("name", LESSONS)
def test_lessons_match_solutions(name, regenerated):
    fresh_dir, committed_dir = regenerated / name, LESSONS_DIR / name
    fresh_files = _files(fresh_dir)
    assert _files(committed_dir) == fresh_files, (
        f"lessons/{name} has other files than expected; {MAKE_LESSONS}"
    )
    fresh = _comparable(read(fresh_dir / f"{name}.ipynb"))
    old = _comparable(read(committed_dir / f"{name}.ipynb"))
    for index, (new_cell, old_cell) in enumerate(zip(fresh, old, strict=False)):
        assert new_cell == old_cell, f"lessons/{name} cell {index} is out of date; {MAKE_LESSONS}"
    assert len(fresh) == len(old), f"lessons/{name} has a different cell count; {MAKE_LESSONS}"
    for path in fresh_files:
        if path.suffix != ".ipynb":
            assert (fresh_dir / path).read_bytes() == (committed_dir / path).read_bytes(), (
                f"lessons/{name}/{path} differs from solutions/; {MAKE_LESSONS}"
            )


# --- running the notebooks ----------------------------------------------------------------


@pytest.mark.slow
def test_kernel_runs_this_python(tmp_path):
    """Notebooks must run with the interpreter that runs the tests (the course's venv)."""
    from nbclient import NotebookClient

    cell = nbformat.v4.new_code_cell("import sys; print(sys.prefix)")
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=60, resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert nb.cells[0].outputs[0].text.strip() == sys.prefix


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs(name, kind) -> Run. The first call for a lesson runs all its notebooks at once,
    each with the course_utils of the graded edition for that lesson (tools/release.py: the
    reference bodies of this lesson's exercises and later ones left out), as students and
    `make grade` run them; the hidden tests take their references from course_reference.

    "solution": the teacher notebook;
    "lesson": the student notebook (stubs, no hidden tests), inverted validation;
    "stubs": the teacher notebook with stubs for answers but hidden tests kept, inverted;
    "wrong": the teacher notebook trying every wrong answer (see wrong_answers_notebook).
    """
    done = {}

    def get(name, kind):
        if name not in done:
            solution = read(solution_path(name))
            work = tmp_path_factory.mktemp(name)
            course = work / "edition"
            release.write_course_utils(course, name)
            jobs = {
                "solution": (solution, name, work / "solution", False, course),
                "stubs": (stub_solutions(solution), name, work / "stubs", True, course),
            }
            if lesson_path(name).exists():  # else test_notebooks_are_valid says so
                jobs["lesson"] = (read(lesson_path(name)), name, work / "lesson", True, course)
            try:  # else test_wrong_answers_file_is_valid says why
                answers = load_wrong_answers(name, solution)
                jobs["wrong"] = (wrong_answers_notebook(solution, answers)[0], name,
                                 work / "wrong", False, course)
            except (OSError, ValueError):
                pass
            done[name] = run_notebooks(jobs)
        if kind not in done[name]:
            pytest.fail(f"{name}: the {kind} notebook could not be built; see the fast tests")
        run = done[name][kind]
        if run.crash:
            pytest.fail(f"nbgrader could not run the {kind} notebook of {name}:\n{run.crash}")
        return run

    return get


@pytest.mark.slow
@pytest.mark.parametrize("name", LESSONS)
def test_solution_passes_all_tests(name, runs, capsys):
    run = runs(name, "solution")
    with capsys.disabled():
        print(f"\n  {name}: solution notebook ran in {run.seconds:.1f} s")
    assert not run.errors, f"cells raised errors: {run.errors}"
    assert run.results == {}, f"tests failed on the solution: {run.failed()}\n{run.results}"
    assert run.scores, "no autograded test cell was run"


@pytest.mark.slow
@pytest.mark.parametrize("name", LESSONS)
def test_lesson_tests_fail_on_stubs(name, runs, capsys):
    run = runs(name, "lesson")
    with capsys.disabled():
        print(f"\n  {name}: student notebook ran in {run.seconds:.1f} s")
    assert "changed" not in run.results, f"locked cells were edited; {MAKE_LESSONS}"
    # A test cell made only of hidden tests is empty in the student copy and so passes
    # there; the next test runs it with its hidden tests.
    cells = cells_by_id(read(lesson_path(name)))
    passing = [gid for gid in run.passed() if has_code(cells[gid].source)]
    assert not passing, f"test cells that pass although nothing was answered: {passing}"


@pytest.mark.slow
@pytest.mark.parametrize("name", LESSONS)
def test_every_test_fails_on_stubs_with_hidden_tests(name, runs, capsys):
    run = runs(name, "stubs")
    with capsys.disabled():
        print(f"\n  {name}: stubs with hidden tests ran in {run.seconds:.1f} s")
    assert run.scores, "no autograded test cell was run"
    assert not run.passed(), f"test cells that give points for the stubs: {run.passed()}"
    assert run.results == {}


@pytest.mark.slow
@pytest.mark.parametrize("name", LESSONS)
def test_wrong_answers_fail_their_tests(name, runs, capsys):
    solution = read(solution_path(name))
    _, checks = wrong_answers_notebook(solution, load_wrong_answers(name, solution))
    run = runs(name, "wrong")
    with capsys.disabled():
        print(f"\n  {name}: {len(checks)} wrong answers ran in {run.seconds:.1f} s")

    failed, problems = set(run.failed()), []
    for check in checks:
        first_line = check.answer.source.strip().splitlines()[0]
        label = f"{check.answer.answer_id} = {first_line!r}..."
        if failed & set(check.before):
            problems.append(f"{label}: the correct answer already failed "
                            f"{sorted(failed & set(check.before))} before it was tried")
            continue
        if set(check.must_fail) - failed:
            problems.append(f"{label}: not caught by {sorted(set(check.must_fail) - failed)}")
        if failed & set(check.after):
            problems.append(
                f"{label}: afterwards the correct answer fails {sorted(failed & set(check.after))}"
                "; the wrong answer changed shared state (a model left in training mode, an "
                "input edited in place...) so it would cost points in later exercises too"
            )
    assert not problems, "wrong answers:\n" + "\n".join(problems)
