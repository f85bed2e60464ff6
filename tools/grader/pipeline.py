"""Grade a whole class: collect, repair, run each submission sandboxed, score, report.

Only this (trusted) process reads the instructor's notebook, scores, and writes the
gradebook, the CSV and the HTML pages. Student code only ever runs in a sandboxed kernel
(see sandbox.py), one per submission, several at once.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import release  # tools/release.py: tools/ is on sys.path (tools/grade.py, the tests)

from . import collect, execute, gradebook, integrity, repair, report
from .results import (
    FAILED,
    GRADED,
    KERNEL_DIED,
    MANUAL,
    MEMORY,
    NEEDS_REVIEW,
    NOT_RUN,
    PARTIAL,
    PASSED,
    TIMEOUT,
    UNREADABLE,
    CellResult,
    Flag,
    StudentResult,
    exercise_of,
)
from .sandbox import Limits, build_seed, sandbox_problem

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_FLOOR, TIMEOUT_FACTOR, TIMEOUT_CAP = 20.0, 10.0, 120.0
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class GradingError(Exception):
    """Grading cannot start (unknown lesson, no sandbox, a broken reference run)."""


def nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def is_manual(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade") and meta.get("solution"))


def label_of(cell, index: int) -> str:
    return nbgrader_meta(cell).get("grade_id") or f"cell {index}"


@dataclass
class Lesson:
    """The trusted facts about a lesson, read from solutions/ and lessons/."""

    name: str
    source: nbformat.NotebookNode
    released: nbformat.NotebookNode
    title: str
    exercises: dict[str, float]
    other_lessons: dict[str, set[str]]
    hidden_lines: list[str] = field(default_factory=list)
    hidden_names: set[str] = field(default_factory=set)  # from course_reference, in hidden tests

    @classmethod
    def load(cls, name: str) -> Lesson:
        names = sorted(p.parent.name for p in (REPO_ROOT / "solutions").glob("*/*.ipynb")
                       if p.stem == p.parent.name)  # fmt: skip
        if name not in names:
            raise GradingError(f"no lesson {name!r}; the lessons are: {', '.join(names)}")
        source = nbformat.read(REPO_ROOT / "solutions" / name / f"{name}.ipynb", as_version=4)
        released_path = REPO_ROOT / "lessons" / name / f"{name}.ipynb"
        released = nbformat.read(released_path, as_version=4)
        title = next((c.source.splitlines()[0].lstrip("# ") for c in source.cells
                      if c.cell_type == "markdown" and c.source.strip()), name)  # fmt: skip
        exercises: dict[str, float] = {}
        for cell in source.cells:
            meta = nbgrader_meta(cell)
            if meta.get("grade"):
                key = exercise_of(meta["grade_id"])
                exercises[key] = exercises.get(key, 0.0) + float(meta.get("points", 0))
        others = {}
        for other in names:
            if other != name:
                nb = nbformat.read(REPO_ROOT / "solutions" / other / f"{other}.ipynb", 4)
                others[other] = {nbgrader_meta(c).get("grade_id") for c in nb.cells} - {None}
        visible = "\n".join(c.source for c in released.cells)
        hidden, blocks = set(), []
        for cell in source.cells:
            inside = False
            for line in cell.source.splitlines():
                if "### BEGIN HIDDEN TESTS" in line:
                    inside = True
                    blocks.append([])
                elif "### END HIDDEN TESTS" in line:
                    inside = False
                elif inside:
                    blocks[-1].append(line)
                    if len(line.strip()) >= 8 and line.strip() not in visible:
                        hidden.add(line.strip())
        # Only the reference answers matter: other imports of a hidden test (a library
        # name, say) are as open to the student as to the test.
        names = integrity.imported_names((textwrap.dedent("\n".join(b)) for b in blocks),
                                         module="course_reference")  # fmt: skip
        return cls(name, source, released, title, exercises, others, sorted(hidden, key=len),
                   names)

    def redact(self, text: str) -> str:
        """Remove any line of a hidden test from text a student will read."""
        if not any(line in text for line in self.hidden_lines):
            return text
        kept = [t for t in text.splitlines() if not any(h in t for h in self.hidden_lines)]
        return "\n".join(kept) + "\n[lines of a hidden test removed]"


@dataclass
class Job:
    """One submission, prepared by the parent, ready to run."""

    student_id: str
    flags: list[Flag]
    source_file: str = ""
    original: Path | None = None
    notebook: nbformat.NotebookNode | None = None
    cells: list[execute.Cell] = field(default_factory=list)


def reference_timeouts(lesson: Lesson, workdir: Path, limits: Limits, sandboxed: bool,
                       seed: Path, course: Path) -> dict[int, float]:  # fmt: skip
    """Run the instructor's notebook once, in the same sandbox: every test must pass (or
    grading would be unfair), and each cell's time sets its time limit for the class."""
    cells = code_cells(lesson.source, {}, TIMEOUT_CAP)
    session = execute.run_notebook(cells, workdir, limits, sandboxed=sandboxed, seed_dir=seed,
                                   course_dir=course)  # fmt: skip
    broken = [f"{c.label}: {session.runs.get(c.index, execute.Run()).outcome} "
              f"{session.runs.get(c.index, execute.Run()).evalue[:300]}"
              for c in cells if session.runs.get(c.index, execute.Run()).outcome != PASSED]
    if broken:
        raise GradingError("the instructor's notebook does not pass its own tests in the "
                           "grading sandbox, so no submission can be graded fairly:\n  "
                           + "\n  ".join(broken))  # fmt: skip
    return {i: min(TIMEOUT_CAP, max(TIMEOUT_FLOOR, TIMEOUT_FACTOR * run.seconds))
            for i, run in session.runs.items()}  # fmt: skip


def code_cells(nb, timeouts: dict[int, float], default: float) -> list[execute.Cell]:
    """The code cells to run, with their time limits and where to take the probe baseline.

    Timeouts are keyed by the cell's index in the instructor's notebook; a student's added
    cell gets ``default``."""
    cells, baseline_taken, position = [], False, -1
    for index, cell in enumerate(nb.cells):
        added = cell.metadata.get("grader", {}).get("origin") == "added"
        position += 0 if added else 1  # course cells keep the instructor notebook's order
        if cell.cell_type != "code":
            continue
        timeout = default if added else timeouts.get(position, default)
        cells.append(execute.Cell(index, cell.source, label_of(cell, index), timeout))
        # The probe's baseline: right after the setup cell imported the grading helpers.
        if not baseline_taken and "grading" in cell.source and "import" in cell.source:
            cells[-1].baseline = baseline_taken = True
    return cells


def _student_cells(nb) -> list[tuple[str, str]]:
    return [(label_of(c, i), c.source) for i, c in enumerate(nb.cells)
            if c.cell_type == "code"
            and c.metadata.get("grader", {}).get("origin") in ("answer", "student", "added")]


def prepare_job(submission: collect.Submission, lesson: Lesson) -> Job:
    """Pick the notebook, read it leniently and rebuild it from the instructor's."""
    job = Job(submission.student_id, list(submission.flags))
    if not submission.notebooks:
        return job
    chosen = submission.notebooks[0]
    if len(submission.notebooks) > 1:
        named = [p for p in submission.notebooks if p.stem == lesson.name]
        chosen = named[0] if named else max(submission.notebooks,
                                            key=lambda p: (p.stat().st_mtime, str(p)))
        others = ", ".join(submission.relative(p) for p in submission.notebooks if p != chosen)
        job.flags.append(Flag("several_notebooks", f"{len(submission.notebooks)} notebooks were "
                              f"handed in; graded {submission.relative(chosen)} (not {others})",
                              review=True))  # fmt: skip
    job.source_file, job.original = submission.relative(chosen), chosen
    notebook, flags = repair.load_submission(chosen)
    job.flags += flags
    if notebook is None:
        return job
    graded, flags = repair.build_graded_notebook(notebook, lesson.source, lesson.released,
                                                 lesson.other_lessons)  # fmt: skip
    job.flags += flags
    job.notebook = graded
    return job


def _text(outputs: list[dict]) -> str:
    parts = []
    for output in outputs:
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif output["output_type"] == "display_data" and "text/plain" in output["data"]:
            parts.append(output["data"]["text/plain"] + "\n")
    return "".join(parts)


def score(job: Job, session: execute.Session | None, lesson: Lesson,
          sandboxed: bool) -> StudentResult:  # fmt: skip
    """Turn what ran into points, flags and a status; everything a student sees is redacted."""
    result = StudentResult(job.student_id, lesson.name, source_file=job.source_file,
                           sandboxed=sandboxed, flags=list(job.flags))  # fmt: skip
    nb = job.notebook if job.notebook is not None else lesson.released
    runs = session.runs if session else {}
    result.answers = {gid: lesson.redact(text) for gid, text in repair.answer_sources(nb).items()}
    for index, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if not meta.get("grade") or not gid:
            continue
        hidden = "### BEGIN HIDDEN TESTS" in cell.source
        points = float(meta.get("points", 0))
        if is_manual(cell):
            result.cells.append(CellResult(gid, exercise_of(gid), "manual", points, None, MANUAL,
                                           message="graded by your instructor"))  # fmt: skip
            continue
        run = runs.get(index, execute.Run())
        earned = points if run.outcome == PASSED else 0.0
        if run.outcome == FAILED:
            message = f"{run.ename}: {run.evalue}".strip(": ")
        elif run.outcome == NOT_RUN:
            message = "not run: " + (session.stopped if session and session.stopped
                                     else "the notebook could not be graded")  # fmt: skip
        else:
            message = run.note
        result.cells.append(CellResult(gid, exercise_of(gid), "test", points, earned,
                                       run.outcome, hidden, lesson.redact(message[:600]),
                                       round(run.seconds, 2)))  # fmt: skip
        if not hidden:
            shown = _text(run.outputs)
            if run.outcome == FAILED:
                trace = ANSI.sub("", "\n".join(run.traceback)).splitlines()[-15:]
                shown += "\n".join(trace)
            result.visible_outputs[gid] = lesson.redact(shown[-3000:])
    if session:
        for index, run in sorted(session.runs.items()):
            if run.outcome in (TIMEOUT, KERNEL_DIED, MEMORY):
                label = label_of(nb.cells[index], index)
                result.flags.append(Flag(run.outcome, f"{label} {run.note}", cell=label))
            if run.ename == "TamperingError":
                label = label_of(nb.cells[index], index)
                result.flags.append(Flag("tampering", "the grading helpers detected tampering: "
                                         + run.evalue[:300], cell=label, review=True,
                                         evidence=run.evalue[:2000]))  # fmt: skip
        if session.stopped:
            missing = sum(1 for c in result.cells if c.outcome == NOT_RUN)
            result.flags.append(Flag("not_run", f"grading stopped early: {session.stopped}; "
                                     f"{missing} graded cells did not run"))  # fmt: skip
        labels = {i: label_of(c, i) for i, c in enumerate(nb.cells)}
        for log in session.audit_logs:
            result.flags += integrity.audit_flags(log, labels)
        result.flags += session.probe_flags
        result.seconds = round(session.seconds, 1)
    if job.notebook is not None:
        result.flags += integrity.static_flags(_student_cells(job.notebook),
                                               hidden_names=lesson.hidden_names)
    if not sandboxed:
        result.flags.append(Flag("unsandboxed", "graded without a sandbox (--unsandboxed)"))
    result.score = sum(c.points or 0.0 for c in result.cells)
    result.max_score = sum(c.max_points for c in result.cells)
    if job.notebook is None:
        result.status = UNREADABLE
    elif any(f.review for f in result.flags):
        result.status = NEEDS_REVIEW
    elif any(c.outcome in (TIMEOUT, KERNEL_DIED, MEMORY, NOT_RUN) for c in result.cells) or (
            session and any(r.outcome in (TIMEOUT, KERNEL_DIED, MEMORY)
                            for r in session.runs.values())):  # fmt: skip
        result.status = PARTIAL
    else:
        result.status = GRADED
    return result


def _executed_notebook(job: Job, session: execute.Session) -> nbformat.NotebookNode:
    """The graded notebook with its outputs, for the formgrader (instructors only)."""
    nb = nbformat.from_dict(job.notebook)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            run = session.runs.get(index)
            cell.outputs = [nbformat.from_dict(o) for o in run.outputs] if run else []
        elif cell.cell_type == "markdown" and cell.metadata.get("grader", {}).get("origin") in (
                "answer", "added"):  # fmt: skip
            # The formgrader renders markdown as HTML: a student's tags must stay text.
            cell.source = cell.source.replace("<", "&lt;").replace(">", "&gt;")
    return nb


def _save(job: Job, session: execute.Session | None, workdir: Path, lesson: str) -> None:
    """Keep what was handed in and what was graded, in nbgrader's folders."""
    submitted = workdir / "submitted" / job.student_id / lesson
    autograded = workdir / "autograded" / job.student_id / lesson
    for folder in (submitted, autograded):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    if job.original is not None:
        shutil.copyfile(job.original, submitted / f"{lesson}.ipynb")
    if job.notebook is not None and session is not None:
        nbformat.write(_executed_notebook(job, session), autograded / f"{lesson}.ipynb")


def grade_class(lesson_name: str, submissions: Path, *, workdir: Path = REPO_ROOT,
                workers: int | None = None, limits: Limits | None = None,
                unsandboxed: bool = False, show_progress: bool = True) -> list[StudentResult]:
    """Grade every submission of one lesson; see tools/grade.py for the command line.

    Returns:
        One StudentResult per student, sorted by id; grades/<lesson>/ holds grades.csv,
        report.html and feedback/<student_id>.html, and the gradebook has the scores.
    """
    from tqdm.auto import tqdm

    limits = limits or Limits()
    lesson = Lesson.load(lesson_name)
    problem = sandbox_problem()
    if problem and not unsandboxed:
        raise GradingError(f"refusing to grade without a sandbox: {problem}. Pass "
                           "--unsandboxed to grade anyway (every row is then marked "
                           "unsandboxed: student code can read and change your files).")
    sandboxed = problem is None and not unsandboxed
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grader-") as scratch_name:
        scratch = Path(scratch_name)
        students = collect.collect(Path(submissions), scratch / "staging")
        if not students:
            raise GradingError(f"no submissions found in {submissions}")
        gradebook.prepare(lesson.name, workdir)
        seed = build_seed(scratch / "seed")
        # What the kernels import: course_utils as this lesson's students have it (the
        # graded edition: no reference answers for this lesson or later ones), and the
        # full package as course_reference for the hidden tests.
        course = scratch / "course"
        release.write_course_utils(course, lesson.name, weights=False)
        release.write_reference(course)
        jobs = [prepare_job(s, lesson) for s in students]
        if limits.cell_seconds is None:
            timeouts = reference_timeouts(lesson, scratch, limits, sandboxed, seed, course)
        else:
            timeouts = {}
        default = limits.cell_seconds or TIMEOUT_CAP
        for job in jobs:
            if job.notebook is not None:
                job.cells = code_cells(job.notebook, timeouts, default)

        def run(job: Job) -> execute.Session | None:
            if job.notebook is None:
                return None
            folder = Path(tempfile.mkdtemp(prefix=f"{job.student_id[:20]}-", dir=scratch))
            return execute.run_notebook(job.cells, folder, limits, sandboxed=sandboxed,
                                        seed_dir=seed, course_dir=course)  # fmt: skip

        results = []
        stamp = datetime.now(UTC).isoformat()
        bar = tqdm(total=len(jobs), desc=f"grading {lesson.name}", unit="student",
                   disable=not show_progress)  # fmt: skip
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(run, job): job for job in jobs}
            for future in as_completed(futures):
                job = futures[future]
                try:
                    session = future.result()
                except Exception as error:  # a grader bug must not lose the student's row
                    session = None
                    job.flags.append(Flag("grader_error", f"the grader failed on this "
                                          f"submission: {error!r}", review=True))  # fmt: skip
                result = score(job, session, lesson, sandboxed)
                _save(job, session, workdir, lesson.name)
                result.score, result.max_score = gradebook.record(result, workdir, stamp)
                results.append(result)
                bar.update()
                bar.set_postfix_str(f"{job.student_id}: {result.status}")
        bar.close()
    results.sort(key=lambda r: r.student_id)
    out = workdir / "grades" / lesson.name
    report.write_all(results, out, lesson.name, lesson.title, lesson.exercises)
    elapsed = time.monotonic() - started
    print(summary(results, out, elapsed))
    return results


def summary(results: list[StudentResult], out: Path, seconds: float) -> str:
    counts = {s: sum(r.status == s for r in results) for s in (GRADED, PARTIAL, NEEDS_REVIEW,
                                                              UNREADABLE)}  # fmt: skip
    lines = [f"graded {len(results)} submissions in {seconds:.0f} s: "
             + ", ".join(f"{n} {s}" for s, n in counts.items() if n)]  # fmt: skip
    for result in results:
        if result.status != GRADED:
            reasons = "; ".join(f.reason for f in result.flags if f.review or f.kind in (
                TIMEOUT, KERNEL_DIED, MEMORY, "not_run"))[:200] or result.status  # fmt: skip
            lines.append(f"  {result.student_id}: {result.status} ({reasons})")
    lines.append(f"grades:   {out / 'grades.csv'}")
    lines.append(f"report:   {out / 'report.html'}")
    lines.append(f"feedback: {out / 'feedback'}/<student_id>.html")
    return "\n".join(lines)
