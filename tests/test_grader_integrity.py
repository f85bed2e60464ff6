"""Tests of tools/grader/integrity.py and kernel_boot.py: the grader's look from outside.

Static analysis runs on hostile snippets (each must be flagged, on the right line) and on
every honest answer and demo cell of the course (none may be). The audit-log rules run on
fabricated logs. One real kernel, started through kernel_boot.py without a sandbox, checks
the probe and the audit log end to end (about ten seconds, most of it importing torch).
"""

import builtins
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from notebook_utils import has_code, lesson_names, lesson_path, nbgrader, read, solution_path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # tools/ is not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from tools.grader import integrity, kernel_boot  # noqa: E402
from tools.grader.integrity import (  # noqa: E402
    ALTERED,
    audit_flags,
    parse_probe,
    probe_code,
    probe_flags,
    static_flags,
)

# --- static analysis --------------------------------------------------------------------------

# (source, the line that must be shown as evidence)
HOSTILE = [
    ("x = 1\nimport sys\nsys.modules['course_utils.grading'] = None", 3),
    ("import builtins\nbuiltins.isinstance = lambda *a: True", 2),
    ("y = 1\nsaved = __builtins__", 2),
    ("grading.assert_close = lambda *args, **kwargs: None", 1),
    ("import numpy as grading", 1),
    ("import types\ngrading = types.SimpleNamespace(assert_close=print)", 2),
    ("del grading", 1),
    ("grading._ORIGINALS['numpy.allclose'] = print", 1),
    ("setattr(grading, 'assert_close', print)", 1),
    ("def f():\n    global grading\n    grading = None", 2),
    ("get_ipython().input_transformers_post.append(lambda lines: lines)", 1),
    ("shell = get_ipython()", 1),
    ("from IPython import get_ipython", 1),
    ("shell.set_custom_exc((AssertionError,), handler)", 1),
    ("shell.events.register('pre_run_cell', callback)", 1),
    ("import subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 30'])", 1),
    ("import os\nos.system('ls')", 2),
    ("os.popen('ls')", 1),
    ("os.execv('/bin/sh', ['sh'])", 1),
    ("pid = os.fork()", 1),
    ("os.kill(1, 9)", 1),
    ("import os\nos._exit(3)", 2),
    ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)", 1),
    ("import ctypes\nctypes.string_at(0)", 1),
    ("objects = gc.get_objects()", 1),
    ("holders = gc.get_referrers(grading.assert_close)", 1),
    ("frame = sys._getframe(1)", 1),
    ("import inspect\nfor frame in inspect.stack():\n    print(frame.frame.f_globals)", 2),
    ("caller = frame.f_back", 1),
    ("import importlib\nimportlib.reload(grading)", 1),
    ("os_module = __import__('os')", 1),
    ("exec('x = 1')", 1),
    ("value = eval('1 + 1')", 1),
    ("code = compile('1', 'f', 'eval')", 1),
    ("text = open('/etc/passwd').read()", 1),
    ("setattr(torch.Tensor, '__eq__', lambda a, b: True)", 1),
    ("torch.Tensor.__eq__ = lambda a, b: True", 1),
    ("np.allclose = lambda *a, **k: True", 1),
    ("float.__sub__ = lambda a, b: 0.0", 1),
    ("class Score(float):\n    def __sub__(self, other):\n        return 0.0", 1),
    ("class T(torch.Tensor):\n    def __eq__(self, other):\n        return True", 1),
    ("class A(np.ndarray):\n    __eq__ = lambda self, other: True", 1),
    ("class Fake:\n    def __array__(self):\n        return expected", 1),
    ("Fake = type('Fake', (float,), {'__eq__': lambda a, b: True})", 1),
    ("import atexit\natexit.register(print)", 1),
    ("import threading\nthreading.Thread(target=print).start()", 1),
    ("from multiprocessing import Process", 1),
    ("exit()", 1),
    ("x = 1\nquit()", 2),
    ("raise SystemExit", 1),
    ("!ls /", 1),
    ("files = !ls", 1),
    ("%%bash\necho hi", 1),
    ("%%sh\necho hi", 1),
    ("%%script bash\necho hi", 1),
    ("%run evil.py", 1),
    ("%load evil.py", 1),
    ("%sx ls", 1),
    ("%system ls", 1),
    ("%%time\nx = 1\ngrading.assert_close = print", 3),
    ("%timeit np.allclose = print", 1),
    ("from sys import modules", 1),
    ("from os import system", 1),
    ("sys.settrace(tracer)", 1),
    ("sys.stdout = log_file", 1),
    ("globals()['grading'] = None", 1),
    ("vars(np)['allclose'] = print", 1),
    ("np.__dict__['allclose'] = print", 1),
    ("grading.assert_close.__code__ = (lambda *a, **k: None).__code__", 1),
    ("result.__class__ = Fake", 1),
    ("object.__setattr__(result, 'x', 1)", 1),
    ("from unittest import mock\nmock.patch.object(np, 'allclose', print).start()", 1),
    ("import torch as np", 1),
    ("data = None", 1),
    ("import socket\nconnection = socket.create_connection(('example.org', 80))", 1),
    ("def accuracy(m, x, y):\n    return 0.5\n\n\nmodel.eval()\nexec(payload)", 6),
]


@pytest.mark.parametrize("source, line", HOSTILE, ids=[s.splitlines()[-1][:40] for s, _ in HOSTILE])
def test_hostile_code_is_flagged_on_its_line(source, line):
    flags = static_flags([("ex1_answer", source)])
    assert flags, f"not flagged: {source!r}"
    assert all(f.kind == "suspicious_code" and f.review and f.cell == "ex1_answer" for f in flags)
    wanted = f"{line:>4}: {source.splitlines()[line - 1]}".rstrip()
    assert any(wanted in f.evidence.splitlines() for f in flags), [f.evidence for f in flags]


HARMLESS = [
    "model.eval()",
    "compiled = torch.compile(model)",
    "pattern = re.compile('[0-9]+')",
    "from IPython.display import HTML, display\ndisplay(HTML('<b>hi</b>'))",
    "%matplotlib inline\nplt.plot([1, 2])",
    "%timeit accuracy(model, images, labels)",
    "%%time\nresult = accuracy(model, images, labels)",
    "accuracy?",
    "X = torch.zeros(3)\nX.requires_grad = True",
    "code = encoder(images)\nprint(code.shape)",
    "signal = torch.sin(t)\nprint(signal.abs())",
    "[data for data in range(3)]",
    "def f(data):\n    data = data + 1\n    return data",
    "from course_utils import grading, data\nimport numpy as np",
    "from tqdm.auto import tqdm",
    "model.fc.weight.data = weights",
    "print(inspect.getsource(normalize))",
    "print(sys.version)",
    "setattr(parent, name, replacement)",
    "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.fc = nn.Linear(2, 2)\n\n    def forward(self, x):\n        return self.fc(x)",
    "def broken(:\n    pass",  # a SyntaxError is the kernel's to report
]


@pytest.mark.parametrize("source", HARMLESS)
def test_harmless_code_is_not_flagged(source):
    assert static_flags([("cell 3", source)]) == []


def _honest_cells() -> list[tuple[str, str]]:
    """Every answer of the solution notebooks and every ordinary code cell (no nbgrader
    metadata, which a student may edit) of the solutions and the released lessons."""
    cells = []
    for name in lesson_names():
        for path in (solution_path(name), lesson_path(name)):
            for index, cell in enumerate(read(path).cells):
                meta = nbgrader(cell)
                if cell.cell_type == "code" and has_code(cell.source) and (
                        not meta or meta.get("solution")):  # fmt: skip
                    cells.append((f"{path.name} cell {index}", cell.source))
    return cells


def test_honest_course_code_is_never_flagged():
    cells = _honest_cells()
    assert len(cells) > 100
    flags = static_flags(cells)
    assert flags == [], "\n".join(f"{f.cell}: {f.reason}\n{f.evidence}" for f in flags)


def test_a_module_imported_in_another_cell_counts():
    # `signal` alone may be a variable (a sine wave); imported in any cell, it is the module.
    assert static_flags([("a", "signal.alarm(1)")]) == []
    flags = static_flags([("a", "import signal"), ("b", "x = 1\nsignal.alarm(1)")])
    assert [f.cell for f in flags] == ["a", "b"]
    assert flags[1].evidence == "   2: signal.alarm(1)"


# --- the audit log ----------------------------------------------------------------------------

LABELS = {0: "setup", 3: "ex1_answer", 4: "ex1_check", 7: "cell 7"}
CELL = "/tmp/ipykernel_5/1234.py:2"  # a frame in a notebook cell
LIBRARY = f"{sys.prefix}/lib/python3.11/site-packages/torch/__init__.py:348"
STDLIB = f"{sys.base_prefix}/lib/python3.11"
START = {"event": "audit.start", "args": [5, "/scratch", []], "t": 0.0}


def _event(event, *args, at=CELL, by=None):
    return {"event": event, "args": list(args), "t": 1.0, "at": at, "by": by or at}


def _log(*records, start=True, end=True) -> str:
    """A log: the hook's first line, then ``records`` (an int i is the marker of cell i)."""
    lines = [START] if start else []
    for record in records:
        lines.append({"marker": "cell", "index": record} if isinstance(record, int) else record)
    if end:
        lines.append({"marker": "end"})
    return "\n".join(json.dumps(line) for line in lines) + "\n"


def _kinds(flags):
    return sorted((f.cell, f.reason) for f in flags)


def test_honest_log_gives_no_flags():
    log = _log(
        _event("open", "/etc/hostname", "r", 524288),  # before the first marker: kernel start
        0,
        _event("ctypes.dlopen", "libtorch.so", at=LIBRARY),
        _event(
            "subprocess.Popen",
            "/sbin/ldconfig",
            ["/sbin/ldconfig", "-p"],
            None,
            None,
            at=f"{STDLIB}/subprocess.py:1821",
            by=LIBRARY,
        ),  # fmt: skip
        _event("import", "multiprocessing", at=LIBRARY),
        _event("open", "/course/data/digits_cnn.pt", "rb", 524288),
        _event("open", "/proc/self/maps", "r", 524288),
        3,
        _event("open", "/scratch/model.pt", "wb", 524865),
        _event("open", "/tmp/x", None, 655554),
        _event("os.remove", "/tmp/x", -1),
        _event("object.__setattr__", "<class '__main__.Point'>", "__module__", "__main__"),
        _event(
            "object.__setattr__",
            "<class 'collections.Point'>",
            "__module__",
            "__main__",
            at=f"{STDLIB}/collections/__init__.py:516",
        ),  # fmt: skip
        4,
    )
    assert audit_flags(log, LABELS) == []


def test_reading_outside_the_sandbox_is_flagged_for_its_cell():
    log = _log(0, 3, _event("open", "/root/secret", "r", 524288),
               _event("os.listdir", "/work"), 4)  # fmt: skip
    (flag,) = audit_flags(log, LABELS)
    assert (flag.kind, flag.cell, flag.review) == ("tampering", "ex1_answer", True)
    assert "outside the folders the sandbox shows (2 times)" in flag.reason
    assert "/root/secret" in flag.evidence and '"/work"' in flag.evidence


def test_a_symlink_out_of_scratch_is_judged_by_its_target():
    log = _log(3, _event("open", "/scratch/link", "r", 524288, "/home/teacher/grades.csv"))
    assert _kinds(audit_flags(log, LABELS)) == [
        ("ex1_answer", "the notebook opened files outside the folders the sandbox shows")
    ]


def test_writing_a_course_file_is_flagged():
    log = _log(0, 3, 4, _event("open", "/course/course_utils/grading.py", "w", 524865))
    (flag,) = audit_flags(log, LABELS)
    assert flag.cell == "ex1_check" and "wrote, deleted or renamed files" in flag.reason
    assert "/course/course_utils/grading.py" in flag.evidence


def test_starting_a_program_is_flagged_even_through_a_library():
    popen = _event("subprocess.Popen", "sh", ["sh", "-c", "sleep 30"], None, None,
                   at=f"{STDLIB}/subprocess.py:1821")  # fmt: skip
    system = _event("os.system", "ls", at=LIBRARY)  # e.g. get_ipython().system("ls")
    flags = audit_flags(_log(3, popen, 7, system), LABELS)
    assert _kinds(flags) == [
        ("cell 7", "the notebook started a program or forked the kernel"),
        ("ex1_answer", "the notebook started a program or forked the kernel"),
    ]


def test_changing_a_library_function_or_class_is_flagged():
    code = _event("object.__setattr__", "<function course_utils.grading.assert_close>",
                  "__code__", "<code object>")  # fmt: skip
    klass = _event("object.__setattr__", "<torch.Tensor object>", "__class__", "<class "
                   "'__main__.Fake'>")  # fmt: skip
    (flag,) = audit_flags(_log(3, code, klass), LABELS)
    assert flag.cell == "ex1_answer" and "changed a function or object" in flag.reason
    assert "__code__" in flag.evidence and "__class__" in flag.evidence


def test_ctypes_sockets_and_traces_from_the_notebook_are_flagged():
    log = _log(
        3,
        _event(
            "ctypes.dlopen", "libc.so.6", at=f"{STDLIB}/ctypes/__init__.py:376", by=CELL
        ),  # fmt: skip
        _event("socket.connect", "<socket object>", ["10.0.0.1", 80]),
        _event("sys.settrace"),
        _event("sys.addaudithook"),
        _event("gc.get_referrers", "<function object>"),
        _event("os.kill", 1, 9),
    )
    reasons = {f.reason.removeprefix("the notebook ") for f in audit_flags(log, LABELS)}
    assert reasons == {
        integrity.AUDIT_REASONS[k]
        for k in ("ctypes", "socket", "trace", "audit_hook", "gc", "kill")
    }


def test_repeated_events_make_one_flag_with_a_count():
    opened = _event("open", "/home/teacher/answers.txt", "r", 524288)
    (flag,) = audit_flags(_log(3, *[opened] * 5), LABELS)
    assert "(5 times)" in flag.reason
    assert flag.evidence.count("\n") == 0 and flag.evidence.endswith("(x5)")


def test_evidence_is_cut():
    many = [_event("open", f"/home/file{i}", "r", 524288) for i in range(50)]
    (flag,) = audit_flags(_log(3, *many), LABELS)
    lines = flag.evidence.splitlines()
    assert len(lines) == integrity.EVIDENCE_LINES + 1 and lines[-1] == "... and 30 more"


def test_the_kernels_working_folder_is_allowed():
    start = {"event": "audit.start", "args": [5, "/home/grader/k0/scratch", []], "t": 0.0}
    log = (
        json.dumps(start)
        + "\n"
        + _log(3, _event("open", "/home/grader/k0/scratch/out.png", "wb", 524865), start=False)
    )
    assert audit_flags(log, LABELS) == []


def test_events_after_the_end_belong_to_no_cell():
    log = _log(3) + json.dumps(_event("os.system", "rm -rf /scratch")) + "\n"
    (flag,) = audit_flags(log, LABELS)
    assert flag.cell == "" and "started a program" in flag.reason


@pytest.mark.parametrize(
    "log",
    [
        _log(0, 3, end=False),  # the end marker is missing
        _log(0, 3).split("\n", 2)[2],  # cut at the start (no audit.start line)
        _log(0, 3, 4, 3),  # a marker repeated
        _log(0, 4, 3),  # out of order
        _log(0, 5),  # a cell that does not exist
        _log(0, 3, {"marker": "end"}),  # two end markers
        _log(0, 3) + "garbage\n",
        _log(0, 3, START),  # a second start line, written by hand
        "",
    ],
    ids=[
        "no end",
        "cut start",
        "repeated",
        "out of order",
        "unknown cell",
        "two ends",
        "garbage",
        "second start",
        "empty",
    ],  # fmt: skip
)
def test_an_altered_log_is_flagged(log):
    flags = [f for f in audit_flags(log, LABELS) if f.reason == ALTERED]
    assert len(flags) == 1 and flags[0].kind == "tampering" and flags[0].review
    assert flags[0].cell == "" and flags[0].evidence


def test_a_truncated_log_is_altered_and_keeps_what_it_shows():
    full = _log(0, 3, _event("open", "/root/secret", "r", 524288), 4, _event("os.fork"))
    truncated = full[: full.index('"os.fork"') - 20] + "\n"
    flags = audit_flags(truncated, LABELS)
    assert ("", ALTERED) in _kinds(flags)
    assert any(f.cell == "ex1_answer" and "outside" in f.reason for f in flags)


def test_forged_lines_of_any_shape_do_not_break_the_parent():
    odd = [
        {"marker": "cell", "index": [3]},
        {"marker": ["end"]},
        {"event": 5, "args": {}},
        {"event": "open", "args": "/root/x"},
        {"event": "open", "args": [None, 1, "x"]},
        {"event": "os.system", "args": [{"a": 1}], "by": 7},
        {"event": None},
        [1, 2],
        3,
    ]
    flags = audit_flags(_log(3, *odd), LABELS)
    assert ("", ALTERED) in _kinds(flags)


def test_a_full_log_is_flagged():
    log = _log(3, {"event": "audit.log_full", "args": [4194304], "t": 9.0})
    (flag,) = audit_flags(log, LABELS)
    assert "later events were not recorded" in flag.reason


# --- the hook itself (called directly: an audit hook cannot be removed from pytest) --------


def _hook(tmp_path, limit=kernel_boot.LOG_LIMIT):
    path = tmp_path / "audit.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    return kernel_boot.make_hook(fd, str(path), limit), path


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_hook_records_what_matters_and_skips_the_python_install(tmp_path):
    hook, path = _hook(tmp_path)

    class Sneaky(str):
        def __str__(self):
            raise AssertionError("the hook must not call a student's __str__")

    hook("open", (f"{sys.base_prefix}/lib/python3.11/os.py", "r", os.O_RDONLY))  # skipped
    hook("open", (Sneaky("/root/secret"), "r", os.O_RDONLY))
    hook("open", (b"relative.txt", None, os.O_WRONLY | os.O_CREAT))
    hook("open", (str(path), "r", os.O_RDONLY))
    hook("os.system", ("echo hi",))
    hook("exec", (compile("1", "x", "eval"),))  # not interesting
    hook("import", ("json", None, [], [], []))  # not interesting either
    hook("object.__setattr__", (int, "x", object()))
    records = _records(path)
    assert [r["event"] for r in records] == ["audit.start", "open", "open", "audit.log_opened",
                                             "os.system", "object.__setattr__"]  # fmt: skip
    assert records[0]["args"][:2] == [os.getpid(), os.getcwd()]
    assert records[1]["args"][0] == "/root/secret"
    assert records[2]["args"][0] == os.path.join(os.getcwd(), "relative.txt")
    assert records[5]["args"] == ["<class 'int'>", "x", "<object object>"]
    assert all(r["at"] and r["at"].startswith(__file__) for r in records[1:])


def test_hook_runs_no_code_of_the_notebook(tmp_path):
    hook, path = _hook(tmp_path)
    called = []

    def spy(*args, **kwargs):
        called.append(args)
        raise RuntimeError("student code ran inside the hook")

    class Tricky:  # isinstance() would call this property; the hook must not
        @property
        def __class__(self):
            called.append("__class__")
            return str

    tricky, names = Tricky(), ("range", "slice", "isinstance", "len", "repr", "str")
    saved = {name: getattr(builtins, name) for name in names}
    try:  # (no monkeypatch: it calls isinstance itself)
        for name in names:
            setattr(builtins, name, spy)
        hook("os.system", ("ls",))
        hook("open", (tricky, "r", 0))
        hook("os.kill", (tricky, 9))
    finally:
        for name, value in saved.items():
            setattr(builtins, name, value)
    assert called == []
    assert [r["event"] for r in _records(path)] == ["audit.start", "os.system", "open", "os.kill"]
    assert _records(path)[-1]["args"] == ["<Tricky object>", 9]


def test_hook_never_raises_and_stops_at_its_limit(tmp_path):
    hook, path = _hook(tmp_path, limit=2000)
    for args in [(), (None,), (object(), object(), "x"), (b"\xff\xfe", 1.5, float("nan"))]:
        hook("open", args)
        hook("os.kill", args)
    for i in range(100):
        hook("os.system", (f"command {i}",))
    records = _records(path)
    assert records[-1]["event"] == "audit.log_full"
    assert path.stat().st_size <= 2000 + 200


# --- the probe --------------------------------------------------------------------------------


def test_probe_code_runs_anywhere_and_leaves_nothing_behind(capsys):
    nonce = uuid.uuid4().hex
    namespace = {}
    exec(probe_code(nonce), namespace)  # no kernel, no IPython shell: still an answer
    facts = parse_probe(capsys.readouterr().out, nonce)
    assert facts is not None and facts["ipython.shell"] == "builtins.NoneType"
    assert not any(key.startswith("error.") for key in facts), facts
    assert set(namespace) == {"__builtins__"}


def test_parse_probe_wants_exactly_one_answer_with_the_nonce():
    line = f"GRADER-PROBE abcdef12 {json.dumps({'a': 1})}"
    assert parse_probe(f"noise\n{line}\nmore", "abcdef12") == {"a": 1}
    assert parse_probe(f"50% done {line}\n", "abcdef12") == {"a": 1}
    assert parse_probe(line, "00000000") is None
    assert parse_probe(f"{line}\n{line}", "abcdef12") is None  # a forged second answer
    assert parse_probe("GRADER-PROBE abcdef12 {not json", "abcdef12") is None
    assert parse_probe("GRADER-PROBE abcdef12 [1]", "abcdef12") is None
    with pytest.raises(ValueError):
        probe_code("x'); import os; ('")


def test_probe_flags_explain_each_difference():
    baseline = {"grading.attr.assert_close": "1:2", "grading.defaults.assert_close": "(None,)",
                "user.grading": "10", "module.numpy": "20", "attr.numpy.allclose": "30",
                "attr.numpy.isclose": "31", "ipython.input_transformers_post": [],
                "ipython.custom_exceptions": [], "sys.trace": "builtins.NoneType"}  # fmt: skip
    now = {**baseline, "grading.attr.assert_close": "3:4", "grading.defaults.assert_close": "()",
           "user.grading": "11", "module.numpy": "21", "attr.numpy.allclose": "32",
           "attr.numpy.isclose": "33", "ipython.input_transformers_post": ["function:f"],
           "ipython.custom_exceptions": ["AssertionError"],
           "sys.trace": "builtins.function", "user.new_name": "99"}  # fmt: skip
    flags = probe_flags(baseline, now, "ex1_answer")
    assert {f.cell for f in flags} == {"ex1_answer"} and all(f.review for f in flags)
    assert sorted(f.reason for f in flags) == sorted([
        "course_utils.grading.assert_close was replaced",
        "the name `grading` now refers to something else",
        "sys.modules['numpy'] was replaced",
        "numpy.allclose was replaced, and 1 more like it",
        "an IPython input transformer was installed",
        "exceptions are being hidden (custom_exceptions set)",
        "a trace function was installed (sys.settrace)",
    ])  # fmt: skip
    assert probe_flags(baseline, dict(baseline), "x") == []
    (gone,) = probe_flags(baseline, None, "ex2_answer")
    assert gone.reason == "the integrity probe got no answer" and gone.cell == "ex2_answer"
    assert probe_flags({}, None, "setup")[0].reason == "the integrity probe got no answer"


# --- one real kernel, through kernel_boot.py --------------------------------------------------


class _Kernel:
    """kernel_boot.py in a subprocess (no sandbox), driven like the grader drives it."""

    def __init__(self, folder: Path):
        from jupyter_client import BlockingKernelClient
        from jupyter_client.connect import write_connection_file

        self.log = folder / "audit.jsonl"
        connection, _ = write_connection_file(str(folder / "kernel.json"))
        env = {**os.environ, "HOME": str(folder), "PYTHONPATH": str(REPO_ROOT),
               "MPLCONFIGDIR": str(folder / "mpl")}  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, str(kernel_boot.__file__), "--audit-log", str(self.log),
             "-f", connection],
            cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.client = BlockingKernelClient(connection_file=connection)
        self.client.load_connection_file()
        self.client.start_channels(hb=False)  # no heartbeat: it lags while the kernel starts
        self.client.wait_for_ready(timeout=60)

    def mark(self, index=None) -> None:
        marker = {"marker": "end"} if index is None else {"marker": "cell", "index": index}
        with open(self.log, "a") as file:
            file.write(json.dumps(marker) + "\n")

    def run(self, code: str, silent: bool = False, timeout: float = 60) -> tuple[str, str]:
        """(stdout, error name or "") of one execute request."""
        msg_id = self.client.execute(code, silent=silent, store_history=not silent)
        out, error = [], ""
        while True:
            msg = self.client.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                error = msg["content"]["ename"]
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out), error

    def probe(self, timeout: float = 30) -> dict | None:
        nonce = uuid.uuid4().hex
        out, _ = self.run(probe_code(nonce), silent=True, timeout=timeout)
        return parse_probe(out, nonce)

    def close(self) -> None:
        self.client.stop_channels()
        self.process.kill()
        self.process.wait(timeout=10)


def test_probe_and_audit_log_of_a_real_kernel(tmp_path):
    outside = f"/nonexistent-{uuid.uuid4().hex}/answers.txt"  # opening it is logged, then fails
    labels = {0: "setup", 1: "ex1_answer", 2: "ex2_answer", 3: "ex3_answer", 4: "cell 4",
              5: "cell 5", 6: "cell 6"}  # fmt: skip
    kernel = _Kernel(tmp_path)
    try:
        kernel.mark(0)
        assert kernel.run("from course_utils import grading\nimport numpy as np, torch") == \
            ("", "")  # fmt: skip
        baseline = kernel.probe()
        assert baseline is not None and baseline["grading.untampered"] == "ok"
        again = kernel.probe()
        assert probe_flags(baseline, again, "setup") == []  # the probe changes nothing
        assert kernel.run("print(sorted(n for n in dir() if 'probe' in n))")[0] == "[]\n"
        # As under ipykernel_launcher: the boot script's folder is not importable, and the
        # kernel's arguments are its own.
        assert kernel.run("import sys\nprint(any(p.endswith('grader') for p in sys.path), "
                          "sys.argv[1])")[0] == "False -f\n"  # fmt: skip

        def changed(index: int, code: str) -> list[str]:
            nonlocal baseline
            kernel.mark(index)
            assert kernel.run(code)[1] == ""
            now = kernel.probe()
            reasons = [f.reason for f in probe_flags(baseline, now, labels[index])]
            baseline = now
            return reasons

        assert changed(1, "grading.assert_close = lambda *a, **k: None") == [
            "course_utils.grading.assert_close was replaced"]  # fmt: skip
        assert changed(2, "get_ipython().input_transformers_post.append(lambda lines: lines)") \
            == ["an IPython input transformer was installed"]  # fmt: skip
        assert changed(3, "torch.Tensor.__eq__ = lambda a, b: True") == [
            "torch.Tensor.__eq__ was replaced"]  # fmt: skip
        assert changed(4, f"try:\n    open({outside!r})\nexcept OSError:\n    pass") == []
        # `builtins.isinstance = lambda *a: True` breaks the kernel's own messaging (that cell
        # times out, and static analysis flags it); one that still works is seen by the probe.
        assert sorted(changed(5, "import builtins\nreal = builtins.isinstance\n"
                                 "builtins.isinstance = lambda obj, cls: real(obj, cls)")) == [
            "builtins.isinstance was replaced",
            "course_utils.grading.check_untampered() no longer passes"]  # fmt: skip
        assert changed(6, "import types\ngrading = types.SimpleNamespace()") == [
            "the name `grading` now refers to something else"]  # fmt: skip
        kernel.mark()
    finally:
        kernel.close()
    # The sandbox's folders as this unsandboxed kernel sees them (the repository is on
    # sys.path, so importlib.metadata reads its egg-info; linecache reads kernel_boot.py).
    allowed = (f"{REPO_ROOT}/course_utils/", f"{REPO_ROOT}/seeing_inside_cnns.egg-info/",
               f"{REPO_ROOT}/tools/grader/kernel_boot.py", "/proc/", "/sys/", "/usr/", "/lib",
               "/etc/", "/dev/null", "/tmp/")  # fmt: skip
    flags = audit_flags(kernel.log.read_text(), labels, allowed_prefixes=allowed)
    assert _kinds(flags) == [
        ("cell 4", "the notebook opened files outside the folders the sandbox shows")
    ]
    assert outside in flags[0].evidence


# --- the reference answers exist only while grading -------------------------------------------


@pytest.mark.parametrize("source", [
    "from course_reference import saliency\n",
    "import course_reference.gradcam as g\n",
    "def grad_cam(model, x, target, *, layer):\n    return reference_gradcam.grad_cam(model, x, target, layer=layer)\n",  # noqa: E501
])  # fmt: skip
def test_code_that_uses_the_reference_answers_is_flagged(source):
    flags = integrity.static_flags([("ex1_answer", source)], hidden_names={"reference_gradcam"})
    assert [f.kind for f in flags] == ["suspicious_code"]
    assert "course_reference" in flags[0].reason and flags[0].review


def test_own_code_with_similar_names_is_not_flagged():
    source = "reference = 3\ncourse_utils_reference = reference + 1\n"
    flags = integrity.static_flags([("ex1_answer", source)], hidden_names={"reference_gradcam"})
    assert flags == []


def test_the_grader_knows_what_every_lessons_hidden_tests_import():
    """A name a hidden test imports (and the student's notebook does not) marks code that
    can only work while grading; every lesson whose hidden tests use course_reference has
    its names listed."""
    from tools.grader.pipeline import Lesson

    for name in lesson_names():
        source = "\n".join(c.source for c in read(solution_path(name)).cells)
        lesson = Lesson.load(name)
        if "course_reference" in source:
            assert lesson.hidden_names, name
        # Lesson 09's hidden tests also import torch's DataLoader, which a student's answer
        # may use as well: only the names of the reference answers count.
        assert "DataLoader" not in lesson.hidden_names
        released = "\n".join(c.source for c in read(lesson_path(name)).cells)
        assert "course_reference" not in released, f"{name}: a student can see course_reference"
