"""Checks of every lesson: the teacher notebook in solutions/ and its student copy in lessons/.

Fast checks read the notebooks; the tests marked slow run them with nbgrader's Validator:
the solutions must pass every test, the stubs must fail every test, and the plausible
wrong answers in tests/wrong_answers/ must fail the tests they name. Each lesson runs
twice, both at once: the teacher notebook with the wrong answers tried in between (which
also checks the solution), and the stubs with each test cell split into its visible check
and its hidden tests (which also checks the student notebook's visible checks).
Run only the fast ones with `pytest -m "not slow"`.
"""

import copy
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
    INSERTED,
    LESSONS_DIR,
    REPO_ROOT,
    WrongAnswer,
    cells_by_id,
    correct_answers,
    grade_id,
    has_code,
    hidden_part_id,
    is_answer,
    is_autograded_test,
    lesson_names,
    lesson_path,
    load_wrong_answers,
    nbgrader,
    nbgrader_config,
    read,
    run_notebooks,
    solution_path,
    split_hidden_tests,
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
            i
            for i, c in enumerate(read(path).cells)
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
        c
        for c in nb.cells
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


def _tiny_teacher_notebook():
    """An answer, its visible check, and test cells with hidden tests in various forms."""

    def cell(source, gid, points=1, solution=False):
        cell = nbformat.v4.new_code_cell(source)
        cell.id = gid.replace("_", "-")
        cell.metadata.nbgrader = {
            "grade": not solution,
            "grade_id": gid,
            "locked": not solution,
            "points": points,
            "schema_version": 3,
            "solution": solution,
            "task": False,
        }
        return cell

    hidden = f"### {BEGIN_HIDDEN}\nassert f() + 1 == 2\n### {END_HIDDEN}"
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Tiny"),
            nbformat.v4.new_code_cell("x = 1"),
            cell(
                f"def f():\n    ### {BEGIN_SOLUTION}\n    return 1\n    ### {END_SOLUTION}",
                "ex1_answer",
                solution=True,
            ),
            cell("assert f() == 1", "ex1_check"),
            cell(f"# Hidden tests (2 points).\n{hidden}", "ex1_hidden", points=2),
            cell(f"assert f() > 0\n{hidden}\nprint('ok')", "ex1_mixed"),
            cell("for _ in range(1):\n    " + hidden.replace("\n", "\n    "), "ex1_indented"),
        ]
    )
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_split_hidden_tests_makes_two_graded_cells():
    from nbgrader.preprocessors import ClearHiddenTests

    nb = _tiny_teacher_notebook()
    before = copy.deepcopy(nb)
    split = split_hidden_tests(nb)
    assert nb == before, "the notebook given must not change"
    nbformat.validate(split)
    tests = [grade_id(c) for c in split.cells if is_autograded_test(c)]
    assert tests == [
        "ex1_check",
        "ex1_hidden",
        "ex1_hidden--hidden",
        "ex1_mixed",
        "ex1_mixed--hidden",
        "ex1_indented",
        "ex1_indented--hidden",
    ]
    assert hidden_part_id("ex1_mixed") == "ex1_mixed--hidden"
    ids = [c.id for c in split.cells]
    assert len(set(ids)) == len(ids), f"cell ids must stay unique: {ids}"

    original, parts = cells_by_id(nb), cells_by_id(split)
    student, _ = ClearHiddenTests(config=nbgrader_config()).preprocess(copy.deepcopy(nb), {})
    student = cells_by_id(student)
    for gid in ("ex1_check", "ex1_hidden", "ex1_mixed", "ex1_indented"):
        visible = parts[gid]
        assert visible.source == student[gid].source, "visible part = the student's cell"
        assert visible.id == original[gid].id and nbgrader(visible) == nbgrader(original[gid])
        assert INSERTED not in visible.metadata
    assert parts["ex1_mixed"].source == "assert f() > 0\nprint('ok')"
    assert not has_code(parts["ex1_hidden"].source)

    for gid, source in [
        ("ex1_hidden", "assert f() + 1 == 2"),
        ("ex1_mixed", "assert f() + 1 == 2"),
        ("ex1_indented", original["ex1_indented"].source),  # cannot run alone: whole cell
    ]:
        hidden = parts[hidden_part_id(gid)]
        assert hidden.source == source
        assert hidden.id == f"{original[gid].id}-hidden"
        assert hidden.metadata[INSERTED] == "hidden"
        assert nbgrader(hidden) == {**nbgrader(original[gid]), "grade_id": hidden_part_id(gid)}
        assert split.cells.index(hidden) == split.cells.index(parts[gid]) + 1


def test_wrong_answers_notebook_keeps_the_teacher_notebook():
    nb = _tiny_teacher_notebook()
    wrong = WrongAnswer("ex1_answer", "def f():\n    return 2", ["ex1_hidden"])
    tried, checks = wrong_answers_notebook(nb, [wrong])
    originals = [c for c in tried.cells if INSERTED not in c.metadata]
    assert originals == nb.cells, "the cells not marked as inserted are the teacher notebook"
    inserted = [c for c in tried.cells if INSERTED in c.metadata]
    assert [c.metadata[INSERTED] for c in inserted] == ["wrong1"] * 3 + ["restored1"] * 3
    assert [grade_id(c) for c in inserted] == [
        None,
        "ex1_check--wrong1",
        "ex1_hidden--wrong1",
        None,
        "ex1_check--restored1",
        "ex1_hidden--restored1",
    ]
    assert checks[0].must_fail == ["ex1_hidden--wrong1"]


# --- lessons/ is what `make lessons` generates ------------------------------------------


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """A fresh `make lessons` into a temporary folder."""
    out = tmp_path_factory.mktemp("regenerated")
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "make_lessons.py"), "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
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


def _stub_parts(name):
    """The notebook of the "stubs" run: grade_id -> cell (visible and hidden parts)."""
    return cells_by_id(split_hidden_tests(stub_solutions(read(solution_path(name)))))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs(name, kind) -> Run. The first call for a lesson runs its two notebooks at once,
    each with the course_utils of the graded edition for that lesson (tools/release.py: the
    reference bodies of this lesson's exercises and later ones left out), as students and
    `make grade` run them; the hidden tests take their references from course_reference.

    "solution": the teacher notebook, with every wrong answer tried after the tests that
        check it (wrong_answers_notebook); its cells not marked as inserted (Run.inserted)
        are the teacher notebook in order, which the solution tests read. Without a valid
        wrong-answers file, the teacher notebook alone (test_wrong_answers_file_is_valid
        says why).
    "wrong": the same Run, when the wrong answers could be tried.
    "stubs": the teacher notebook with stubs for answers and every test cell split into
        its visible part and its hidden tests (split_hidden_tests), inverted validation.
        The visible parts are the student notebook's test cells.
    """
    done, unbuilt = {}, {}

    def get(name, kind):
        if name not in done:
            solution = read(solution_path(name))
            work = tmp_path_factory.mktemp(name)
            course = work / "edition"
            release.write_course_utils(course, name)
            try:  # else test_wrong_answers_file_is_valid says why
                answers = load_wrong_answers(name, solution)
                teacher = wrong_answers_notebook(solution, answers)[0]
            except (OSError, ValueError) as error:
                answers, teacher = None, solution
                unbuilt[name, "wrong"] = f"{type(error).__name__}: {error}"
            jobs = {"solution": (teacher, name, work / "solution", False, course)}
            try:
                stubs = split_hidden_tests(stub_solutions(solution))
                jobs["stubs"] = (stubs, name, work / "stubs", True, course)
            except Exception as error:  # bad markers: nbgrader would refuse the notebook too
                unbuilt[name, "stubs"] = f"{type(error).__name__}: {error}"
            done[name] = run_notebooks(jobs)
            if answers is not None:
                done[name]["wrong"] = done[name]["solution"]
        if kind not in done[name]:
            pytest.fail(f"{name}: the {kind} notebook could not be built: {unbuilt[name, kind]}")
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
        print(f"\n  {name}: teacher notebook with the wrong answers ran in {run.seconds:.1f} s")
    # Inserted copies of cells run wrong answers, so they raise and fail; the rest is the
    # teacher notebook (see wrong_answers_notebook).
    assert set(run.results) <= {"failed"}, f"nbgrader refused the notebook: {run.results}"
    errors = {cell: error for cell, error in run.errors.items() if cell not in run.inserted}
    assert not errors, f"cells raised errors: {errors}"
    failed = [gid for gid in run.failed() if gid not in run.inserted]
    if failed:
        sources = {cells_by_id(read(solution_path(name)))[gid].source.strip() for gid in failed}
        details = {r["raw_error"] for r in run.results.get("failed", []) if r["source"] in sources}
        pytest.fail(f"tests failed on the solution: {failed}\n" + "\n".join(sorted(details)))
    assert any(gid not in run.inserted for gid in run.scores), "no autograded test cell was run"


@pytest.mark.slow
@pytest.mark.parametrize("name", LESSONS)
def test_lesson_tests_fail_on_stubs(name, runs, capsys):
    """The visible checks fail on the stubs. They are the test cells of the student
    notebook, run in the "stubs" run as the visible parts of the split test cells.

    Running the student notebook itself would add nothing: test_lessons_match_solutions
    proves it equal to a fresh nbgrader release of the solution, whose cells are these
    stubbed cells with the hidden tests removed, and whose locked cells carry the
    checksums nbgrader computed from them (so no locked cell was edited)."""
    run = runs(name, "stubs")
    with capsys.disabled():
        print(f"\n  {name}: stubs with split test cells ran in {run.seconds:.1f} s")
    assert run.scores, "no autograded test cell was run"
    # A test cell made only of hidden tests has an empty visible part, which passes (as it
    # does in the student copy); the next test checks its hidden part.
    cells = _stub_parts(name)
    passing = [
        gid for gid in run.passed() if gid not in run.inserted and has_code(cells[gid].source)
    ]
    assert not passing, f"test cells that pass although nothing was answered: {passing}"


@pytest.mark.slow
@pytest.mark.parametrize("name", LESSONS)
def test_every_test_fails_on_stubs_with_hidden_tests(name, runs, capsys):
    run = runs(name, "stubs")
    with capsys.disabled():
        print(f"\n  {name}: stubs with split test cells ran in {run.seconds:.1f} s")
    assert run.scores, "no autograded test cell was run"
    assert set(run.results) <= {"passed"}, f"nbgrader refused the notebook: {run.results}"
    cells = _stub_parts(name)
    passing = [gid for gid in run.passed() if has_code(cells[gid].source)]
    assert not passing, f"visible or hidden parts of test cells that pass on the stubs: {passing}"
    # A part without code passes; then the other part of its cell must fail.
    passed = set(run.passed())
    free = [
        gid
        for gid in run.scores
        if gid not in run.inserted
        and all(part in passed for part in (gid, hidden_part_id(gid)) if part in run.scores)
    ]
    assert not free, f"test cells that give points for the stubs: {free}"


@pytest.mark.slow
@pytest.mark.parametrize("name", LESSONS)
def test_wrong_answers_fail_their_tests(name, runs, capsys):
    solution = read(solution_path(name))
    _, checks = wrong_answers_notebook(solution, load_wrong_answers(name, solution))
    run = runs(name, "wrong")
    with capsys.disabled():
        print(f"\n  {name}: {len(checks)} wrong answers ran in {run.seconds:.1f} s")

    failed, problems = set(run.failed()), []
    correct = correct_answers(solution)
    for check in checks:
        # Wrong answers are the solution with a line or two changed: name the first change.
        right = correct[check.answer.answer_id].strip().splitlines()
        wrong = check.answer.source.strip().splitlines()
        changed = next((line for line, old in zip(wrong, right) if line != old), wrong[-1])
        label = f"{check.answer.answer_id} with {changed.strip()!r}"
        if failed & set(check.before):
            problems.append(
                f"{label}: the correct answer already failed "
                f"{sorted(failed & set(check.before))} before it was tried"
            )
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
