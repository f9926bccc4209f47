"""Runs one notebook on the server, cell by cell, in a kernel of its own, saving outputs as they come.

remote/run.sh writes this file into the run's private dir and starts it there; it never
imports remotebook. Python 3.8+, the standard library, and jupyter_client (what ipykernel
and jupyter_server bring). The pure parts (parameters, cell ids, outputs) live in
runner_cells.py, which run.sh writes beside it.
  prepare NOTEBOOK RUN_DIR PARAMS-JSON KERNEL...  check, ensure ids, inject, clear; say the kernel
  execute RUN_DIR                                 run every code cell (detached by run.sh)
  follow RUN_DIR                                  print the run log until the run ends
SIGINT to `execute` (`remotebook run --stop`): the kernel is interrupted, what ran is saved,
the run ends as "stopped".
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from remotebook.remote import runner_cells as cells
else:  # on the server: beside this file (sys.path[0])
    import runner_cells as cells

POLL = 0.2  # s: how long one wait for a kernel message lasts before the saver and the liveness check run
SAVE_INTERVAL = 1.0  # s: at most one save of the notebook per interval while outputs come
READY_TIMEOUT = 60.0  # s: a kernel that does not answer kernel_info by then is broken
INTERRUPT_GRACE = 10.0  # s: a kernel still busy this long after an interrupt is shut down instead
FOLLOW_BACKSTOP = 7 * 86400.0
LOG, STATE, PID = "run.log", "run.json", "pid"


def write_state(run_dir: str, state: dict[str, Any]) -> None:
    tmp = os.path.join(run_dir, STATE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, sort_keys=True)
    os.replace(tmp, os.path.join(run_dir, STATE))


def read_state(run_dir: str) -> dict[str, Any]:
    with open(os.path.join(run_dir, STATE), encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def answer(data: dict[str, Any]) -> int:
    print(json.dumps(data))
    return 0 if data.get("ok") else 3


def find_kernel(candidates: list[str], notebook: dict[str, Any]) -> tuple[str, str] | None:
    """(name, language) of the first kernelspec found: the project's, the notebook's own, python3."""
    specs = importlib.import_module("jupyter_client.kernelspec").KernelSpecManager()
    wanted = [*candidates, str(notebook.get("metadata", {}).get("kernelspec", {}).get("name", "")), "python3"]
    for name in wanted:
        if not name:
            continue
        try:
            spec = specs.get_kernel_spec(name)
        except Exception:  # noqa: S112 - NoSuchKernel, or a broken spec: try the next one
            continue
        return name, str(spec.language or "")
    return None


def prepare(path: str, run_dir: str, params_json: str, kernels: list[str]) -> int:
    try:
        nb = cells.load(path)
    except cells.NotANotebook as e:
        return answer({"ok": False, "error": "not_notebook", "message": f"{path} is not a notebook: {e}"})
    found = find_kernel(kernels, nb)
    if found is None:
        return answer({"ok": False, "error": "no_kernel", "message": "no Jupyter kernel found for this notebook"})
    kernel, language = found
    params = json.loads(params_json)
    if params and language != "python":
        return answer(
            {"ok": False, "error": "params_language", "message": f"parameters need a Python kernel, not {language}"}
        )
    cells.ensure_ids(nb)
    injected = cells.inject_parameters(nb, params) if params else None
    if language == "python":
        bad = cells.syntax_problem(nb, cells.ipython_transform())
        if bad is not None:
            return answer({"ok": False, "error": "cell_syntax", "message": bad[1], "cell": bad[0]})
    cells.clear_outputs(nb)
    cells.save(path, nb)
    code = sum(1 for cell in nb["cells"] if cells.is_code(cell))
    state = {"notebook": path, "kernel": kernel, "state": "starting", "cells": code, "cell": None,
             "started": time.time(), "ended": None, "error": None, "injected": injected}  # fmt: skip
    write_state(run_dir, state)
    with open(os.path.join(run_dir, LOG), "w", encoding="utf-8"):
        pass
    return answer({"ok": True, "kernel": kernel, "cells": code, "injected": injected})


class Saver:
    """Writes the notebook when it changed, at most once per SAVE_INTERVAL (and always at the end)."""

    def __init__(self, path: str, nb: dict[str, Any]) -> None:
        self.path, self.nb = path, nb
        self.dirty = False
        self.last = 0.0

    def maybe(self) -> None:
        if self.dirty and time.monotonic() - self.last >= SAVE_INTERVAL:
            self.now()

    def now(self) -> None:
        cells.save(self.path, self.nb)
        self.dirty, self.last = False, time.monotonic()


class Run:
    """One execution: the kernel, the notebook being filled in, the log, the state file."""

    def __init__(self, run_dir: str) -> None:
        self.dir = run_dir
        self.state = read_state(run_dir)
        self.nb = cells.load(self.state["notebook"])
        self.saver = Saver(self.state["notebook"], self.nb)
        self.outputs = cells.Outputs()
        self.log = open(os.path.join(run_dir, LOG), "a", encoding="utf-8", errors="replace")  # noqa: SIM115
        self.km: Any = None
        self.kc: Any = None
        self.stop_asked = False  # SIGINT: `remotebook run --stop`
        self.interrupted: float | None = None  # when the kernel was interrupted for it

    def say(self, text: str) -> None:
        self.log.write(text)
        self.log.flush()

    def update(self, **changes: Any) -> None:
        self.state.update(changes)
        write_state(self.dir, self.state)

    def start_kernel(self) -> None:
        manager = importlib.import_module("jupyter_client.manager")
        # ZMQ over unix sockets in this 0700 dir, where the path fits (sockaddr_un: 107 bytes); else TCP on loopback
        prefix = os.path.join(self.dir, "runtime", "k")
        ipc = os.name == "posix" and len(prefix) + 3 <= 107 and importlib.import_module("zmq").has("ipc")
        how = {"transport": "ipc", "ip": prefix} if ipc else {}
        self.km = manager.KernelManager(kernel_name=self.state["kernel"], **how)
        self.km.start_kernel(cwd=os.path.dirname(os.path.abspath(self.state["notebook"])))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=READY_TIMEOUT)

    def execute(self) -> None:
        self.update(state="running", pid=os.getpid())
        self.start_kernel()
        code = [(n, cell) for n, cell in enumerate(self.nb["cells"], 1) if cells.is_code(cell)]
        for done, (number, cell) in enumerate(code, 1):
            if self.stop_requested():
                self.stopped(number)
                return
            self.update(cell=number)
            self.say(f"-- cell {number} ({done}/{len(code)}) --\n")
            outcome = self.run_cell(cell)
            if self.stop_requested():  # the interrupt's KeyboardInterrupt is not the cell's failure
                self.stopped(number)
                return
            if outcome == "died":
                self.saver.now()
                self.update(state="kernel_died", ended=time.time(), error={"cell": number})
                self.say(f"-- the kernel died during cell {number}; the outputs until then are saved --\n")
                return
            if isinstance(outcome, dict):
                self.saver.now()
                self.update(state="failed", ended=time.time(), error={"cell": number, **outcome})
                self.say(f"-- cell {number} failed: {outcome['ename']}: {outcome['evalue']} --\n")
                return
        last_reply = time.time()
        self.saver.now()
        self.update(state="done", ended=time.time(), last_reply=last_reply)  # the bench reads how long the save took
        self.say(f"-- done: {len(code)} cells in {time.time() - self.state['started']:.1f}s --\n")

    def stop_requested(self) -> bool:
        return self.stop_asked  # (a method: the signal handler sets it while a cell runs)

    def stopped(self, number: int) -> None:
        self.saver.now()
        why = f"stopped by `remotebook run --stop` during cell {number}"
        self.update(state="stopped", ended=time.time(), error={"cell": number, "message": why})
        self.say(f"-- {why}; the outputs until then are saved --\n")

    def interrupt_if_asked(self) -> bool:
        """Interrupt the kernel once a stop is asked; True when it ignored that for too long."""
        if not self.stop_asked:
            return False
        if self.interrupted is None:
            self.interrupted = time.monotonic()
            self.say("-- stopping: the kernel is interrupted --\n")
            self.km.interrupt_kernel()
        return time.monotonic() - self.interrupted > INTERRUPT_GRACE

    def run_cell(self, cell: dict[str, Any]) -> dict[str, str] | str | None:
        """None when it ran; {ename, evalue} when it raised; "died" when the kernel went away."""
        self.outputs.start(cell)
        self.saver.dirty = True
        msg_id = self.kc.execute(cells.source(cell), store_history=True, allow_stdin=False, stop_on_error=True)
        idle, reply = False, None
        last_check = time.monotonic()
        while not (idle and reply is not None):
            if not idle:
                idle = self.read_iopub(msg_id)
            if reply is None:
                reply = self.read_reply(msg_id, POLL if idle else 0)
            self.saver.maybe()
            if self.interrupt_if_asked():
                return "stopped"  # close() shuts the kernel down
            if time.monotonic() - last_check > 1.0:
                last_check = time.monotonic()
                if not self.km.is_alive():
                    return "died"
        content = reply["content"]
        cell["execution_count"] = content.get("execution_count")
        self.saver.dirty = True
        if content.get("status") == "error":
            return {"ename": str(content.get("ename", "")), "evalue": str(content.get("evalue", ""))}
        return None

    def read_iopub(self, msg_id: str) -> bool:
        """Handle one message; True once the kernel is idle after this cell."""
        try:
            msg = self.kc.get_iopub_msg(timeout=POLL)
        except queue.Empty:
            return False
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            return False
        kind, content = msg["header"]["msg_type"], msg["content"]
        if kind == "status":
            return bool(content.get("execution_state") == "idle")
        text = self.outputs.add(kind, content)
        if text is not None:
            self.saver.dirty = True
            self.say(text)
        return False

    def read_reply(self, msg_id: str, timeout: float) -> dict[str, Any] | None:
        try:
            msg: dict[str, Any] = self.kc.get_shell_msg(timeout=timeout)
        except queue.Empty:
            return None
        return msg if msg.get("parent_header", {}).get("msg_id") == msg_id else None

    def close(self) -> None:
        try:
            if self.kc is not None:
                self.kc.stop_channels()
            if self.km is not None and self.km.has_kernel:
                self.km.shutdown_kernel(now=False)
        finally:
            self.log.close()


def execute(run_dir: str) -> int:
    with open(os.path.join(run_dir, PID), "w") as f:
        f.write(str(os.getpid()))
    run = Run(run_dir)

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    def ask_stop(_signum: int, _frame: object) -> None:
        run.stop_asked = True  # acted on between kernel messages: the saver and the state stay whole

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, ask_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nohup's job, also when run without it
    try:
        run.execute()
    except BaseException as e:  # the kernel would not start, SIGTERM, or a bug: keep what was saved, say so
        run.saver.now()
        why = f"stopped ({e})" if isinstance(e, SystemExit) else f"{type(e).__name__}: {e}"
        run.update(state="stopped" if isinstance(e, SystemExit) else "error", ended=time.time(), error={"message": why})
        run.say(f"-- the run ended early: {why} --\n")
        return 1
    finally:
        run.close()
    return 0


def running(run_dir: str) -> bool:
    try:
        state = read_state(run_dir)
        with open(os.path.join(run_dir, PID)) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return False
    if state.get("state") not in ("starting", "running") or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def follow(run_dir: str) -> int:
    """The log from its start, then what comes, until the run is over and everything was printed."""
    out = sys.stdout.buffer
    deadline = time.monotonic() + FOLLOW_BACKSTOP
    with open(os.path.join(run_dir, LOG), "rb") as f:
        while time.monotonic() < deadline:
            alive = running(run_dir)  # before the read: what it wrote before it ended is read next
            chunk = f.read(65536)
            if chunk:
                out.write(chunk)
                out.flush()
            elif not alive:
                return 0
            else:
                time.sleep(0.1)  # the poll interval of a follow (tail -f does the same)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["prepare"] and len(argv) >= 4:
        return prepare(argv[1], argv[2], argv[3], argv[4:])
    if argv[:1] == ["execute"] and len(argv) == 2:
        return execute(argv[1])
    if argv[:1] == ["follow"] and len(argv) == 2:
        return follow(argv[1])
    print("usage: runner.py prepare|execute|follow ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
