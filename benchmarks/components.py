"""Time single analysis components on one cohort, in this process; print JSON.

Used by ``benchmarks/run.py``; not a benchmark by itself.

* ``table1``: the patient Table 1 stage (:func:`patient_table1`) against bare
  ``tableone.TableOne`` called with exactly the frame and arguments the stage
  passed it (captured by wrapping the class), each the median of ``--repeat``;
* ``thresholds``: the whole cutoff table (all cutoffs);
* ``bootstrap``: ``--replicates`` patient-clustered bootstrap replicates of the
  AUC and the Youden cutoff, in-process, and on each executor named with
  ``--executors`` (e.g. ``processes:2,dask-local:2``), with a check that every
  executor gives the in-process arrays exactly.

    python benchmarks/components.py [--data FOLDER] [--repeat 5] [--replicates 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def _median_time(fn, repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def _table1(derived, repeat: int) -> dict:
    import tableone

    from refracture.analysis import table1

    captured: list[tuple[tuple, dict]] = []
    real = tableone.TableOne

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            captured.append((args, kwargs))
            super().__init__(*args, **kwargs)

    tableone.TableOne = Recording
    try:
        table1.patient_table1(derived)  # warm: imports, caches
        stage, stage_all = _median_time(lambda: table1.patient_table1(derived), repeat)
    finally:
        tableone.TableOne = real
    args, kwargs = captured[-1]
    bare, bare_all = _median_time(lambda: real(*args, **kwargs), repeat)
    return {
        "stage_seconds": stage,
        "bare_tableone_seconds": bare,
        "overhead_ratio": stage / bare - 1,
        "stage_runs": stage_all,
        "bare_runs": bare_all,
    }


def _bootstrap(derived, replicates: int, repeat: int, executors: list[str]) -> dict:
    import numpy as np
    import pandas as pd

    from refracture.analysis.roc import bootstrap_roc
    from refracture.analysis.thresholds import level_arrays

    tscore, y, patients, _ = level_arrays(derived)
    codes, _ = pd.factorize(patients)
    out: dict = {"replicates": replicates, "levels": int(tscore.size)}
    reference = bootstrap_roc(tscore, y, codes, replicates, 20240917)
    out["in_process_seconds"], out["in_process_runs"] = _median_time(
        lambda: bootstrap_roc(tscore, y, codes, replicates, 20240917), repeat
    )
    for spec in executors:
        from refracture.analysis.roc import bootstrap_roc_chunked
        from refracture.build.executor import make_executor

        kind, _, workers = spec.partition(":")
        n = int(workers or 2)
        if kind == "dask-local":
            from dask.distributed import LocalCluster

            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True)
            executor = make_executor("dask", scheduler=cluster.scheduler_address)
        else:
            cluster = None
            executor = make_executor(kind, workers=n)
        try:
            with executor:
                got = bootstrap_roc_chunked(tscore, y, codes, replicates, 20240917, executor)
                same = all(
                    np.array_equal(a, b, equal_nan=True)
                    for a, b in zip(got, reference, strict=True)
                )
                seconds, runs = _median_time(
                    lambda ex=executor: bootstrap_roc_chunked(
                        tscore, y, codes, replicates, 20240917, ex
                    ),
                    repeat,
                )
        finally:
            if cluster is not None:
                cluster.close()
        out[f"{spec}_seconds"] = seconds
        out[f"{spec}_runs"] = runs
        out[f"{spec}_identical"] = bool(same)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--executors", default="")
    parser.add_argument("--skip", default="", help="comma-separated: table1,thresholds,bootstrap")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    from refracture.data.derive import derive
    from refracture.data.example import example_path
    from refracture.data.validate import load_cohort

    t = time.perf_counter()
    cohort = load_cohort(Path(args.data) if args.data else example_path())
    derived = derive(cohort.patients, cohort.levels)
    result: dict = {
        "load_and_derive_seconds": time.perf_counter() - t,
        "patients": len(derived.patients),
        "levels": len(derived.levels),
    }
    if "table1" not in skip:
        result["table1"] = _table1(derived, args.repeat)
    if "thresholds" not in skip:
        from refracture.analysis.thresholds import threshold_table

        threshold_table(derived)
        sec, runs = _median_time(lambda: threshold_table(derived), args.repeat)
        result["thresholds"] = {"seconds": sec, "runs": runs}
    if "bootstrap" not in skip:
        executors = [e for e in args.executors.split(",") if e]
        result["bootstrap"] = _bootstrap(derived, args.replicates, args.repeat, executors)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
