"""`chalice local --stage local` beside `make deps`: two things chalice's own reloader gets wrong here.

Installed by infra/chalice_hooks.py when `chalice local` imports app.py (in both of its processes).

- What it watches. chalice's stat() watcher polls every file under the project every second, .venv
  included (about 28,000 files, half a core), and restarts on any write there: logs, .coverage,
  __pycache__. Here it watches what the app runs: app.py, chalicelib/ and .chalice/config.json (once, at
  start, it still walks the tree). chalice picks watchdog's watcher instead when watchdog is installed;
  the project does not install it.
- Outliving its parent. With autoreload chalice runs a parent that restarts a worker, and the worker
  serves. Ctrl-C reaches both (one process group), but a SIGTERM or SIGKILL to the parent alone (kill, a
  supervisor) would leave the worker serving the port, orphaned. Here the worker stops within a second
  of its parent, however the parent went.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from chalice.cli.filewatch.stat import StatFileWatcher

PROJECT = Path(__file__).resolve().parents[1]
WATCHED = ("app.py", "chalicelib", ".chalice/config.json")


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


def _poll_app_files(watcher, root_dir: str, callback) -> None:
    """StatFileWatcher's one pass, on the app's files only. The first pass takes the baseline (the watcher's
    own seed, taken before app.py was imported, covers the whole tree and is no longer read)."""
    current = watched_files(Path(root_dir))
    baseline = getattr(watcher, "app_files", None)
    watcher.app_files = current
    if baseline is not None and current != baseline:
        callback()


def _exit_with_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)  # nothing to clean up: a dev server's worker
    time.sleep(2)
    os._exit(0)  # SIGTERM was ignored (a process can inherit that)


def install_local_hooks(environ: dict[str, str] | None = None) -> None:
    """Runs in the worker, when its server thread imports app.py; the parent never imports it. The watcher
    thread is already polling by then: it looks its pass method up on the class each second, so the next
    pass is the narrow one."""
    environ = os.environ if environ is None else environ
    if environ.get("CHALICE_WORKER"):
        StatFileWatcher._single_pass_poll = _poll_app_files
        threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
