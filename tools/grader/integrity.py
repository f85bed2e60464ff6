"""Signs that a submission tried to cheat the grader, looked for from outside the notebook.

Checks inside a notebook (``course_utils.grading``) run in the student's own process and
cannot be made tamper-proof. So the trusted parent looks three more ways, each in its own
part of this module, and turns what it finds into :class:`Flag` records for a person:

* the **audit log** (:func:`audit_flags`): ``kernel_boot.py`` installs a CPython audit hook
  before the kernel starts; it logs opened files, started programs, ctypes, changed
  functions, ... The parent appends a marker before each cell, so events belong to cells.
* the **integrity probe** (:func:`probe_code`, :func:`parse_probe`, :func:`probe_flags`): a
  small silent cell run after the setup cell (the baseline) and after each later cell. It
  reports identities of the grading helpers, of the library functions and classes they rely
  on and of IPython's machinery; every change from the baseline is a flag. It sees changes
  that raise no audit event, such as ``np.allclose = f`` or ``torch.Tensor.__eq__ = f``.
* **static analysis** (:func:`static_flags`): the student's cells, parsed, for code that has
  no place in an answer (``sys.modules``, ``get_ipython()``, ``subprocess``, frames, ...).

None of this runs in the sandbox: the probe's *source* does, and its answer is data.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import posixpath
import re
import site
import sys
import sysconfig
from collections import Counter
from pathlib import Path

from .results import Flag

REPO_ROOT = Path(__file__).resolve().parents[2]
EVIDENCE_LINES = 20  # lines of evidence kept per flag

# --- the audit log ----------------------------------------------------------------------------

# What the sandbox shows the kernel. The parent's own view of the course (used when grading
# --unsandboxed) is added so that reading the course's data there is not a flag either.
DEFAULT_READ_PREFIXES = (
    "/course/", "/scratch/", "/tmp/", "/proc/", "/sys/", "/dev/null", "/dev/urandom",
    "/dev/shm", "/usr/", "/lib", "/etc/",
    # linecache reads the kernel's own boot script when a warning shows the whole stack
    "/grader/kernel_boot.py", f"{REPO_ROOT}/tools/grader/kernel_boot.py",
    # unsandboxed, the repository is on sys.path: importlib.metadata reads its egg-info
    f"{REPO_ROOT}/course_utils/", f"{REPO_ROOT}/data/", f"{REPO_ROOT}/seeing_inside_cnns.egg-info/",
)  # fmt: skip
DEFAULT_WRITE_PREFIXES = ("/scratch/", "/tmp/", "/dev/null", "/dev/shm")
# Code that is not the student's: a frame there is "the library did it".
TRUSTED_CODE = ("/course/course_utils/", "/course/course_reference/", "/grader/",
                f"{REPO_ROOT}/course_utils/")  # fmt: skip
# Programs that libraries start on their own when imported (torch runs ldconfig -p to find
# CUDA, debugpy runs uname -p, matplotlib may run fc-list); only from library code.
BENIGN_PROGRAMS = frozenset({"ldconfig", "uname", "fc-list"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

SPAWN_EVENTS = frozenset(
    "os.system subprocess.Popen os.exec os.posix_spawn os.spawn os.fork os.forkpty".split()
)
PATH_WRITE_EVENTS = frozenset(
    "os.remove os.rename os.rmdir shutil.rmtree os.truncate os.chmod".split()
)
# kind of event -> what the notebook did (the flag's reason)
AUDIT_REASONS = {
    "read": "opened files outside the folders the sandbox shows",
    "write": "wrote, deleted or renamed files outside /scratch and /tmp",
    "spawn": "started a program or forked the kernel",
    "kill": "sent a signal to a process",
    "changed": "changed a function or object of a library or of the course (its code, "
    "defaults or class)",
    "ctypes": "used ctypes (raw memory or C library access)",
    "trace": "installed a trace or profile function (sys.settrace, sys.setprofile)",
    "socket": "used a network socket",
    "audit_hook": "added an audit hook of its own",
    "gc": "searched the interpreter's objects (gc.get_objects, get_referrers, get_referents)",
    "import": "imported a module that starts programs or reaches native code",
    "log_opened": "opened the grader's audit log",
    "log_full": "filled the audit log: later events were not recorded",
}
ALTERED = "the audit log was altered"


def python_prefixes() -> tuple[str, ...]:
    """The Python installation and virtual environment (the sandbox shows them read-only)."""
    paths = sysconfig.get_paths()
    found = set()
    for path in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                 paths["purelib"], paths["platlib"], *site.getsitepackages()):  # fmt: skip
        for variant in (os.path.abspath(path), os.path.realpath(path)):
            found.add(variant.rstrip("/") + "/")
    return tuple(sorted(found))


def _under(path: str, prefixes) -> bool:
    """True if ``path`` is one of ``prefixes`` or lies below one (plain string prefixes, so
    "/lib" also covers "/lib64"; paths in the log are already normalized)."""
    return any(path == p.rstrip("/") or path.startswith(p) for p in prefixes)


def _trusted_frame(where, trusted) -> bool:
    """A frame ("file:line") in library or course code; None (no frame found) is not."""
    return isinstance(where, str) and (where.startswith("<frozen ") or _under(where, trusted))


def _judge(record: dict, reads, writes, trusted) -> str | None:
    """The AUDIT_REASONS key an event deserves, or None when it is fine."""
    event, args = record.get("event"), record.get("args")
    if not isinstance(event, str):
        return None
    args = args if isinstance(args, list) else []
    by_library = _trusted_frame(record.get("by"), trusted)
    if event in ("os.listdir", "os.scandir") and by_library:
        return None  # torch and importlib look for files along sys.path, wherever it points
    if event in ("open", "os.listdir", "os.scandir"):
        paths = [a for a in (args[:1] + args[3:4]) if isinstance(a, str)]
        if not paths or paths[0].startswith("fd:"):
            return None
        flags = args[2] if event == "open" and len(args) > 2 and isinstance(args[2], int) else 0
        if flags & WRITE_FLAGS:
            return None if all(_under(p, writes) for p in paths) else "write"
        return None if all(_under(p, reads) for p in paths) else "read"
    if event in PATH_WRITE_EVENTS or event in ("os.symlink", "os.link"):
        paths = [a for a in args if isinstance(a, str) and a.startswith("/")]
        if event in ("os.symlink", "os.link"):  # the first path is what the link points to
            target, paths = paths[:1], paths[1:]
            if not all(_under(p, reads) for p in target):
                return "read"
        return None if all(_under(p, writes) for p in paths) else "write"
    if event in SPAWN_EVENTS:
        program = next((a for a in args if isinstance(a, str)), "")
        name = posixpath.basename(program.split()[0]) if program.strip() else ""
        return None if by_library and name in BENIGN_PROGRAMS else "spawn"
    if event in ("os.kill", "os.killpg", "signal.pthread_kill"):
        return "kill"
    if event in ("object.__setattr__", "object.__delattr__"):
        # Libraries set __module__, __doc__, __defaults__ ... of what they create; the
        # student's own classes and functions (defined in __main__) are theirs to change.
        target = str(args[0]) if args else ""
        own = target.startswith(("<class '__main__.", "<function __main__."))
        return None if own or _trusted_frame(record.get("at"), trusted) else "changed"
    if event.startswith("ctypes."):
        return None if by_library else "ctypes"
    if event in ("import", "gc.get_objects", "gc.get_referrers", "gc.get_referents"):
        return None if by_library else ("import" if event == "import" else "gc")
    if event in ("sys.settrace", "sys.setprofile"):
        return "trace"
    if event.startswith("socket."):
        return "socket"
    return {"sys.addaudithook": "audit_hook", "audit.log_opened": "log_opened",
            "audit.log_full": "log_full"}.get(event)  # fmt: skip


def _evidence(lines: list[str]) -> str:
    """Distinct lines with their counts, cut to EVIDENCE_LINES."""
    counts = Counter(lines)
    shown = [line if n == 1 else f"{line}  (x{n})" for line, n in counts.items()]
    if len(shown) > EVIDENCE_LINES:
        shown = shown[:EVIDENCE_LINES] + [f"... and {len(shown) - EVIDENCE_LINES} more"]
    return "\n".join(shown)


def _event_line(record: dict) -> str:
    """An event as evidence: its JSON without the time, so repeats compare equal."""
    return json.dumps({k: v for k, v in record.items() if k != "t"})[:1000]


def _parse_log(log_text: str, cell_labels: dict[int, str]):
    """[(cell label or None before the first marker, record)], and what is wrong with the
    log's structure (an empty list when markers, order and end are as the parent wrote)."""
    events, problems, cell, last_index, ended = [], [], None, -1, False
    lines = log_text.splitlines()
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not ("marker" in record or "event" in record):
            problems.append(f"line {number} is not an audit record: {line[:200]}")
            continue
        if number == 1 and record.get("event") != "audit.start":
            problems.append(f"line 1 is not the hook's first line: {line[:200]}")
        marker = record.get("marker")
        if marker is None:
            if record.get("event") == "audit.start" and number != 1:
                problems.append(f"line {number}: a second audit.start line")
            events.append((cell, record))
        elif ended:
            problems.append(f"line {number}: a marker after the end marker: {line[:200]}")
        elif marker == "end":
            ended, cell = True, ""
        elif marker == "cell" and type(record.get("index")) is int and \
                record["index"] in cell_labels:  # fmt: skip
            index = record["index"]
            if index <= last_index:
                problems.append(f"line {number}: cell {index} marked after cell {last_index}")
            last_index, cell = index, cell_labels[index]
        else:
            problems.append(f"line {number}: an unknown marker: {line[:200]}")
    if not lines:
        problems.append("the log is empty")
    elif not ended:
        problems.append("the end marker is missing (the log was cut or rewritten)")
    return events, problems


def audit_flags(
    log_text: str,
    cell_labels: dict[int, str],
    allowed_prefixes: tuple[str, ...] | None = None,
    writable_prefixes: tuple[str, ...] = DEFAULT_WRITE_PREFIXES,
    trusted_code: tuple[str, ...] = TRUSTED_CODE,
) -> list[Flag]:
    """Flags for what the audit log of one kernel shows, one per cell and kind of event.

    Args:
        log_text: the whole log: the hook's event lines and the parent's markers
            (``{"marker": "cell", "index": i}`` before cell i, ``{"marker": "end"}`` last).
        cell_labels: cell index -> label ("ex1_answer", "cell 12"), for every cell that may
            have a marker. Events before the first marker (the kernel starting) are not
            judged; events after the end marker get the label "".
        allowed_prefixes: where reading is fine; None: DEFAULT_READ_PREFIXES plus the Python
            installation (:func:`python_prefixes`). The kernel's working folder, from the
            log's first line, is always allowed for reading and writing.
        writable_prefixes: where writing, deleting and renaming are fine.
        trusted_code: code folders whose frames count as "a library did it" (besides the
            Python installation): ctypes or an import there is not the student's doing.

    The kernel can write to its own log (it must, to log), so a notebook that knows this
    format could append or rewrite lines. Broken structure (missing, repeated or reordered
    markers, foreign lines, no end) is flagged as ALTERED; a careful rewrite is not. The
    parent closes most of that gap by reading the log after each cell and checking that
    what it read before is still there, unchanged.
    """
    events, problems = _parse_log(log_text, cell_labels)
    reads = DEFAULT_READ_PREFIXES if allowed_prefixes is None else allowed_prefixes
    reads, writes = (*reads, *python_prefixes()), tuple(writable_prefixes)
    start = events[0][1] if events and events[0][1].get("event") == "audit.start" else {}
    start_args = start.get("args") or []
    if len(start_args) > 1 and isinstance(start_args[1], str) and start_args[1].startswith("/"):
        home = start_args[1].rstrip("/") + "/"  # the kernel's working folder
        reads, writes = (*reads, home), (*writes, home)
    trusted = (*trusted_code, *python_prefixes())
    found: dict[tuple[str, str], list[str]] = {}
    for cell, record in events:
        if cell is None:
            continue
        kind = _judge(record, reads, writes, trusted)
        if kind is not None:
            found.setdefault((cell, kind), []).append(_event_line(record))
    flags = []
    for (cell, kind), lines in found.items():
        times = f" ({len(lines)} times)" if len(lines) > 1 else ""
        flags.append(Flag("tampering", f"the notebook {AUDIT_REASONS[kind]}{times}", cell=cell,
                          review=True, evidence=_evidence(lines)))  # fmt: skip
    if problems:
        flags.append(Flag("tampering", ALTERED, review=True, evidence=_evidence(problems)))
    return flags


# --- the integrity probe ----------------------------------------------------------------------

PROBE_PREFIX = "GRADER-PROBE"


def _collect_facts() -> dict:
    """What the probe reports (runs in the kernel: self-contained, standard library only).

    Values are identities (hex ids; for functions also a hash of their code, so that a
    replacement allocated where the original was freed still differs), short descriptions
    and flags. The parent compares them with the baseline taken after the setup cell.
    """
    import sys
    from types import BuiltinFunctionType, FunctionType, ModuleType

    facts, modules = {}, sys.modules
    namespace = globals()  # the notebook's namespace: this function is defined in it

    def ident(obj):
        if type(obj) is FunctionType:
            return f"{id(obj):x}:{hash(obj.__code__) & 0xFFFFFFFF:x}"
        return f"{id(obj):x}"

    def describe(obj):
        kind = type(obj)
        target = getattr(obj, "__func__", obj) if kind.__name__ == "method" else obj
        name = ""
        if type(target) in (FunctionType, BuiltinFunctionType) or isinstance(target, type):
            name = f":{target.__module__}.{target.__qualname__}"
        return f"{kind.__module__}.{kind.__qualname__}{name}"

    def library_code(obj) -> bool:
        """A function or method written in the Python installation or the course package."""
        course = vars(modules["course_utils"]).get("__file__") if "course_utils" in modules else ""
        roots = [sys.prefix, sys.base_prefix, sys.exec_prefix, (course or "")[:-len("__init__.py")]]
        function = getattr(obj, "__func__", obj) if type(obj).__name__ == "method" else obj
        if type(function) is not FunctionType:
            return False
        return function.__code__.co_filename.startswith(tuple(r for r in roots if r))

    def grading():
        module = modules.get("course_utils.grading")
        if module is None:
            return
        facts["grading.file"] = str(vars(module).get("__file__"))
        for name, value in list(vars(module).items()):
            if name.startswith("__"):
                continue
            facts[f"grading.attr.{name}"] = ident(value)
            if type(value) is dict:
                for key, item in list(value.items()):
                    facts[f"grading.item.{name}[{key}]"] = ident(item)
            elif type(value) in (list, tuple):
                facts[f"grading.item.{name}"] = ",".join(ident(item) for item in value)
            if type(value) is FunctionType:
                defaults = (value.__defaults__, value.__kwdefaults__)
                facts[f"grading.defaults.{name}"] = repr(defaults)[:300]
        try:
            module.check_untampered()
            facts["grading.untampered"] = "ok"
        except Exception as error:  # noqa: BLE001 - whatever it raises is the answer
            facts["grading.untampered"] = f"{type(error).__name__}: {error}"[:300]

    def user_names():
        # Modules, functions and classes the tests may use; the names the setup cells bind
        # to modules are followed whatever they become.
        kinds = (ModuleType, FunctionType, BuiltinFunctionType, type)
        followed = {"grading", "np", "torch", "nn", "F", "plt", "data", "models", "viz", "env"}
        facts["user.__builtins__"] = ident(namespace.get("__builtins__"))
        for name, value in list(namespace.items()):
            if name in followed or (not name.startswith("_") and isinstance(value, kinds)):
                facts[f"user.{name}"] = ident(value)

    def course_and_libraries():
        course = sorted(n for n in list(modules) if n.split(".")[0] == "course_utils")
        for name in ["builtins", "sys", "math", "numpy", "numpy.testing", "torch",
                     "torch.testing", "torch.nn", "torch.nn.functional", *course]:  # fmt: skip
            module = modules.get(name)
            if module is None:
                continue
            facts[f"module.{name}"] = ident(module)
            facts[f"file.{name}"] = str(vars(module).get("__file__"))
            if name in ("sys", "torch.nn", "course_utils.grading"):
                continue  # sys changes all the time; grading has its own section
            public = name not in course  # a library's private names are its own business
            for attr, value in list(vars(module).items()):
                if attr.startswith("__") or (public and attr.startswith("_")):
                    continue
                # ipykernel sets builtins.input anew for every cell.
                if not isinstance(value, ModuleType) and not (name == "builtins" and
                                                              attr in ("exit", "quit", "input")):
                    facts[f"attr.{name}.{attr}"] = ident(value)

    def classes():
        found = []
        torch, numpy = modules.get("torch"), modules.get("numpy")
        if torch is not None:
            found += [("torch.Tensor", torch.Tensor), ("torch.nn.Module", torch.nn.Module),
                      ("torch.nn.Parameter", torch.nn.Parameter)]  # fmt: skip
        for name in sorted(n for n in list(modules) if n.split(".")[0] == "course_utils"):
            for attr, value in list(vars(modules[name]).items()):
                if isinstance(value, type) and value.__module__ == name:
                    found.append((f"{name}.{attr}", value))
        for label, cls in found:
            # An attribute set on the class that it used to inherit (torch.Tensor.__eq__
            # comes from a C base class) shows up here: it is new in the class's own dict.
            facts[f"names.{label}"] = sorted(vars(cls))
            for attr, value in list(vars(cls).items()):
                if attr not in ("__doc__", "__dict__", "__weakref__", "__module__"):
                    facts[f"class.{label}.{attr}"] = ident(value)
        if numpy is not None:  # a static type (cannot change); recorded as a sanity check
            facts["class.numpy.ndarray.__eq__"] = ident(numpy.ndarray.__eq__)

    def ipython():
        shell = modules["IPython"].get_ipython() if "IPython" in modules else None
        facts["ipython.shell"] = describe(shell)
        if shell is None:
            return
        facts["ipython.user_ns"] = namespace is shell.user_ns
        manager = shell.input_transformer_manager
        facts["ipython.input_transformer_manager"] = ident(manager)
        lists = {"input_transformers_post": shell.input_transformers_post,
                 "ast_transformers": shell.ast_transformers,
                 "input_transformers_cleanup": manager.cleanup_transforms,
                 "line_transforms": manager.line_transforms,
                 "token_transformers": manager.token_transformers,
                 "prefilter": [*shell.prefilter_manager.transformers,
                               *shell.prefilter_manager.checkers]}  # fmt: skip
        for name, items in lists.items():
            facts[f"ipython.{name}"] = [describe(item) for item in items]
        facts["ipython.custom_exceptions"] = [describe(e) for e in shell.custom_exceptions]
        for name in ("run_cell", "run_cell_async", "_run_cell", "run_ast_nodes", "run_code",
                     "transform_cell", "transform_ast", "showtraceback", "_showtraceback",
                     "showsyntaxerror", "should_run_async", "CustomTB"):  # fmt: skip
            facts[f"ipython.instance.{name}"] = name in vars(shell)
            facts[f"ipython.method.{name}"] = ident(getattr(type(shell), name, None))
        for event, callbacks in list(shell.events.callbacks.items()):
            # matplotlib registers its own on the first plot: only the others are compared
            mine = [c for c in callbacks if not library_code(c)]
            facts[f"ipython.events.{event}"] = [describe(c) for c in mine]
        magics = shell.magics_manager.magics
        facts["ipython.magics"] = sorted(magics["line"]) + sorted("%" + m for m in magics["cell"])
        facts["ipython.compile"] = describe(shell.compile)
        facts["ipython.displayhook"] = describe(shell.displayhook)

    def interpreter():
        threading = modules.get("threading")
        facts["sys.trace"] = describe(sys.gettrace())
        facts["sys.profile"] = describe(sys.getprofile())
        if threading is not None and hasattr(threading, "gettrace"):
            facts["threading.trace"] = describe(threading.gettrace())
            facts["threading.profile"] = describe(threading.getprofile())
        facts["sys.meta_path"] = [describe(finder) for finder in sys.meta_path]
        facts["sys.path_hooks"] = [describe(hook) for hook in sys.path_hooks]
        for name in ("excepthook", "displayhook", "stdout", "stderr"):
            facts[f"sys.{name}"] = describe(getattr(sys, name, None))

    for section in (grading, user_names, course_and_libraries, classes, ipython, interpreter):
        try:
            section()
        except Exception as error:  # noqa: BLE001 - report what could not be checked
            facts[f"error.{section.__name__}"] = f"{type(error).__name__}: {error}"[:300]
    return facts


# Read once, at import: inspect reads the file, which may have changed since.
_PROBE_SOURCE = inspect.getsource(_collect_facts)


def probe_code(nonce: str) -> str:
    """Source of the probe cell; run it with ``silent=True, store_history=False``.

    It prints one line, ``GRADER-PROBE <nonce> <json>``, and leaves nothing behind: its one
    name is deleted, it imports nothing new. It writes to ``sys.stdout`` as found when it
    runs (that is what reaches the parent): a notebook that replaced ``sys.stdout``, the
    builtins or the json module could forge the answer; such a notebook changed facts the
    probe reports, and the audit log and static analysis look at the same cells.
    """
    if not re.fullmatch(r"[0-9A-Za-z_]{8,64}", nonce):
        raise ValueError(f"the nonce must be 8 to 64 letters, digits or _: {nonce!r}")
    name = f"_grader_probe_{nonce}"
    body = _PROBE_SOURCE.replace("def _collect_facts(", f"def {name}(", 1)
    return (
        f"{body}\n"
        "try:\n"
        f"    __import__('sys').stdout.write('{PROBE_PREFIX} {nonce} ' + __import__('json')"
        f".dumps({name}(), sort_keys=True, default=str) + '\\n')\n"
        "    __import__('sys').stdout.flush()\n"
        "finally:\n"
        f"    del {name}\n"
    )


def parse_probe(text: str, nonce: str) -> dict | None:
    """The facts from the probe's output, or None without exactly one valid answer line.

    The answer may follow other output on its line (a background thread's print without a
    newline); ``text`` is everything the probe's execution wrote to stdout and stderr."""
    start = f"{PROBE_PREFIX} {nonce} "
    answers = [line[line.index(start) + len(start) :] for line in text.splitlines()
               if start in line]  # fmt: skip
    if len(answers) != 1:
        return None
    try:
        facts = json.loads(answers[0])
    except ValueError:
        return None
    return facts if isinstance(facts, dict) else None


# key prefix -> (sentence when the value changed, sentence when the fact disappeared); {} is
# the rest of the key. A whole key in _PROBE_SENTENCES has its own sentence.
_PROBE_SUBJECTS = [
    ("grading.attr.", "course_utils.grading.{} was replaced",
     "course_utils.grading.{} was deleted"),
    ("grading.item.", "the original that course_utils.grading keeps as {} was replaced",
     "the original that course_utils.grading keeps as {} was removed"),
    ("grading.defaults.", "the default arguments of course_utils.grading.{} were changed",
     "course_utils.grading.{} was deleted"),
    ("grading.file", "course_utils.grading was loaded from another file",
     "course_utils.grading was unloaded"),
    ("user.", "the name `{}` now refers to something else", "the name `{}` was deleted"),
    ("module.", "sys.modules['{}'] was replaced", "sys.modules['{}'] was removed"),
    ("file.", "sys.modules['{}'] now comes from another file", "sys.modules['{}'] was removed"),
    ("attr.", "{} was replaced", "{} was deleted"),
    ("class.", "{} was replaced", "{} was deleted"),
    ("ipython.instance.", "IPython's shell.{} was replaced on the instance", ""),
    ("ipython.method.", "IPython's method {} was replaced", ""),
    ("ipython.events.", "a callback was registered for IPython's {} event", ""),
    ("ipython.", "IPython's {} was changed", "IPython's {} was removed"),
    ("sys.", "sys.{} was changed", "sys.{} was removed"),
    ("threading.", "threading's {} function was set", ""),
]
_PROBE_SENTENCES = {  # whole keys with a sentence of their own
    "grading.untampered": "course_utils.grading.check_untampered() no longer passes",
    "ipython.input_transformers_post": "an IPython input transformer was installed",
    "ipython.input_transformers_cleanup": "an IPython input transformer was installed",
    "ipython.line_transforms": "an IPython input transformer was installed",
    "ipython.token_transformers": "an IPython input transformer was installed",
    "ipython.ast_transformers": "an IPython AST transformer was installed",
    "ipython.custom_exceptions": "exceptions are being hidden (custom_exceptions set)",
    "ipython.prefilter": "IPython's prefilter (input rewriting) was changed",
    "ipython.magics": "a magic command was registered or removed",
    "ipython.user_ns": "the notebook's namespace was replaced",
    "sys.trace": "a trace function was installed (sys.settrace)",
    "sys.profile": "a profile function was installed (sys.setprofile)",
    "sys.meta_path": "an import hook was installed (sys.meta_path changed)",
    "sys.path_hooks": "an import hook was installed (sys.path_hooks changed)",
    "sys.excepthook": "sys.excepthook was replaced",
    "sys.stdout": "sys.stdout was replaced (the probe's own answer may be forged)",
    "user.grading": "the name `grading` now refers to something else",
}


def _sentence(key: str, removed: bool) -> tuple[str, str]:
    """(group, sentence) for one changed fact; a group gathers e.g. all numpy attributes."""
    if key in _PROBE_SENTENCES and not removed:
        return key, _PROBE_SENTENCES[key]
    if key.startswith("error."):
        return key, f"the integrity probe could not check {key[6:]}"
    for prefix, changed, gone in _PROBE_SUBJECTS:
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            group = key
            if prefix in ("attr.", "class."):  # one flag per module or class
                group = prefix + rest.rsplit(".", 1)[0]
            elif prefix == "grading.attr.":
                group = prefix
            return group, ((gone or changed) if removed else changed).format(rest)
    return key, f"{key} changed"


def probe_flags(baseline: dict | None, now: dict | None, cell: str) -> list[Flag]:
    """Flags for every fact that differs from the baseline (facts new since are ignored:
    a module imported later, a name defined later). ``now`` None: the probe got no answer."""
    if now is None:
        return [Flag("tampering", "the integrity probe got no answer", cell=cell, review=True,
                     evidence="no single valid GRADER-PROBE line came back")]  # fmt: skip
    groups: dict[str, list[tuple[str, str]]] = {}
    baseline = baseline or {}
    for key, before in baseline.items():
        after = now.get(key, "<missing>")
        if key.startswith("error.") and key not in now:
            continue  # what failed to be checked at the baseline can be checked now
        replaced = key.replace("grading.defaults.", "grading.attr.", 1)
        if replaced != key and now.get(replaced) != baseline.get(replaced):
            continue  # a new function has new defaults: one flag says it was replaced
        if key.startswith("names.") and isinstance(before, list) and isinstance(after, list):
            for name in sorted(set(after) - set(before)):  # set on the class, once inherited
                group, sentence = _sentence(f"class.{key[6:]}.{name}", removed=False)
                groups.setdefault(group, []).append((sentence, f"{key}: {name} was added"))
            continue  # names that disappeared are reported by their class.* facts
        if after != before:
            group, sentence = _sentence(key, removed=key not in now)
            groups.setdefault(group, []).append((sentence, f"{key}: {before!r} -> {after!r}"))
    for key in now:
        if key.startswith("error.") and key not in baseline:
            groups.setdefault(key, []).append((_sentence(key, False)[1], f"{key}: {now[key]}"))
    flags = []
    for items in groups.values():
        sentences = list(dict.fromkeys(s for s, _ in items))
        reason = sentences[0] if len(sentences) == 1 else (
            f"{sentences[0]}, and {len(sentences) - 1} more like it")  # fmt: skip
        evidence = [line[:300] for _, line in items]
        flags.append(Flag("tampering", reason, cell=cell, review=True,
                          evidence=_evidence(evidence)))  # fmt: skip
    return flags


# --- static analysis --------------------------------------------------------------------------

STATIC_REASONS = {
    "sys_modules": "reaches into sys.modules, where the modules the tests use live",
    "builtins": "reaches into the builtins (isinstance, len, float, ...)",
    "grading": "replaces, rebinds or deletes the grading helpers (`grading`)",
    "rebinds_module": "rebinds a module name the tests use (np, torch, data, ...)",
    "patch": "changes an attribute of a module or class (like np.allclose = ... or "
    "torch.Tensor.__eq__ = ...)",
    "ipython": "changes IPython's machinery (input/AST transformers, magics, exception "
    "display, event callbacks)",
    "get_ipython": "uses get_ipython()",
    "process": "starts programs, sends signals or ends the kernel (subprocess, os.system, "
    "os.fork, os.kill, os._exit, signal, pty)",
    "exit": "ends the kernel (exit(), quit(), sys.exit, SystemExit)",
    "ctypes": "uses ctypes (raw memory or C library access)",
    "sockets": "uses network sockets",
    "introspection": "looks into the interpreter: frames, the garbage collector or the "
    "namespace itself (sys._getframe, inspect.stack, f_globals, gc.get_objects, globals())",
    "hooks": "changes interpreter hooks (sys.settrace, sys.excepthook, sys.stdout, "
    "sys.meta_path, ...)",
    "dynamic_code": "runs code built at run time or reloads modules (exec, eval, compile, "
    "__import__, importlib, types.FunctionType)",
    "open": "opens files with open()",
    "lying_type": "defines a type that can lie to the checks (a subclass of float, int, "
    "Tensor or ndarray redefining comparisons or arithmetic, or __array__, __float__, ...)",
    "threads": "starts threads or processes, or runs code at exit (threading, "
    "multiprocessing, concurrent.futures, atexit)",
    "shell": "runs shell commands (!command)",
    "magic": "uses an IPython magic that runs programs or other code",
}

# Names a test cell relies on, and the module each must stay (an import of the same module
# under the same name is fine).
PROTECTED_NAMES = {
    "grading": "course_utils.grading", "np": "numpy", "torch": "torch", "nn": "torch.nn",
    "F": "torch.nn.functional", "data": "course_utils.data", "models": "course_utils.models",
    "viz": "course_utils.viz", "env": "course_utils.env", "course_utils": "course_utils",
}  # fmt: skip
# Aliases every lesson's setup cell creates; names imported in a cell are added to these.
DEFAULT_ALIASES = {
    "np": "numpy", "torch": "torch", "nn": "torch.nn", "F": "torch.nn.functional",
    "plt": "matplotlib.pyplot", "sys": "sys", "os": "os", "math": "math",
    **{name: f"course_utils.{name}" for name in "data env grading models viz".split()},
}  # fmt: skip
# Imported modules (and their submodules) -> rule.
MODULE_RULES = {
    "subprocess": "process", "_posixsubprocess": "process", "pty": "process",
    "signal": "process", "ctypes": "ctypes", "_ctypes": "ctypes", "socket": "sockets",
    "_socket": "sockets", "threading": "threads", "_thread": "threads",
    "multiprocessing": "threads", "concurrent": "threads", "torch.multiprocessing": "threads",
    "atexit": "threads", "builtins": "builtins", "importlib": "dynamic_code",
    "runpy": "dynamic_code", "code": "dynamic_code", "marshal": "dynamic_code",
    "unittest.mock": "patch", "mock": "patch", "ipykernel": "ipython", "pdb": "hooks",
    "bdb": "hooks",
}  # fmt: skip
# Dotted names (after resolving aliases) -> rule; a name matches itself and what is below it.
ATTRIBUTE_RULES = {
    "sys.modules": "sys_modules", "sys._getframe": "introspection",
    "sys._current_frames": "introspection", "sys.settrace": "hooks", "sys.setprofile": "hooks",
    "sys.excepthook": "hooks", "sys.displayhook": "hooks", "sys.__stdout__": "hooks",
    "sys.__stderr__": "hooks", "sys.meta_path": "hooks", "sys.path_hooks": "hooks",
    "sys.path_importer_cache": "hooks", "sys.addaudithook": "hooks", "sys.audit": "hooks",
    "sys.breakpointhook": "hooks", "sys.unraisablehook": "hooks", "sys.exit": "exit",
    "os.system": "process", "os.popen": "process", "os.fork": "process",
    "os.forkpty": "process", "os.kill": "process", "os.killpg": "process",
    "os._exit": "process", "os.abort": "process", "os.posix_spawn": "process",
    "os.posix_spawnp": "process", "gc.get_objects": "introspection",
    "gc.get_referrers": "introspection", "gc.get_referents": "introspection",
    "inspect.currentframe": "introspection", "inspect.stack": "introspection",
    "inspect.trace": "introspection", "inspect.getouterframes": "introspection",
    "inspect.getinnerframes": "introspection", "types.FunctionType": "dynamic_code",
    "types.CodeType": "dynamic_code", "types.ModuleType": "dynamic_code",
    "IPython.get_ipython": "get_ipython", "IPython.core": "ipython",
    "IPython.terminal": "ipython", "IPython.utils": "ipython", "IPython.extensions": "ipython",
}  # fmt: skip
OS_PREFIX_RULES = ("os.exec", "os.spawn")  # os.execv, os.spawnl, ...: "process"
# Attribute names that are suspicious on whatever object they are read or set.
ATTRIBUTE_NAME_RULES = {
    **dict.fromkeys(
        "f_back f_globals f_locals f_builtins f_code tb_frame gi_frame cr_frame ag_frame "
        "__globals__ __closure__ __code__ __defaults__ __kwdefaults__ __subclasses__ "
        "get_objects get_referrers get_referents _getframe currentframe".split(),
        "introspection"),
    **dict.fromkeys(
        "input_transformers_cleanup input_transformers_post input_transformer_manager "
        "ast_transformers register_magic_function register_magics set_custom_exc "
        "custom_exceptions showtraceback _showtraceback showsyntaxerror run_cell "
        "run_cell_async _run_cell run_ast_nodes run_code transform_cell transform_ast "
        "prefilter_manager user_ns user_global_ns CustomTB InteractiveTB SyntaxTB "
        "register_cell_magic register_line_magic register_line_cell_magic magics_class "
        "magics_manager builtin_trap".split(), "ipython"),
    "__builtins__": "builtins",
}  # fmt: skip
# Built-in names that are suspicious wherever they are used (called or passed around).
NAME_RULES = {
    "exec": "dynamic_code", "eval": "dynamic_code", "compile": "dynamic_code",
    "__import__": "dynamic_code", "globals": "introspection", "locals": "introspection",
    "breakpoint": "hooks", "open": "open", "get_ipython": "get_ipython",
    "__builtins__": "builtins", "exit": "exit", "quit": "exit", "SystemExit": "exit",
}  # fmt: skip
NUMERIC_BASES = {
    "float", "int", "complex", "bool", "list", "tuple", "numpy.ndarray", "ndarray",
    "numpy.generic", "numpy.number", "numpy.floating", "numpy.integer", "numpy.float64",
    "numpy.float32", "torch.Tensor", "Tensor", "torch.nn.Parameter", "Parameter",
    "torch.nn.parameter.Parameter",
}  # fmt: skip
# Redefined in such a subclass, these could make a wrong answer compare equal.
LYING_DUNDERS = set(
    "__eq__ __ne__ __lt__ __le__ __gt__ __ge__ __sub__ __rsub__ __abs__ __bool__ __float__ "
    "__array__ __torch_function__ __index__ __round__ __int__ __len__ __getitem__ __iter__ "
    "__hash__ __class__ __neg__ __add__ __radd__ __mul__ __truediv__".split()
)
# Defined in any class, these let an object pass for a number, an array or another type.
FAKE_DUNDERS = set(
    "__array__ __array_ufunc__ __array_function__ __array_interface__ __array_struct__ "
    "__torch_function__ __torch_dispatch__ __float__ __index__ __int__ __complex__ "
    "__instancecheck__ __subclasscheck__ __class__".split()
)
# Magics that only display, time or configure (their code, if any, is checked as code).
BENIGN_MAGICS = set(
    "matplotlib time timeit capture prun config precision pprint xmode who whos who_ls pinfo "
    "pinfo2 pdef pdoc psource psearch lsmagic magic quickref pwd colors env html javascript "
    "js latex markdown svg writefile".split()
)
CODE_MAGICS = {"time", "timeit", "capture", "prun"}  # the line or body is Python
# Modules whose names are also ordinary variable names: their rules apply only when the cell
# (or another cell of the student) imports them.
AMBIGUOUS_MODULES = {"code", "signal", "mock", "inspect", "types", "gc", "socket", "pty"}
CLASS_NAME = re.compile(r"_*[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*")  # Tensor, MyModel; not X, W


def _dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


class _Scanner(ast.NodeVisitor):
    """Finds (rule, line) pairs in one parsed cell."""

    def __init__(self, tree: ast.AST, line_offset: int = 0, aliases=None, imported=()):
        self.found: list[tuple[str, int]] = []
        self.offset = line_offset
        self.aliases = dict(DEFAULT_ALIASES if aliases is None else aliases)
        self.imported: set[str] = set(imported)  # names bound by imports (any student cell)
        self.scopes: list[set[str]] = []  # global declarations of the enclosing functions
        # Plain variables of this cell: `code.shape` is not the module code.
        self.variables = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                          and isinstance(n.ctx, ast.Store)} - self.imported  # fmt: skip

    def add(self, rule: str, node: ast.AST) -> None:
        self.found.append((rule, getattr(node, "lineno", 1) + self.offset))

    # -- names ----------------------------------------------------------------------------
    def dotted(self, node: ast.AST) -> str | None:
        """"np.testing.assert_allclose" -> "numpy.testing.assert_allclose"; None when the
        expression does not start with a name."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id in self.variables:
            return None
        if node.id in AMBIGUOUS_MODULES and node.id not in self.imported:
            return None
        parts.append(self.aliases.get(node.id, node.id))
        return ".".join(reversed(parts))

    def module_like(self, node: ast.AST) -> bool:
        """An expression naming a module or a class: its attributes are shared state."""
        chain = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return False
        names = [node.id, *reversed(chain)]
        return (node.id in self.aliases or node.id in self.imported
                or any(CLASS_NAME.fullmatch(n) for n in names))  # fmt: skip

    def check_dotted(self, name: str | None, node: ast.AST) -> None:
        if not name:
            return
        for dotted, rule in ATTRIBUTE_RULES.items():
            if name == dotted or name.startswith(dotted + "."):
                self.add(rule, node)
                return
        if name.startswith(OS_PREFIX_RULES):
            self.add("process", node)
        elif name.split(".")[0] == "builtins":
            self.add("builtins", node)
        for module, rule in MODULE_RULES.items():
            if name == module or name.startswith(module + "."):
                self.add(rule, node)
                return

    def at_module_level(self, name: str) -> bool:
        return not self.scopes or name in self.scopes[-1]

    def bind(self, name: str, node: ast.AST, module: str | None = None) -> None:
        """``name`` is (re)bound at the cell's top level, to ``module`` if an import."""
        if not self.at_module_level(name):
            return
        if name in PROTECTED_NAMES and module != PROTECTED_NAMES[name]:
            self.add("grading" if name == "grading" else "rebinds_module", node)

    # -- imports --------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.check_dotted(alias.name, node)
            if alias.name.split(".")[0] == "IPython" and alias.name != "IPython.display":
                self.add("ipython", node)
            bound = alias.asname or alias.name.split(".")[0]
            target = alias.name if alias.asname else alias.name.split(".")[0]
            self.bind(bound, node, target)
            self.aliases[bound] = target
            self.imported.add(bound)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        self.check_dotted(module, node)
        for alias in node.names:
            full = f"{module}.{alias.name}"
            self.check_dotted(full, node)
            if module.split(".")[0] == "IPython" and not (
                module.startswith("IPython.display") or full == "IPython.display"):  # fmt: skip
                self.add("get_ipython" if alias.name == "get_ipython" else "ipython", node)
            bound = alias.asname or alias.name
            self.bind(bound, node, full)
            self.aliases[bound] = full
            self.imported.add(bound)

    # -- scopes ---------------------------------------------------------------------------
    def visit_FunctionDef(self, node) -> None:
        self.bind(node.name, node)
        for decorator in node.decorator_list:
            self.visit(decorator)
        self.visit(node.args)
        self.scopes.append({n for g in ast.walk(node) if isinstance(g, ast.Global)
                            for n in g.names})  # fmt: skip
        for statement in node.body:
            self.visit(statement)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node) -> None:  # lambdas and comprehensions have their own scope
        self.scopes.append(set())
        self.generic_visit(node)
        self.scopes.pop()

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_Lambda

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.bind(node.name, node)
        bases = {self.dotted(b) or "" for b in node.bases}
        functions = ast.FunctionDef | ast.AsyncFunctionDef
        defined = {n.name for n in node.body if isinstance(n, functions)}
        for statement in node.body:
            for target in getattr(statement, "targets", [getattr(statement, "target", None)]):
                if isinstance(target, ast.Name):
                    defined.add(target.id)
        numeric = bases & NUMERIC_BASES or any(b.split(".")[-1] in ("Tensor", "ndarray")
                                              for b in bases)  # fmt: skip
        if (numeric and defined & LYING_DUNDERS) or defined & FAKE_DUNDERS:
            self.add("lying_type", node)
        for expression in [*node.bases, *node.keywords, *node.decorator_list]:
            self.visit(expression)
        self.scopes.append(set())
        for statement in node.body:
            self.visit(statement)
        self.scopes.pop()

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            if name in PROTECTED_NAMES:
                self.add("grading" if name == "grading" else "rebinds_module", node)

    # -- names, attributes, calls ---------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store | ast.Del):
            self.bind(node.id, node)
        elif node.id in NAME_RULES:
            self.add(NAME_RULES[node.id], node)
        elif node.id in ("setattr", "delattr"):  # passed around instead of called
            self.add("patch", node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.check_attribute(node, node.ctx)
        self.generic_visit(node)

    def check_attribute(self, node: ast.Attribute, ctx) -> None:
        name = self.dotted(node)
        self.check_dotted(name, node)
        if node.attr in ATTRIBUTE_NAME_RULES:
            self.add(ATTRIBUTE_NAME_RULES[node.attr], node)
        if node.attr == "register" and isinstance(node.value, ast.Attribute) and \
                node.value.attr == "events":  # fmt: skip
            self.add("ipython", node)
        writing = isinstance(ctx, ast.Store | ast.Del)
        if name and name.split(".")[0] == "course_utils" and ".grading" in name and writing:
            self.add("grading", node)
        elif writing and isinstance(node.value, ast.Name) and node.value.id == "grading":
            self.add("grading", node)
        elif writing and name in ("sys.stdout", "sys.stderr"):
            self.add("hooks", node)
        elif writing and (self.module_like(node.value) or _dunder(node.attr)):
            self.add("patch", node)
        if node.attr in ("__dict__", "__setattr__", "__delattr__") and (
                self.module_like(node.value) or (isinstance(node.value, ast.Name)
                                                 and node.value.id in ("object", "type"))):
            self.add("patch", node)  # fmt: skip

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Store | ast.Del):
            root = node.value
            while isinstance(root, ast.Attribute | ast.Subscript):
                if isinstance(root, ast.Attribute) and root.attr == "__dict__":
                    self.add("patch", node)
                root = root.value
            if isinstance(root, ast.Name) and root.id == "grading":
                self.add("grading", node)
            if isinstance(root, ast.Call) and isinstance(root.func, ast.Name) and \
                    root.func.id == "vars":  # fmt: skip
                self.add("patch", node)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if self.magic(node):
            return
        if isinstance(func, ast.Name) and func.id in ("getattr", "setattr", "delattr",
                                                      "hasattr") and len(node.args) >= 2:
            target, attr = node.args[0], node.args[1]
            if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                ctx = {"setattr": ast.Store(), "delattr": ast.Del()}.get(func.id, ast.Load())
                fake = ast.Attribute(value=target, attr=attr.value, ctx=ctx)
                ast.copy_location(fake, node)
                self.check_attribute(fake, ctx)
            elif func.id in ("setattr", "delattr") and self.module_like(target):
                self.add("patch", node)
        if isinstance(func, ast.Name) and func.id == "vars" and node.args and \
                self.module_like(node.args[0]):  # fmt: skip
            self.add("introspection", node)
        if isinstance(func, ast.Name) and func.id == "vars" and not node.args:
            self.add("introspection", node)
        if isinstance(func, ast.Name) and func.id == "type" and len(node.args) == 3:
            self.add("dynamic_code", node)
        if isinstance(func, ast.Name) and func.id in ("setattr", "delattr"):
            for child in [*node.args, *node.keywords]:  # judged above, not as a bare name
                self.visit(child)
        else:
            self.generic_visit(node)

    def magic(self, node: ast.Call) -> bool:
        """Handle ``get_ipython().run_line_magic(...)`` & co., which IPython makes of %, %%
        and !; True when handled. Magics that only time or display are fine (their code is
        scanned like the rest); the others are flagged."""
        func = node.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
                and isinstance(func.value.func, ast.Name) and func.value.func.id == "get_ipython"
                and func.attr in ("run_line_magic", "run_cell_magic", "system", "getoutput")
                and node.args and isinstance(node.args[0], ast.Constant)):  # fmt: skip
            return False
        if func.attr in ("system", "getoutput"):
            self.add("shell", node)
            return True
        name = str(node.args[0].value)
        if name not in BENIGN_MAGICS:
            self.add("magic", node)
        elif name in CODE_MAGICS:
            # A cell magic's body starts on the line after %%name; a line magic's code is on
            # the line itself.
            cell = func.attr == "run_cell_magic"
            code = node.args[2 if cell else 1] if len(node.args) > (2 if cell else 1) else None
            if isinstance(code, ast.Constant) and isinstance(code.value, str):
                offset = self.offset + node.lineno - (0 if cell else 1)
                self.found += _scan(code.value, offset, self.aliases, self.imported)
        for argument in node.args[1:]:
            if not isinstance(argument, ast.Constant):
                self.visit(argument)
        return True


def _scan(source: str, line_offset: int = 0, aliases=None, imported=()):
    """(rule, line) findings of one cell; [] when it does not parse (the kernel says so)."""
    tree = _parse(source)
    if tree is None:
        return []
    scanner = _Scanner(tree, line_offset, aliases, imported)
    scanner.visit(tree)
    return scanner.found


def _parse(source: str) -> ast.AST | None:
    """The cell as Python (IPython syntax converted), or None when it does not parse."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        code = TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - IPython's own transformers failed: judge the raw text
        code = source
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def imported_names(sources, module: str | None = None) -> set[str]:
    """Names bound by import statements anywhere in ``sources`` (only those importing from
    the package ``module``, when given)."""
    names = set()
    for source in sources:
        tree = _parse(source)
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    origin = (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
                    if module is None or origin.split(".")[0] == module:
                        names.add(alias.asname or alias.name.split(".")[0])
    return names


def _reference_uses(source: str, hidden_names) -> list[int]:
    """Lines that import course_reference or use a name only the hidden tests import."""
    tree, found = _parse(source), set()
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Name) and node.id in hidden_names:
            found.add(node.lineno)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                node.module or ""]
            if any(m.split(".")[0] == "course_reference" for m in modules):
                found.add(node.lineno)
    return sorted(found)


def static_flags(cells: list[tuple[str, str]], hidden_names=frozenset()) -> list[Flag]:
    """One flag per cell and kind of suspicious code, with the offending lines as evidence.

    Args:
        cells: (label, source) of every cell the student controls: answers, edited demo
            cells, added cells. IPython syntax (%magics, !commands) is understood.
        hidden_names: names that only the hidden tests import (the reference answers): a
            student's code that uses one works only while grading.
    """
    flags, imported = [], imported_names(source for _, source in cells)
    for label, source in cells:
        lines = source.splitlines()
        by_rule: dict[str, list[int]] = {}
        for rule, number in _scan(source, imported=imported):
            by_rule.setdefault(rule, [])
            if number not in by_rule[rule]:
                by_rule[rule].append(number)
        for rule, numbers in by_rule.items():
            shown = [f"{n:>4}: {lines[n - 1] if 0 < n <= len(lines) else ''}".rstrip()
                     for n in sorted(numbers)]  # fmt: skip
            flags.append(Flag("suspicious_code", f"the code {STATIC_REASONS[rule]}", cell=label,
                              review=True, evidence=_evidence(shown)))  # fmt: skip
        used = _reference_uses(source, hidden_names)
        if used:
            shown = [f"{n:>4}: {lines[n - 1] if 0 < n <= len(lines) else ''}".rstrip()
                     for n in used]  # fmt: skip
            flags.append(Flag("suspicious_code", "the code uses the reference answers that "
                              "only the hidden tests have (course_reference): it can only "
                              "work while grading", cell=label, review=True,
                              evidence=_evidence(shown)))  # fmt: skip
    return flags
