"""Start an IPython kernel that writes an audit log of what the notebook does.

The grader runs this file inside the sandbox instead of ``python -m ipykernel_launcher``::

    python /grader/kernel_boot.py --audit-log PATH -f CONNECTION_FILE

Before the kernel starts, it installs a ``sys.addaudithook`` hook. Audit hooks cannot be
removed, so whatever a submission does later, CPython keeps calling this one for opened,
listed, deleted files, started programs, signals, ctypes, sockets, trace functions, and a
function's code or defaults or an object's class being set. The hook appends one JSON line
per interesting event to PATH::

    {"event": "open", "args": ["/root/secret", "r", 524288], "t": 12.5,
     "at": "/tmp/ipykernel_7/123.py:3", "by": "/tmp/ipykernel_7/123.py:3"}

``at`` is the innermost Python frame that caused the event; ``by`` the innermost one outside
the standard library, i.e. who asked the standard library to do it (None when there is
none). The trusted parent appends its own marker lines to the same file and decides what is
suspicious (``tools/grader/integrity.py``, ``audit_flags``); this file only records.

The sandbox binds this file alone, read-only, so it imports nothing but the standard
library before it hands over to ipykernel. Everything the hook calls is bound when it is
made, before any notebook code runs: replacing ``builtins.isinstance``, ``os.write`` or
``json.dumps`` later does not reach it.

What the hook cannot see: work done in C without an audit event (a C library opening a file
with fopen), attributes set on modules and ordinary class attributes (``np.allclose = f``
and ``torch.Tensor.__eq__ = f`` raise no event in CPython 3.11; the integrity probe looks
for those), anything after the log reached its size limit (a line says so), and its own
state, which ``gc.get_objects()`` could find (that call is logged). Anyone who can write
the log can add lines to it: the parent's markers and ``audit_flags`` catch a log that was
cut, reordered or rewritten badly, not a careful forgery by a notebook that knows the
format; the parent should read the log as it grows (see the integrity module).
"""

import argparse
import os
import site
import sys
import sysconfig
import time
from _thread import get_ident
from json.encoder import encode_basestring_ascii
from types import FunctionType

# The built-in names the hook uses while it runs, bound in this module now: a notebook that
# later replaces builtins.range or builtins.Exception must not get its code run in the hook.
bool, bytes, dict, float, int, list, range = bool, bytes, dict, float, int, list, range
slice, str, tuple, type, zip, Exception, OSError = slice, str, tuple, type, zip, Exception, OSError

LOG_LIMIT = 4 * 1024 * 1024  # bytes; a flood of events must not fill the disk

# Tested first, so that the thousands of uninteresting events cost one set lookup each.
EVENTS = frozenset(
    """open os.system subprocess.Popen os.exec os.posix_spawn os.spawn os.fork os.forkpty
    os.kill os.killpg signal.pthread_kill object.__setattr__ object.__delattr__ sys.settrace
    sys.setprofile sys.addaudithook socket.connect socket.bind socket.sendto os.listdir os.scandir
    os.remove os.rename os.rmdir shutil.rmtree os.truncate os.symlink os.link os.chmod
    gc.get_objects gc.get_referrers gc.get_referents import
    ctypes.dlopen ctypes.dlsym ctypes.dlsym/handle ctypes.addressof ctypes.call_function
    ctypes.cdata ctypes.cdata/buffer ctypes.string_at ctypes.wstring_at ctypes.PyObj_FromPtr
    ctypes.create_string_buffer ctypes.create_unicode_buffer ctypes.set_errno""".split()
)
# "import" is raised only the first time a module is imported; these few are worth a line.
IMPORTS = frozenset("ctypes _ctypes subprocess _posixsubprocess socket multiprocessing pty".split())
# Events whose str arguments are paths (made absolute so that the parent can judge them).
PATH_EVENTS = frozenset(
    "os.remove os.rename os.rmdir shutil.rmtree os.truncate os.symlink os.link os.chmod".split()
)
# Raised when a function's code or defaults, a class's name or bases or an object's class
# are set: logged only when the code doing it is not part of the Python installation.
OWN_CREATIONS = frozenset({"object.__setattr__", "object.__delattr__"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _dirs(paths) -> tuple[str, ...]:
    """Each folder as given and resolved, with a trailing slash, for startswith tests."""
    found = set()
    for path in paths:
        if path:
            for variant in (os.path.abspath(path), os.path.realpath(path)):
                found.add(variant.rstrip("/") + "/")
    return tuple(sorted(found))


def python_dirs() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(the Python install and venv, the standard library, site-packages) as folder prefixes."""
    paths = sysconfig.get_paths()
    sites = [paths["purelib"], paths["platlib"], *site.getsitepackages()]
    prefixes = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sites]
    return _dirs(prefixes), _dirs([paths["stdlib"], paths["platstdlib"]]), _dirs(sites)


def make_hook(fd: int, log_path: str, limit: int = LOG_LIMIT):
    """Return the audit hook, which writes to the already-open file descriptor ``fd``.

    Only built-in functions and methods bound here are called later, and only the exact
    built-in types are shown by value: a student's __repr__ or __str__ never runs in it.
    """
    installed, stdlib, sites = python_dirs()
    write, monotonic, getframe, getcwd = os.write, time.monotonic, sys._getframe, os.getcwd
    join, normpath, realpath = os.path.join, os.path.normpath, os.path.realpath
    # isinstance() would look up a student's __class__ property: exact type tests only.
    issubclass_, type_, len_, list_ = issubclass, type, len, list
    startswith, text_of, decode, str_join = str.startswith, str.__str__, bytes.decode, str.join
    int_repr, float_repr, type_repr = int.__repr__, float.__repr__, type.__repr__
    bytes_slice = bytes.__getitem__
    log_paths = {os.path.abspath(log_path), realpath(log_path)}
    busy: set[int] = set()  # threads inside the hook: its own work raises events too
    state = {"written": 0, "full": False}

    def encode(value) -> str:
        """JSON for None, bool, int, float, str and lists/dicts of them."""
        kind = type_(value)
        if value is None or kind is bool:
            return {None: "null", True: "true", False: "false"}[value]
        if kind is int:
            return int_repr(value)
        if kind is float:
            return float_repr(value) if value - value == 0 else "null"  # NaN and inf are not JSON
        if kind is str:
            return encode_basestring_ascii(value)
        if kind is list:
            return "[" + str_join(", ", [encode(item) for item in value]) + "]"
        pairs = [encode_basestring_ascii(key) + ": " + encode(item) for key, item in value.items()]
        return "{" + str_join(", ", pairs) + "}"

    def shown(value, limit: int = 200):
        """A short description of an event argument that runs none of its code."""
        kind = type_(value)
        if value is None or kind is bool or kind is float:
            return value
        if kind is int:
            return value if -(2**63) <= value < 2**63 else "<int>"
        if issubclass_(kind, str):
            return text_of(value)[:limit]  # a str subclass's own __str__ is not called
        if issubclass_(kind, bytes):
            return decode(bytes_slice(value, slice(0, limit)), "utf-8", "replace")
        if issubclass_(kind, type):
            return type_repr(value)[:limit]
        if kind is FunctionType:
            module = value.__module__  # any object a student put there: not called
            module = text_of(module) if type_(module) is str else "?"
            return f"<function {module}.{text_of(value.__qualname__)}>"
        if kind is list or kind is tuple:
            return [shown(item, 100) for item in list_(value)[:12]]
        if kind is dict:
            return f"<dict of {len_(value)}>"
        return f"<{text_of(kind.__name__)} object>"

    def path_of(value):
        """An absolute, normalized path for a str/bytes path; "fd:N" for a descriptor."""
        if type_(value) is int:
            return f"fd:{int_repr(value)}"
        if issubclass_(type_(value), str):
            path = text_of(value)
        elif issubclass_(type_(value), bytes):
            path = decode(value, "utf-8", "surrogateescape")
        else:
            return None
        try:
            return normpath(join(getcwd(), path))
        except OSError:  # the working folder was deleted
            return normpath(path)

    def where(frame) -> tuple:
        """("file:line" of the frame, "file:line" of the first frame outside the stdlib)."""
        at = None
        for _ in range(50):
            if frame is None:
                break
            name = text_of(frame.f_code.co_filename)
            here = f"{name}:{int_repr(frame.f_lineno or 0)}"
            at = at or here
            if not startswith(name, "<frozen ") and (
                not startswith(name, stdlib) or startswith(name, sites)
            ):
                return at, here
            frame = frame.f_back
        return at, None

    def emit(record: dict) -> None:
        data = (encode(record) + "\n").encode()
        if state["written"] + len_(data) > limit:
            state["full"] = True
            full = {"event": "audit.log_full", "args": [limit], "t": monotonic()}
            data = (encode(full) + "\n").encode()
        state["written"] += len_(data)
        write(fd, data)

    def describe(event: str, args: tuple):
        """(event name, recorded arguments), or None when the event is not worth a line."""
        if event == "open":
            path, mode, flags = (*args, None, None, None)[:3]
            flags = flags if type_(flags) is int else 0
            text = path_of(path)
            if text is None:
                return event, [shown(path), shown(mode), flags]
            if not flags & WRITE_FLAGS and startswith(text, installed):
                return None  # imports read thousands of files of the Python install
            real = realpath(text) if startswith(text, "/") else text
            if text in log_paths or real in log_paths:
                return "audit.log_opened", [text, shown(mode), flags]
            return event, [text, shown(mode), flags] + ([real] if real != text else [])
        if event in ("os.listdir", "os.scandir"):
            text = path_of(args[0]) if args else None
            if text is not None and startswith(text, installed):
                return None  # imports list the folders of the Python install
            return event, [shown(args[0]) if text is None else text] if args else []
        if event == "import":
            name = args[0] if args and type_(args[0]) is str else None
            return (event, [name]) if name in IMPORTS else None
        if event in PATH_EVENTS:
            paths = [path_of(arg) if type_(arg) is not int else None for arg in args]
            return event, [shown(a) if p is None else p for a, p in zip(args, paths)]
        return event, [shown(arg) for arg in args]

    def hook(event, args):
        # sys.audit() accepts any str subclass as a name: its __eq__ must not run in here.
        if type_(event) is not str or event not in EVENTS or state["full"]:
            return
        me = get_ident()
        if me in busy:
            return
        busy.add(me)
        try:
            described = describe(event, args)
            if described is not None:
                at, by = where(getframe(1))
                if event in OWN_CREATIONS and startswith(at or "", installed):
                    return  # a library naming what it creates: thousands of lines per import
                name, recorded = described
                emit({"event": name, "args": recorded, "t": monotonic(), "at": at, "by": by})
        except Exception:  # noqa: BLE001 - a hook that raises would break the audited call
            pass
        finally:
            busy.discard(me)

    start = [os.getpid(), getcwd(), list_(installed)]  # the parent allows the working folder
    emit({"event": "audit.start", "args": start, "t": monotonic()})
    return hook


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audit-log", required=True, help="file to append JSON lines to")
    options, kernel_argv = parser.parse_known_args(argv)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    fd = os.open(options.audit_log, flags, 0o600)
    sys.addaudithook(make_hook(fd, options.audit_log))

    # As ipykernel_launcher does: this script's folder must not shadow modules, and the
    # kernel sees the arguments it would have had.
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and sys.path[0] in ("", here, os.getcwd()):
        del sys.path[0]
    sys.argv = [sys.argv[0], *kernel_argv]

    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=kernel_argv)


if __name__ == "__main__":
    main(sys.argv[1:])
