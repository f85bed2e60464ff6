"""Grade a whole class's submissions of one lesson: `make grade LESSON=... SUBMISSIONS=...`.

    python tools/grade.py 00_getting_started submissions.zip
    python tools/grade.py 00_getting_started exported_folder/ --workers 2 --memory 4G

SUBMISSIONS is a folder or a .zip holding <student_id>.ipynb files or
<student_id>/<anything>.ipynb folders. Writes grades/<lesson>/grades.csv,
grades/<lesson>/report.html and grades/<lesson>/feedback/<student_id>.html, and records
every score in nbgrader's gradebook (gradebook.db), where the formgrader shows them.
Every submission runs in its own bubblewrap sandbox; README.md ("For instructors") says
what that guarantees and what it does not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grader.pipeline import GradingError, grade_class  # noqa: E402
from grader.sandbox import Limits  # noqa: E402


def size(text: str) -> int:
    """'3G', '512M' or a number of bytes."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    text = text.strip().upper().removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def main(argv: list[str] | None = None) -> int:
    defaults = Limits()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lesson", help="lesson folder name, e.g. 00_getting_started")
    parser.add_argument("submissions", type=Path, help="a folder or a .zip of submissions")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where gradebook.db, submitted/, autograded/ and grades/ live "
                             "(default: the repository root, where the formgrader looks)")
    parser.add_argument("--workers", type=int, default=None,
                        help="submissions graded at once (default: one per CPU core)")
    parser.add_argument("--memory", type=size, default=defaults.memory_bytes,
                        help="memory per submission, e.g. 3G (default 3G)")
    parser.add_argument("--processes", type=int, default=defaults.processes,
                        help=f"processes per submission (default {defaults.processes})")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per cell; default: 10x the time the cell takes in the "
                             "instructor's notebook (run once first), between 20 and 120 s")
    parser.add_argument("--time-per-submission", type=float,
                        default=defaults.submission_seconds,
                        help=f"seconds for a whole submission (default "
                             f"{defaults.submission_seconds:.0f})")
    parser.add_argument("--output", type=size, default=defaults.output_bytes,
                        help="output kept per cell (default 200K)")
    parser.add_argument("--scratch", type=size, default=defaults.scratch_bytes,
                        help="size of each submission's private /scratch and /tmp "
                             "(default 256M)")
    parser.add_argument("--unsandboxed", action="store_true",
                        help="grade even without a working sandbox: student code then runs "
                             "as you, with your files; every row is marked unsandboxed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    limits = Limits(memory_bytes=args.memory, processes=args.processes,
                    scratch_bytes=args.scratch, output_bytes=args.output,
                    cell_seconds=args.timeout, submission_seconds=args.time_per_submission)
    try:
        grade_class(args.lesson, args.submissions,
                    workdir=args.workdir or Path(__file__).resolve().parents[1],
                    workers=args.workers, limits=limits, unsandboxed=args.unsandboxed,
                    show_progress=not args.quiet)
    except (GradingError, FileNotFoundError, ValueError) as error:
        print(f"make grade: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
