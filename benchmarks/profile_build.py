"""Run one build in this (fresh) process and print its stage timings as JSON.

Used by ``benchmarks/run.py``; not a benchmark by itself. Each progress label
marks the start of a stage, so a stage's time is the gap to the next label.
The first entry, "start-up", is interpreter start to the first label
(imports, options, the up-to-date check, the renderer choice).

    python benchmarks/profile_build.py OUT [--data FOLDER] [--formats html,pdf,docx]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

T0 = time.perf_counter()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--data", default=None)
    parser.add_argument("--formats", default="html,pdf,docx")
    args = parser.parse_args()

    from pathlib import Path

    from refracture.build.executor import make_executor, use_executor
    from refracture.build.pipeline import build

    marks: list[tuple[str, float]] = [("start-up", T0)]

    def progress(label: str) -> None:
        marks.append((label, time.perf_counter()))

    # the command line's default executor (a registry-size bootstrap uses every core)
    with make_executor("auto") as executor, use_executor(executor):
        build(
            Path(args.data) if args.data else None,
            Path(args.out),
            progress,
            formats=tuple(args.formats.split(",")),
            engine="embedded",
            force=True,
        )
    end = time.perf_counter()
    stages = [
        {"stage": label, "seconds": round(nxt - start, 4)}
        for (label, start), (_, nxt) in zip(marks, [*marks[1:], ("end", end)], strict=True)
    ]
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    json.dump(
        {
            "total_seconds": round(end - T0, 4),
            "stages": stages,
            "peak_rss_mb": round(own / 1024, 1),
            "peak_rss_children_mb": round(workers / 1024, 1),
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
