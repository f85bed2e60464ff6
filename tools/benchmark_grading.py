"""Time grading one class two ways: plain `nbgrader autograde`, and `make grade`.

Both graders get the same fabricated class of lesson 00_getting_started (40 submissions by
default), made from the released notebook in lessons/ and the answers in solutions/, with a
fixed seed: about 60% fully correct, 15% untouched, 25% with one wrong answer (the wrong
answers fail the exercise's visible check and hidden tests and write nothing to stderr).

1. Plain nbgrader, as the README used to tell instructors: in a temporary course folder
   (solutions/00_getting_started and nbgrader_config.py copied there), after
   `nbgrader generate_assignment` (not timed: it is done once, before any submission
   arrives), each submission at submitted/<student>/00_getting_started/, then
   `nbgrader autograde 00_getting_started` (one process, one notebook after another, as
   nbgrader does by default) and `nbgrader export`. The time is autograde plus export.
2. `python tools/grade.py 00_getting_started <folder> --workdir <temp dir> --quiet`, timed as a
   whole: the reference run of the instructor's notebook (which sets the per-cell time limits)
   and the sandboxed kernels, one per worker (default: one per CPU core), all included.

Thread settings. Plain nbgrader runs as an instructor would run it: COURSE_NUM_THREADS,
OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS are removed from its environment,
so each notebook's PyTorch uses the course default of min(4, CPU cores) threads. make grade
sets all four to 1 inside every sandboxed kernel itself (one kernel per core); this script
does not change that.

How to read the output: "submissions/minute" is the throughput of each grader, and the ratio
is make grade's throughput over nbgrader's (above 1: make grade finishes the class sooner).
The ratio depends on the number of cores (make grade runs one submission per core, nbgrader
one at a time) and on the class size (make grade pays for one extra run of the instructor's
notebook). Last, the script checks that both graders gave every student the same autograded
score and prints each disagreement with the student id. The manually graded reflection counts
0 in both. nbgrader also fails a test cell that writes to stderr and make grade does not; these
submissions write nothing there, so any disagreement is a bug. Exit status 1 when a grader
failed or a score disagrees.

Usage:
    python tools/benchmark_grading.py                      # 40 submissions
    python tools/benchmark_grading.py --submissions 10 --workers 2
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parents[1]
LESSON = "00_getting_started"
SEED = 2024
THREAD_VARIABLES = ("COURSE_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS")  # fmt: skip
SHARES = {"correct": 0.60, "untouched": 0.15, "one_wrong": 0.25}
# One plausible wrong answer per exercise; each fails its exercise's every test cell.
WRONG_ANSWERS = {
    "ex1_answer": "def normalize(x, mean, std):\n    return x\n\n\n"
                  "def denormalize(x, mean, std):\n    return x\n",
    "ex2_answer": "def accuracy(model, images, labels, batch_size=256):\n"
                  "    model.eval()\n"
                  "    with torch.no_grad():\n"
                  "        return (model(images).argmax(dim=1) == labels).float().mean()\n",
    "ex3_answer": "def confusion_matrix(predictions, labels, n_classes):\n"
                  "    matrix = torch.zeros(n_classes, n_classes, dtype=torch.int64)\n"
                  "    for true, predicted in zip(labels.tolist(), predictions.tolist()):\n"
                  "        matrix[predicted, true] += 1\n"
                  "    return matrix\n",
}  # fmt: skip
REFLECTION = ("Accuracy does not say which pixels the network looks at, nor how it behaves "
              "on digits unlike the test set (shifted or noisy ones).")


def grade_id(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta.get("grade_id") if isinstance(meta, dict) else None


def correct_answers(solution) -> dict[str, str]:
    """grade_id -> the answer: the solution cell without its BEGIN/END SOLUTION lines."""
    answers = {}
    for cell in solution.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            lines = [line for line in cell.source.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
            answers[grade_id(cell)] = "\n".join(lines)
    return answers


def fabricate(count: int, seed: int = SEED) -> dict[str, tuple[str, nbformat.NotebookNode]]:
    """student_id -> (kind, notebook): the same class for the same count and seed."""
    released = nbformat.read(REPO_ROOT / "lessons" / LESSON / f"{LESSON}.ipynb", as_version=4)
    solution = nbformat.read(REPO_ROOT / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    answers = correct_answers(solution)
    missing = set(WRONG_ANSWERS) - set(answers)
    if missing:
        raise SystemExit(f"the solution has no answer cells {sorted(missing)}: update "
                         "WRONG_ANSWERS in tools/benchmark_grading.py")  # fmt: skip
    untouched = round(count * SHARES["untouched"])
    wrong = round(count * SHARES["one_wrong"])
    kinds = ["untouched"] * untouched + ["one_wrong"] * wrong
    kinds += ["correct"] * (count - len(kinds))
    rng = random.Random(seed)
    rng.shuffle(kinds)
    wrong_order = sorted(WRONG_ANSWERS)  # the wrong answers take turns, so each one occurs
    width = len(str(count))
    students = {}
    for number, kind in enumerate(kinds, start=1):
        nb = copy.deepcopy(released)
        if kind != "untouched":
            filled = dict(answers)
            if kind == "one_wrong":
                which = wrong_order[sum(k.startswith("wrong") for k, _ in students.values())
                                    % len(wrong_order)]
                filled[which] = WRONG_ANSWERS[which]
                kind = f"wrong {which.removesuffix('_answer')}"
            for cell in nb.cells:
                if grade_id(cell) in filled:
                    # Code answers from solutions/; written answers in a student's words.
                    cell.source = (filled[grade_id(cell)] if cell.cell_type == "code"
                                   else REFLECTION)  # fmt: skip
        students[f"student{number:0{width}d}"] = (kind, nb)
    return students


def run_logged(argv: list[str], cwd: Path, env: dict, log: Path) -> float:
    """Run a command with its output appended to log; return its wall time in seconds."""
    start = time.perf_counter()
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        process = subprocess.run(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
        raise RuntimeError(f"{' '.join(argv[:4])} ... failed ({process.returncode}):\n{tail}")
    return seconds


def plain_nbgrader(students: dict, root: Path) -> tuple[float, float, dict[str, float]]:
    """Autograde and export with nbgrader; return (autograde s, export s, scores)."""
    course = root / "course"
    shutil.copytree(REPO_ROOT / "solutions" / LESSON, course / "solutions" / LESSON)
    shutil.copy(REPO_ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    bin_dir = str(Path(sys.executable).parent)  # not resolved: the venv's bin/, not /usr/bin
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")  # nbgrader runs `alembic`
    nbgrader = [sys.executable, "-m", "nbgrader"]
    log = root / "nbgrader.log"
    run_logged([*nbgrader, "generate_assignment", LESSON, "--force"], course, env, log)
    for student, (_, nb) in students.items():
        folder = course / "submitted" / student / LESSON
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{LESSON}.ipynb")
    autograde = run_logged([*nbgrader, "autograde", LESSON], course, env, log)
    export = run_logged([*nbgrader, "export"], course, env, log)
    with open(course / "grades.csv", newline="", encoding="utf-8") as file:
        scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(file)
                  if row["assignment"] == LESSON}  # fmt: skip
    return autograde, export, scores


def make_grade(students: dict, root: Path, workers: int | None) -> tuple[float, str, dict]:
    """Grade with tools/grade.py; return (seconds, its summary line, scores)."""
    folder, workdir = root / "submissions", root / "workdir"
    folder.mkdir()
    workdir.mkdir()
    for student, (_, nb) in students.items():
        nbformat.write(nb, folder / f"{student}.ipynb")
    argv = [sys.executable, str(REPO_ROOT / "tools" / "grade.py"), LESSON, str(folder),
            "--workdir", str(workdir), "--quiet"]  # fmt: skip
    if workers:
        argv += ["--workers", str(workers)]
    log = root / "grade.log"
    seconds = run_logged(argv, REPO_ROOT, dict(os.environ), log)
    summary = next((line.strip() for line in log.read_text(encoding="utf-8").splitlines()
                    if line.startswith("graded ")), "")  # fmt: skip
    with open(workdir / "grades" / LESSON / "grades.csv", newline="", encoding="utf-8") as file:
        scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(file)}
    return seconds, summary, scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=40,
                        help="how many fabricated submissions (default 40)")
    parser.add_argument("--workers", type=int, default=None,
                        help="passed to tools/grade.py (default there: one per CPU core)")
    args = parser.parse_args(argv)
    if args.submissions < 1:
        parser.error("--submissions must be at least 1")

    cores = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    students = fabricate(args.submissions)
    mix = {}
    for kind, _ in students.values():
        mix[kind] = mix.get(kind, 0) + 1
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {cores} CPU cores ({usable} usable by this process); load average {load}"
          " (1, 5, 15 min; anything else running slows both graders)")
    print(f"submissions: {len(students)} of {LESSON} ("
          + ", ".join(f"{n} {k}" for k, n in sorted(mix.items())) + f"; seed {SEED})")
    print(f"make grade workers: {args.workers or f'default (one per core: {cores})'}")
    sys.stdout.flush()

    n = len(students)
    with tempfile.TemporaryDirectory(prefix="benchmark-grading-") as name:
        root = Path(name)
        try:
            print("running plain nbgrader (autograde, one process) ...", flush=True)
            autograde_s, export_s, nb_scores = plain_nbgrader(students, root)
            nb_s = autograde_s + export_s
            nb_rate = 60 * n / nb_s
            print(f"nbgrader autograde + export: {nb_s:7.1f} s  {nb_rate:6.1f} submissions/minute"
                  f"  (autograde {autograde_s:.1f} s, export {export_s:.1f} s)", flush=True)
            print("running make grade (tools/grade.py) ...", flush=True)
            ours_s, summary, our_scores = make_grade(students, root, args.workers)
        except RuntimeError as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 1
    our_rate = 60 * n / ours_s
    print(f"make grade:                  {ours_s:7.1f} s  {our_rate:6.1f} submissions/minute"
          f"  (reference run included)")
    print(f"  its summary: {summary}")
    print(f"ratio (make grade throughput / nbgrader throughput): {our_rate / nb_rate:.2f}")
    print("load average now: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))

    disagreements = []
    for student in sorted(students):
        ours, theirs = our_scores.get(student), nb_scores.get(student)
        if ours is None or theirs is None or abs(ours - theirs) > 1e-6:
            disagreements.append(f"  {student} ({students[student][0]}): nbgrader "
                                 f"{theirs if theirs is not None else 'missing'}, make grade "
                                 f"{ours if ours is not None else 'missing'}")  # fmt: skip
    if disagreements:
        print(f"scores: {len(disagreements)} of {n} students disagree:")
        print("\n".join(disagreements))
        return 1
    distribution = {}
    for student in students:
        distribution[our_scores[student]] = distribution.get(our_scores[student], 0) + 1
    print(f"scores: the same autograded score for all {n} students ("
          + ", ".join(f"{count} x {score:g}" for score, count in sorted(distribution.items(),
                                                                       reverse=True))
          + ")")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
