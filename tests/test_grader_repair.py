"""Tests of tools/grader/repair.py: the graded notebook rebuilt from an untrusted submission.

Submissions are made from lesson 00 here (answers from solutions/) and then damaged the ways
a real class damages them. Nothing is executed, so the file takes about a second. Each test
checks where every source ended up, not only that nothing raised.
"""

import copy
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from notebook_utils import (
    correct_answers,
    fill_in,
    grade_id,
    lesson_names,
    lesson_path,
    read,
    solution_path,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # tools/ is not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from tools.grader import repair  # noqa: E402

LESSON = "00_getting_started"
OTHER = "01_weights_and_filters"
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"


@pytest.fixture(scope="module")
def source():
    return read(solution_path(LESSON))


@pytest.fixture(scope="module")
def released():
    return read(lesson_path(LESSON))


@pytest.fixture(scope="module")
def answers(source):
    return correct_answers(source)


@pytest.fixture(scope="module")
def others():
    names = [n for n in lesson_names() if n != LESSON]
    return {n: {grade_id(c) for c in read(solution_path(n)).cells} - {None} for n in names}


@pytest.fixture(scope="module")
def at(released):
    """Positions in the lesson: at.ex1_answer, ...; at.demo: the ordinary code cells (demos a
    student may edit), at.text: the ordinary markdown cells, both before the exercises."""
    positions = {grade_id(c): i for i, c in enumerate(released.cells) if grade_id(c)}
    first = positions["ex1_text"]
    ordinary = [i for i, c in enumerate(released.cells[:first]) if "nbgrader" not in c.metadata]
    code = [i for i in ordinary if released.cells[i].cell_type == "code"]
    text = [i for i in ordinary if released.cells[i].cell_type == "markdown"]
    assert len(code) >= 3 and len(text) >= 2 and positions["reflection_answer"] > first
    assert positions["ex1_check"] == positions["ex1_answer"] + 1
    assert positions["ex1_hidden"] == positions["ex1_answer"] + 2
    return SimpleNamespace(**positions, demo=code, text=text)


@pytest.fixture
def honest(released, answers):
    """The released notebook with every answer right, as a careful student hands it in."""
    return fill_in(released, answers)


def build(submission, source, released, others=None):
    nb, flags = repair.build_graded_notebook(submission, source, released, others)
    nbformat.validate(nb)  # always a valid nbformat 4.5 notebook
    assert nb.nbformat == 4 and nb.nbformat_minor == 5
    ids = [c.id for c in nb.cells]
    assert len(set(ids)) == len(ids)
    for cell in nb.cells:
        assert cell.metadata["grader"]["origin"] in repair.ORIGINS
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    return nb, flags


def lesson_cells(nb):
    return [c for c in nb.cells if c.metadata["grader"]["origin"] != "added"]


def added_cells(nb):
    return [c for c in nb.cells if c.metadata["grader"]["origin"] == "added"]


def by_id(nb):
    return {grade_id(c): c for c in nb.cells if grade_id(c)}


def origins(nb):
    return [(c.metadata["grader"]["origin"], c.metadata["grader"]["position"]) for c in nb.cells]


def kinds(flags):
    return sorted(f.kind for f in flags)


def index_of(nb, gid):
    return next(i for i, c in enumerate(nb.cells) if grade_id(c) == gid)


def metadata_without_marker(cell):
    return {k: v for k, v in cell.metadata.items() if k != "grader"}


def total_points(nb):
    return sum(
        float(c.metadata.get("nbgrader", {}).get("points", 0))
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    )


def assert_course_cells_intact(nb, source):
    """Every cell of the instructor's notebook, in order, with its metadata; locked and test
    cells with its source (hidden tests included)."""
    cells = lesson_cells(nb)
    assert len(cells) == len(source.cells)
    for ours, theirs in zip(cells, source.cells):
        assert ours.cell_type == theirs.cell_type
        assert metadata_without_marker(ours) == theirs.metadata
        meta = theirs.metadata.get("nbgrader", {})
        if (meta.get("grade") or meta.get("locked")) and not meta.get("solution"):
            assert ours.source == theirs.source


# --- honest and stripped submissions ------------------------------------------------------


def test_honest_notebook_takes_the_answers_and_the_hidden_tests(honest, source, released):
    nb, flags = build(honest, source, released)
    assert flags == []
    assert_course_cells_intact(nb, source)
    assert added_cells(nb) == []
    assert repair.answer_sources(nb) == correct_answers(source)
    assert "### BEGIN HIDDEN TESTS" in by_id(nb)["ex1_hidden"].source
    assert by_id(nb)["ex1_hidden"].source == by_id(source)["ex1_hidden"].source
    expected = []
    for index, cell in enumerate(source.cells):
        meta = cell.metadata.get("nbgrader", {})
        origin = "answer" if meta.get("solution") else "course" if meta else "student"
        expected.append((origin, index))
    assert origins(nb) == expected
    assert total_points(nb) == total_points(source) > 0


def test_unanswered_notebook_is_graded_with_the_stubs_and_no_flags(source, released):
    nb, flags = build(released, source, released)
    assert flags == []
    assert by_id(nb)["ex1_answer"].source == by_id(released)["ex1_answer"].source
    assert STUB in by_id(nb)["ex2_answer"].source
    assert by_id(nb)["reflection_answer"].source == "YOUR ANSWER HERE"


def test_stripped_metadata_answers_are_found_by_content(honest, source, released, answers):
    for cell in honest.cells:
        cell.metadata = {}
    nb, flags = build(honest, source, released)
    assert_course_cells_intact(nb, source)
    assert repair.answer_sources(nb) == answers
    assert added_cells(nb) == []
    assert [f.kind for f in flags] == ["metadata_repaired"]
    graded_cells = sum("nbgrader" in c.metadata for c in source.cells)
    assert f"missing from {graded_cells} cells" in flags[0].reason
    assert "ex1_answer" in flags[0].evidence and not flags[0].review


def test_student_edits_to_an_ordinary_cell_are_kept(honest, source, released, at):
    demo = at.demo[0]
    edited = released.cells[demo].source + "\nprint('mine')"
    honest.cells[demo].source = edited
    nb, flags = build(honest, source, released)
    assert flags == []
    assert nb.cells[demo].source == edited
    assert origins(nb)[demo] == ("student", demo)


def test_stripped_and_moved_answer_is_still_found(honest, source, released, answers, at):
    """An answer cut from its place and pasted at the end, metadata lost on the way."""
    moved = honest.cells.pop(at.ex1_answer)
    moved.metadata = {}
    honest.cells.append(moved)
    nb, flags = build(honest, source, released)
    assert repair.answer_sources(nb) == answers
    assert origins(nb)[at.ex1_answer] == ("answer", len(honest.cells) - 1)
    assert kinds(flags) == ["metadata_repaired"]
    assert flags[0].cell == "ex1_answer"


# --- duplicates and extra cells -----------------------------------------------------------


def test_duplicated_answer_the_last_changed_copy_is_graded(honest, source, released, answers, at):
    a = at.ex1_answer
    first = copy.deepcopy(honest.cells[a])
    first.source = answers["ex1_answer"].replace("mean", "avg")  # an earlier attempt
    stub = copy.deepcopy(honest.cells[a])
    stub.source = by_id(released)["ex1_answer"].source
    # Order in the submission: attempt (a), final answer (a + 1), a stub copy (a + 2).
    honest.cells[a:a] = [first]
    honest.cells[a + 2 : a + 2] = [stub]
    nb, flags = build(honest, source, released)
    assert_course_cells_intact(nb, source)
    assert repair.answer_sources(nb)["ex1_answer"] == answers["ex1_answer"]
    assert index_of(nb, "ex1_answer") == a + 1
    assert origins(nb)[a + 1] == ("answer", a + 1)
    # The other copies still run, where they were: before and after the graded one.
    assert origins(nb)[a] == ("added", a) and nb.cells[a].source == first.source
    assert origins(nb)[a + 2] == ("added", a + 2) and nb.cells[a + 2].source == stub.source
    assert nb.cells[a].metadata == {"grader": {"origin": "added", "position": a}}
    assert [(f.kind, f.cell) for f in flags] == [("duplicate_cell", "ex1_answer")]
    assert "3 times" in flags[0].reason


def test_duplicated_answer_all_stubs_the_last_is_graded(source, released, at):
    a = at.ex1_answer
    submission = copy.deepcopy(released)
    submission.cells.insert(a + 1, copy.deepcopy(submission.cells[a]))
    nb, flags = build(submission, source, released)
    assert origins(nb)[a : a + 2] == [("added", a), ("answer", a + 1)]
    assert [f.kind for f in flags] == ["duplicate_cell"]


def test_duplicated_test_cell_runs_once(honest, source, released, at):
    copy_ = copy.deepcopy(honest.cells[at.ex1_check])
    copy_.source = "pass  # my copy of the check"
    honest.cells.append(copy_)
    nb, flags = build(honest, source, released)
    assert_course_cells_intact(nb, source)
    assert added_cells(nb) == []
    assert [grade_id(c) for c in nb.cells].count("ex1_check") == 1
    assert origins(nb)[at.ex1_check] == ("course", at.ex1_check)
    assert [(f.kind, f.cell) for f in flags] == [("duplicate_cell", "ex1_check")]


def test_extra_graded_cell_runs_as_an_ordinary_cell(honest, source, released, at):
    extra = nbformat.v4.new_code_cell("assert True")
    extra.metadata["nbgrader"] = {
        "grade": True, "grade_id": "bonus", "locked": True, "points": 100,
        "schema_version": 3, "solution": False, "task": False,
    }  # fmt: skip
    h = at.ex1_hidden
    honest.cells.insert(h, extra)
    nb, flags = build(honest, source, released)
    assert_course_cells_intact(nb, source)
    assert nb.cells[h].source == "assert True" and nb.cells[h].cell_type == "code"
    assert nb.cells[h].metadata == {"grader": {"origin": "added", "position": h}}
    assert total_points(nb) == total_points(source)
    assert [(f.kind, f.cell, f.review) for f in flags] == [("extra_graded_cell", "bonus", False)]
    assert "100" in flags[0].reason


def test_scratch_cells_keep_their_place_and_type(honest, source, released, at):
    honest.cells.insert(at.ex1_check, nbformat.v4.new_code_cell("print(normalize)"))
    honest.cells.insert(0, nbformat.v4.new_markdown_cell("my notes"))
    honest.cells.append(nbformat.v4.new_raw_cell("raw"))
    nb, flags = build(honest, source, released)
    assert flags == []
    assert [(c.cell_type, c.source) for c in added_cells(nb)] == [
        ("markdown", "my notes"),
        ("code", "print(normalize)"),
        ("raw", "raw"),
    ]
    assert origins(nb)[0] == ("added", 0)
    # After the notes at the top, the answer, then the scratch cell below it.
    a = at.ex1_answer + 1
    assert grade_id(nb.cells[a]) == "ex1_answer" and origins(nb)[a + 1] == ("added", a + 1)
    assert origins(nb)[-1] == ("added", len(honest.cells) - 1)


def test_answer_written_below_the_stub_is_graded(source, released, answers, at):
    submission = copy.deepcopy(released)
    # A written answer in a new cell under "YOUR ANSWER HERE", a code answer under the stub
    # with a scratch cell in between.
    a = at.ex1_answer
    submission.cells.insert(at.reflection_answer + 1, nbformat.v4.new_markdown_cell("My answer."))
    submission.cells.insert(a + 1, nbformat.v4.new_code_cell(answers["ex1_answer"]))
    submission.cells.insert(a + 1, nbformat.v4.new_code_cell("x = 1"))
    nb, flags = build(submission, source, released)
    assert_course_cells_intact(nb, source)
    graded = repair.answer_sources(nb)
    assert graded["reflection_answer"] == "My answer."
    assert graded["ex1_answer"] == answers["ex1_answer"]
    assert graded["ex2_answer"] == by_id(released)["ex2_answer"].source
    # The stubs still run, before the answers, where the student left them.
    assert origins(nb)[a : a + 4] == [
        ("added", a),
        ("added", a + 1),
        ("answer", a + 2),
        ("course", a + 3),
    ]
    assert nb.cells[a].source == by_id(released)["ex1_answer"].source
    assert [(f.kind, f.cell) for f in flags] == [
        ("answer_below_stub", "ex1_answer"),
        ("answer_below_stub", "reflection_answer"),
    ]


# --- edited metadata ----------------------------------------------------------------------


def test_answer_turned_into_a_test_cell_stays_an_answer(honest, source, released, answers, at):
    meta = honest.cells[at.ex1_answer].metadata["nbgrader"]
    meta.update(grade=True, solution=False, locked=True, points=50)
    nb, flags = build(honest, source, released)
    cell = by_id(nb)["ex1_answer"]
    assert metadata_without_marker(cell) == source.cells[at.ex1_answer].metadata
    assert cell.source == answers["ex1_answer"]
    assert origins(nb)[at.ex1_answer] == ("answer", at.ex1_answer)
    assert total_points(nb) == total_points(source)
    assert [(f.kind, f.cell) for f in flags] == [("metadata_repaired", "ex1_answer")]
    for change in ("points 50 instead of missing", "grade True instead of False",
                   "solution False instead of True"):  # fmt: skip
        assert change in flags[0].reason


def test_raised_points_are_repaired(honest, source, released, at):
    check = by_id(source)["ex1_check"].metadata["nbgrader"]["points"]
    hidden = by_id(source)["ex1_hidden"].metadata["nbgrader"]["points"]
    honest.cells[at.ex1_check].metadata["nbgrader"]["points"] = 100
    honest.cells[at.ex1_hidden].metadata["nbgrader"]["points"] = str(hidden)
    nb, flags = build(honest, source, released)
    assert by_id(nb)["ex1_check"].metadata["nbgrader"]["points"] == check
    assert total_points(nb) == total_points(source)
    assert [f.kind for f in flags] == ["metadata_repaired"]
    assert f"ex1_check: points 100 instead of {check}" in flags[0].reason
    assert f"ex1_hidden: points '{hidden}' instead of {hidden}" in flags[0].reason


@pytest.mark.parametrize("version", [99, 1])
def test_schema_version_is_repaired(honest, source, released, version):
    for cell in honest.cells:
        if "nbgrader" in cell.metadata:
            cell.metadata["nbgrader"]["schema_version"] = version
    nb, flags = build(honest, source, released)
    assert_course_cells_intact(nb, source)
    versions = {c.metadata.get("nbgrader", {}).get("schema_version") for c in nb.cells}
    assert versions == {3, None}
    assert [f.kind for f in flags] == ["metadata_repaired"]
    assert f"schema_version {version} instead of 3" in flags[0].reason
    graded_cells = sum("nbgrader" in c.metadata for c in source.cells)
    assert f"{graded_cells} cells" in flags[0].reason


def test_grade_metadata_on_an_ordinary_cell_is_removed(honest, source, released, at):
    demo = at.demo[0]
    honest.cells[demo].metadata["nbgrader"] = {"grade": True, "grade_id": "env", "points": 5}
    nb, flags = build(honest, source, released)
    assert metadata_without_marker(nb.cells[demo]) == {}
    assert origins(nb)[demo] == ("student", demo)
    assert [f.kind for f in flags] == ["metadata_repaired"]
    assert "added to 1 cell" in flags[0].reason


# --- deleted and reordered cells ----------------------------------------------------------


def test_deleted_test_cell_is_restored_with_its_hidden_tests(honest, source, released, at):
    del honest.cells[at.ex1_hidden]
    nb, flags = build(honest, source, released)
    assert_course_cells_intact(nb, source)
    assert origins(nb)[at.ex1_hidden] == ("restored", None)
    assert "### BEGIN HIDDEN TESTS" in nb.cells[at.ex1_hidden].source
    assert [(f.kind, f.cell) for f in flags] == [("restored_cell", "ex1_hidden")]


def test_deleted_answer_cell_is_stubbed(honest, source, released, answers, at):
    del honest.cells[at.ex2_answer]
    nb, flags = build(honest, source, released)
    assert_course_cells_intact(nb, source)
    assert origins(nb)[at.ex2_answer] == ("answer", None)
    assert nb.cells[at.ex2_answer].source == by_id(released)["ex2_answer"].source
    assert STUB in nb.cells[at.ex2_answer].source
    assert repair.answer_sources(nb)["ex1_answer"] == answers["ex1_answer"]
    assert [(f.kind, f.cell) for f in flags] == [("missing_answer", "ex2_answer")]


def test_deleted_demo_cell_is_restored(honest, source, released, at):
    demo = at.demo[1]
    del honest.cells[demo]
    nb, flags = build(honest, source, released)
    assert_course_cells_intact(nb, source)
    assert origins(nb)[demo] == ("restored", None)
    assert nb.cells[demo].source == released.cells[demo].source
    assert origins(nb)[demo + 1][1] == demo  # the cells after it moved up by one
    assert [(f.kind, f.cell) for f in flags] == [("restored_cell", f"cell {demo}")]


def test_cells_in_another_order_come_back_in_the_lesson_order(
    honest, source, released, answers, at
):
    one, two = at.ex1_answer, at.ex2_answer
    d1, d2 = at.demo[:2]
    order = list(range(len(honest.cells)))
    order[one], order[two] = two, one  # the two answers swapped
    order[d1], order[d2] = d2, d1  # two demo cells swapped
    honest.cells = [honest.cells[i] for i in order]
    nb, flags = build(honest, source, released)
    assert flags == []
    assert_course_cells_intact(nb, source)
    assert repair.answer_sources(nb) == answers
    assert origins(nb)[one] == ("answer", two) and origins(nb)[two] == ("answer", one)
    assert origins(nb)[d1] == ("student", d2) and nb.cells[d1].source == released.cells[d1].source


def test_reordered_cells_without_metadata(honest, source, released, answers, at):
    one, two = at.ex1_answer, at.ex2_answer
    honest.cells[one], honest.cells[two] = honest.cells[two], honest.cells[one]
    for cell in honest.cells:
        cell.metadata = {}
    nb, flags = build(honest, source, released)
    assert repair.answer_sources(nb) == answers
    assert origins(nb)[one] == ("answer", two) and origins(nb)[two] == ("answer", one)
    assert kinds(flags) == ["metadata_repaired"]


# --- whole notebooks that are wrong -------------------------------------------------------


def test_empty_notebook(source, released):
    nb, flags = build(nbformat.v4.new_notebook(), source, released)
    assert [(f.kind, f.review) for f in flags] == [("empty_notebook", True)]
    assert_course_cells_intact(nb, source)
    # Released content, except the hidden tests (from the instructor's notebook).
    expected = [c.source for c in released.cells]
    for gid in ("ex1_hidden", "ex2_hidden", "ex3_hidden"):
        expected[index_of(source, gid)] = by_id(source)[gid].source
    assert [c.source for c in nb.cells] == expected
    assert repair.answer_sources(nb) == repair.answer_sources(released)
    assert {o for o, p in origins(nb) if p is None} >= {"answer", "restored"}
    assert all(p is None for _, p in origins(nb))


def test_notebook_of_another_lesson(source, released, others):
    other = fill_in(read(lesson_path(OTHER)), correct_answers(read(solution_path(OTHER))))
    nb, flags = build(other, source, released, others)
    assert [(f.kind, f.review) for f in flags] == [("wrong_lesson", True)]
    assert f"lesson {OTHER}" in flags[0].reason
    assert added_cells(nb) == []
    assert repair.answer_sources(nb) == repair.answer_sources(released)
    assert_course_cells_intact(nb, source)


def test_notebook_of_another_lesson_without_metadata_needs_review(source, released, others):
    other = read(lesson_path(OTHER))
    for cell in other.cells:
        cell.metadata = {}
    _, flags = build(other, source, released, others)
    assert ("unrecognised_notebook", True) in [(f.kind, f.review) for f in flags]


def test_another_lesson_is_not_guessed_for_an_honest_notebook(honest, source, released, others, at):
    # Lessons share grade_ids ("ex1_answer", "setup"): they must not make this one foreign.
    for cell in honest.cells[at.ex1_answer :]:
        cell.metadata = {}
    nb, flags = build(honest, source, released, others)
    assert kinds(flags) == ["metadata_repaired"]
    assert repair.answer_sources(nb) == correct_answers(source)


# --- reading files ------------------------------------------------------------------------


def write(tmp_path, content: bytes | str, name="sub.ipynb") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2, 3]", "holds an array"),
        ('"a string"', "holds a string"),
        ("null", "holds null"),
        (bytes(range(256)) * 4, "not UTF-8"),
        ('{"nbformat": 3, "worksheets": []}', "nbformat 4"),
        ('{"nbformat": "4", "cells": []}', "nbformat 4"),
        ('{"nbformat": 4, "cells": {}}', "no list of cells"),
        ('{"nbformat": 4}', "no list of cells"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
def test_unreadable_files(tmp_path, content, words):
    notebook, flags = repair.load_submission(write(tmp_path, content))
    assert notebook is None
    assert [(f.kind, f.review) for f in flags] == [("unreadable", True)]
    assert words in flags[0].reason


def test_huge_file_is_not_read(tmp_path, honest):
    path = tmp_path / "sub.ipynb"
    nbformat.write(honest, path)
    notebook, flags = repair.load_submission(path, max_bytes=1000)
    assert notebook is None and flags[0].kind == "unreadable" and "1,000" in flags[0].reason


def test_missing_file_and_folder_are_unreadable(tmp_path):
    for path in (tmp_path / "nothing.ipynb", tmp_path):
        notebook, flags = repair.load_submission(path)
        assert notebook is None and flags[0].kind == "unreadable"


def test_valid_notebook_reads_without_flags(tmp_path, honest, source, released):
    path = tmp_path / "sub.ipynb"
    nbformat.write(honest, path)
    notebook, flags = repair.load_submission(path)
    assert flags == []
    nb, flags = build(notebook, source, released)
    assert flags == [] and repair.answer_sources(nb) == correct_answers(source)


def test_odd_notebook_is_read_leniently(tmp_path):
    data = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": [],
        "cells": [
            {"cell_type": "code", "source": ["def f(x):\n", "    return x\n"]},
            {"cell_type": "widget", "source": "hello", "metadata": {}},
            {"source": "no type"},
            "not a cell",
            {"cell_type": "markdown", "source": 42, "metadata": "odd"},
        ],
    }
    notebook, flags = repair.load_submission(write(tmp_path, json.dumps(data)))
    assert [(f.kind, f.review) for f in flags] == [("invalid_notebook", False)]
    assert "cell 1 has cell type 'widget'" in flags[0].evidence
    assert [(c.cell_type, c.source) for c in notebook.cells] == [
        ("code", "def f(x):\n    return x\n"),
        ("markdown", "hello"),
        ("markdown", "no type"),
        ("markdown", ""),
        ("markdown", ""),
    ]
    assert all(isinstance(c.metadata, dict) for c in notebook.cells)


def test_lone_surrogates_and_a_bom_do_not_break_anything(tmp_path, source, released):
    text = '{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [' \
           '{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": null, ' \
           '"source": "x = \\"\\ud800\\""}]}'  # fmt: skip
    notebook, flags = repair.load_submission(write(tmp_path, "\ufeff" + text))
    assert notebook is not None and flags == []
    nb, _ = build(notebook, source, released)
    nbformat.writes(nb).encode("utf-8")  # writable
    assert added_cells(nb)[0].source == 'x = "?"'


# --- hostile content ----------------------------------------------------------------------


def test_huge_cell_is_cut(honest, source, released, at):
    honest.cells[at.ex1_answer].source += "\n# " + "x" * 300_000
    nb, flags = build(honest, source, released)
    assert len(by_id(nb)["ex1_answer"].source) == repair.MAX_CELL_CHARS
    assert [(f.kind, f.review) for f in flags] == [("cell_too_long", True)]


def test_weird_metadata_types_do_not_raise(honest, source, released, answers, at):
    intro, how, setup_text, setup = (at.intro, at.how_exercises_work, at.setup_text, at.setup)
    honest.cells[intro].metadata = ["not", "a", "dict"]
    honest.cells[how].metadata = {"nbgrader": "a string"}
    honest.cells[setup_text].metadata = {"nbgrader": {"grade_id": 7, "grade": "yes", "points": "x"}}
    honest.cells[setup].metadata = {"nbgrader": {"grade_id": ["setup"], "points": None}}
    honest.cells[at.ex1_answer].metadata["nbgrader"]["points"] = {"a": 1}
    honest.cells[at.ex2_answer].metadata["nbgrader"]["grade_id"] = {"x": 1}
    d0, d1, d2 = at.demo[:3]
    honest.cells[d0].source = None
    honest.cells[d1].source = ["a = 1\n", 2, None]
    honest.cells[d2].cell_type = "sparkles"
    honest.cells.append(nbformat.from_dict({"cell_type": "code", "metadata": 5, "source": 3}))
    odd_id = {"nbgrader": {"grade_id": {"unhashable": []}, "solution": "true"}}
    honest.cells.append(
        nbformat.from_dict({"cell_type": "code", "source": "x = 1", "metadata": odd_id})
    )
    nb, flags = build(honest, source, released)
    assert_course_cells_intact(nb, source)
    assert repair.answer_sources(nb) == answers
    assert "metadata_repaired" in kinds(flags)
    assert kinds(flags).count("extra_graded_cell") == 1
    assert total_points(nb) == total_points(source)
    # The locked cells with odd metadata were found by grade_id or content and repaired.
    for index in (intro, how, setup_text, setup):
        assert origins(nb)[index] == ("course", index)
    # Odd sources: None is empty, a list is joined from its strings, an unknown type is
    # markdown. Those no longer look like the demo cells, which are put back; the student's
    # versions run after them.
    restored = [c.source for c in nb.cells if c.metadata["grader"]["origin"] == "restored"]
    assert restored == [released.cells[i].source for i in (d0, d1, d2)]
    assert [(c.cell_type, c.source) for c in added_cells(nb)] == [
        ("code", ""),
        ("code", "a = 1\n"),
        ("markdown", honest.cells[d2].source),
        ("code", ""),
        ("code", "x = 1"),
    ]


def test_answer_sources_ignores_odd_cells():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("a", metadata={"nbgrader": {"solution": True, "grade_id": "x"}}),
        nbformat.v4.new_code_cell("b", metadata={"nbgrader": {"solution": True, "grade_id": 3}}),
        nbformat.v4.new_code_cell("c", metadata={"nbgrader": "odd"}),
        nbformat.v4.new_markdown_cell("d", metadata={"nbgrader": {"grade_id": "y"}}),
    ]
    assert repair.answer_sources(nb) == {"x": "a"}
