"""A Jupyter kernel in a bubblewrap sandbox, driven from outside.

The kernel (and everything the student's code starts) runs in its own user, PID, network
and mount namespaces. It sees the Python installation, the course package and its data,
all read-only, and two private writable folders (``/scratch``, its working directory, and
``/tmp``, both size-capped). It cannot see the gradebook, ``solutions/``, other
submissions or the instructor's home. The parent talks to it over Unix sockets in a folder
both can reach, watches its memory and process count from ``/proc``, and kills the whole
PID namespace when the submission is done, so nothing it started survives.

Without bubblewrap, :class:`Kernel` can run the same kernel unsandboxed (for an instructor
who says so explicitly): then nothing above holds except the limits the parent enforces.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
KERNEL_BOOT = Path(__file__).resolve().parent / "kernel_boot.py"

# Where things appear inside the sandbox.
COURSE_DIR = "/course"  # course_utils/ and data/, read-only; on PYTHONPATH
SCRATCH_DIR = "/scratch"  # the kernel's working directory and HOME
IPC_DIR = "/grader-ipc"  # the kernel's sockets and connection file
LOG_DIR = "/grader-log"  # the audit log the kernel appends to
BOOT_PATH = "/grader/kernel_boot.py"


@dataclass
class Limits:
    """What one submission may use. Defaults fit a 2-core laptop with 8 GiB or more."""

    memory_bytes: int = 3 * 2**30  # resident memory of all its processes together
    processes: int = 16  # processes (not threads) alive at once in the sandbox
    scratch_bytes: int = 256 * 2**20  # size of /scratch and of /tmp
    output_bytes: int = 200_000  # text and images kept per cell; the rest is dropped
    cell_seconds: float | None = None  # per cell; None: from the reference run
    submission_seconds: float = 600.0  # all cells of one submission, restarts included
    restarts: int = 3  # kernel restarts after a hang or crash before grading stops


def sandbox_problem() -> str | None:
    """Why the sandbox cannot run here, or None when it works (checked by running it)."""
    if not sys.platform.startswith("linux"):
        return "the sandbox needs Linux (bubblewrap); this is " + sys.platform
    if shutil.which("bwrap") is None:
        return (
            "bubblewrap is not installed: `sudo apt-get install bubblewrap` (Debian/Ubuntu), "
            "`sudo dnf install bubblewrap` (Fedora)"
        )
    with tempfile.TemporaryDirectory() as folder:
        argv = bwrap_argv(Path(folder), Path(folder), Path(folder), Limits()) + [
            sys.executable, "-c", "import course_utils, ipykernel"]  # fmt: skip
        probe = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        return "bubblewrap is installed but could not start a sandbox: " + (
            probe.stderr.strip().splitlines() or ["(no message)"]
        )[-1]
    return None


def _system_binds() -> list[str]:
    """Read-only views of the system folders, keeping /lib -> usr/lib style symlinks."""
    args = []
    for top in ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def _python_binds() -> list[str]:
    """The interpreter and the virtual environment, read-only at their own paths (their
    scripts and .pth files name absolute paths). Only these folders of a home are shown."""
    args, seen = [], set()
    for prefix in sorted({sys.prefix, sys.base_prefix, sys.exec_prefix}):
        real = os.path.realpath(prefix)
        for path in {prefix, real}:
            if path not in seen and not path.startswith(("/usr/", "/etc/")):
                seen.add(path)
                args += ["--ro-bind", real, path]
    return args


def build_seed(folder: Path) -> Path:
    """Build matplotlib's font list once into ``folder`` (each kernel would otherwise build
    its own, a second or two each)."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MPLCONFIGDIR": str(folder)}
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env,
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    return folder


def bwrap_argv(ipc_dir: Path, log_dir: Path, scratch_seed: Path, limits: Limits,
               course_dir: Path | None = None) -> list[str]:  # fmt: skip
    """The bubblewrap command line up to (not including) the program to run.

    ``course_dir`` holds the packages the kernel imports: ``course_utils`` as the students
    have it (their edition) and ``course_reference`` for the hidden tests; None mounts the
    repository's ``course_utils`` alone.
    """
    size = str(limits.scratch_bytes)
    env = {
        "HOME": SCRATCH_DIR,
        "PATH": f"{sys.prefix}/bin:/usr/bin:/bin",
        "PYTHONPATH": COURSE_DIR,
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLCONFIGDIR": f"{SCRATCH_DIR}/.matplotlib",
        "LANG": "C.UTF-8",
        # One thread per kernel: the grader runs one kernel per core.
        "COURSE_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NBGRADER_EXECUTION": "autograde",
        "TQDM_DISABLE": "",
    }
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    # The private /tmp first: binds made later stay visible inside it (a course cloned
    # under /tmp keeps its virtual environment there).
    args += ["--size", size, "--tmpfs", "/tmp"]
    args += _system_binds() + _python_binds()
    args += [
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", size, "--tmpfs", SCRATCH_DIR,
        "--ro-bind", str(REPO_ROOT / "data"), f"{COURSE_DIR}/data",
        "--ro-bind", str(KERNEL_BOOT), BOOT_PATH,
        "--bind", str(ipc_dir), IPC_DIR,
        "--bind", str(log_dir), LOG_DIR,
        "--dir", f"{SCRATCH_DIR}/.matplotlib",
        "--chdir", SCRATCH_DIR,
    ]  # fmt: skip
    packages = ["course_utils", "course_reference"] if course_dir else ["course_utils"]
    for package in packages:
        args += ["--ro-bind", str((course_dir or REPO_ROOT) / package), f"{COURSE_DIR}/{package}"]
    # Matplotlib's font list, built once by the parent: saves a second or two per kernel.
    for seed in sorted(scratch_seed.glob("*.json")):
        args += ["--ro-bind", str(seed), f"{SCRATCH_DIR}/.matplotlib/{seed.name}"]
    return args


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as file:
                found += [int(p) for p in file.read().split()]
    except OSError:
        pass
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc, so the sandbox cannot hide or fake it)."""
    result, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            if child not in result:
                result.append(child)
                todo.append(child)
    return result


def _resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().rstrip(b"\0").decode(errors="replace")
    except OSError:
        return ""


class Kernel:
    """One kernel for one submission; start it, talk to ``client``, ``close`` it.

    Args:
        workdir: a private folder of the parent for this kernel's sockets and logs.
        limits: the caps to enforce.
        sandboxed: False runs the kernel without bubblewrap (only when the instructor
            asked for it: nothing but the parent's limits then holds).
        seed_dir: files copied into the kernel's scratch folder at start (a font cache).
    """

    def __init__(self, workdir: Path, limits: Limits, *, sandboxed: bool, seed_dir: Path,
                 course_dir: Path | None = None):  # fmt: skip
        self.workdir, self.limits, self.sandboxed, self.seed_dir = (
            workdir, limits, sandboxed, seed_dir)  # fmt: skip
        self.course_dir = course_dir
        self.killed_for = ""  # "memory" or "processes" once the watchdog killed it
        self.process: subprocess.Popen | None = None
        self.client = None
        self.audit_log: Path | None = None
        self.audit_seen = b""  # what the parent has read of the audit log so far
        self._stop = threading.Event()
        self._stderr_tail = b""

    # --- starting ------------------------------------------------------------------------
    def start(self, number: int, timeout: float = 90.0) -> None:
        """Start kernel ``number`` (0 first, then 1, 2, ... after restarts)."""
        from jupyter_client import BlockingKernelClient

        ipc = Path(tempfile.mkdtemp(prefix=f"k{number}-", dir=self.workdir))
        logs = ipc / "log"
        logs.mkdir()
        self.audit_log = logs / "audit.jsonl"
        self.audit_log.touch()
        key = uuid.uuid4().hex
        info = {"transport": "ipc", "key": key, "signature_scheme": "hmac-sha256",
                "shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4,
                "hb_port": 5, "kernel_name": ""}  # fmt: skip
        inside_ipc, inside_log = (IPC_DIR, LOG_DIR) if self.sandboxed else (ipc, logs)
        (ipc / "kernel.json").write_text(json.dumps({**info, "ip": f"{inside_ipc}/k"}))
        boot = BOOT_PATH if self.sandboxed else str(KERNEL_BOOT)
        program = [sys.executable, boot, "--audit-log", f"{inside_log}/audit.jsonl",
                   "-f", f"{inside_ipc}/kernel.json"]  # fmt: skip
        if self.sandboxed:
            argv = bwrap_argv(ipc, logs, self.seed_dir, self.limits, self.course_dir) + program
            env = None
        else:
            scratch = ipc / "scratch"
            shutil.copytree(self.seed_dir, scratch / ".matplotlib")
            argv = program
            env = {**os.environ, "COURSE_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                   "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HOME": str(scratch),
                   "MPLCONFIGDIR": str(scratch / ".matplotlib"),
                   "PYTHONPATH": str(self.course_dir or REPO_ROOT),
                   "COURSE_DATA_DIR": str(REPO_ROOT / "data"),
                   "NBGRADER_EXECUTION": "autograde"}  # fmt: skip
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            cwd=None if self.sandboxed else str(ipc / "scratch"), env=env,
            start_new_session=True,
        )
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self._stop.clear()
        threading.Thread(target=self._watch, daemon=True).start()

        client = BlockingKernelClient()
        client.load_connection_info({**info, "ip": f"{ipc}/k"})
        deadline = time.monotonic() + timeout
        while not (ipc / "k-1").exists():  # the shell socket appears once the kernel binds it
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the kernel did not start: " + self.stderr_tail())
            time.sleep(0.05)
        client.start_channels()
        try:
            client.wait_for_ready(timeout=max(1.0, deadline - time.monotonic()))
        except RuntimeError as error:
            client.stop_channels()
            raise RuntimeError(f"the kernel did not start ({error}): {self.stderr_tail()}") \
                from None
        self.client = client

    def _read_stderr(self) -> None:
        stream = self.process.stderr
        for chunk in iter(lambda: stream.read1(65536), b""):
            self._stderr_tail = (self._stderr_tail + chunk)[-4000:]

    def stderr_tail(self) -> str:
        return self._stderr_tail.decode(errors="replace").strip()[-2000:] or "(no output)"

    # --- watching ------------------------------------------------------------------------
    def processes(self) -> list[int]:
        """Host PIDs of every process of this kernel's sandbox (the kernel included)."""
        return descendants(self.process.pid) if self.process else []

    def _watch(self) -> None:
        """Kill the kernel when it uses too much memory or starts too many processes."""
        while not self._stop.wait(0.1):
            if self.process.poll() is not None:
                return
            pids = self.processes()
            # The first process is bubblewrap's own reaper inside the namespace.
            if len(pids) - (1 if self.sandboxed else 0) > self.limits.processes:
                self.killed_for = "processes"
            elif sum(_resident_bytes(p) for p in pids) > self.limits.memory_bytes:
                self.killed_for = "memory"
            if self.killed_for:
                self.kill()
                return

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def interrupt(self) -> None:
        """SIGINT to the kernel process itself (what Jupyter's interrupt button does)."""
        for pid in [self.process.pid, *self.processes()]:
            argv = _cmdline(pid).split("\0")
            # The kernel is the first Python process (bubblewrap's own command line names
            # the same files, so match the program, not the words).
            if argv[0] == sys.executable or os.path.basename(argv[0]).startswith("python"):
                try:
                    os.kill(pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
                return

    def kill(self) -> None:
        """End every process of the submission. In the sandbox, the PID namespace dies with
        its first process; outside it, kill the process group and every descendant."""
        if self.process is None:
            return
        victims = [self.process.pid, *self.processes()]
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        self._stop.set()
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        self.kill()
        if self.process is not None and self.process.stderr:
            self.process.stderr.close()
