"""Draw every figure of the paper from the results into a folder.

Figures are independent of each other, so :class:`FigureWorkers` draws them in
worker processes. The pipeline starts the workers before the analyses, so that
their imports (matplotlib, pandas) overlap with the analyses' own, and collects
the figures after writing the manuscript sources: drawing overlaps that too.
Every figure is drawn from the same pickled result in a fresh process state, so
the files are byte-identical to those drawn in-process (tested).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from refracture.analysis.results import Results

__all__ = ["FIGURES", "FigureWorkers", "draw_all", "draw_one", "figure_jobs"]

FIGURES: dict[str, str] = {
    "threshold_forest": "Odds ratio of a subsequent fracture at a level for T ≤ cutoff",
    "model_forest": "Univariable and multivariable odds ratios of refracture",
    "roc": "ROC curve of the level-specific T-score",
    "kaplan_meier": "Refracture-free survival, overall and by T-score group",
    "tscore_levels": "Level-specific T-scores of fractured and nonfractured levels",
    "predictive_values": "Sensitivity, specificity, PPV and NPV by cutoff",
}
"""File stem → what the figure shows (captions are written by the manuscript)."""

# The slowest figures first, so that two workers finish at about the same time.
_ORDER = (
    "threshold_forest",
    "model_forest",
    "kaplan_meier",
    "predictive_values",
    "roc",
    "tscore_levels",
)


def figure_jobs(results: Results) -> dict[str, tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """Figure stem → (plot function name, results it draws, keyword arguments).

    Only the results a figure needs travel to the worker that draws it.
    """
    first = results["thresholds"].meta.get("first_significant_cutoff")
    # Firth estimates are drawn beside the ML ones when separation made them primary
    firth = results["firth"] if results["multivariable"].meta.get("primary") == "firth" else None
    jobs = {
        "threshold_forest": ("threshold_forest", (results["thresholds"],), {}),
        "model_forest": (
            "model_forest",
            (results["univariable"], results["multivariable"]),
            {"firth": firth},
        ),
        "roc": ("roc_plot", (results["roc"],), {}),
        "kaplan_meier": ("km_plot", (results["survival"],), {}),
        "tscore_levels": ("tscore_plot", (results["level_tscore"],), {"cutoff": first}),
        "predictive_values": ("predictive_values_plot", (results["thresholds"],), {}),
    }
    return {stem: jobs[stem] for stem in _ORDER}


def draw_one(
    stem: str,
    plot: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    folder: Path,
    epoch: int,
    formats: tuple[str, ...] | None = None,
) -> list[Path]:
    """Draw one figure with ``plots.<plot>(*args, **kwargs)`` and save it in ``formats``
    (default: PNG, PDF and SVG)."""
    import matplotlib

    matplotlib.use("Agg")
    from refracture.figures import plots
    from refracture.figures.style import FORMATS, journal_style, save

    with journal_style():
        ax = getattr(plots, plot)(*args, **kwargs)
    return save(ax.figure, folder / stem, formats or FORMATS, epoch=epoch)


def _default_epoch() -> int:
    from refracture.common.dates import build_epoch

    return build_epoch()


def draw_all(results: Results, folder: Path, *, epoch: int | None = None) -> list[Path]:
    """Draw each figure in the journal style and save it as PNG, PDF and SVG (in-process)."""
    folder.mkdir(parents=True, exist_ok=True)
    epoch = _default_epoch() if epoch is None else epoch
    paths: list[Path] = []
    for stem, (plot, args, kwargs) in figure_jobs(results).items():
        paths += draw_one(stem, plot, args, kwargs, folder, epoch)
    return _in_order(paths)


def _in_order(paths: list[Path]) -> list[Path]:
    """Paths in the order of :data:`FIGURES`, then of the formats."""
    from refracture.figures.style import FORMATS

    stems = {stem: i for i, stem in enumerate(FIGURES)}
    formats = {f".{fmt}": i for i, fmt in enumerate(FORMATS)}
    return sorted(paths, key=lambda p: (stems.get(p.stem, len(stems)), formats.get(p.suffix, 9)))


def _warm() -> None:
    """Worker initialiser: import what drawing needs while the analyses run."""
    import matplotlib

    matplotlib.use("Agg")
    import pandas  # noqa: F401  (the results' tables unpickle into DataFrames)

    import refracture.figures.plots
    import refracture.figures.style  # noqa: F401


class FigureWorkers:
    """Worker processes that draw the figures while the main process goes on.

    Each worker (``python -m refracture.figures.worker``) starts at once and
    imports matplotlib while the caller runs the analyses; :meth:`submit`
    hands each worker its share of the figures and :meth:`wait` collects them.
    ``workers=0`` draws in-process (at :meth:`submit`). Use as a context
    manager: leaving it ends any worker still running.
    """

    def __init__(self, workers: int | None = None) -> None:
        import subprocess
        import sys

        # one process per spare core, at most two (the figures are six): on two
        # cores one worker beside the main process was measured fastest
        spare = (os.cpu_count() or 1) - 1
        self.workers = min(2, spare) if workers is None else max(0, int(workers))
        self._done: list[Path] = []
        self._threads: list = []
        self._replies: dict[int, tuple[bytes, bytes]] = {}
        self._procs = [
            subprocess.Popen(
                [sys.executable, "-m", "refracture.figures.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(self.workers)
        ]

    def submit(
        self,
        results: Results,
        folder: Path,
        *,
        epoch: int,
        only: set[str] | None = None,
        formats: tuple[str, ...] | None = None,
    ) -> None:
        """Start drawing every figure (or those of ``only``, by stem) into ``folder``, in
        ``formats`` (default: every format)."""
        import pickle

        folder.mkdir(parents=True, exist_ok=True)
        jobs = [
            (stem, plot, args, kwargs, folder, epoch, formats)
            for stem, (plot, args, kwargs) in figure_jobs(results).items()
            if only is None or stem in only
        ]
        if not jobs:
            return
        if not self._procs:
            for job in jobs:
                self._done += draw_one(*job)
            self._done = _in_order(self._done)
            return
        import threading

        # slowest figures first, dealt out in turn: the workers finish together.
        # One thread per worker feeds it and drains its pipes (communicate), so
        # the caller goes on at once, even while a worker is still importing.
        for i, proc in enumerate(self._procs):
            share = pickle.dumps(jobs[i :: len(self._procs)])
            thread = threading.Thread(target=self._talk, args=(i, proc, share), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _talk(self, i: int, proc, data: bytes) -> None:
        try:
            self._replies[i] = proc.communicate(data)
        except (OSError, ValueError) as exc:  # a worker that died before reading
            self._replies[i] = (b"", str(exc).encode())

    def wait(self) -> list[Path]:
        """Every figure's files; a drawing error is raised here, as it was raised there."""
        import pickle

        from refracture.errors import RenderError

        paths = list(self._done)
        if not self._threads:  # nothing was submitted to the workers: end them
            self.close()
            return _in_order(paths)
        for thread in self._threads:
            thread.join()
        procs, self._procs, self._threads = self._procs, [], []
        for i, proc in enumerate(procs):
            out, err = self._replies.pop(i, (b"", b""))
            try:
                reply = pickle.loads(out) if proc.returncode == 0 and out else None
            except Exception:
                reply = None
            if reply is None:
                tail = err.decode("utf-8", "replace").strip()[-2000:]
                raise RenderError(
                    f"a figure worker failed (exit status {proc.returncode})"
                    + (f":\n{tail}" if tail else "")
                )
            if isinstance(reply, BaseException):
                raise reply
            paths += reply
        return _in_order(paths)

    def close(self) -> None:
        """End any worker still running (a build that failed before its figures)."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
        for thread in self._threads:
            thread.join()
        for proc in self._procs:
            proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None and not pipe.closed:
                    pipe.close()
        self._procs, self._threads = [], []

    def __enter__(self) -> FigureWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
