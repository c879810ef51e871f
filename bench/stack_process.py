"""`python -m localdev.stack`, with its logs in a directory of the benchmark's choosing.

The benchmark runs the local stack as a child process (so each piece's CPU is its own, read from
/proc), and must not write into the logs of a stack someone else is running from the same checkout.

    python -m bench.stack_process --log-dir /tmp/bench-logs
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from localdev.stack import LocalStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    stack = LocalStack(log_dir=args.log_dir)

    def on_signal(*_):
        stack._stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        stack.start()
        print("\n".join(stack.started), flush=True)
        code = stack.supervise()
    except RuntimeError as exc:
        print(f"local stack failed to start: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        stack.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
