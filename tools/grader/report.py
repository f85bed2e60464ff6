"""The grader's outputs: grades.csv, one feedback page per student and the instructor's report.

Every string in a StudentResult may come from a submission (answers, outputs, messages, even the
reasons and evidence of flags quote it), so every one of them goes through ``_e`` before it
reaches a page. The pages are plain HTML with inline CSS, no JavaScript and a Content Security
Policy that forbids scripts and remote resources: opened in a browser, a hostile submission can
at worst show odd text. Charts are inline SVG drawn here, so writing a class's report takes
milliseconds and needs nothing beyond the standard library.
"""

from __future__ import annotations

import csv
import html
import math
import re
import statistics
from collections import Counter
from pathlib import Path
from urllib.parse import quote

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
    STATUSES,
    TIMEOUT,
    UNREADABLE,
    CellResult,
    Flag,
    StudentResult,
    exercise_of,
)

CSV_HEADER = ["student_id", "score", "max_score", "status", "flags"]
# Statuses a person must look at, in the order the report lists them.
NEEDS_A_PERSON = (NEEDS_REVIEW, UNREADABLE, PARTIAL)
# Limits on untrusted text, so one student pasting megabytes cannot bloat every page.
MAX_ANSWER_CHARS = 20_000
MAX_TEXT_CHARS = 5_000
# Student ids become file names and anchors; anything else is a bug upstream.
SAFE_ID = re.compile(r"[A-Za-z0-9_.-]+")

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STATUS_COLOR = {GRADED: "green", PARTIAL: "amber", NEEDS_REVIEW: "red", UNREADABLE: "red"}
STATUS_LABEL = {
    GRADED: "graded",
    PARTIAL: "partial",
    NEEDS_REVIEW: "needs review",
    UNREADABLE: "unreadable",
}
OUTCOME_COLOR = {
    PASSED: "green",
    FAILED: "red",
    TIMEOUT: "amber",
    KERNEL_DIED: "amber",
    MEMORY: "amber",
    NOT_RUN: "grey",
    MANUAL: "grey",
}
OUTCOME_LABEL = {
    PASSED: "passed",
    FAILED: "failed",
    TIMEOUT: "timed out",
    KERNEL_DIED: "kernel died",
    MEMORY: "out of memory",
    NOT_RUN: "not run",
    MANUAL: "manual",
}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
  line-height: 1.45; max-width: 72rem; margin: 2rem auto; padding: 0 1.2rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; padding-bottom: .3rem;
  border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
.muted { color: #59636e; }
.big { font-size: 2rem; font-weight: 700; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; margin: .5rem 0; }
th, td { padding: .35rem .6rem; text-align: left; vertical-align: top;
  border-bottom: 1px solid #d0d7de; }
th { background: #eef1f4; }
tbody tr:nth-child(even) { background: #f6f8fa; }
tr:target { outline: 2px solid #0969da; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; padding: .05rem .55rem; border-radius: 1rem; font-size: .8rem;
  font-weight: 600; white-space: nowrap; }
.green { background: #dafbe1; color: #116329; }
.amber { background: #fff1c2; color: #7d4e00; }
.red { background: #ffebe9; color: #a40e26; }
.grey { background: #eaeef2; color: #4b535c; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: .6rem .8rem;
  white-space: pre-wrap; overflow-wrap: anywhere; font-size: .85rem; margin: .3rem 0 .8rem; }
td pre { margin: 0; padding: .3rem .5rem; }
code { font-size: .9em; }
details { border: 1px solid #d0d7de; border-radius: 6px; padding: .4rem .8rem; margin: .5rem 0; }
summary { cursor: pointer; font-weight: 600; }
.box { border: 1px solid #d0d7de; border-radius: 6px; padding: .8rem 1rem; margin: 1rem 0; }
.warn { border-color: #d4a72c; background: #fff8c5; }
.test { border-left: 3px solid #d0d7de; padding-left: .8rem; margin: .6rem 0; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; border: 1px solid #d0d7de; border-radius: 6px; padding: .4rem; }
figcaption { font-size: .85rem; font-weight: 600; text-align: center; }
ul.reasons { margin: .2rem 0 .6rem; }
"""


def _e(text: object) -> str:
    """Escape anything for HTML text or a quoted attribute value."""
    return html.escape(str(text), quote=True)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit} more characters not shown)"


def _pre(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    # The newline after <pre> is dropped by browsers, so text starting with one keeps it.
    return f"<pre>\n{_e(_cut(text, limit))}</pre>"


def _num(value: float | None) -> str:
    """10.0 -> "10", 10.5 -> "10.5", 1/3 -> "0.33": points without float noise."""
    if value is None:
        return "–"
    text = f"{round(float(value), 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _seconds(value: float) -> str:
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{value:.1f} s"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _badge(label: str, color: str) -> str:
    return f'<span class="badge {color}">{_e(label)}</span>'


def _status_badge(status: str) -> str:
    return _badge(STATUS_LABEL.get(status, status), STATUS_COLOR.get(status, "grey"))


def _outcome_badge(outcome: str) -> str:
    return _badge(OUTCOME_LABEL.get(outcome, outcome), OUTCOME_COLOR.get(outcome, "grey"))


def _anchor(student_id: str) -> str:
    return "student-" + re.sub(r"[^A-Za-z0-9_.-]", "_", student_id)


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _write(path: Path, text: str) -> None:
    # errors="replace": a lone surrogate from a submission's JSON must not stop the whole class.
    path.write_text(text, encoding="utf-8", errors="replace")


def _all_flags(result: StudentResult) -> list[Flag]:
    """The result's flags, plus one for grading without the sandbox (a fact about the run)."""
    flags = list(result.flags)
    if not result.sandboxed and not any(f.kind == "unsandboxed" for f in flags):
        flags.append(Flag("unsandboxed", "graded with --unsandboxed: no sandbox around the code"))
    return flags


def _manual_max(result: StudentResult) -> float:
    return sum(c.max_points for c in result.cells if c.kind == "manual")


def _exercise_points(cells: list[CellResult]) -> float | None:
    """Points earned in autograded cells; None when nothing was autograded."""
    points = [c.points for c in cells if c.kind != "manual" and c.points is not None]
    return sum(points) if points else None


def _by_exercise(cells: list[CellResult]) -> dict[str, list[CellResult]]:
    groups: dict[str, list[CellResult]] = {}
    for cell in cells:
        groups.setdefault(cell.exercise, []).append(cell)
    return groups


def _pretty(exercise: str) -> str:
    """Turn "ex3" into "Exercise 3" and "reflection" into "Reflection" for headings."""
    match = re.fullmatch(r"ex(\d+)", exercise)
    return f"Exercise {match.group(1)}" if match else exercise[:1].upper() + exercise[1:]


# --- grades.csv ---------------------------------------------------------------------------


def write_csv(results: list[StudentResult], path: Path) -> None:
    """One row per student, sorted by id, so that diffs between two runs are readable."""
    with open(path, "w", newline="", encoding="utf-8", errors="replace") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for r in sorted(results, key=lambda r: r.student_id):
            kinds = list(dict.fromkeys(f.kind for f in _all_flags(r)))
            writer.writerow(
                [r.student_id, _num(r.score), _num(r.max_score), r.status, ";".join(kinds)]
            )


# --- the student's feedback page ----------------------------------------------------------

STUDENT_STATUS_NOTE = {
    PARTIAL: "Some cells could not finish (see below); everything else was graded.",
    NEEDS_REVIEW: "Your instructor will look at this submission before the grade is final.",
    UNREADABLE: "This file could not be read as a notebook, so nothing was graded. "
    "Please contact your instructor.",
}


def _test_html(cell: CellResult, result: StudentResult) -> str:
    """One autograded test: its points and outcome, and only what a student may read of it."""
    head = (
        f'<div class="test"><strong><code>{_e(cell.grade_id)}</code></strong> '
        f"{_num(cell.points)} / {_num(cell.max_points)} points {_outcome_badge(cell.outcome)}"
    )
    if cell.hidden:
        # Never the output of a hidden test: only "passed" or the grader's message.
        if cell.outcome == PASSED:
            text = "hidden test passed"
        else:
            text = cell.message or f"hidden test {OUTCOME_LABEL.get(cell.outcome, cell.outcome)}"
        return f"{head}<br>{_e(_cut(text, MAX_TEXT_CHARS))}</div>"
    parts = [head]
    output = result.visible_outputs.get(cell.grade_id)
    if output:
        parts.append(_pre(output))
    if cell.outcome != PASSED and cell.message:
        parts.append(f"<br>{_e(_cut(cell.message, MAX_TEXT_CHARS))}")
    return "".join(parts) + "</div>"


def _feedback_body(result: StudentResult, lesson_title: str) -> str:
    manual = _manual_max(result)
    auto_max = result.max_score - manual
    parts = [
        f"<h1>{_e(lesson_title)}</h1>",
        f'<p class="muted">Feedback for <strong>{_e(result.student_id)}</strong></p>',
        f'<div class="box"><span class="big">{_num(result.score)} / {_num(auto_max)}</span> '
        "autograded points",
    ]
    if manual:
        parts.append(f"<br>Another {_num(manual)} points are graded by your instructor.")
    parts.append("</div>")
    if result.status in STUDENT_STATUS_NOTE:
        parts.append(f'<div class="box warn">{_e(STUDENT_STATUS_NOTE[result.status])}</div>')
    if result.flags:
        # Reasons and cells only: a flag's evidence is for the instructor.
        items = "".join(
            f"<li>{_e(f.reason)}" + (f" (<code>{_e(f.cell)}</code>)" if f.cell else "") + "</li>"
            for f in result.flags
        )
        parts.append(f"<h2>Notes on your submission</h2><ul>{items}</ul>")

    groups = _by_exercise(result.cells)
    answers: dict[str, list[str]] = {}
    for grade_id in result.answers:
        answers.setdefault(exercise_of(grade_id), []).append(grade_id)
    for exercise in [*groups, *(ex for ex in answers if ex not in groups)]:
        cells = groups.get(exercise, [])
        tests = [c for c in cells if c.kind != "manual"]
        manual_cells = [c for c in cells if c.kind == "manual"]
        points = ""
        if tests:
            earned = _exercise_points(tests)
            points = f"{_num(earned or 0)} / {_num(sum(c.max_points for c in tests))} points"
        elif manual_cells:
            manual_points = _num(sum(c.max_points for c in manual_cells))
            points = f"{manual_points} points, graded by your instructor"
        parts.append(f'<h2>{_e(_pretty(exercise))} <span class="muted">{points}</span></h2>')
        for grade_id in answers.get(exercise, []):
            parts.append(f"<h3>Your answer <code>{_e(grade_id)}</code></h3>")
            parts.append(_pre(result.answers[grade_id], MAX_ANSWER_CHARS))
        for cell in manual_cells:
            parts.append(
                f'<p class="muted"><code>{_e(cell.grade_id)}</code>: '
                f"{_num(cell.max_points)} points, graded by your instructor.</p>"
            )
        if tests:
            parts.append("<h3>Tests</h3>")
            parts.extend(_test_html(c, result) for c in tests)
    return "\n".join(parts)


def write_feedback(result: StudentResult, path: Path, lesson_title: str) -> None:
    """The page handed back to one student: their score, answers and what the tests said."""
    title = f"{lesson_title}: feedback for {result.student_id}"
    _write(path, _page(title, _feedback_body(result, lesson_title)))


# --- the instructor's report --------------------------------------------------------------


def _nice_width(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least raw."""
    exponent = math.floor(math.log10(raw))
    return next(m * 10.0**exponent for m in (1, 2, 2.5, 5, 10) if m * 10.0**exponent >= raw)


def _bars(values: list[float], top: float) -> tuple[list[int], list[str], list[tuple[float, str]]]:
    """A histogram's bars: one per possible score when there are few, else up to ten bins.

    Returns each bar's count and name, and the x axis ticks as (fraction of the axis, label).
    """
    top = max([top, *values, 0.0])
    for step in (1.0, 0.5):
        if top / step <= 12 and all(float(v / step).is_integer() for v in [top, *values]):
            n = round(top / step) + 1
            counts = [0] * n
            for v in values:
                counts[max(0, round(v / step))] += 1
            names = [_num(i * step) for i in range(n)]
            ticks = [((i + 0.5) / n, names[i]) for i in range(0, n, 1 if n <= 8 else 2)]
            return counts, [f"score {name}" for name in names], ticks
    width = _nice_width(top / 10) if top > 0 else 1.0
    n = max(1, math.ceil(top / width - 1e-9))
    counts = [0] * n
    for v in values:
        counts[min(n - 1, max(0, int(v / width)))] += 1
    edges = [_num(i * width) for i in range(n + 1)]
    ticks = [(i / n, edges[i]) for i in range(0, n + 1, 1 if n <= 8 else 2)]
    return counts, [f"score {edges[i]}–{edges[i + 1]}" for i in range(n)], ticks


def _histogram(title: str, values: list[float], top: float) -> str:
    """A small inline SVG bar chart of how many students got each score."""
    width, height, left, right, top_pad, bottom = 260, 150, 34, 8, 16, 34
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    svg = [
        f"<figure><figcaption>{_e(title)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)} histogram" '
        'font-family="system-ui, sans-serif" font-size="10" fill="#1f2328">'
    ]
    if not values:
        svg.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#59636e">'
            "no autograded scores</text></svg></figure>"
        )
        return "".join(svg)
    counts, names, ticks = _bars(values, top)
    most = max(counts)
    bar_w = plot_w / len(counts)
    base = top_pad + plot_h
    for i, (count, name) in enumerate(zip(counts, names)):
        if not count:
            continue
        x = left + i * bar_w
        h = plot_h * count / most
        svg.append(
            f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{max(bar_w - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="#4a8fd6">'
            f"<title>{_e(name)}: {_plural(count, 'student')}</title></rect>"
            f'<text x="{x + bar_w / 2:.1f}" y="{base - h - 3:.1f}" text-anchor="middle">'
            f"{count}</text>"
        )
    for fraction, label in ticks:
        svg.append(
            f'<text x="{left + fraction * plot_w:.1f}" y="{base + 12}" text-anchor="middle">'
            f"{_e(label)}</text>"
        )
    svg.append(
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#59636e"/>'
        f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle" '
        'fill="#59636e">points</text>'
        f'<text x="12" y="{top_pad + plot_h / 2}" text-anchor="middle" fill="#59636e" '
        f'transform="rotate(-90 12 {top_pad + plot_h / 2})">students</text></svg></figure>'
    )
    return "".join(svg)


def _flag_reasons(flags: list[Flag]) -> str:
    items = "".join(
        f"<li>{_e(f.reason)}" + (f" — <code>{_e(f.cell)}</code>" if f.cell else "") + "</li>"
        for f in flags
    )
    return f'<ul class="reasons">{items}</ul>' if items else ""


def _summary(results: list[StudentResult]) -> str:
    counts = Counter(r.status for r in results)
    statuses = [*STATUSES, *sorted(s for s in counts if s not in STATUSES)]
    by_status = " ".join(f"{_status_badge(s)} {counts[s]}" for s in statuses if counts[s])
    readable = [r.score for r in results if r.status != UNREADABLE]
    scores = (
        f"mean {_num(statistics.mean(readable))}, median {_num(statistics.median(readable))} "
        f"(over {_plural(len(readable), 'readable submission')})"
        if readable
        else "no readable submissions"
    )
    total = sum(r.seconds for r in results)
    parts = [
        '<div class="box">',
        f"<strong>{_plural(len(results), 'submission')}</strong>: {by_status or 'none'}<br>",
        f"Score: {scores}<br>",
        f"Grading time: {_seconds(total)} in all (sum over submissions)",
        "</div>",
    ]
    unsandboxed = sum(not r.sandboxed for r in results)
    if unsandboxed:
        parts.append(
            f'<div class="box warn">{_plural(unsandboxed, "submission")} graded without the '
            "sandbox (--unsandboxed).</div>"
        )
    return "\n".join(parts)


def _needs_a_person(results: list[StudentResult]) -> str:
    rank = {status: i for i, status in enumerate(NEEDS_A_PERSON)}
    chosen = sorted(
        (r for r in results if r.status in rank),
        key=lambda r: (rank[r.status], r.student_id),
    )
    if not chosen:
        return "<h2>Needs a person</h2><p>Nobody: every submission was graded normally.</p>"
    items = []
    for r in chosen:
        flags = _all_flags(r)
        reasons = _flag_reasons(flags) or '<ul class="reasons"><li>no reason recorded</li></ul>'
        items.append(
            f'<li><a href="#row-{_anchor(r.student_id)}">{_e(r.student_id)}</a> '
            f"{_status_badge(r.status)}{reasons}</li>"
        )
    return f"<h2>Needs a person ({len(chosen)})</h2><ul>{''.join(items)}</ul>"


def _table(results: list[StudentResult], exercises: dict[str, float]) -> str:
    head = "".join(
        f'<th class="num">{_e(ex)}<br><span class="muted">/ {_num(top)}</span></th>'
        for ex, top in exercises.items()
    )
    rows = []
    for r in results:
        groups = _by_exercise(r.cells)
        points = "".join(
            f'<td class="num">{_num(_exercise_points(groups.get(ex, [])))}</td>' for ex in exercises
        )
        anchor = _anchor(r.student_id)
        rows.append(
            f'<tr id="row-{anchor}"><td><a href="#{anchor}">{_e(r.student_id)}</a></td>'
            f'<td class="num">{_num(r.score)} / {_num(r.max_score)}</td>'
            f"<td>{_status_badge(r.status)}</td>{points}"
            f'<td class="num">{r.seconds:.1f}</td><td class="num">{len(_all_flags(r))}</td></tr>'
        )
    return (
        '<h2>Students</h2><table><thead><tr><th>student</th><th class="num">score</th>'
        f'<th>status</th>{head}<th class="num">seconds</th><th class="num">flags</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _student_details(r: StudentResult) -> str:
    flags = _all_flags(r)
    parts = [
        f'<details id="{_anchor(r.student_id)}"><summary>{_e(r.student_id)} '
        f"{_status_badge(r.status)} {_num(r.score)} / {_num(r.max_score)}</summary>",
        f'<p class="muted">file: <code>{_e(r.source_file or "–")}</code> · '
        f"{r.seconds:.1f} s · "
        f'<a href="feedback/{_e(quote(r.student_id))}.html">feedback page</a></p>',
    ]
    if flags:
        rows = "".join(
            f"<tr><td><code>{_e(f.kind)}</code>{' ' + _badge('review', 'red') if f.review else ''}"
            f"</td><td>{_e(f.reason)}</td><td><code>{_e(f.cell)}</code></td>"
            f"<td>{_pre(f.evidence) if f.evidence else ''}</td></tr>"
            for f in flags
        )
        parts.append(
            "<h3>Flags</h3><table><thead><tr><th>kind</th><th>reason</th><th>cell</th>"
            f"<th>evidence</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    if r.cells:
        rows = "".join(
            f"<tr><td><code>{_e(c.grade_id)}</code>{' (hidden)' if c.hidden else ''}</td>"
            f"<td>{_outcome_badge(MANUAL if c.kind == 'manual' else c.outcome)}"
            f'</td><td class="num">{_num(c.points)} / {_num(c.max_points)}</td>'
            f'<td class="num">{c.seconds:.1f}</td>'
            f"<td>{_e(_cut(c.message, MAX_TEXT_CHARS))}</td></tr>"
            for c in r.cells
        )
        parts.append(
            '<h3>Cells</h3><table><thead><tr><th>cell</th><th>outcome</th><th class="num">points'
            f'</th><th class="num">seconds</th><th>message</th></tr></thead><tbody>{rows}'
            "</tbody></table>"
        )
    parts.append("</details>")
    return "\n".join(parts)


def _charts(results: list[StudentResult], exercises: dict[str, float]) -> str:
    graded = [r for r in results if r.status != UNREADABLE]
    charts = []
    for exercise, top in exercises.items():
        values = [
            p
            for r in graded
            if (p := _exercise_points(_by_exercise(r.cells).get(exercise, []))) is not None
        ]
        charts.append(_histogram(exercise, values, top))
    autograded = [r.max_score - _manual_max(r) for r in graded]
    charts.append(_histogram("total", [r.score for r in graded], max(autograded, default=0.0)))
    return f'<h2>Scores</h2><div class="charts">{"".join(charts)}</div>'


def write_report(
    results: list[StudentResult], path: Path, lesson: str, exercises: dict[str, float]
) -> None:
    """The instructor's page: who needs a person first, then everyone, then the details."""
    results = sorted(results, key=lambda r: r.student_id)
    body = "\n".join(
        [
            f"<h1>Grading report: {_e(lesson)}</h1>",
            _summary(results),
            _needs_a_person(results),
            _table(results, exercises),
            _charts(results, exercises),
            "<h2>Details</h2>",
            *(_student_details(r) for r in results),
        ]
    )
    _write(path, _page(f"Grading report: {lesson}", body))


def write_all(
    results: list[StudentResult],
    out_dir: Path,
    lesson: str,
    lesson_title: str,
    exercises: dict[str, float],
) -> None:
    """grades.csv, report.html and feedback/<student_id>.html for each student in results.

    Feedback pages of students not in results are left alone (a rerun of some students must
    not delete the others' pages).
    """
    for r in results:
        if not SAFE_ID.fullmatch(r.student_id):
            raise ValueError(f"unsafe student id for a file name: {r.student_id!r}")
    feedback = Path(out_dir) / "feedback"
    feedback.mkdir(parents=True, exist_ok=True)
    write_csv(results, Path(out_dir) / "grades.csv")
    write_report(results, Path(out_dir) / "report.html", lesson, exercises)
    for r in results:
        write_feedback(r, feedback / f"{r.student_id}.html", lesson_title)
