"""Run lessons the way a new user meets them in Google Colab, on this machine.

    python tools/colab_check.py             # every lesson, Colab's versions (make colab-check)
    python tools/colab_check.py 00_getting_started 06_grad_cam --python .venv/bin/python

For each lesson: build its graded edition and wheel (tools/release.py), put the lesson's
notebook alone in an empty folder (Colab's /content) with the solutions pasted into its
answer cells, and execute it top to bottom in a kernel where ``google.colab`` is imported at
start (a stand-in module) and ``course_utils`` is not installed. The notebook's own setup
cell must install the edition's wheel (COURSE_SOURCE points at it with a file:// address)
and everything after it must run.

The kernel's Python is a fresh virtual environment layered over ``--python``'s packages (the
course's own package left out): by default a virtual environment with Colab's versions
(tools/colab_versions.txt, Python 3.13), created at .colab-venv on first use (several GB:
torch's CUDA build, downloaded once).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import release  # noqa: E402

REPO_ROOT = release.REPO_ROOT
COLAB_VERSIONS = REPO_ROOT / "tools" / "colab_versions.txt"
COLAB_VENV = REPO_ROOT / ".colab-venv"
# What the course's own installation adds to a site-packages folder: left out of the layer,
# so that the notebook has to install the course itself, as in Colab.
OWN_PACKAGES = re.compile(r"^(course_utils|course_reference|__editable__|seeing_inside_cnns)")
SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$", re.M)


def with_solutions(nb: nbformat.NotebookNode, lesson: str) -> nbformat.NotebookNode:
    """A copy of a student notebook with the instructor's answers in its answer cells."""
    solution = nbformat.read(REPO_ROOT / "solutions" / lesson / f"{lesson}.ipynb", 4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: SOLUTION_MARKERS.sub("", c.source)
        for c in solution.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            cell.source = answers[meta["grade_id"]]
    return nb


def site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                          "['purelib'])"], check=True, capture_output=True, text=True)  # fmt: skip
    return Path(out.stdout.strip())


def layered_venv(base_python: Path, folder: Path) -> Path:
    """A new virtual environment that sees the packages of ``base_python``'s environment
    (except the course's own) without copying them; returns its Python."""
    base = subprocess.run([str(base_python), "-c", "import sys; print(sys._base_executable)"],
                          check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    subprocess.run([base, "-m", "venv", str(folder)], check=True, capture_output=True)
    python = folder / "bin" / "python"
    layer = folder / "base-packages"
    layer.mkdir()
    for entry in site_packages(base_python).iterdir():
        if not OWN_PACKAGES.match(entry.name) and entry.suffix != ".pth":
            (layer / entry.name).symlink_to(entry)
    own = site_packages(python)
    (own / "base-packages.pth").write_text(f"{layer}\n")
    # Colab imports google.colab when the kernel starts; a stand-in module does the same.
    (own / "google" / "colab").mkdir(parents=True)
    (own / "google" / "colab" / "__init__.py").write_text('"""Stand-in for Colab."""\n')
    return python


def run_in_colab(nb: nbformat.NotebookNode, lesson: str, course_source: str, base_python: Path,
                 workdir: Path, timeout: int = 900) -> tuple[nbformat.NotebookNode, float]:
    """Execute ``nb`` as Colab would (see the module docstring); returns the executed
    notebook and the seconds it took. Raises nbclient's CellExecutionError on an error."""
    from nbclient import NotebookClient

    python = layered_venv(base_python, workdir / "venv")
    content = workdir / "content"  # Colab's working folder: only the notebook
    content.mkdir()
    nbformat.write(nb, content / f"{lesson}.ipynb")
    startup = workdir / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text("import google.colab  # noqa: F401\n")
    kernels = workdir / "jupyter" / "kernels" / "colab"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab (simulated)", "language": "python",
        "env": {"COURSE_SOURCE": course_source, "IPYTHONDIR": str(workdir / "ipython"),
                "COURSE_NUM_THREADS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "MPLBACKEND": "agg", "PYTHONPATH": "", "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
    }))  # fmt: skip
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(workdir / "jupyter")
    try:
        client = NotebookClient(nb, kernel_name="colab", timeout=timeout,
                                resources={"metadata": {"path": str(content)}})  # fmt: skip
        start = time.perf_counter()
        client.execute()
        return nb, time.perf_counter() - start
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved


def colab_python() -> Path:
    """The Python of .colab-venv, made with Colab's versions on first use."""
    python = COLAB_VENV / "bin" / "python"
    if python.exists():
        return python
    wanted = next(line.split(":", 1)[1].strip() for line in COLAB_VERSIONS.read_text().splitlines()
                  if line.startswith("# python:"))  # fmt: skip
    interpreter = shutil.which(f"python{wanted}")
    if interpreter is None:
        sys.exit(f"colab-check needs python{wanted} (Colab's version) on PATH")
    print(f"creating {COLAB_VENV} with Colab's versions (once; several GB)...", flush=True)
    subprocess.run([interpreter, "-m", "venv", str(COLAB_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(COLAB_VERSIONS)],
                   check=True)  # fmt: skip
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="lessons to run (default: all)")
    parser.add_argument("--python", type=Path, help="a Python whose packages the kernel uses "
                        "(default: .colab-venv, with Colab's versions)")
    args = parser.parse_args(argv)
    lessons = args.lessons or release.lesson_names()
    base = args.python or colab_python()
    version = subprocess.run([str(base), "-c", "import sys, torch; print(sys.version.split()[0],"
                              " 'torch', torch.__version__)"], capture_output=True, text=True,
                             check=True).stdout.strip()  # fmt: skip
    print(f"simulated Colab: Python {version}")
    failures, total = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="colab-check-") as tmp:
        for lesson in lessons:
            work = Path(tmp) / lesson
            folder, wheel = release.build_edition(lesson, work / "dist")
            nb = nbformat.read(folder / "lessons" / lesson / f"{lesson}.ipynb", 4)
            try:
                _, seconds = run_in_colab(with_solutions(nb, lesson), lesson, wheel.as_uri(),
                                          base, work)  # fmt: skip
                print(f"  {lesson}: ran top to bottom in {seconds:.0f} s", flush=True)
            except Exception as error:  # noqa: BLE001 - report every lesson, then fail
                failures.append(lesson)
                print(f"  {lesson}: FAILED\n{str(error)[-3000:]}", flush=True)
    print(f"{len(lessons) - len(failures)} of {len(lessons)} lessons ran "
          f"({time.perf_counter() - total:.0f} s in all)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
