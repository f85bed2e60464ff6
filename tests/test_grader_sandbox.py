"""The grader's sandbox and cell runner on tiny cells (the mechanism, not a lesson).

Each failure mode of a submission is provoked once: a hang, an ignored interrupt, a dying
kernel, the memory, process and output caps. After each, grading must go on with the state
the earlier cells built, and no process of the sandbox may be left.
"""

import sys
from pathlib import Path

import pytest
from grader import execute, pipeline, sandbox
from grader.results import FAILED, KERNEL_DIED, MEMORY, PASSED, TIMEOUT
from notebook_utils import REPO_ROOT


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    return sandbox.build_seed(tmp_path_factory.mktemp("seed"))


def run(cells, tmp_path, seed, **limits):
    cells = [execute.Cell(i, source, f"cell {i}", timeout) for i, (source, timeout) in
             enumerate(cells)]  # fmt: skip
    settings = sandbox.Limits(**{"restarts": 5, **limits})
    return execute.run_notebook(cells, tmp_path, settings, sandboxed=True, seed_dir=seed)


def text(run):
    return "".join(o.get("text", "") for o in run.outputs if o["output_type"] == "stream")


def test_failures_cost_only_their_own_cell(tmp_path, seed):
    session = run([
        ("x = 41", 30),
        ("while True:\n    pass", 2),  # interrupted: the kernel survives
        ("print(x + 1)", 30),
        ("import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
         "    except KeyboardInterrupt:\n        pass", 2),  # ignores it: a new kernel
        ("print(x + 2)", 30),
        ("import os\nos._exit(3)", 30),
        ("print(x + 3)", 30),
        ("exit()", 30),
        ("print(x + 4)", 30),
        ("raise ValueError('a plain failure')", 30),
        ("print(x + 5)", 30),
    ], tmp_path, seed)  # fmt: skip
    runs = session.runs
    assert [runs[i].outcome for i in range(11)] == [
        PASSED, TIMEOUT, PASSED, TIMEOUT, PASSED, KERNEL_DIED, PASSED, KERNEL_DIED, PASSED,
        FAILED, PASSED]  # fmt: skip
    assert [text(runs[i]).strip() for i in (2, 4, 6, 8, 10)] == ["42", "43", "44", "45", "46"]
    assert "ignored the interrupt" in runs[3].note
    assert (runs[9].ename, runs[9].evalue) == ("ValueError", "a plain failure")
    assert session.restarts == 3 and not session.stopped
    assert len(session.audit_logs) == 4  # one per kernel


def test_memory_processes_and_output_are_capped(tmp_path, seed):
    session = run([
        ("x = 1", 30),
        ("hog = bytearray(600 * 2**20)\nhog[::4096] = b'x' * len(range(0, len(hog), 4096))\n"
         "import time\ntime.sleep(5)", 30),
        ("import subprocess\nchildren = [subprocess.Popen(['sleep', '60']) for _ in range(8)]\n"
         "import time\ntime.sleep(5)", 30),
        ("print('y' * 100_000)", 30),
        ("print(x)", 30),
    ], tmp_path, seed, memory_bytes=400 * 2**20, processes=4, output_bytes=10_000)  # fmt: skip
    runs = session.runs
    assert runs[1].outcome == MEMORY and "memory" in runs[1].note
    assert runs[2].outcome == KERNEL_DIED and "processes" in runs[2].note
    assert runs[3].outcome == PASSED and len(text(runs[3])) < 11_000
    assert "output cut by the grader" in text(runs[3])
    assert text(runs[4]).strip() == "1"


def test_the_sandbox_hides_the_course_and_the_network(tmp_path, seed):
    probe = f"""
import os, socket
print(sorted(os.listdir('/')))
print(os.path.exists({str(REPO_ROOT / "solutions")!r}), os.path.exists(os.path.expanduser('~')))
try:
    open('/course/course_utils/grading.py', 'a')
except OSError as error:
    print('read-only:', error.errno)
try:
    socket.create_connection(('1.1.1.1', 80), timeout=2)
except OSError:
    print('no network')
import course_utils
print(course_utils.__file__, os.getcwd())
"""
    session = run([(probe, 30)], tmp_path, seed)
    lines = text(session.runs[0]).splitlines()
    assert session.runs[0].outcome == PASSED, session.runs[0].evalue
    assert {"course", "scratch", "tmp", "usr"} <= set(eval(lines[0]))  # a printed list
    assert lines[1] == "False True"  # no solutions/; HOME is the private scratch folder
    assert lines[2:5] == ["read-only: 30", "no network",
                          "/course/course_utils/__init__.py /scratch"]  # fmt: skip


def test_grading_refuses_without_a_sandbox(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(pipeline, "sandbox_problem", lambda: "bubblewrap is not installed")
    with pytest.raises(pipeline.GradingError, match="--unsandboxed"):
        pipeline.grade_class("00_getting_started", tmp_path, workdir=tmp_path)
    sys.path.insert(0, str(REPO_ROOT / "tools"))
    import grade

    monkeypatch.setattr(grade, "grade_class", pipeline.grade_class)
    assert grade.main(["00_getting_started", str(tmp_path), "--workdir", str(tmp_path)]) == 2
    assert "refusing to grade without a sandbox" in capsys.readouterr().err
    assert not (tmp_path / "gradebook.db").exists()


def test_no_process_is_left():
    """Runs after the tests above: every sandbox they started must be gone."""
    leftovers = [p for p in Path("/proc").iterdir() if p.name.isdigit()
                 and b"/grader/kernel_boot.py" in _cmdline(p)]  # fmt: skip
    assert not leftovers


def _cmdline(path):
    try:
        return (path / "cmdline").read_bytes()
    except OSError:
        return b""
