"""A made-up class for lesson 00: honest, careless, odd and hostile submissions.

`build(folder)` writes the submissions the way a learning-management system exports them
(`<student>.ipynb`, or `<student>/<anything>.ipynb`) and returns, for every student, the
exact score, status and flags that `make grade` must give. Lesson 00 has 11 autograded
points (exercise 1: 1 + 3, exercise 2: 1 + 3, exercise 3: 1 + 2) and a 2-point reflection
graded by a person, so max_score is 13 and an untouched notebook scores 0.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import nbformat
from notebook_utils import (
    cells_by_id,
    correct_answers,
    fill_in,
    grade_id,
    lesson_path,
    read,
    solution_path,
)

LESSON = "00_getting_started"
FULL, MAX = 11.0, 13.0
EX1, EX2, EX3 = 4.0, 4.0, 3.0


@dataclass
class Expected:
    score: float
    status: str
    flags: tuple[str, ...] = ()  # flag kinds that must appear in the CSV row
    why: str = ""


def _answers() -> dict[str, str]:
    return correct_answers(read(solution_path(LESSON)))


def _accuracy_with(body: str) -> str:
    """An accuracy answer that does ``body`` first, then computes the right value."""
    right = _answers()["ex2_answer"]
    head, rest = right.split("\n", 1)
    indented = "".join(f"    {line}\n" for line in body.strip().splitlines())
    return f"{head}\n{indented}{rest}"


CORRECT_ACCURACY_WITH_TQDM = """from tqdm.auto import tqdm


def accuracy(model, images, labels, batch_size=256):
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in tqdm(range(0, len(images), batch_size), desc="batches"):
            scores = model(images[start : start + batch_size])
            correct += int((scores.argmax(dim=1) == labels[start : start + batch_size]).sum())
    return correct / len(images)
"""

NUMPY_NORMALIZE = """def normalize(x, mean, std):
    mean = np.asarray(mean).reshape(-1, 1, 1)
    std = np.asarray(std).reshape(-1, 1, 1)
    return (x.numpy() - mean) / std


def denormalize(x, mean, std):
    mean = np.asarray(mean).reshape(-1, 1, 1)
    std = np.asarray(std).reshape(-1, 1, 1)
    return (np.asarray(x) * std) + mean
"""

WRONG_CONFUSION = """def confusion_matrix(predictions, labels, n_classes):
    return torch.zeros(n_classes, n_classes, dtype=torch.int64)
"""

LYING_FLOAT = """class Score(float):
    def __sub__(self, other):
        return 0.0

    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


def accuracy(model, images, labels, batch_size=256):
    return Score(0.5)
"""


def _with_cell(nb, after_gid: str, source: str, cell_type: str = "code", metadata=None):
    """Insert a new cell right after the cell ``after_gid``."""
    new = (nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell)(
        source
    )
    if metadata is not None:
        new.metadata = metadata
    position = next(i for i, c in enumerate(nb.cells) if grade_id(c) == after_gid)
    nb.cells.insert(position + 1, new)
    return nb


def colab_saved(nb) -> str:
    """``nb`` as Google Colab writes it on "Download .ipynb" (the worst case seen in public
    notebooks; Colab documents nothing): format 4.0, so no cell ids; cell metadata replaced
    by Colab's own (an id, an output height); Colab's notebook metadata; outputs kept."""
    saved = {"nbformat": 4, "nbformat_minor": 0, "cells": [], "metadata": {
        "colab": {"provenance": [], "name": f"{LESSON}.ipynb"},
        "kernelspec": {"name": "python3", "display_name": "Python 3"},
        "language_info": {"name": "python"}, "accelerator": "GPU"}}  # fmt: skip
    for number, cell in enumerate(nb.cells):
        saved_cell = {"cell_type": cell.cell_type, "source": cell.source,
                      "metadata": {"id": f"c0lab{number:04d}"}}  # fmt: skip
        if cell.cell_type == "code":
            saved_cell["metadata"]["colab"] = {"base_uri": "https://localhost:8080/"}
            saved_cell["outputs"], saved_cell["execution_count"] = [], None
        saved["cells"].append(saved_cell)
    return json.dumps(saved, indent=2)


def build(folder: Path) -> dict[str, Expected]:
    """Write the class into ``folder``; return what grading each submission must give."""
    folder.mkdir(parents=True, exist_ok=True)
    released = read(lesson_path(LESSON))
    answers = _answers()
    perfect = fill_in(released, answers)
    expected: dict[str, Expected] = {}

    def submit(student: str, nb, want: Expected, name: str | None = None):
        if name is None:
            path = folder / f"{student}.ipynb"
        else:
            path = folder / student / name
            path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(nb, bytes | str):
            path.write_bytes(nb if isinstance(nb, bytes) else nb.encode())
        else:
            nbformat.write(nb, path)
        expected[student] = want

    def answered(**changes):
        return fill_in(released, {**answers, **changes})

    # --- honest and careless work: keeps every point it earned --------------------------
    submit("honest", perfect, Expected(FULL, "graded"), name="my work/lesson.ipynb")
    submit("untouched", released, Expected(0, "graded"))
    submit("tqdm_bar", answered(ex2_answer=CORRECT_ACCURACY_WITH_TQDM), Expected(FULL, "graded",
           why="a progress bar on stderr costs nothing"))  # fmt: skip
    submit("numpy_not_tensor", answered(ex1_answer=NUMPY_NORMALIZE),
           Expected(FULL - EX1, "graded", why="an array where a tensor is asked: ex1 fails "
                    "consistently (check and hidden tests)"))  # fmt: skip
    stripped = copy.deepcopy(perfect)
    for cell in stripped.cells:
        cell.metadata = {}
    submit("stripped_metadata", stripped, Expected(FULL, "graded", ("metadata_repaired",)))
    submit("colab_saved", colab_saved(perfect), Expected(FULL, "graded", ("metadata_repaired",),
           why="saved by Colab: nbgrader metadata and cell ids gone, Colab's own added"))
    duplicated = copy.deepcopy(perfect)
    first_copy = copy.deepcopy(cells_by_id(duplicated)["ex1_answer"])
    first_copy.source = "def normalize(x, mean, std):\n    return x\n"
    first_copy.id = "duplicate-1"
    position = duplicated.cells.index(cells_by_id(duplicated)["ex1_answer"])
    duplicated.cells.insert(position, first_copy)
    submit("duplicated_answer", duplicated, Expected(FULL, "graded", ("duplicate_cell",)))
    extra = _with_cell(copy.deepcopy(perfect), "ex3_hidden", "print('bonus')", metadata={
        "nbgrader": {"grade": True, "grade_id": "bonus", "points": 100, "solution": False,
                     "locked": False, "schema_version": 3}})  # fmt: skip
    submit("extra_graded_cell", extra, Expected(FULL, "graded", ("extra_graded_cell",)))
    turned = copy.deepcopy(answered(ex1_answer=WRONG_CONFUSION.replace("confusion_matrix",
                                                                         "normalize")))  # fmt: skip
    meta = cells_by_id(turned)["ex1_answer"].metadata["nbgrader"]
    meta.update(grade=True, solution=False, points=50)
    submit("answer_made_test", turned, Expected(FULL - EX1, "graded", ("metadata_repaired",)))
    schema = copy.deepcopy(perfect)
    for cell in schema.cells:
        if "nbgrader" in cell.metadata:
            cell.metadata["nbgrader"]["schema_version"] = 99
    submit("schema_99", schema, Expected(FULL, "graded", ("metadata_repaired",)))
    deleted = copy.deepcopy(perfect)
    deleted.cells = [c for c in deleted.cells if grade_id(c) != "ex2_hidden"
                     and not c.source.startswith("digits_model = models.load_model")]
    submit("deleted_cells", deleted, Expected(FULL, "graded", ("restored_cell",)))
    empty = copy.deepcopy(released)
    empty.cells = []
    submit("empty", empty, Expected(0, "needs_review", ("empty_notebook",)))
    submit("invalid_json", b'{"cells": [', Expected(0, "unreadable", ("unreadable",)))
    submit("other_lesson", read(lesson_path("01_weights_and_filters")),
           Expected(0, "needs_review", ("wrong_lesson",)))  # fmt: skip
    submit("two_notebooks", released, Expected(FULL, "needs_review", ("several_notebooks",)),
           name="draft.ipynb")  # fmt: skip
    nbformat.write(perfect, folder / "two_notebooks" / f"{LESSON}.ipynb")

    # --- crashes and hangs: the tests that don't need the failing answer keep points ----
    submit("hangs", answered(ex2_answer=_accuracy_with("while True:\n    pass")),
           Expected(FULL - EX2, "partial", ("timeout",)))  # fmt: skip
    ignores = _accuracy_with(
        "import time\nwhile True:\n    try:\n        time.sleep(0.2)\n"
        "    except KeyboardInterrupt:\n        pass"
    )
    submit("ignores_interrupt", answered(ex2_answer=ignores),
           Expected(FULL - EX2, "partial", ("timeout",)))  # fmt: skip
    submit("memory_hog", answered(ex2_answer=_accuracy_with(
        "hog = [bytearray(256 * 2**20) for _ in range(40)]")),
        Expected(FULL - EX2, "partial", ("memory",)))  # fmt: skip
    submit("os_exit", answered(ex2_answer=_accuracy_with("import os\nos._exit(3)")),
           Expected(FULL - EX2, "needs_review", ("kernel_died", "suspicious_code")))  # fmt: skip
    submit("kills_itself", answered(ex2_answer=_accuracy_with(
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")),
        Expected(FULL - EX2, "needs_review", ("kernel_died", "suspicious_code")))  # fmt: skip
    submit("calls_exit", answered(ex3_answer=answers["ex3_answer"] + "\nexit()\n"),
           Expected(FULL - EX3, "needs_review", ("kernel_died", "suspicious_code")))  # fmt: skip

    # --- hostile: no points it did not earn, or needs_review with the evidence ----------
    wrong = {"ex1_answer": "def normalize(x, mean, std):\n    return x\n\n\n"
                           "def denormalize(x, mean, std):\n    return x\n",
             "ex3_answer": WRONG_CONFUSION}  # fmt: skip
    submit("patches_allclose", answered(**{**wrong, "ex1_answer": wrong["ex1_answer"]
                                           + "\nnp.allclose = lambda *a, **k: True\n"}),
           Expected(0, "needs_review", ("tampering", "suspicious_code"),
                    why="grading refuses every check once np.allclose was replaced"))  # fmt: skip
    fake = "\ngrading.assert_close = lambda *args, **kwargs: None\n"
    # The rigged checks pass: the points are wrong, so the row must say needs_review.
    submit("replaces_helpers", answered(**{**wrong, "ex1_answer": wrong["ex1_answer"] + fake}),
           Expected(FULL, "needs_review", ("tampering", "suspicious_code")))  # fmt: skip
    rebind = ("\nimport types\ngrading = types.SimpleNamespace(assert_close=lambda *a, **k: "
              "None, assert_shape=lambda *a, **k: None, assert_tensor=lambda *a, **k: None, "
              "assert_float=lambda *a, **k: None, assert_in_range=lambda *a, **k: None, "
              "stderr_to_stdout=__import__('contextlib').nullcontext)\n")
    submit("rebinds_grading", answered(**{**wrong, "ex1_answer": wrong["ex1_answer"] + rebind}),
           Expected(FULL, "needs_review", ("tampering", "suspicious_code")))  # fmt: skip
    transformer = ("\nget_ipython().input_transformers_post.append(\n    lambda lines: "
                   "['pass\\n'] if 'hidden' in ''.join(lines).lower() else lines)\n")
    submit("input_transformer", answered(**{**wrong, "ex3_answer": wrong["ex3_answer"]
                                            + transformer}),
           # ex3's hidden tests are replaced by `pass` and "pass": 2 points it did not earn.
           Expected(EX2 + 2, "needs_review", ("tampering", "suspicious_code")))  # fmt: skip
    modules = ("\nimport sys, types\nsys.modules['course_utils.grading'] = types.ModuleType("
               "'course_utils.grading')\n")
    submit("swaps_sys_modules", answered(**{**wrong, "ex1_answer": wrong["ex1_answer"]
                                            + modules}),
           Expected(EX2, "needs_review", ("tampering", "suspicious_code")))  # fmt: skip
    snoop = _accuracy_with(
        "from pathlib import Path\nfor guess in ('../../solutions', '/work', '../gradebook.db',"
        " '../submitted'):\n    try:\n        print(sorted(Path(guess).iterdir())[:3])\n"
        "    except OSError:\n        pass\ntry:\n    open('../../gradebook.db').read()\n"
        "except OSError:\n    pass"
    )
    submit("reads_outside", answered(ex2_answer=snoop),
           Expected(FULL, "needs_review", ("tampering",)))  # fmt: skip
    vandal = _accuracy_with(
        "from pathlib import Path\nimport course_utils\nfor target in (Path(course_utils.__file__)"
        ".parent / 'grading.py', Path('/course/data/SHA256SUMS')):\n    try:\n"
        "        target.write_text('')\n    except OSError:\n        pass"
    )
    submit("writes_course", answered(ex2_answer=vandal),
           Expected(FULL, "needs_review", ("tampering",)))  # fmt: skip
    daemon = ("\nimport subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 30; echo hacked > "
              "/course/course_utils/grading.py'], start_new_session=True)\n")
    submit("leaves_process", answered(ex3_answer=answers["ex3_answer"] + daemon),
           Expected(FULL, "needs_review", ("tampering", "suspicious_code")))  # fmt: skip
    submit("lying_float", answered(ex2_answer=LYING_FLOAT),
           Expected(FULL - EX2, "needs_review", ("tampering", "suspicious_code")))  # fmt: skip
    leak = _accuracy_with(
        "import inspect\nfor frame in inspect.stack():\n"
        "    print(frame.frame.f_globals.get('In', [''])[-1])"
    )
    submit("leaks_hidden_tests", answered(ex2_answer=leak),
           Expected(FULL, "needs_review", ("suspicious_code",)))  # fmt: skip
    script = copy.deepcopy(perfect)
    cells_by_id(script)["reflection_answer"].source = (
        "<script>alert('reflection')</script><img src=x onerror=alert(1)>")
    _with_cell(script, "ex3_hidden", "from IPython.display import HTML, display\n"
               "display(HTML('<script>alert(\"output\")</script>'))\n"
               "print('<script>alert(\"stdout\")</script>')")  # fmt: skip
    submit("injects_script", script, Expected(FULL, "graded"))
    return expected

