"""What `make release` hands out: editions without answers, a wheel that finds its weights,
and a Colab path that works from the notebook's first cell.

The claim "every lesson of a graded edition runs top to bottom with the solutions pasted
into its answer cells" is proven in two places: tests/test_notebooks.py runs each lesson's
teacher notebook (the same cells, plus the hidden tests) with the course_utils of that
lesson's graded edition, which has the fewest reference bodies any edition holding the
lesson has; and the edition's notebooks are checked here to be exactly lessons/ (the
teacher notebook with stubs). The simulated-Colab test below runs two edition notebooks
themselves, installed from the edition's wheel by their own setup cell.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import colab_check
import nbformat
import pytest
import release
from notebook_utils import REPO_ROOT, lesson_names, lesson_path, read, solution_path

LESSONS = lesson_names()
VENV_PYTHON = Path(sys.executable)  # the course's environment, whose packages Colab "has"
SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def squeeze(text: str) -> str:
    """Whitespace-normalized text: every run of blanks and newlines becomes one space."""
    return " ".join(text.split())


def answer_bodies(lesson: str) -> list[str]:
    """The text between the solution markers of a lesson's answer cells, normalized."""
    bodies = []
    for cell in read(solution_path(lesson)).cells:
        for body in SOLUTION_BLOCK.findall(cell.source):
            if squeeze(body):
                bodies.append(squeeze(body))
    return bodies


def _lines(text: str) -> list[str]:
    return [squeeze(line) for line in text.splitlines() if squeeze(line)]


def _windows(lines: list[str], size: int = 3) -> set[str]:
    return {" | ".join(lines[i : i + size]) for i in range(len(lines) - size + 1)}


def public_lines() -> tuple[set[str], set[str]]:
    """Lines (and runs of three lines) that are public anyway: the repository's course_utils
    and every teacher notebook without its hidden tests. A hidden test may share a generic
    line with them (``with torch.no_grad():``) without giving anything away."""
    texts = [p.read_text() for p in sorted(release.PACKAGE_DIR.glob("*.py"))]
    texts += [HIDDEN_BLOCK.sub("", c.source) for n in LESSONS for c in read(solution_path(n)).cells]
    lines = [_lines(text) for text in texts]
    return {line for group in lines for line in group}, set().union(*map(_windows, lines))


def hidden_secrets(lesson: str, public: tuple[set[str], set[str]]) -> list[str]:
    """What of a lesson's hidden tests must never be handed out: every line of 20 characters
    or more, and every run of three lines, that is not public anyway (see public_lines)."""
    lines, runs = public
    secrets = []
    for cell in read(solution_path(lesson)).cells:
        for block in HIDDEN_BLOCK.findall(cell.source):
            hidden = _lines(block)
            secrets += [line for line in hidden if len(line) >= 20 and line not in lines]
            secrets += sorted(_windows(hidden) - runs)
    return secrets


def edition_texts(folder: Path) -> dict[str, str]:
    """Every file of an edition as text (a notebook as its cells' sources), normalized."""
    texts = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = str(path.relative_to(folder))
        if path.suffix == ".ipynb":
            texts[name] = squeeze("\n".join(c.source for c in nbformat.read(path, 4).cells))
        elif path.suffix in (".pt",):
            continue  # weights: binary
        else:
            texts[name] = squeeze(path.read_text())
    return texts


def leaks(texts: dict[str, str], needles: list[str]) -> list[str]:
    """needle -> the files whose normalized text contains it."""
    return [f"{name}: {needle[:90]}" for needle in needles for name, text in texts.items()
            if needle in text]  # fmt: skip


def hidden_leaks(folder: Path, secrets: list[str]) -> list[str]:
    """The hidden-test lines and runs of lines found, whole, in an edition's files."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".pt"):
        if path.suffix == ".ipynb":
            text = "\n".join(c.source for c in nbformat.read(path, 4).cells)
        else:
            text = path.read_text()
        lines = _lines(text)
        present = set(lines) | _windows(lines)
        found += [f"{path.relative_to(folder)}: {s[:90]}" for s in secrets if s in present]
    return found


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    """The open-book edition (with its wheel) and every graded edition (folders only)."""
    out = tmp_path_factory.mktemp("dist")
    built = {"open": release.build_edition(None, out)}
    for lesson in LESSONS:
        built[lesson] = release.build_edition(lesson, out, wheel=False)
    return built


# --- fast checks of the sources ------------------------------------------------------------


def test_exercise_markers_are_well_formed_and_cover_graded_lessons():
    regions = [r for p in sorted(release.PACKAGE_DIR.glob("*.py"))
               for r in release.exercise_regions(p)]  # fmt: skip
    marked = {lesson for _, _, lesson, _ in regions}
    # Lessons 00 and 01 have no counterpart in course_utils; every later one has.
    assert set(LESSONS[2:]) <= marked, f"lessons with no marked answer: {set(LESSONS[2:]) - marked}"


@pytest.mark.parametrize("name", LESSONS)
def test_notebooks_carry_the_publication_address(name):
    address = release.publication()
    for path in (solution_path(name), lesson_path(name)):
        nb = read(path)
        assert release.colab_url(address, name) in nb.cells[0].source, (
            f"{path.name}: no Open-in-Colab badge for {address}; run `make lessons`"
        )
        setup = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                     == "setup")  # fmt: skip
        assert f'"COURSE_SOURCE", "{release.install_source(address)}"' in setup.source, (
            f"{path.name}: the setup cell does not install from {address}; run `make lessons`"
        )


def test_another_address_is_written_once_and_keeps_the_text_apart():
    nb = read(lesson_path(LESSONS[0]))
    assert not release.apply_address(nb, LESSONS[0], release.publication())  # already there
    other = {"repository": "https://github.com/someone/course", "branch": "spring"}
    assert release.apply_address(nb, LESSONS[0], other)
    assert not release.apply_address(nb, LESSONS[0], other)
    title, blank, badge, blank_after = nb.cells[0].source.splitlines()[:4]
    assert (blank, blank_after) == ("", "") and release.colab_url(other, LESSONS[0]) in badge
    assert "git+https://github.com/someone/course@spring" in "".join(c.source for c in nb.cells)


def test_the_package_allows_colabs_python():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert "<3.13" not in project["requires-python"].replace(" ", "")
    versions = release.colab_versions()
    assert set(release.RUNTIME_PACKAGES) <= set(versions), "tools/colab_versions.txt is short"


# --- the editions --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", LESSONS)
def test_graded_edition_holds_no_answer_and_no_hidden_test(name, editions):
    folder, _ = editions[name]
    present = sorted(p.name for p in folder.iterdir())
    assert present == [".gitignore", "README.md", "course_utils", "lessons", "pyproject.toml",
                       "requirements.txt"], present  # fmt: skip
    assert sorted(p.name for p in (folder / "lessons").iterdir()) == [n for n in LESSONS
                                                                      if n <= name]  # fmt: skip
    texts = edition_texts(folder)
    later = [n for n in LESSONS if n >= name]
    answers = [body for lesson in later for body in answer_bodies(lesson)]
    assert answers
    assert not leaks(texts, answers), "answers in the edition:\n" + "\n".join(leaks(texts, answers))
    public = public_lines()
    secrets = [s for lesson in LESSONS for s in hidden_secrets(lesson, public)]
    assert len(secrets) > 100
    found = hidden_leaks(folder, secrets)
    assert not found, "hidden tests in the edition:\n" + "\n".join(found)
    assert not [n for n, t in texts.items() if "course_reference" in t or "BEGIN EXERCISE" in t]
    # The edition's notebooks are the student notebooks, unchanged (same address).
    for lesson in (n for n in LESSONS if n <= name):
        assert read(folder / "lessons" / lesson / f"{lesson}.ipynb") == read(lesson_path(lesson))


@pytest.mark.slow
def test_a_reference_body_left_out_says_where_to_write_it(editions):
    folder, _ = editions["06_grad_cam"]
    call = "from course_utils import gradcam; gradcam.grad_cam(None, None, 0, layer='relu4')"
    run = subprocess.run([sys.executable, "-c", call], cwd=folder, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(folder)})  # fmt: skip
    assert (
        "NotImplementedError: gradcam.grad_cam is left out of this edition: it is part of an "
        "exercise of lesson 06_grad_cam, which you write yourself"
    ) in run.stderr
    # Earlier lessons' bodies stay: lesson 06 builds on lesson 05's guided backprop.
    assert "left out of this edition" not in (folder / "course_utils" / "guided.py").read_text()


@pytest.mark.slow
def test_open_edition_has_every_lesson_and_no_hidden_test(editions):
    folder, wheel = editions["open"]
    assert sorted(p.name for p in (folder / "lessons").iterdir()) == LESSONS
    public = public_lines()
    found = hidden_leaks(folder, [s for n in LESSONS for s in hidden_secrets(n, public)])
    assert not found, "hidden tests in the edition:\n" + "\n".join(found)
    for path in release.PACKAGE_DIR.glob("*.py"):  # all of course_utils, markers removed
        assert "left out of this edition" not in (folder / "course_utils" / path.name).read_text()
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert {"course_utils/weights/digits_cnn.pt", "course_utils/weights/SHA256SUMS"} <= set(names)
    assert not [n for n in names if n.startswith(("course_reference", "solutions", "tests"))]


@pytest.mark.slow
def test_the_wheel_finds_its_weights_wherever_it_is_installed(editions, tmp_path):
    _, wheel = editions["open"]
    python = colab_check.layered_venv(VENV_PYTHON, tmp_path / "venv")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
                   check=True, capture_output=True)  # fmt: skip
    probe = "from course_utils import env, models; models.load_model('digits'); print(env.DATA_DIR)"
    out = subprocess.run([str(python), "-c", probe], cwd=tmp_path, check=True,
                         capture_output=True, text=True)  # fmt: skip
    data_dir = Path(out.stdout.strip())
    assert data_dir.parts[-2:] == ("course_utils", "weights") and "site-packages" in data_dir.parts


# --- Colab, simulated ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["00_getting_started", "06_grad_cam"])
def test_a_new_colab_user_runs_the_lesson_from_its_first_cell(name, editions, tmp_path, capsys):
    """An empty /content with only the notebook, google.colab imported, the course not
    installed: the setup cell installs the edition's wheel and the lesson runs through."""
    folder, wheel = editions["open"]
    nb = colab_check.with_solutions(read(folder / "lessons" / name / f"{name}.ipynb"), name)
    executed, seconds = colab_check.run_in_colab(nb, name, wheel.as_uri(), VENV_PYTHON, tmp_path)
    with capsys.disabled():
        print(f"\n  {name}: ran in simulated Colab in {seconds:.0f} s")
    setup = next(c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                 == "setup")  # fmt: skip
    assert "Running on Colab: True" in "".join(o.get("text", "") for o in setup.outputs)
    installed = list((tmp_path / "venv" / "lib").glob("python*/site-packages/course_utils/weights"))
    assert installed, "the setup cell did not install the course into the kernel's environment"


@pytest.mark.slow
def test_a_failed_install_says_what_failed_in_one_sentence(editions, tmp_path):
    folder, _ = editions["open"]
    nb = read(folder / "lessons" / LESSONS[0] / f"{LESSONS[0]}.ipynb")
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"]
    missing = (tmp_path / "nowhere" / "seeing_inside_cnns-0.1.0-py3-none-any.whl").as_uri()
    with pytest.raises(Exception, match="CourseSetupError"):
        colab_check.run_in_colab(nb, LESSONS[0], missing, VENV_PYTHON,
                                 tmp_path, timeout=300)  # fmt: skip
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert len(error.traceback) == 1, "a traceback instead of one sentence"
    assert missing in error.evalue and "COURSE_SOURCE" in error.evalue


@pytest.mark.slow
def test_the_leak_checks_find_a_teacher_notebook_slipped_into_an_edition(editions, tmp_path):
    """The two checks above can fail: a solution notebook copied into an edition is caught."""
    folder = tmp_path / "edition"
    shutil.copytree(editions["04_saliency"][0], folder)
    shutil.copy(solution_path("04_saliency"), folder / "lessons" / "04_saliency" / "copy.ipynb")
    assert leaks(edition_texts(folder), answer_bodies("04_saliency"))
    public = public_lines()
    assert hidden_leaks(folder, hidden_secrets("04_saliency", public))
