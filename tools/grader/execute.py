"""Run a notebook's code cells one by one in a sandboxed kernel, surviving what they do.

A cell that hangs is interrupted; if the kernel ignores the interrupt, or dies (``exit()``,
``os._exit``, a signal, the memory cap), a fresh kernel is started, the cells that already
ran are run again (without the one that failed) and grading carries on after it. So the
tests that do not depend on a failing answer keep their points.

After the setup cell and after every later cell the parent runs a small integrity probe
in the kernel (see ``integrity.probe_code``), and every kernel writes an audit log of what
its code did; both are read by the parent, never trusted by the notebook.
"""

from __future__ import annotations

import base64
import json
import queue
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import integrity
from .results import FAILED, KERNEL_DIED, MEMORY, NOT_RUN, PASSED, TIMEOUT, Flag
from .sandbox import Kernel, Limits

INTERRUPT_GRACE = 5.0  # seconds a kernel has to answer an interrupt before it is killed
PROBE_SECONDS = 60.0  # normally well under a second; generous for a loaded machine


@dataclass
class Cell:
    """A code cell to run: ``label`` is its grade_id or "cell N"; ``timeout`` in seconds."""

    index: int
    source: str
    label: str
    timeout: float
    probe: bool = True  # run the integrity probe after it (once a baseline exists)
    baseline: bool = False  # take the probe's baseline after it (the setup cell)


@dataclass
class Run:
    """What happened to one cell."""

    outcome: str = NOT_RUN
    ename: str = ""
    evalue: str = ""
    traceback: list[str] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)  # nbformat outputs, capped
    seconds: float = 0.0
    note: str = ""  # why it did not pass when it is not an exception (timeout, crash)


@dataclass
class Session:
    """Everything the parent learned from running one notebook."""

    runs: dict[int, Run] = field(default_factory=dict)
    audit_logs: list[str] = field(default_factory=list)  # one per kernel started
    probe_flags: list = field(default_factory=list)
    restarts: int = 0
    log_altered: bool = False
    stopped: str = ""  # why grading stopped early, if it did
    seconds: float = 0.0


class _Output:
    """Collects a cell's outputs as nbformat dicts, keeping at most ``limit`` bytes."""

    def __init__(self, limit: int):
        self.items, self.size, self.limit, self.cut = [], 0, limit, False

    def add(self, item: dict, size: int) -> None:
        if self.size + size > self.limit:
            if not self.cut:
                self.cut = True
                self.items.append({"output_type": "stream", "name": "stderr",
                                   "text": "\n[output cut by the grader: too long]\n"})  # fmt: skip
            return
        self.size += size
        if item["output_type"] == "stream" and self.items and \
                self.items[-1].get("name") == item["name"] and \
                self.items[-1]["output_type"] == "stream":  # fmt: skip
            self.items[-1]["text"] += item["text"]
        else:
            self.items.append(item)

    def message(self, msg: dict) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            text = str(content.get("text", ""))
            self.add({"output_type": "stream", "name": content.get("name", "stdout"),
                      "text": text}, len(text))  # fmt: skip
        elif kind in ("display_data", "execute_result"):
            data = content.get("data", {})
            kept = {}
            if isinstance(data.get("text/plain"), str):
                kept["text/plain"] = data["text/plain"][:10_000]
            png = data.get("image/png")
            if isinstance(png, str) and _is_png(png):
                kept["image/png"] = png
            if kept:
                size = sum(len(v) for v in kept.values())
                self.add({"output_type": "display_data", "data": kept, "metadata": {}}, size)
        elif kind == "error":
            text = f"{content.get('ename', '')}: {content.get('evalue', '')}"
            self.add({"output_type": "error", "ename": str(content.get("ename", ""))[:200],
                      "evalue": str(content.get("evalue", ""))[:2000],
                      "traceback": [str(t)[:5000] for t in content.get("traceback", [])[:50]]},
                     len(text))  # fmt: skip


def _is_png(data: str) -> bool:
    """Only real PNG images are kept (they are shown as <img src="data:...">)."""
    try:
        return base64.b64decode(data[:24], validate=True).startswith(b"\x89PNG\r\n\x1a\n")
    except ValueError:
        return False


def _execute(kernel: Kernel, code: str, timeout: float, output_limit: int,
             silent: bool = False) -> Run:  # fmt: skip
    """Send one execute request and wait for its reply, its outputs and the idle status."""
    client, run, output = kernel.client, Run(), _Output(output_limit)
    start = time.monotonic()
    msg_id = client.execute(code, silent=silent, store_history=not silent, allow_stdin=False)
    deadline, reply, idle, interrupted_at = start + timeout, None, False, None
    while reply is None or not idle:
        now = time.monotonic()
        if not kernel.alive():
            run.outcome = MEMORY if kernel.killed_for == "memory" else KERNEL_DIED
            run.note = {
                "memory": f"used more than {kernel.limits.memory_bytes / 2**30:.1f} GiB of "
                          "memory and was stopped",
                "processes": f"started more than {kernel.limits.processes} processes and "
                             "was stopped",
            }.get(kernel.killed_for, "the kernel died while this cell ran (exit(), "
                                     "os._exit, a signal or a crash)")  # fmt: skip
            break
        if reply is not None and now > deadline + 2.0:
            break  # the reply came but the idle status never did: good enough
        if now > deadline and interrupted_at is None:
            kernel.interrupt()
            interrupted_at = now
        if interrupted_at is not None and now > interrupted_at + INTERRUPT_GRACE:
            kernel.kill()  # ignores interrupts: the caller starts a new kernel
            run.outcome, run.note = TIMEOUT, f"ran longer than {timeout:.0f} s and ignored " \
                "the interrupt; the kernel was restarted"  # fmt: skip
            break
        try:
            msg = client.get_iopub_msg(timeout=0.1)
        except queue.Empty:
            msg = None
        if msg is not None and msg.get("parent_header", {}).get("msg_id") == msg_id:
            if msg["msg_type"] == "status":
                idle = msg["content"].get("execution_state") == "idle"
            else:
                output.message(msg)
        if reply is None:
            try:
                shell = client.get_shell_msg(timeout=0)
            except queue.Empty:
                shell = None
            if shell is not None and shell.get("parent_header", {}).get("msg_id") == msg_id:
                reply = shell["content"]
    run.seconds = time.monotonic() - start
    run.outputs = output.items
    if reply is not None and run.outcome == NOT_RUN:
        if interrupted_at is not None:
            run.outcome = TIMEOUT
            run.note = f"ran longer than {timeout:.0f} s and was interrupted"
        elif reply.get("status") == "ok":
            run.outcome = PASSED
            asked_exit = any(p.get("source") == "ask_exit" for p in reply.get("payload", []))
            if asked_exit:  # exit() inside a cell: the kernel is about to shut down
                run.outcome, run.note = KERNEL_DIED, "the cell called exit()"
        else:
            run.outcome = FAILED
            run.ename = str(reply.get("ename", "Error"))[:200]
            run.evalue = str(reply.get("evalue", ""))[:2000]
            run.traceback = [str(t)[:5000] for t in reply.get("traceback", [])[:50]]
    elif run.outcome == NOT_RUN:
        run.outcome, run.note = TIMEOUT, f"ran longer than {timeout:.0f} s"
    return run


def _probe(kernel: Kernel) -> dict | None:
    nonce = uuid.uuid4().hex
    run = _execute(kernel, integrity.probe_code(nonce), PROBE_SECONDS, 1_000_000, silent=True)
    text = "".join(o.get("text", "") for o in run.outputs if o["output_type"] == "stream")
    return integrity.parse_probe(text, nonce)


def _mark(kernel: Kernel, marker: dict, session: Session) -> None:
    """The parent's own lines in the audit log: which cell the following events belong to.

    The kernel can write to its own log, so the parent also keeps what it has read so far
    and checks, before each marker, that nothing already written was changed or removed."""
    with open(kernel.audit_log, "rb") as file:
        content = file.read()
    seen = kernel.audit_seen
    if not content.startswith(seen) and not session.log_altered:
        session.log_altered = True
        session.probe_flags.append(Flag(
            "tampering", "the audit log was altered: lines the kernel had already written "
            "were changed or removed", review=True))  # fmt: skip
    with open(kernel.audit_log, "ab") as file:
        line = (json.dumps(marker) + "\n").encode()
        file.write(line)
    kernel.audit_seen = content + line


def run_notebook(cells: list[Cell], workdir: Path, limits: Limits, *, sandboxed: bool,
                 seed_dir: Path, course_dir: Path | None = None,
                 progress=None) -> Session:  # fmt: skip
    """Run ``cells`` in order; see the module docstring for what happens on failure.
    ``course_dir``: the packages the kernel imports (see sandbox.bwrap_argv)."""
    session, start = Session(), time.monotonic()
    done: list[Cell] = []  # cells that ran to the end (passed or raised), for replays
    kernel, number, baseline = None, 0, None

    def finish_kernel():
        if kernel is not None:
            if kernel.audit_log is not None and kernel.audit_log.exists():
                _mark(kernel, {"marker": "end"}, session)
                session.audit_logs.append(kernel.audit_log.read_text(errors="replace"))
            kernel.close()

    def new_kernel():
        nonlocal kernel, number, baseline
        finish_kernel()
        kernel = Kernel(workdir, limits, sandboxed=sandboxed, seed_dir=seed_dir,
                        course_dir=course_dir)  # fmt: skip
        kernel.start(number)
        number += 1
        baseline = None

    try:
        new_kernel()
        for cell in cells:
            if time.monotonic() - start > limits.submission_seconds:
                session.stopped = (f"the submission used its {limits.submission_seconds:.0f} s"
                                   " of grading time")  # fmt: skip
                break
            _mark(kernel, {"marker": "cell", "index": cell.index}, session)
            run = _execute(kernel, cell.source, cell.timeout, limits.output_bytes)
            session.runs[cell.index] = run
            if progress:
                progress(cell, run)
            if run.outcome in (PASSED, FAILED) and kernel.alive():
                done.append(cell)
                if cell.baseline or (cell.probe and baseline is not None):
                    facts = _probe(kernel)
                    if cell.baseline and baseline is None:
                        baseline = facts
                        if facts is None:
                            session.probe_flags += integrity.probe_flags({}, None, cell.label)
                    elif baseline is not None:
                        # Each change once, at the first cell after which it was seen.
                        known = {f.reason for f in session.probe_flags}
                        session.probe_flags += [
                            f for f in integrity.probe_flags(baseline, facts, cell.label)
                            if f.reason not in known]  # fmt: skip
                continue
            if run.outcome == TIMEOUT and kernel.alive():
                continue  # interrupted: the kernel and what earlier cells defined survive
            # The kernel is gone (or hopeless): a new one, then the cells that ran before.
            session.restarts += 1
            if session.restarts > limits.restarts:
                session.stopped = (f"the kernel had to be restarted more than {limits.restarts}"
                                   " times")  # fmt: skip
                break
            new_kernel()
            for earlier in done:
                _mark(kernel, {"marker": "cell", "index": earlier.index}, session)
                again = _execute(kernel, earlier.source, earlier.timeout, limits.output_bytes)
                if again.outcome not in (PASSED, FAILED) or not kernel.alive():
                    session.stopped = (f"{earlier.label} did not run again after a restart "
                                       f"({again.note or again.outcome})")  # fmt: skip
                    break
                if earlier.baseline:
                    baseline = _probe(kernel)
            if session.stopped:
                break
    finally:
        finish_kernel()
        session.seconds = time.monotonic() - start
    return session
