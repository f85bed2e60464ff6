"""What grading one submission produces: plain data, written and read by the trusted parent.

Nothing here runs student code. The sandboxed kernel only sends messages; the parent turns
them into these records, scores them and writes the gradebook, the CSV and the HTML pages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Row statuses of grades.csv, from best to worst.
GRADED = "graded"  # every cell ran; nothing suspicious
PARTIAL = "partial"  # a cell hung, crashed the kernel or ran out of memory; the rest was graded
NEEDS_REVIEW = "needs_review"  # a person must look: tampering evidence, wrong lesson, ...
UNREADABLE = "unreadable"  # not a notebook at all (invalid JSON, not nbformat 4)
STATUSES = (GRADED, PARTIAL, NEEDS_REVIEW, UNREADABLE)

# Cell outcomes.
PASSED = "passed"
FAILED = "failed"  # raised an exception (a failed check)
TIMEOUT = "timeout"  # ran past its time limit and was interrupted or killed
KERNEL_DIED = "kernel_died"  # the kernel exited or was killed while this cell ran
MEMORY = "memory"  # killed for using more memory than allowed
NOT_RUN = "not_run"  # never ran (grading stopped before it: submission's time budget spent)
MANUAL = "manual"  # a manually graded answer: a person grades it later in the formgrader


@dataclass
class Flag:
    """One thing the instructor should know about a submission.

    Attributes:
        kind: a short code, e.g. "timeout", "kernel_died", "metadata_repaired", "tampering".
        reason: one sentence a person can act on.
        cell: grade_id of the cell it concerns ("ex1_answer"), "cell 12" for a cell without
            a grade_id, or "" when it concerns the whole submission.
        review: True when the flag alone makes the row ``needs_review``.
        evidence: the lines or values that support it (shown in the report, never to students).
    """

    kind: str
    reason: str
    cell: str = ""
    review: bool = False
    evidence: str = ""


@dataclass
class CellResult:
    """The outcome of one graded cell (an autograded test, or a manually graded answer).

    Attributes:
        grade_id: nbgrader's grade_id, e.g. "ex1_hidden".
        exercise: the exercise it belongs to, e.g. "ex1" (the grade_id up to the first "_"),
            or "reflection" for manually graded answers.
        kind: "test" (autograded) or "manual" (graded by a person later).
        max_points: points the cell is worth (from the instructor's notebook, never the
            submission).
        points: points earned; None for manual cells (not graded yet).
        outcome: one of PASSED, FAILED, TIMEOUT, KERNEL_DIED, MEMORY, NOT_RUN, MANUAL.
        hidden: True when the cell holds hidden tests (its source is never shown to students).
        message: what a student may read: for a failed test the exception type and message
            ("AssertionError: normalize(batch of 2-channel images) differs ..."), or why it
            did not run. Already free of hidden-test source.
        seconds: time the cell ran.
    """

    grade_id: str
    exercise: str
    kind: str
    max_points: float
    points: float | None
    outcome: str
    hidden: bool = False
    message: str = ""
    seconds: float = 0.0


@dataclass
class StudentResult:
    """Everything graded for one student.

    Attributes:
        student_id: from the file or folder name (letters, digits, "-", "_", ".").
        lesson: e.g. "00_getting_started".
        score: autograded points earned.
        max_score: autograded points plus manually graded points (as nbgrader exports).
        status: one of STATUSES.
        flags: everything the instructor should know, in the order found.
        cells: one CellResult per graded cell, in notebook order.
        seconds: wall time spent on this submission.
        source_file: the submitted file, relative to the submissions folder ("" if none).
        answers: grade_id -> the student's source of each answer cell (code or markdown) as
            graded; shown back to the student in the feedback (escaped).
        visible_outputs: grade_id -> text output of each visible (non-hidden) test cell
            (already cut to a readable length).
        sandboxed: False when graded with --unsandboxed.
    """

    student_id: str
    lesson: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = GRADED
    flags: list[Flag] = field(default_factory=list)
    cells: list[CellResult] = field(default_factory=list)
    seconds: float = 0.0
    source_file: str = ""
    answers: dict[str, str] = field(default_factory=dict)
    visible_outputs: dict[str, str] = field(default_factory=dict)
    sandboxed: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> StudentResult:
        data = dict(data)
        data["flags"] = [Flag(**f) for f in data.get("flags", [])]
        data["cells"] = [CellResult(**c) for c in data.get("cells", [])]
        return cls(**data)


def exercise_of(grade_id: str) -> str:
    """"ex1_hidden" -> "ex1"; "reflection_answer" -> "reflection"."""
    return grade_id.split("_", 1)[0]
