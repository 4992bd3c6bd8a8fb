"""A figure-drawing worker process: ``python -m refracture.figures.worker``.

It imports matplotlib and pandas at once (while the parent process runs the
analyses), then reads one pickled list of figure jobs from stdin, draws them
and writes one pickled reply to stdout: the saved paths, or the exception a
job raised. A plain subprocess rather than ``multiprocessing``, so that it
never re-imports the caller's ``__main__`` (a script or notebook calling
:func:`refracture.build.pipeline.build` needs no ``if __name__ == "__main__"`` guard),
and it exits when its parent dies (its stdin closes).
"""

from __future__ import annotations

import pickle
import sys


def main() -> int:
    from refracture.figures.build import _warm, draw_one

    _warm()
    raw = sys.stdin.buffer.read()
    if not raw:  # the parent went away (or did not need us)
        return 0
    jobs = pickle.loads(raw)
    try:
        reply: object = [path for job in jobs for path in draw_one(*job)]
    except Exception as exc:  # sent back and raised in the parent
        reply = exc
    try:
        data = pickle.dumps(reply)
    except Exception:  # an exception that does not pickle: its text does
        data = pickle.dumps(RuntimeError(f"{type(reply).__name__}: {reply}"))
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
