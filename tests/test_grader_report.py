"""Tests of tools/grader/report.py: the CSV, the students' feedback pages and the report.

The results are made up here (no notebooks run), so the file takes well under a second. The
pages show text from untrusted submissions; these tests check that it is always escaped, that
hidden outputs and a flag's evidence never reach a student, and that the pages are well formed.
"""

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from grader import report
from grader.results import (
    FAILED,
    GRADED,
    MANUAL,
    NEEDS_REVIEW,
    PARTIAL,
    PASSED,
    TIMEOUT,
    UNREADABLE,
    CellResult,
    Flag,
    StudentResult,
)

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
BREAKOUT = "</pre><script>"
LINK = '<a href="javascript:alert(1)">click</a>'
HOSTILE = (SCRIPT, IMG, BREAKOUT, LINK, "<SCRIPT SRC=//x>")
EVIDENCE = "EVIDENCE-ONLY-FOR-INSTRUCTORS assert torch.allclose(normalize(x), expected)"
HIDDEN_OUTPUT = "HIDDEN-OUTPUT-NEVER-SHOWN"
HIDDEN_MESSAGE = (
    "hidden test failed: AssertionError: normalize(batch of 2-channel images) differs ..."
)
EXERCISES = {"ex1": 3.0, "ex2": 3.5, "reflection": 2.0}
# Void elements have no end tag; every other element must be closed in order.
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr"}
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "div", "span",
    "strong", "code", "pre", "br", "ul", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
    "details", "summary", "figure", "figcaption", "svg", "rect", "text", "line",
}  # fmt: skip


def cells(ex1_hidden: str, ex2: str) -> list[CellResult]:
    """The lesson's graded cells with the given outcomes of ex1_hidden and ex2_hidden."""
    return [
        CellResult("ex1_visible", "ex1", "test", 1.0, 1.0, PASSED, seconds=0.5),
        CellResult(
            "ex1_hidden", "ex1", "test", 2.0, 2.0 if ex1_hidden == PASSED else 0.0, ex1_hidden,
            hidden=True, message="" if ex1_hidden == PASSED else HIDDEN_MESSAGE, seconds=1.25,
        ),
        CellResult(
            "ex2_hidden", "ex2", "test", 3.5, 3.5 if ex2 == PASSED else 0.0, ex2, hidden=True,
            message="ran past its time limit of 60 s" if ex2 == TIMEOUT else "", seconds=2.0,
        ),
        CellResult("reflection_answer", "reflection", "manual", 2.0, None, MANUAL,
                   message="graded by your instructor"),
    ]  # fmt: skip


@pytest.fixture
def results() -> list[StudentResult]:
    """Four students, deliberately out of order: honest, partial, needs_review, unreadable."""
    carol = StudentResult(
        "carol", "03_normalize", 4.5, 8.5, NEEDS_REVIEW, seconds=6.0,
        flags=[
            Flag("tampering", f"hidden test cell was edited {BREAKOUT}", "ex1_hidden", True,
                 f"{EVIDENCE} {SCRIPT}"),
            Flag("tampering", "cell metadata claims to be read-only", "ex1_answer", True,
                 EVIDENCE),
            Flag("metadata_repaired", "grade_id restored from the instructor's notebook",
                 "cell 7"),
        ],
        cells=cells(FAILED, PASSED),
        answers={"ex1_answer": "def normalize(x):\n    return x\n"},
        # A grader bug must not leak this: hidden tests never show outputs.
        visible_outputs={"ex1_visible": "ok", "ex1_hidden": HIDDEN_OUTPUT},
    )  # fmt: skip
    bob = StudentResult(
        "bob", "03_normalize", 3.0, 8.5, PARTIAL, seconds=63.5,
        flags=[Flag("timeout", f"ex2 ran past its 60 s limit {IMG}", "ex2_hidden")],
        cells=cells(PASSED, TIMEOUT),
        answers={"ex1_answer": "\n".join(HOSTILE), "reflection_answer": f"# Title\n{SCRIPT}"},
        visible_outputs={"ex1_visible": f"{IMG}\n{BREAKOUT}"},
    )  # fmt: skip
    alice = StudentResult(
        "alice", "03_normalize", 6.5, 8.5, GRADED, seconds=4.4,
        cells=cells(PASSED, PASSED),
        answers={
            "ex1_answer": "def normalize(x):\n    return (x - x.mean()) / x.std()\n",
            "reflection_answer": "The filters look like edges.",
        },
        visible_outputs={"ex1_visible": "ok: shape (2, 3, 8, 8)"},
    )  # fmt: skip
    dave = StudentResult(
        "dave", "03_normalize", 0.0, 8.5, UNREADABLE, seconds=0.3, sandboxed=False,
        flags=[Flag("unreadable", "not a notebook: invalid JSON at line 1", "", True)],
    )  # fmt: skip
    return [carol, bob, alice, dave]


class Checker(HTMLParser):
    """Records the tags and attributes of a page and every end tag that does not match."""

    def __init__(self, page: str):
        super().__init__()
        self.stack: list[str] = []
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []
        self.errors: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.extend(attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def assert_safe(page: str) -> Checker:
    """Well formed, only our own tags, no script, no event handler, no remote resource."""
    checker = Checker(page)
    assert checker.errors == [] and checker.stack == []
    assert checker.tags <= ALLOWED_TAGS, checker.tags - ALLOWED_TAGS
    assert "<script" not in page.lower()
    assert not [name for name, _ in checker.attrs if name.startswith("on")]
    hrefs = [value for name, value in checker.attrs if name in ("href", "src")]
    assert all(v.startswith(("#", "feedback/")) for v in hrefs), hrefs
    assert (
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">" in page
    )
    return checker


def assert_escaped(page: str, text: str) -> None:
    assert html.escape(text, quote=True) in page
    assert text not in page


def feedback(result: StudentResult, tmp_path: Path) -> str:
    path = tmp_path / f"{result.student_id}.html"
    report.write_feedback(result, path, "Lesson 3: Normalizing images")
    return path.read_text(encoding="utf-8")


def by_id(results: list[StudentResult], student_id: str) -> StudentResult:
    return next(r for r in results if r.student_id == student_id)


def test_csv_is_sorted_with_unique_flag_kinds(results, tmp_path):
    path = tmp_path / "grades.csv"
    report.write_csv(results, path)
    assert path.read_text(encoding="utf-8") == (
        "student_id,score,max_score,status,flags\n"
        "alice,6.5,8.5,graded,\n"
        "bob,3,8.5,partial,timeout\n"
        "carol,4.5,8.5,needs_review,tampering;metadata_repaired\n"
        "dave,0,8.5,unreadable,unreadable;unsandboxed\n"
    )


def test_feedback_shows_score_answers_and_visible_outputs(results, tmp_path):
    page = feedback(by_id(results, "alice"), tmp_path)
    assert_safe(page)
    assert "<h1>Lesson 3: Normalizing images</h1>" in page
    assert '<span class="big">6.5 / 6.5</span> autograded points' in page
    assert "Another 2 points are graded by your instructor." in page
    assert "<pre>\ndef normalize(x):\n    return (x - x.mean()) / x.std()\n</pre>" in page
    assert "<pre>\nok: shape (2, 3, 8, 8)</pre>" in page
    assert "<pre>\nThe filters look like edges.</pre>" in page
    assert re.findall(r"<h2>(.*?) <span", page) == ["Exercise 1", "Exercise 2", "Reflection"]
    assert page.count("hidden test passed") == 2


def test_feedback_shows_hidden_message_but_never_evidence_or_hidden_output(results, tmp_path):
    page = feedback(by_id(results, "carol"), tmp_path)
    assert_safe(page)
    assert '<span class="big">4.5 / 6.5</span>' in page
    assert f"<br>{HIDDEN_MESSAGE}</div>" in page
    assert "Your instructor will look at this submission" in page
    assert "grade_id restored from the instructor&#x27;s notebook (<code>cell 7</code>)" in page
    assert "EVIDENCE-ONLY" not in page and "torch.allclose" not in page
    assert HIDDEN_OUTPUT not in page
    assert "<pre>\nok</pre>" in page


def test_feedback_escapes_hostile_answers_outputs_and_reasons(results, tmp_path):
    bob = by_id(results, "bob")
    page = feedback(bob, tmp_path)
    checker = assert_safe(page)
    assert "img" not in checker.tags and "script" not in checker.tags
    for text in (*HOSTILE, IMG, BREAKOUT):
        assert_escaped(page, text)
    assert f"<pre>\n{html.escape(bob.answers['ex1_answer'])}</pre>" in page
    assert "<pre>\n# Title\n&lt;script&gt;alert(1)&lt;/script&gt;</pre>" in page  # no markdown
    assert "ran past its time limit of 60 s" in page
    assert "Some cells could not finish" in page


def test_feedback_of_an_unreadable_submission(results, tmp_path):
    page = feedback(by_id(results, "dave"), tmp_path)
    assert_safe(page)
    assert '<span class="big">0 / 8.5</span>' in page
    assert "could not be read as a notebook" in page
    assert "<h2>Exercise" not in page


def test_feedback_cuts_huge_answers_and_survives_lone_surrogates(tmp_path):
    result = StudentResult("erin", "03_normalize", answers={"ex1_answer": "x" * 25_000 + "\ud800"})
    page = feedback(result, tmp_path)
    assert_safe(page)
    assert "x" * 20_000 + "\n… (5001 more characters not shown)</pre>" in page


def test_report_lists_people_first_and_escapes_everything(results, tmp_path):
    path = tmp_path / "report.html"
    report.write_report(results, path, "03_normalize", EXERCISES)
    page = path.read_text(encoding="utf-8")
    assert_safe(page)
    needs = page[page.index("<h2>Needs a person") : page.index("<h2>Students")]
    assert "<h2>Needs a person (3)</h2>" in needs
    assert re.findall(r'href="#row-student-(\w+)"', needs) == ["carol", "dave", "bob"]
    assert "cell metadata claims to be read-only — <code>ex1_answer</code>" in needs
    assert "not a notebook: invalid JSON at line 1" in needs
    assert "EVIDENCE-ONLY" not in needs
    for text in (SCRIPT, IMG, BREAKOUT):
        assert_escaped(page, text)
    assert f"<pre>\n{html.escape(EVIDENCE)} {html.escape(SCRIPT)}</pre>" in page
    assert page.count('<details id="student-') == 4
    assert "4 submissions" in page
    assert "mean 4.67, median 4.5 (over 3 readable submissions)" in page
    assert "Grading time: 1 min 14 s" in page
    assert "1 submission graded without the sandbox" in page


def test_report_table_has_points_per_exercise(results, tmp_path):
    path = tmp_path / "report.html"
    report.write_report(results, path, "03_normalize", EXERCISES)
    page = path.read_text(encoding="utf-8")
    rows = re.findall(r'<tr id="row-student-(\w+)">(.*?)</tr>', page)
    table = {
        student: [re.sub(r"<[^>]+>", "", td) for td in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for student, row in rows
    }
    assert table == {
        "alice": ["alice", "6.5 / 8.5", "graded", "3", "3.5", "–", "4.4", "0"],
        "bob": ["bob", "3 / 8.5", "partial", "3", "0", "–", "63.5", "1"],
        "carol": ["carol", "4.5 / 8.5", "needs review", "1", "3.5", "–", "6.0", "3"],
        "dave": ["dave", "0 / 8.5", "unreadable", "–", "–", "–", "0.3", "2"],
    }


def test_report_draws_a_histogram_per_exercise_and_the_total(results, tmp_path):
    path = tmp_path / "report.html"
    report.write_report(results, path, "03_normalize", EXERCISES)
    page = path.read_text(encoding="utf-8")
    figures = dict(re.findall(r"<figure><figcaption>(.*?)</figcaption>(.*?)</figure>", page))
    assert list(figures) == ["ex1", "ex2", "reflection", "total"]
    assert all(svg.startswith("<svg") for svg in figures.values())
    bars = {name: re.findall(r"<title>(.*?)</title>", svg) for name, svg in figures.items()}
    assert bars == {
        "ex1": ["score 1: 1 student", "score 3: 2 students"],
        "ex2": ["score 0: 1 student", "score 3.5: 2 students"],
        "reflection": [],
        "total": ["score 3–4: 1 student", "score 4–5: 1 student", "score 6–7: 1 student"],
    }
    assert "no autograded scores" in figures["reflection"]


def test_write_all_writes_every_page_and_refuses_unsafe_ids(results, tmp_path):
    out = tmp_path / "out"
    report.write_all(results, out, "03_normalize", "Lesson 3", EXERCISES)
    assert sorted(p.name for p in (out / "feedback").iterdir()) == [
        "alice.html", "bob.html", "carol.html", "dave.html",
    ]  # fmt: skip
    assert (out / "grades.csv").read_text().startswith("student_id,score,max_score,status,flags\n")
    assert "<h1>Grading report: 03_normalize</h1>" in (out / "report.html").read_text()
    with pytest.raises(ValueError, match="unsafe student id"):
        report.write_all([StudentResult("../evil", "x")], tmp_path / "other", "x", "x", {})
    assert not (tmp_path / "other").exists() and not (tmp_path / "evil.html").exists()
