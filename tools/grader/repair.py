"""Build the notebook that is graded from a submission that cannot be trusted.

A submitted .ipynb may have lost its nbgrader metadata (some editors strip it), carry edited
points or grade flags, hold duplicated, deleted, reordered or extra cells, be empty, be
another lesson's notebook or not be a notebook at all. Nothing in it decides what is graded
or how many points a cell is worth. Instead the instructor's notebook is rebuilt with the
student's answers put in: every cell of the instructor's notebook, in its order and with its
metadata; the student's source only where a student may write (answer cells and ordinary
cells); the student's extra cells kept, stripped of metadata, so that their code still runs.
Every repair is reported as a Flag. Nothing here executes code.

Matching a submission cell to a lesson cell:

1. by grade_id, when the cell has a grade_id of this lesson and the same cell type;
2. by position and content for the rest: between the cells matched so far, unchanged cells
   (same type and source, whitespace aside) are found with difflib; between those, an answer
   cell takes the cells that define its stub's functions (``def normalize(``), other cells
   the most similar cell (ratio >= 0.5), and an answer still unmatched the last remaining
   cell of its type when it is the only lesson cell of that type left between two matches;
3. a cell moved away from its place: an answer cell still unmatched takes a cell anywhere
   that defines its functions, any other cell a cell anywhere with the same source;
4. an answer cell matched to an untouched stub takes instead the last cell of its type written
   right below the stub (defining its functions, for code): students often answer there.

Several cells claiming one answer cell: the last copy that differs from the released stub is
graded (preferring copies that define the stub's functions); the others run as ordinary
cells where they were. Copies of a test or locked cell are dropped: the course's runs once.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import warnings
from bisect import bisect_left
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from .results import Flag

MAX_CELL_CHARS = 200_000  # a longer cell source is cut (a pasted data dump, or an attack)
SIMILAR = 0.5  # similarity above which an edited cell is taken for the lesson's cell
SAME_TEXT = 0.9  # similarity above which a locked cell counts as this lesson's text
# The similarity work allowed for one submission (token pairs difflib may compare, about
# 30 ns each): a hostile notebook cannot make matching take minutes. Past it, cells are
# matched by grade_id, equality and function names only.
WORK_BUDGET = 300_000_000
CELL_TYPES = ("code", "markdown", "raw")
ORIGINS = ("course", "answer", "student", "restored", "added")
CHECKED_FIELDS = ("grade_id", "grade", "solution", "locked", "task", "points", "schema_version")
_MISSING = object()


# --- reading a file ------------------------------------------------------------------------


def load_submission(
    path: Path, max_bytes: int = 20_000_000
) -> tuple[NotebookNode | None, list[Flag]]:
    """Read a submitted notebook leniently; never raises.

    Returns (notebook, flags), or (None, [an "unreadable" flag]) when the file is too large,
    not UTF-8, not JSON, or not an nbformat 4 notebook with a list of cells. A notebook that
    nbformat's validator rejects is still read (flag "invalid_notebook", review=False): cells
    that are not objects become empty markdown cells (so positions stay those of the file),
    an unknown cell type becomes markdown, a list source is joined, odd sources become "".
    """

    def unreadable(reason: str) -> tuple[None, list[Flag]]:
        return None, [Flag("unreadable", reason, review=True)]

    try:
        path = Path(path)
        if not path.is_file():
            return unreadable(f"{path.name} is not a file")
        size = path.stat().st_size
        if size > max_bytes:
            return unreadable(f"the file has {size:,} bytes, more than the {max_bytes:,} allowed")
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except (OSError, ValueError) as error:
        return unreadable(f"the file cannot be read ({_short(error)})")
    if len(raw) > max_bytes:
        return unreadable(f"the file has more than the {max_bytes:,} bytes allowed")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return unreadable("the file is not UTF-8 text (a binary file?), so not a notebook")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        return unreadable(f"the file is not valid JSON ({_short(error)})")
    if not isinstance(data, dict):
        kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        return unreadable(f"the file holds {kinds.get(type(data), 'a number')}, not a notebook")
    version = data.get("nbformat")
    if isinstance(version, bool) or version != 4:
        return unreadable(f"not an nbformat 4 notebook (nbformat is {_show(version)})")
    if not isinstance(data.get("cells"), list):
        return unreadable("not a notebook: it has no list of cells")
    try:
        return _lenient_notebook(data)
    except Exception as error:  # deeply nested JSON, say: the file is reported, never raised
        return unreadable(f"the notebook cannot be read ({_short(error)})")


def _lenient_notebook(data: dict) -> tuple[NotebookNode, list[Flag]]:
    odd = []
    problem = _schema_problem(data)
    if problem:
        odd.append(problem)
    cells = []
    for index, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict):
            odd.append(f"cell {index} is not an object")
            cell = {}
        cell = dict(cell)
        if cell.get("cell_type") not in CELL_TYPES:
            odd.append(f"cell {index} has cell type {_show(cell.get('cell_type'))}")
            cell["cell_type"] = "markdown"
        source = cell.get("source")
        if not isinstance(source, str | list):
            odd.append(f"cell {index} has source {_show(source)}")
        cell["source"] = _text(source)
        if not isinstance(cell.get("metadata"), dict):
            odd.append(f"cell {index} has metadata {_show(cell.get('metadata'))}")
            cell["metadata"] = {}
        if cell["cell_type"] == "code" and not isinstance(cell.get("outputs"), list):
            cell["outputs"] = []
        cells.append(cell)
    data = {**data, "cells": cells}
    if not isinstance(data.get("metadata"), dict):
        data["metadata"] = {}
    flags = []
    if odd:
        shown = "; ".join(odd[:5]) + (f"; and {len(odd) - 5} more" if len(odd) > 5 else "")
        flags.append(
            Flag(
                "invalid_notebook",
                f"the notebook is not valid nbformat 4 ({shown}); it was read anyway",
                evidence="\n".join(odd),
            )
        )
    return nbformat.from_dict(data), flags


def _schema_problem(data: dict) -> str:
    """nbformat's complaint about the notebook, or "" when it validates."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(copy.deepcopy(data))
    except nbformat.ValidationError as error:
        return _short(getattr(error, "message", error))
    except Exception as error:
        return f"it could not be validated: {_short(error)}"
    return ""


# --- the lesson and the submission, as plain records --------------------------------------


@dataclass
class _LessonCell:
    index: int
    cell: Any  # the instructor's cell (trusted)
    cell_type: str
    kind: str  # "answer", "course" (locked, test or task) or "ordinary"
    grade_id: str | None
    released_source: str
    released_nbgrader: dict | None
    stub_names: tuple[str, ...]  # functions and classes the stub defines

    @property
    def name(self) -> str:
        return self.grade_id or f"cell {self.index}"

    @cached_property
    def key(self) -> tuple[str, str]:
        return self.cell_type, _norm(self.released_source)

    @cached_property
    def tokens(self) -> list[str]:
        return _tokens(self.released_source)


@dataclass
class _SubCell:
    index: int
    cell_type: str
    source: str
    nbgrader: Any  # the cell's nbgrader metadata as found (None when absent)
    grade_id: str | None  # a string grade_id, else None

    @cached_property
    def key(self) -> tuple[str, str]:
        return self.cell_type, _norm(self.source)

    @cached_property
    def tokens(self) -> list[str]:
        return _tokens(self.source)

    @property
    def name(self) -> str:
        return f"cell {self.index}"


def _lesson_cells(source: NotebookNode, released: NotebookNode) -> list[_LessonCell]:
    """The instructor's cells, each with its released counterpart (same order)."""
    source_cells = _cell_list(source)
    released_cells = _cell_list(released)
    released_by_id = {_grade_id(c): c for c in released_cells if _grade_id(c)}
    cells = []
    for index, cell in enumerate(source_cells):
        meta = _nbgrader(cell) or {}
        gid = _grade_id(cell)
        twin = released_cells[index] if len(released_cells) == len(source_cells) else None
        if twin is None or _grade_id(twin) != gid:
            twin = released_by_id.get(gid, cell) if gid else cell
        if _truthy(meta.get("solution")):
            kind = "answer"
        elif any(_truthy(meta.get(k)) for k in ("grade", "locked", "task")):
            kind = "course"
        else:
            kind = "ordinary"
        stub = _text(twin.get("source"))
        names = tuple(n for pair in _DEFINITION.findall(stub) for n in pair if n)
        cells.append(
            _LessonCell(index, cell, _cell_type(cell), kind, gid, stub, _nbgrader(twin), names)
        )
    return cells


def _submission_cells(submission: Any) -> tuple[list[_SubCell], list[Flag]]:
    cells, flags = [], []
    for index, cell in enumerate(_cell_list(submission)):
        source = _text(cell.get("source"))
        if len(source) > MAX_CELL_CHARS:
            flags.append(
                Flag(
                    "cell_too_long",
                    f"cell {index} of the submission has {len(source):,} "
                    f"characters; only the first {MAX_CELL_CHARS:,} were kept",
                    cell=f"cell {index}",
                    review=True,
                )
            )
            source = source[:MAX_CELL_CHARS]
        meta = _nbgrader(cell)
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        cells.append(
            _SubCell(index, _cell_type(cell), source, meta, gid if isinstance(gid, str) else None)
        )
    return cells, flags


# --- building the graded notebook ---------------------------------------------------------


def build_graded_notebook(
    submission: NotebookNode,
    source: NotebookNode,
    released: NotebookNode,
    other_lessons: dict[str, set[str]] | None = None,
) -> tuple[NotebookNode, list[Flag]]:
    """The instructor's notebook with the student's answers put in, and what was repaired.

    Args:
        submission: the student's notebook (untrusted; from load_submission or nbformat).
        source: the instructor's notebook, hidden tests included.
        released: the student notebook as handed out (same cells as source, answers stubbed).
        other_lessons: the grade_ids of every other lesson, to recognise a wrong notebook.

    Returns:
        A new nbformat 4.5 notebook: source's cells in source's order (answers and ordinary
        cells with the student's source, test and locked cells with the course's), the
        student's extra cells among them, every cell marked with metadata["grader"] =
        {"origin": ..., "position": index in the submission or None}; and the flags.
    """
    lesson = _lesson_cells(source, released)
    subs, flags = _submission_cells(submission)
    if not subs:
        flags.append(
            Flag(
                "empty_notebook",
                "the submitted notebook has no cells; every answer was "
                "graded as the unanswered stub",
                review=True,
            )
        )
        return _assemble(source, lesson, [], {}, set(), []), flags
    work = _Work()
    wrong = _wrong_lesson(subs, lesson, other_lessons or {}, work)
    if wrong:
        flags.append(
            Flag(
                "wrong_lesson",
                f"this looks like the notebook of {wrong}, not of this lesson; "
                "it was graded as unanswered",
                review=True,
                evidence=_list([s.grade_id for s in subs if s.grade_id], 40),
            )
        )
        return _assemble(source, lesson, [], {}, set(), []), flags
    found, course = _course_cells_found(subs, lesson)
    if 2 * found < course:
        flags.append(
            Flag(
                "unrecognised_notebook",
                f"only {found} of the lesson's {course} locked and "
                "test cells were found in the submission: it may be another notebook",
                review=True,
            )
        )

    matcher = _Matcher(lesson, subs, work)
    matcher.run()
    flags += matcher.flags
    flags += _metadata_flags({**matcher.matches, **matcher.stubs}, lesson, subs)
    flags += _extra_graded_flags(matcher, lesson)
    missing = [c for c in lesson if c.index not in matcher.matches]
    for cell in missing:
        if cell.kind == "answer":
            flags.append(
                Flag(
                    "missing_answer",
                    f"no answer to {cell.name} was found in the submission; "
                    "it was graded as the unanswered stub",
                    cell=cell.name,
                )
            )
    restored = [c.name for c in missing if c.kind != "answer"]
    if restored:
        flags.append(
            Flag(
                "restored_cell",
                f"{_count(restored, 'cell')} of the lesson missing from the "
                f"submission (or rewritten beyond recognition) {_were(restored)} put back: "
                f"{_list(restored)}",
                cell=restored[0] if len(restored) == 1 else "",
                evidence=", ".join(restored),
            )
        )
    nb = _assemble(source, lesson, subs, matcher.matches, matcher.dropped, matcher.chain())
    return nb, flags


def answer_sources(nb: NotebookNode) -> dict[str, str]:
    """grade_id -> source of every answer cell of a graded notebook (for the feedback page)."""
    answers = {}
    for cell in _cell_list(nb):
        meta = _nbgrader(cell)
        if isinstance(meta, dict) and _truthy(meta.get("solution")):
            gid = meta.get("grade_id")
            if isinstance(gid, str):
                answers[gid] = _text(cell.get("source"))
    return answers


def _assemble(
    source: NotebookNode,
    lesson: list[_LessonCell],
    subs: list[_SubCell],
    matches: dict[int, int],
    dropped: set[int],
    chain: list[tuple[int, int]],
) -> NotebookNode:
    """The graded notebook: lesson cells in order, unmatched submission cells among them.

    An unmatched cell goes right after the lesson cell of the nearest matched cell before it
    in the submission (among the matches kept in order), or at the top when there is none.
    """
    matched = set(matches.values())
    chain_subs = [i for i, _ in chain]
    after: dict[int, list[_SubCell]] = {}
    for sub in subs:
        if sub.index in matched or sub.index in dropped:
            continue
        before = bisect_left(chain_subs, sub.index) - 1
        after.setdefault(chain[before][1] if before >= 0 else -1, []).append(sub)

    nb = nbformat.v4.new_notebook()
    metadata = source.get("metadata") if isinstance(source, dict) else None
    nb.metadata = copy.deepcopy(metadata) if isinstance(metadata, dict) else {}
    ids: set[str] = set()
    cells = [_added_cell(s, ids) for s in after.get(-1, [])]
    for cell in lesson:
        i = matches.get(cell.index)
        if cell.kind == "course":
            text, origin = _text(cell.cell.get("source")), "course" if i is not None else "restored"
        elif i is not None:
            text, origin = subs[i].source, "answer" if cell.kind == "answer" else "student"
        else:
            text, origin = cell.released_source, "answer" if cell.kind == "answer" else "restored"
        cells.append(_lesson_output_cell(cell, text, origin, i, ids))
        cells += [_added_cell(s, ids) for s in after.get(cell.index, [])]
    nb.cells = cells
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def _lesson_output_cell(cell: _LessonCell, text: str, origin: str, position, ids) -> NotebookNode:
    new = nbformat.from_dict(copy.deepcopy(dict(cell.cell)))
    new.cell_type = cell.cell_type
    new.source = text
    metadata = new.get("metadata")
    new.metadata = metadata if isinstance(metadata, dict) else {}
    new.metadata["grader"] = {"origin": origin, "position": position}
    if cell.cell_type == "code":
        new.outputs, new.execution_count = [], None
    else:
        new.pop("outputs", None)
        new.pop("execution_count", None)
    new.id = _unique_id(new.get("id"), ids)
    return new


def _added_cell(sub: _SubCell, ids: set[str]) -> NotebookNode:
    """A student's extra cell: its type and source only (nbformat's new_*_cell would validate
    every cell, which takes minutes on a notebook of 100,000 cells)."""
    cell = {
        "cell_type": sub.cell_type,
        "id": _unique_id(f"added-{sub.index}", ids),
        "metadata": {"grader": {"origin": "added", "position": sub.index}},
        "source": sub.source,
    }
    if sub.cell_type == "code":
        cell.update(outputs=[], execution_count=None)
    return nbformat.from_dict(cell)


def _unique_id(wanted: Any, ids: set[str]) -> str:
    """A cell id valid for nbformat 4.5 (1-64 of [a-zA-Z0-9-_]) that no other cell has."""
    base = (
        wanted
        if isinstance(wanted, str) and re.fullmatch(r"[a-zA-Z0-9_-]{1,56}", wanted)
        else "cell"
    )
    candidate, number = base, 1
    while candidate in ids:
        candidate, number = f"{base}-{number}", number + 1
    ids.add(candidate)
    return candidate


# --- matching -----------------------------------------------------------------------------


class _Matcher:
    """Pairs lesson cells with submission cells; see the module docstring for the rules.

    Attributes:
        matches: lesson cell index -> submission cell index.
        dropped: submission cells left out (extra copies of a test or locked cell).
        copies: submission cells that copy a matched answer; they run as added cells.
        stubs: answer cell index -> the untouched stub above the cell graded for it, whose
            metadata is the one checked.
        flags: "duplicate_cell" flags.
    """

    def __init__(self, lesson: list[_LessonCell], subs: list[_SubCell], work: _Work):
        self.lesson, self.subs, self.work = lesson, subs, work
        self.matches: dict[int, int] = {}
        self.dropped: set[int] = set()
        self.copies: set[int] = set()
        self.stubs: dict[int, int] = {}  # answers graded from below their stub -> the stub
        self.flags: list[Flag] = []

    def run(self) -> None:
        self._by_grade_id()
        anchors = _increasing([(i, j) for j, i in self.matches.items()])
        for subs, cells in self._gaps(anchors):
            self._by_content(subs, cells)
        for cell in self.lesson:  # answers moved far from their place
            if cell.kind == "answer" and cell.index not in self.matches and cell.stub_names:
                free = [s for s in self.subs if self._free(s) and s.cell_type == cell.cell_type]
                self._claim(cell, [s for s in free if _defines(s.source, cell.stub_names) > 0])
        unchanged: dict[tuple[str, str], list[_SubCell]] = {}
        for sub in self.subs:
            if self._free(sub):
                unchanged.setdefault(sub.key, []).append(sub)
        for cell in self.lesson:  # cells moved unchanged
            if cell.index not in self.matches and unchanged.get(cell.key):
                self.matches[cell.index] = unchanged[cell.key].pop(0).index
        for cell in self.lesson:
            if cell.kind == "answer" and cell.index in self.matches:
                self._answer_below_stub(cell)

    def _answer_below_stub(self, cell: _LessonCell) -> None:
        """A stub left as handed out, with the answer written in new cells right below it
        (common for written answers): the last of those cells is graded instead; the stub
        runs before it as an added cell."""
        stub = self.subs[self.matches[cell.index]]
        if stub.key != cell.key:
            return
        below = []
        for sub in self.subs[stub.index + 1 :]:
            if not self._free(sub):
                break
            if sub.cell_type == cell.cell_type and sub.source.strip():
                if not cell.stub_names or _defines(sub.source, cell.stub_names) > 0:
                    below.append(sub)
        if below:
            self.stubs[cell.index] = stub.index
            self.matches[cell.index] = below[-1].index
            self.flags.append(
                Flag(
                    "answer_below_stub",
                    f"{cell.name} was left as handed out and answered in a new cell below it; "
                    f"that cell ({below[-1].name}) was graded",
                    cell=cell.name,
                )
            )

    def chain(self) -> list[tuple[int, int]]:
        """The matches that keep the submission's order: (submission, lesson) indices."""
        return _increasing([(i, j) for j, i in self.matches.items()])

    def _free(self, sub: _SubCell) -> bool:
        return (
            sub.index not in self.dropped
            and sub.index not in self.copies
            and sub.index not in self.matches.values()
        )

    def _by_grade_id(self) -> None:
        by_id = {c.grade_id: c for c in self.lesson if c.grade_id}
        claims: dict[int, list[_SubCell]] = {}
        for sub in self.subs:
            cell = by_id.get(sub.grade_id)
            if cell is not None and cell.cell_type == sub.cell_type:
                claims.setdefault(cell.index, []).append(sub)
        for j, claimants in sorted(claims.items()):
            self._claim(self.lesson[j], claimants)

    def _claim(self, cell: _LessonCell, claimants: list[_SubCell]) -> None:
        """Match cell with one of the cells that claim it; the others are copies."""
        if not claimants:
            return
        if cell.kind == "answer":
            chosen = _graded_copy(cell, claimants)
        elif cell.kind == "course":
            chosen = max(claimants, key=lambda s: (self.work.similarity(s, cell), -s.index))
        else:
            chosen = claimants[-1]
        self.matches[cell.index] = chosen.index
        others = [s for s in claimants if s is not chosen]
        if not others:
            return
        where = _list([s.name for s in claimants])
        if cell.kind == "course":
            self.dropped.update(s.index for s in others)
            what = "the lesson's version runs once, the copies were left out"
        else:
            self.copies.update(s.index for s in others)
            what = f"{chosen.name} was graded, the other copies run as ordinary cells"
        self.flags.append(
            Flag(
                "duplicate_cell",
                f"{cell.name} appears {len(claimants)} times in the submission ({where}); {what}",
                cell=cell.name,
            )
        )

    def _gaps(self, anchors: list[tuple[int, int]]):
        """(free submission cells, unmatched lesson cells) between consecutive anchors."""
        bounds = [(-1, -1), *anchors, (len(self.subs), len(self.lesson))]
        for (i0, j0), (i1, j1) in zip(bounds, bounds[1:]):
            subs = [s for s in self.subs[i0 + 1 : i1] if self._free(s)]
            cells = [c for c in self.lesson[j0 + 1 : j1] if c.index not in self.matches]
            if subs and cells:
                yield subs, cells

    def _by_content(self, subs: list[_SubCell], cells: list[_LessonCell]) -> None:
        """Unchanged cells first (difflib on type and source); then similar cells between."""
        blocks = difflib.SequenceMatcher(
            None, [s.key for s in subs], [c.key for c in cells], autojunk=False
        ).get_matching_blocks()
        start_s = start_c = 0
        for a, b, size in blocks:
            self._between(subs[start_s:a], cells[start_c:b])
            for k in range(size):
                self.matches[cells[b + k].index] = subs[a + k].index
            start_s, start_c = a + size, b + size

    def _between(self, subs: list[_SubCell], cells: list[_LessonCell]) -> None:
        if not subs or not cells:
            return
        # Answers: the cells that define the stub's functions.
        claims: dict[int, list[_SubCell]] = {}
        answers = [c for c in cells if c.kind == "answer" and c.stub_names]
        for sub in subs:
            scores = [
                (_defines(sub.source, c.stub_names), -k, c)
                for k, c in enumerate(answers)
                if c.cell_type == sub.cell_type
            ]
            best = max(scores, key=lambda t: t[:2], default=None)
            if best and best[0] > 0:
                claims.setdefault(best[2].index, []).append(sub)
        for j, claimants in claims.items():
            self._claim(self.lesson[j], claimants)
        # Every other cell: the most similar free cell of its type, best pairs first. A code
        # answer is not among them: a cell without its functions cannot answer it.
        free = [s for s in subs if self._free(s)]
        open_cells = [c for c in cells if c.index not in self.matches and not c.stub_names]
        pairs = []
        for cell in open_cells:
            for sub in free:
                if sub.cell_type == cell.cell_type:
                    ratio = self.work.similarity(sub, cell)
                    if ratio >= SIMILAR:
                        pairs.append((ratio, -abs(sub.index - cell.index), cell, sub))
        pairs.sort(key=lambda t: t[:2], reverse=True)
        for _, _, cell, sub in pairs:
            if cell.index not in self.matches and self._free(sub):
                self.matches[cell.index] = sub.index
        # An answer without functions (a written answer) still open, alone of its type
        # here: the last free cell of that type. Code answers need their functions.
        for cell in cells:
            if cell.kind != "answer" or cell.stub_names or cell.index in self.matches:
                continue
            same = [c for c in cells if c.cell_type == cell.cell_type]
            if any(c.index not in self.matches for c in same if c is not cell):
                continue
            free = [s for s in subs if self._free(s) and s.cell_type == cell.cell_type]
            written = [s for s in free if s.source.strip()]
            if written or free:
                self.matches[cell.index] = (written or free)[-1].index


def _graded_copy(cell: _LessonCell, claimants: list[_SubCell]) -> _SubCell:
    """The last copy that differs from the stub, preferring copies that define its names."""
    stub = _norm(cell.released_source)
    changed = [s for s in claimants if _norm(s.source) != stub]
    if cell.stub_names:
        defining = [s for s in changed if _defines(s.source, cell.stub_names) > 0]
        changed = defining or changed
    return (changed or claimants)[-1]


def _increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest chain of pairs increasing in both indices (the matches kept in order)."""
    pairs = sorted(pairs)
    best: list[list[tuple[int, int]]] = []
    for pair in pairs:
        chain = max((c for c in best if c[-1][1] < pair[1]), key=len, default=[])
        best.append([*chain, pair])
    return max(best, key=len, default=[])


# --- what the flags say -------------------------------------------------------------------


def _metadata_flags(matches: dict[int, int], lesson, subs) -> list[Flag]:
    """One flag per kind of problem (metadata missing, edited, added), listing the cells."""
    missing, edited, added = [], [], []
    for j, i in sorted(matches.items()):
        cell, sub = lesson[j], subs[i]
        theirs, ours = sub.nbgrader, cell.released_nbgrader
        if not ours:
            if isinstance(theirs, dict) and any(
                _truthy(theirs.get(k)) for k in ("grade", "solution", "locked", "points")
            ):
                added.append(f"{sub.name} ({_describe(theirs)})")
            elif theirs is not None and not isinstance(theirs, dict):
                added.append(f"{sub.name} (nbgrader metadata {_show(theirs)})")
        elif not theirs:
            missing.append(cell.name)
        elif not isinstance(theirs, dict):
            edited.append(f"{cell.name}: nbgrader metadata is {_show(theirs)}")
        else:
            changes = []
            for key in CHECKED_FIELDS:
                got, want = theirs.get(key, _MISSING), ours.get(key, _MISSING)
                if not _same_field(key, got, want):
                    changes.append(f"{key} {_show(got)} instead of {_show(want)}")
            if changes:
                edited.append(f"{cell.name}: {', '.join(changes)}")
    flags = []
    if missing:
        flags.append(
            Flag(
                "metadata_repaired",
                f"nbgrader metadata missing from {_count(missing, 'cell')}"
                f" ({_list(missing)}) (an editor may have removed it); the lesson's was used",
                cell=missing[0] if len(missing) == 1 else "",
                evidence=", ".join(missing),
            )
        )
    if edited:
        flags.append(
            Flag(
                "metadata_repaired",
                f"nbgrader metadata edited in {_count(edited, 'cell')} "
                f"({'; '.join(edited[:4])}{'; ...' if len(edited) > 4 else ''}); the lesson's "
                "was used",
                cell=edited[0].split(":")[0] if len(edited) == 1 else "",
                evidence="\n".join(edited),
            )
        )
    if added:
        flags.append(
            Flag(
                "metadata_repaired",
                f"nbgrader metadata added to {_count(added, 'cell')} "
                f"that {'has' if len(added) == 1 else 'have'} none in the lesson "
                f"({'; '.join(added[:4])}{'; ...' if len(added) > 4 else ''}); it was removed",
                evidence="\n".join(added),
            )
        )
    return flags


def _extra_graded_flags(matcher: _Matcher, lesson: list[_LessonCell]) -> list[Flag]:
    """Added cells (not copies or stubs of an answer) that carried grading metadata or a
    grade_id unknown to the lesson."""
    known = {c.grade_id for c in lesson if c.grade_id}
    flags = []
    stubs = set(matcher.stubs.values())
    for sub in matcher.subs:
        if not matcher._free(sub) or sub.index in stubs:
            continue
        meta = sub.nbgrader
        if not isinstance(meta, dict):
            continue
        gid = meta.get("grade_id")
        graded = _truthy(meta.get("grade")) or _truthy(meta.get("solution"))
        foreign = gid is not None and (not _hashable(gid) or gid not in known)
        if graded or foreign:
            label = gid if isinstance(gid, str) and gid else sub.name
            flags.append(
                Flag(
                    "extra_graded_cell",
                    f"{sub.name} of the submission ({_describe(meta)}) is "
                    "not a graded cell of this lesson; it was run as an ordinary cell and "
                    "earns nothing",
                    cell=label,
                    evidence=_short(sub.source, 300),
                )
            )
    return flags


def _wrong_lesson(
    subs: list[_SubCell], lesson: list[_LessonCell], others: dict, work: _Work
) -> str:
    """The name of the lesson the submission seems to come from, or "" when it is this one.

    grade_ids alone do not tell: lessons share "ex1_answer", "setup", ... So the submission
    is taken for another lesson's when fewer than half of this lesson's locked and test cells
    are found in it (same text), most of its grade_ids are foreign (unknown here, or on a
    locked or test cell whose text differs), and another lesson has most of its grade_ids.
    Among lessons that fit equally well, the one its title or text names ("# Lesson 03")
    is preferred.
    """
    found, course = _course_cells_found(subs, lesson)
    ids = {s.grade_id for s in subs if s.grade_id}
    if not ids or 2 * found >= course:
        return ""
    by_id = {c.grade_id: c for c in lesson if c.grade_id}
    foreign = 0
    for gid in ids:
        cell = by_id.get(gid)
        if cell is None:
            foreign += 1
        elif cell.kind == "course":
            copies = [s for s in subs if s.grade_id == gid][:3]
            foreign += max(work.similarity(s, cell) for s in copies) < SAME_TEXT
    if 2 * foreign <= len(ids):
        return ""
    markdown = [s.source for s in subs if s.cell_type == "markdown" and s.source.strip()]
    heading = markdown[0].strip().splitlines()[0].lower() if markdown else ""
    text = "\n".join(markdown)[:20_000].lower()
    ranked = []
    for name, their_ids in others.items():
        try:
            their_ids = {g for g in their_ids if isinstance(g, str)}
        except TypeError:
            continue
        shared = len(ids & their_ids)
        if 2 * shared > len(ids):
            named = 2 * _mentions(heading, str(name)) + _mentions(text, str(name))
            ranked.append((shared, shared / len(ids | their_ids), named, name))
    if not ranked:
        return ""
    top = max(ranked, key=lambda t: t[:3])[:3]
    names = sorted(str(t[3]) for t in ranked if t[:3] == top)
    return f"lesson {names[0]}" if len(names) == 1 else "one of the lessons " + ", ".join(names)


def _course_cells_found(subs: list[_SubCell], lesson: list[_LessonCell]) -> tuple[int, int]:
    """How many of the lesson's locked and test cells the submission holds (same text), of
    how many. Students cannot edit those cells, so a notebook of this lesson has them all."""
    keys = {s.key for s in subs}
    course = [c for c in lesson if c.kind == "course"]
    return sum(c.key in keys for c in course), len(course)


def _mentions(text: str, name: str) -> int:
    """2 if text says "lesson NN" of the lesson name "NN_slug", 1 if it holds the slug."""
    number, _, slug = name.partition("_")
    if number.isdigit() and re.search(rf"\blesson\s+0*{int(number)}\b", text):
        return 2
    return int(bool(slug) and slug.replace("_", " ").lower() in text)


# --- small helpers ------------------------------------------------------------------------

_DEFINITION = re.compile(r"^(?:async\s+)?def\s+(\w+)\s*\(|^class\s+(\w+)\b", re.M)


def _defines(source: str, names: tuple[str, ...]) -> float:
    """The share of names that source defines (def, class or a top-level assignment)."""
    if not names:
        return 0.0
    found = sum(
        bool(
            re.search(
                rf"^\s*(?:(?:async\s+)?def\s+{n}\s*\(|class\s+{n}\b|{n}\s*=[^=])", source, re.M
            )
        )
        for n in names
    )
    return found / len(names)


_TOKEN = re.compile(r"\w+|[^\w\s]")


def _tokens(text: str) -> list[str]:
    """Words and symbols of the start of a cell: what similarity compares."""
    return _TOKEN.findall(text[:10_000])[:1000]


class _Work:
    """Similarity of a submission cell to a lesson cell, within WORK_BUDGET for one build."""

    def __init__(self, budget: int = WORK_BUDGET):
        self.left = budget

    def similarity(self, sub: _SubCell, cell: _LessonCell) -> float:
        """difflib's ratio over words and symbols (0 once the budget is spent)."""
        if sub.key == cell.key:
            return 1.0
        left, right = sub.tokens, cell.tokens
        bound = 2 * min(len(left), len(right)) / (len(left) + len(right) or 1)
        if bound < SIMILAR:  # difflib's real_quick_ratio: the lengths alone rule it out
            return bound
        cost = len(left) * len(right) + 1000  # 1000: setting up difflib, about 30 us
        if cost > self.left:
            return 0.0
        self.left -= cost
        return difflib.SequenceMatcher(None, left, right, autojunk=False).ratio()


def _cell_list(nb: Any) -> list:
    """The cells of a notebook that are mappings; any other entry counts as an empty cell."""
    cells = nb.get("cells") if isinstance(nb, dict) else getattr(nb, "cells", None)
    if not isinstance(cells, list):
        return []
    return [c if isinstance(c, dict) else {} for c in cells]


def _cell_type(cell: dict) -> str:
    kind = cell.get("cell_type")
    return kind if kind in CELL_TYPES else "markdown"


def _nbgrader(cell: dict) -> Any:
    """The cell's nbgrader metadata as found: a dict, None when absent, or something odd."""
    metadata = cell.get("metadata")
    return metadata.get("nbgrader") if isinstance(metadata, dict) else None


def _grade_id(cell: dict) -> str | None:
    meta = _nbgrader(cell)
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) and gid else None


def _text(source: Any) -> str:
    """A cell source as one string: a list is joined, anything else but a string is ""."""
    if isinstance(source, list):
        source = "".join(x if isinstance(x, str) else "" for x in source)
    if not isinstance(source, str):
        return ""
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from JSON escapes cannot be written back
        source = source.encode("utf-8", "replace").decode("utf-8")
    return source


def _norm(source: str) -> str:
    """Source compared for equality: trailing spaces and blank lines around it ignored."""
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    try:
        return bool(value)
    except Exception:
        return False


def _same_field(key: str, theirs: Any, ours: Any) -> bool:
    if key in ("grade", "solution", "locked", "task"):
        theirs = False if theirs is _MISSING else theirs
        ours = False if ours is _MISSING else ours
        if isinstance(theirs, bool | int) and isinstance(ours, bool | int):
            return bool(theirs) == bool(ours)
    if key == "points" and isinstance(theirs, int | float) and isinstance(ours, int | float):
        return not isinstance(theirs, bool) and float(theirs) == float(ours)
    try:
        return type(theirs) is type(ours) and bool(theirs == ours)
    except Exception:
        return False


def _describe(meta: dict) -> str:
    parts = [
        f"{k} {_show(meta[k])}" for k in ("grade_id", "grade", "solution", "points") if k in meta
    ]
    return ", ".join(parts) or "nbgrader metadata"


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _show(value: Any) -> str:
    if value is _MISSING:
        return "missing"
    try:
        return _short(repr(value), 60)
    except Exception:
        return f"a {type(value).__name__}"


def _short(value: Any, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _count(items: list, word: str) -> str:
    return f"{len(items)} {word}{'' if len(items) == 1 else 's'}"


def _were(items: list) -> str:
    return "was" if len(items) == 1 else "were"


def _list(names: list, limit: int = 8) -> str:
    names = [str(n) for n in names]
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
