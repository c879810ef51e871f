"""`chalice local --stage local` beside `make deps`: two things chalice's own reloader gets wrong here.

Installed by infra/chalice_hooks.py when `chalice local` imports app.py (in both of its processes).

- What it watches. chalice's stat() watcher polls every file under the project every second, .venv
  included (about 28,000 files, half a core), and restarts on any write there: logs, .coverage,
  __pycache__. The worker here watches what the app runs: app.py, chalicelib/ and .chalice/config.json.
- Outliving its parent. With autoreload chalice runs a parent that restarts a worker, and the worker
  serves. Ctrl-C reaches both (one process group), but a SIGTERM to the parent alone (kill, a supervisor)
  would leave the worker serving the port, orphaned. So the parent turns SIGTERM into what Ctrl-C does (it
  stops its worker, then itself), and the worker stops when its parent is gone, however it went.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from chalice.cli import reloader
from chalice.cli.filewatch import WorkerProcess

PROJECT = Path(__file__).resolve().parents[1]
WATCHED = ("app.py", "chalicelib", ".chalice/config.json")
POLL_INTERVAL_S = 1.0


def watched_files(project: Path = PROJECT) -> dict[str, int]:
    """{path: mtime in ns} of every file the app runs from; a change, addition or removal restarts it."""
    stamps = {}
    for name in WATCHED:
        root = project / name
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if "__pycache__" not in p.parts]
        for path in paths:
            try:
                if path.is_file():
                    stamps[str(path)] = path.stat().st_mtime_ns
            except OSError:  # removed while we looked: the next pass sees it gone
                continue
    return stamps


class SourceWatchingWorker(WorkerProcess):
    """chalice's worker (it serves in a thread and exits with the restart code when asked), watching only
    the app's own files."""

    def _start_file_watcher(self, project_dir: str) -> None:
        threading.Thread(target=self._watch, args=(Path(project_dir),), name="source-watcher", daemon=True).start()

    def _watch(self, project: Path) -> None:
        seen = watched_files(project)
        while not self._restart_event.wait(POLL_INTERVAL_S):
            if watched_files(project) != seen:
                self._restart_event.set()


def _stop_like_ctrl_c(signum, frame) -> None:
    raise KeyboardInterrupt


def _exit_with_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGINT)  # the worker stops as on Ctrl-C ...
    time.sleep(5)
    os._exit(0)  # ... or, if its server does not, now


def install_local_hooks(environ: dict[str, str] | None = None) -> None:
    environ = os.environ if environ is None else environ
    if environ.get("CHALICE_WORKER"):
        reloader.get_best_worker_process = lambda: SourceWatchingWorker
        threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    else:  # the reloading parent, or the only process with --no-autoreload
        signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
