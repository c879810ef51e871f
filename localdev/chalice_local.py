"""`chalice local --stage local` beside `make deps`: the stack's environment, and two things chalice's own
reloader gets wrong here.

Installed by infra/chalice_hooks.py when `chalice local` imports app.py (in both of its processes).

- The environment. `make deps` writes where the emulator, Redis and the simulators are, the dev API key and
  the simulators' secrets into CHALICE_LOCAL_ENV_FILE (.env.local, mode 0600), so that the line it prints
  is short and carries no secret; the local stage reads the file before app.py goes on (every setting is read
  lazily, so the app sees it). It wins over the shell's environment, as the assignments of a command line
  would: it describes the stack that is running.

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
import sys
import threading
import time
from pathlib import Path

from chalice.cli.filewatch.stat import StatFileWatcher

from chalicelib.settings import LOCAL_STAGE
from localdev.stack_settings import StackSettings

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


def load_stack_environment(environ: dict[str, str], project: Path = PROJECT) -> Path | None:
    """The environment `make deps` wrote, into ``environ``, on the local stage; the file read, if any."""
    if environ.get("STAGE") != LOCAL_STAGE:
        return None
    path = project / StackSettings.from_env(environ).chalice_local_env_file
    if not path.is_file():
        print(f"chalice local: no {path}: start `make deps` first (it writes the stack's environment there)",
              file=sys.stderr, flush=True)
        return None
    from dotenv import dotenv_values

    values = dotenv_values(path, interpolate=False)  # a secret or a JSON value may hold a $
    environ.update({name: value for name, value in values.items() if value is not None})
    return path


def install_local_hooks(environ: dict[str, str] | None = None) -> None:
    """Runs where app.py is imported: in the worker's server thread with autoreload (the parent never imports
    it), in chalice's one process without. The watcher thread is already polling by then: it looks its pass
    method up on the class each second, so the next pass is the narrow one."""
    environ = os.environ if environ is None else environ
    load_stack_environment(environ)
    if environ.get("CHALICE_WORKER"):
        StatFileWatcher._single_pass_poll = _poll_app_files
        threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
