"""Executors: the bootstrap and the reanalyses give the same bytes wherever they run.

One Dask ``LocalCluster`` (two worker processes) and one local pool of two
processes serve the whole module. The slow part is ``reanalyze``: one main
build and one variant, in this process and on the cluster, run side by side.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from refracture.analysis.results import run_analyses
from refracture.analysis.roc import (
    BOOTSTRAP_BLOCK,
    BOOTSTRAP_CHUNK,
    bootstrap_chunks,
    bootstrap_roc,
    bootstrap_roc_chunked,
)
from refracture.analysis.thresholds import level_arrays
from refracture.build.config import ConfigProblems, config_hash, load_config
from refracture.build.executor import DaskExecutor, ProcessExecutor, make_executor
from refracture.common.parallel import LocalExecutor, current_executor, use_executor
from refracture.data.example import example_path
from refracture.data.validate import load_cohort
from refracture.errors import ConfigError, DataValidationError
from refracture.workflows.reanalyze import BuildTask

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster_address():
    """A Dask LocalCluster of two single-threaded worker processes."""
    from dask.distributed import LocalCluster

    # the scheduler runs in this process: keep its INFO chatter out of the live log
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.WARNING)
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()
        logger.setLevel(level)


@pytest.fixture(scope="module")
def dask_executor(cluster_address):
    with make_executor("dask", scheduler=cluster_address) as ex:
        yield ex


@pytest.fixture(scope="module")
def pool():
    with make_executor(workers=2) as ex:
        yield ex


class SerialChunks(LocalExecutor):
    """In this process, but chunked like a remote executor (to test the chunking alone)."""

    in_process = False


def example_arrays(example_data):
    tscore, y, patients, _ = level_arrays(example_data)
    codes, _ = pd.factorize(patients)
    return tscore, y, codes


def sparse_arrays():
    """Six patients, one fractured level: many replicates have no AUC and no cutoff."""
    tscore = np.array([-1.0, -2.5, -2.0, -3.1, -1.5, -2.2, -2.8])
    y = np.array([False, True, False, False, False, False, False])
    codes = np.array([0, 1, 2, 3, 4, 5, 5])
    return tscore, y, codes


def assert_same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> None:
    for x, z in zip(a, b, strict=True):
        assert x.shape == z.shape
        assert np.array_equal(x, z, equal_nan=True)


# --- chunks ---------------------------------------------------------------------------


def test_chunks_cover_every_replicate_once_on_block_boundaries() -> None:
    assert BOOTSTRAP_CHUNK % BOOTSTRAP_BLOCK == 0
    chunks = bootstrap_chunks(2000)
    assert chunks[0][0] == 0
    assert chunks[-1][1] == 2000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    assert all(start % BOOTSTRAP_BLOCK == 0 for start, _ in chunks)
    assert bootstrap_chunks(5, 2) == [(0, 2), (2, 4), (4, 5)]
    with pytest.raises(ValueError, match="at least 1"):
        bootstrap_chunks(10, 0)


@pytest.mark.parametrize("size", [1, 37, BOOTSTRAP_BLOCK, 100, BOOTSTRAP_CHUNK, 5000])
def test_any_chunk_size_gives_the_full_run(size: int) -> None:
    arrays = sparse_arrays()
    full = bootstrap_roc(*arrays, 300, 11)
    assert np.isnan(full[0]).any()  # NaNs to place right
    assert np.isfinite(full[0]).any()
    assert_same(bootstrap_roc_chunked(*arrays, 300, 11, SerialChunks(), size), full)


def test_chunked_example_bootstrap_equals_one_run(example_data) -> None:
    tscore, y, codes = example_arrays(example_data)
    full = bootstrap_roc(tscore, y, codes, 2000, 20011101)
    assert_same(bootstrap_roc_chunked(tscore, y, codes, 2000, 20011101, SerialChunks()), full)


# --- the same arrays on every executor --------------------------------------------------


def test_bootstrap_is_identical_on_every_executor(example_data, pool, dask_executor) -> None:
    for arrays, replicates in ((example_arrays(example_data), 2000), (sparse_arrays(), 700)):
        local = bootstrap_roc_chunked(*arrays, replicates, 7, LocalExecutor())
        assert_same(local, bootstrap_roc(*arrays, replicates, 7))
        for ex in (pool, dask_executor):
            assert_same(bootstrap_roc_chunked(*arrays, replicates, 7, ex), local)


def test_results_json_is_identical_on_every_executor(
    example_data, example_results, pool, dask_executor
) -> None:
    local = example_results.to_json()  # computed in this process (shared by the session)
    with use_executor(pool):  # found by the analyses without being passed along
        assert current_executor() is pool
        on_pool = run_analyses(example_data).to_json()
    assert current_executor().in_process
    on_dask = run_analyses(example_data, executor=dask_executor).to_json()
    assert on_pool == local
    assert on_dask == local


def test_map_keeps_input_order_and_reports_each_piece(pool, dask_executor) -> None:
    items = [(0, 5), (5, 9), (9, 10)]
    common = (*sparse_arrays(), 10, 3)
    expected = [bootstrap_roc(*common, chunk) for chunk in items]
    for ex in (LocalExecutor(), pool, dask_executor):
        seen: list[int] = []
        got = ex.map(bootstrap_roc, items, common=common, on_done=lambda i, _r, s=seen: s.append(i))
        assert sorted(seen) == [0, 1, 2], ex.describe()
        for a, b in zip(got, expected, strict=True):
            assert_same(a, b)


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "threads"}, "--executor must be one of local, processes, dask, not 'threads'"),
        ({"workers": 0}, "--workers must be at least 1, not 0"),
        ({"kind": "processes", "workers": -2}, "--workers must be at least 1"),
        ({"scheduler": "tcp://h:8786"}, "--scheduler ADDRESS is for --executor dask"),
        ({"kind": "processes", "scheduler": "tcp://h:8786"}, "is for --executor dask"),
        ({"kind": "local", "workers": 2}, "not with --executor local"),
        ({"kind": "dask"}, "--executor dask needs --scheduler ADDRESS"),
        ({"kind": "dask", "workers": 2, "scheduler": "tcp://h:1"}, "does not apply to"),
        ({"kind": "dask", "scheduler": "no-port"}, "cannot reach the Dask scheduler at no-port"),
    ],
)
def test_bad_executor_options_are_config_errors(kwargs, message) -> None:
    with pytest.raises(ConfigError) as info:
        make_executor(**kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_option_defaults() -> None:
    assert isinstance(make_executor(), LocalExecutor)
    assert isinstance(make_executor("local"), LocalExecutor)
    with make_executor(workers=3) as ex:
        assert isinstance(ex, ProcessExecutor)
        assert ex.describe() == "3 local worker processes"


def test_unreachable_scheduler_names_the_address() -> None:
    with pytest.raises(
        ConfigError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"
    ):
        DaskExecutor("tcp://127.0.0.1:9", timeout=1)


def test_missing_dask_says_which_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails
    with pytest.raises(ConfigError, match=r"install refracture\[dask\]"):
        make_executor("dask", scheduler="tcp://127.0.0.1:8786")


def invalid_cohort(folder: Path) -> Path:
    shutil.copytree(example_path(), folder)
    text = (folder / "patients.csv").read_text(encoding="utf-8")
    (folder / "patients.csv").write_text(text.replace("P0001,79,", "P0001,-4,"), encoding="utf-8")
    return folder


def test_errors_pickle_with_message_and_attributes(tmp_path) -> None:
    with pytest.raises(DataValidationError) as info:
        load_cohort(invalid_cohort(tmp_path / "bad"))
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is DataValidationError
    assert str(again) == str(info.value)
    assert again.report.render() == info.value.report.render()
    problems = ConfigProblems(["a: must be a number", "b: unknown key"])
    again = pickle.loads(pickle.dumps(problems))
    assert (type(again), str(again), again.problems) == (
        ConfigProblems,
        str(problems),
        problems.problems,
    )


def test_worker_errors_arrive_intact(tmp_path, pool, dask_executor) -> None:
    overrides = ["analysis.alpha=2", "analysis.seed=x"]
    with pytest.raises(ConfigProblems) as here:
        load_config(None, overrides)
    bad = invalid_cohort(tmp_path / "bad")
    with pytest.raises(DataValidationError) as here_data:
        load_cohort(bad)
    for ex in (pool, dask_executor):
        with pytest.raises(ConfigProblems) as there:
            ex.map(load_config, [overrides], common=(None,))
        assert str(there.value) == str(here.value)
        assert there.value.problems == here.value.problems
        assert ex.map(abs, [-2, 3]) == [2, 3]  # an error in a piece leaves the executor usable
    with pytest.raises(DataValidationError) as there_data:
        dask_executor.map(load_cohort, [bad])
    assert there_data.value.report.render() == here_data.value.report.render()


def test_build_tasks_pickle_with_their_variants() -> None:
    config = load_config(ROOT / "refracture.yml", ["analysis.model.covariates=[age,bmi]"])
    assert config.variants
    for cfg in (config, config.variant("exclude_steroids")):
        task = BuildTask("main", cfg, Path("/tmp/m"), ("html",), "submission", "auto", False)
        again = pickle.loads(pickle.dumps(task))
        assert config_hash(again.config) == config_hash(cfg)
        assert again.config.resolved() == cfg.resolved()
        assert (again.folder, again.formats, again.context) == (
            task.folder,
            task.formats,
            task.context,
        )
    again = pickle.loads(pickle.dumps(BuildTask("main", config, Path("/m"), (), "", "", False)))
    assert again.config.variant("kyphoplasty_only") == config.variant("kyphoplasty_only")


# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("build", "--executor", "threads"), "error: --executor must be one of local"),
        (("build", "--workers", "0"), "error: --workers must be at least 1, not 0"),
        (("reanalyze", "--executor", "dask"), "error: --executor dask needs --scheduler ADDRESS"),
        (
            ("reanalyze", "--scheduler", "tcp://127.0.0.1:8786"),
            "error: --scheduler ADDRESS is for --executor dask",
        ),
    ],
)
def test_cli_rejects_bad_executor_options(cli, tmp_path, args, message) -> None:
    r = cli(*args, "--out", str(tmp_path / "out"))
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip() == message or r.stderr.startswith(message), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def write_config(folder: Path, data: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = "variants:\n  exclude_steroids:\n    cohort:\n      exclusions:\n"
    text += "        exclude_steroids: true\n"
    if data is not None:
        text = f"data:\n  path: {data}\n" + text
    path = folder / "refracture.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_worker_error_is_the_same_clear_message(cli, tmp_path) -> None:
    config = write_config(tmp_path, data="no-such-cohort")
    args = ("reanalyze", "--config", str(config), "--formats", "html")
    here = cli(*args, "--out", str(tmp_path / "a"))
    there = cli(*args, "--out", str(tmp_path / "b"), "--workers", "2")
    assert here.returncode == there.returncode == 1, there.stderr
    message = f"error: {tmp_path / 'no-such-cohort'}: no such file or folder"
    assert message in here.stderr.splitlines()
    assert message in there.stderr.splitlines()
    assert "Traceback" not in there.stderr


@pytest.mark.slow
def test_reanalyze_on_dask_builds_the_same_bytes(tmp_path, cluster_address) -> None:
    """Main analysis and one variant, in this process and on the cluster (run side by
    side). The client runs in a folder outside git with its own SOURCE_DATE_EPOCH,
    unlike the workers: their builds must still match the client's."""
    config = write_config(tmp_path / "project")
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    common = ["reanalyze", "--config", str(config), "--formats", "html"]
    environ = {k: v for k, v in os.environ.items() if k != "REFRACTURE_DEBUG"} | env
    runs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "refracture", *common, "--out", str(tmp_path / name), *extra],
            cwd=tmp_path / "project",
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, extra in (
            ("here", []),
            ("there", ["--executor", "dask", "--scheduler", cluster_address]),
        )
    }
    outputs = {name: p.communicate(timeout=900) for name, p in runs.items()}
    for name, p in runs.items():
        assert p.returncode == 0, outputs[name][1]
    err = outputs["there"][1]
    assert "on the Dask cluster at" in err
    assert "The main analysis built (there)" in err
    assert "Variant exclude_steroids built (there-exclude_steroids)" in err
    assert "main: Running the analyses" in outputs["here"][1]  # in-process progress streams
    for suffix in ("", "-exclude_steroids"):
        here = (tmp_path / f"here{suffix}" / "results.json").read_bytes()
        there = (tmp_path / f"there{suffix}" / "results.json").read_bytes()
        assert here == there, suffix
        assert b'"build_date": "2023-11-14T22:13:20Z"' in here
    table = "tables/reanalyses.csv"
    assert (tmp_path / "here-reanalyses" / table).read_bytes() == (
        tmp_path / "there-reanalyses" / table
    ).read_bytes()


def test_auto_executor_spreads_only_large_jobs() -> None:
    """The command line's default stays in-process for small jobs and uses a
    process pool (one per core) for a registry-size bootstrap."""
    from refracture.build.executor import AUTO_PARALLEL_SIZE, AutoExecutor, ProcessExecutor

    with AutoExecutor(cores=2) as auto:
        assert auto.for_work(2000 * 445) is auto  # the example: in-process
        big = auto.for_work(AUTO_PARALLEL_SIZE)
        assert isinstance(big, ProcessExecutor)
        assert big.workers == 2
        assert auto.for_work(AUTO_PARALLEL_SIZE * 10) is big  # one pool for the run
    with AutoExecutor(cores=1) as single:
        assert single.for_work(AUTO_PARALLEL_SIZE * 10) is single


def test_auto_executor_bootstrap_equals_in_process(monkeypatch) -> None:
    """A bootstrap the default executor sends to processes gives the same arrays."""
    import refracture.build.executor as ex
    from refracture.analysis.roc import bootstrap_roc, bootstrap_roc_chunked

    rng = np.random.default_rng(5)
    codes = np.repeat(np.arange(300), 3)
    tscore = np.round(rng.normal(-2, 1, codes.size), 1)
    y = rng.random(codes.size) < 0.2
    monkeypatch.setattr(ex, "AUTO_PARALLEL_SIZE", 1.0)  # make this small job "large"
    with ex.AutoExecutor(cores=2) as auto:
        assert not auto.for_work(2.0).in_process
        got = bootstrap_roc_chunked(tscore, y, codes, 600, 11, auto)
    want = bootstrap_roc(tscore, y, codes, 600, 11)
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a, b, equal_nan=True)


def test_background_bootstrap_gives_the_same_results(
    example_data, example_results, monkeypatch
) -> None:
    """A bootstrap the default executor starts early on worker processes (the
    registry-size route) gives the same results.json, with the ROC in its place."""
    import refracture.build.executor as ex

    monkeypatch.setattr(ex, "AUTO_PARALLEL_SIZE", 1.0)  # the example counts as large
    with ex.AutoExecutor(cores=2) as auto:
        assert not auto.for_work(2.0).in_process
        results = run_analyses(example_data, executor=auto)
    assert list(results.analyses).index("roc") == list(example_results.analyses).index("roc")
    assert results.to_json() == example_results.to_json()
