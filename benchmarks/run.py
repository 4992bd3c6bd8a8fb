"""refracture's benchmark suite: measure every speed and memory target, write RESULTS.md.

    python benchmarks/run.py                 # the full suite (example ×5, 1M patients)
    python benchmarks/run.py --repeat 3 --patients 200000
    python benchmarks/run.py --smoke --results /tmp/RESULTS.md   # seconds; the test suite's

Every timing is wall-clock and the median of ``--repeat`` runs, each in a fresh
process where the target is about a cold start. Nothing here is a pass/fail
test: the report says which target is met and which is not. The machine, the
date and the git commit go into the report with the figures.

Targets (issue 8, on a 2-core machine):

* cold full build of the example, three formats, embedded engine ≤ 3.5 s;
* render step alone (three formats, both documents) ≤ 1 s;
* no-op rebuild ≤ 0.5 s;
* 1,000,000 simulated patients: full build ≤ 60 s, peak RSS ≤ 4 GB; Table 1
  stage within 10 % of bare tableone on the same frame; the threshold table in
  one sorted pass;
* 2,000 bootstrap replicates on the example ≤ 2 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


# ---------------------------------------------------------------------------
# running things
# ---------------------------------------------------------------------------


def _run(args: list[str], cwd: Path) -> tuple[float, str]:
    """Run a command; its wall time and stdout. A failure stops the suite."""
    t = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(
            f"benchmark step failed ({proc.returncode}): {' '.join(args)}\n{proc.stderr[-3000:]}"
        )
    return seconds, proc.stdout


def _peak_rss_mb(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall time, peak RSS (MB, the largest process) and stdout of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    seconds, stdout = _run(args, cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the maximum over every child waited for so far:
    # a command lower than an earlier one shows the earlier peak, so the large
    # build runs before anything else that is large.
    return seconds, max(before, after) / 1024, stdout


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _refracture(*args: str) -> list[str]:
    return [PY, "-m", "refracture", *args]


# ---------------------------------------------------------------------------
# the benchmarks
# ---------------------------------------------------------------------------


def bench_example(work: Path, repeat: int) -> dict:
    """Cold build, stage profile, render alone and no-op rebuild of the example."""
    out = work / "example"
    cold = [
        _run(
            _refracture("build", "--out", str(out), "--engine", "embedded", "--force"),
            work,
        )[0]
        for _ in range(repeat)
    ]
    _, profile = _run([PY, str(HERE / "profile_build.py"), str(work / "profiled")], work)
    noop = _noop(out, work, repeat)
    config = work / "with-config"
    config.mkdir(exist_ok=True)
    shutil.copy(ROOT / "refracture.yml", config / "refracture.yml")
    noop_config = _noop(config / "_manuscript", config, repeat)
    render = [_render_once(out, work) for _ in range(repeat)]
    return {
        "cold_build": cold,
        "profile": json.loads(profile),
        "noop": noop,
        "noop_with_config": noop_config,
        "render": render,
    }


def _noop(out: Path, cwd: Path, repeat: int) -> list[float]:
    """Rebuilds of an up-to-date folder (after one unrecorded build that makes it so)."""
    command = _refracture("build", "--out", str(out), "--engine", "embedded")
    _run(command, cwd)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if proc.returncode != 0 or "is up to date" not in proc.stdout + proc.stderr:
            raise SystemExit(f"the no-op rebuild was not a no-op:\n{proc.stderr[-2000:]}")
    return times


_RENDER = """
import json, shutil, sys, time
from pathlib import Path
from refracture.report import embedded
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
shutil.rmtree(dst, ignore_errors=True)
shutil.copytree(src, dst)
t = time.perf_counter()
embedded.render_all(dst, ["report/manuscript.qmd", "report/supplementary.qmd"],
                    source_date_epoch=1795564800)
print(json.dumps(time.perf_counter() - t))
"""


def _render_once(project: Path, work: Path) -> float:
    """The render step alone, in a fresh process (imports not counted)."""
    _, out = _run([PY, "-c", _RENDER, str(project), str(work / "render")], work)
    return float(out)


def bench_components(work: Path, data: Path | None, repeat: int, replicates: int, **kw) -> dict:
    args = [PY, str(HERE / "components.py"), "--repeat", str(repeat)]
    args += ["--replicates", str(replicates)]
    if data is not None:
        args += ["--data", str(data)]
    if kw.get("executors"):
        args += ["--executors", kw["executors"]]
    if kw.get("skip"):
        args += ["--skip", kw["skip"]]
    _, out = _run(args, work)
    return json.loads(out)


def bench_large(work: Path, patients: int, repeat: int, executors: str) -> dict:
    data = work / f"cohort-{patients}"
    sim_seconds, sim_rss, _ = _peak_rss_mb(
        _refracture("simulate", "--out", str(data), "--patients", str(patients)), work
    )
    build_seconds, build_rss, profile = _peak_rss_mb(
        [PY, str(HERE / "profile_build.py"), str(work / "large"), "--data", str(data)], work
    )
    components = bench_components(work, data, max(1, min(repeat, 3)), 2000, executors=executors)
    return {
        "patients": patients,
        "simulate_seconds": sim_seconds,
        "simulate_peak_rss_mb": sim_rss,
        "build_seconds": build_seconds,
        "build_peak_rss_mb": build_rss,
        "profile": json.loads(profile),
        "components": components,
    }


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------


def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024**2:.0f} GB"
    except (OSError, ValueError, IndexError):
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
    }


def _s(x: float) -> str:
    return f"{x:.2f} s" if x >= 0.1 else f"{x * 1000:.0f} ms"


def _spread(values: list[float]) -> str:
    return (
        f"{_s(_median(values))} (min {_s(min(values))}, max {_s(max(values))}, n = {len(values)})"
    )


def _row(target: str, limit: str, measured: str, met: bool | None) -> str:
    mark = {True: "yes", False: "**no**", None: "n/a"}[met]
    return f"| {target} | {limit} | {measured} | {mark} |"


def report(results: dict, smoke: bool) -> str:
    m = results["machine"]
    ex = results["example"]
    comp = results["example_components"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `python benchmarks/run.py`"
        + (" --smoke (tiny sizes: not the targets' sizes)" if smoke else "")
        + f" on {results['date']}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM; Python {m['python']}; "
        f"{m['system']}; refracture commit {m['commit']}.",
        "",
        "Times are wall-clock medians; each cold run is a fresh process.",
        "",
        "| target | limit | measured | met |",
        "|---|---|---|---|",
    ]
    example_targets = (
        (
            "Cold full build of the example (3 formats × 2 documents, embedded engine)",
            "cold_build",
            3.5,
        ),
        ("Render step alone (both documents, 3 formats)", "render", 1.0),
        ("No-op rebuild (no configuration file)", "noop", 0.5),
        ("No-op rebuild with `refracture.yml`", "noop_with_config", 0.5),
    )
    for label, key, limit in example_targets:
        runs = ex[key]
        lines.append(_row(label, f"≤ {limit:g} s", _spread(runs), _median(runs) <= limit))
    boot = comp["bootstrap"]
    lines.append(
        _row(
            f"{boot['replicates']:,} bootstrap replicates (AUC, Youden cutoff), example",
            "≤ 2 s",
            _spread(boot["in_process_runs"]),
            boot["in_process_seconds"] <= 2.0,
        )
    )
    large = results.get("large")
    if large:
        n = f"{large['patients']:,} patients"
        lines.append(
            _row(
                f"Full build, {n}",
                "≤ 60 s",
                _s(large["build_seconds"]),
                large["build_seconds"] <= 60,
            )
        )
        lines.append(
            _row(
                f"Peak RSS of the build, {n} (largest process)",
                "≤ 4 GB",
                f"{large['build_peak_rss_mb']:,.0f} MB",
                large["build_peak_rss_mb"] <= 4096,
            )
        )
        t1 = large["components"]["table1"]
        lines.append(
            _row(
                f"Table 1 stage vs bare tableone on the same frame, {n}",
                "≤ +10 %",
                f"{_s(t1['stage_seconds'])} vs {_s(t1['bare_tableone_seconds'])} "
                f"({t1['overhead_ratio']:+.1%})",
                t1["overhead_ratio"] <= 0.10,
            )
        )
        thr = large["components"]["thresholds"]
        lines.append(
            _row(
                f"Threshold table, all cutoffs, {n}",
                "one sorted pass",
                f"{_s(thr['seconds'])}: one argsort, a cumulative event count and "
                "one searchsorted for all cutoffs (`thresholds.cutoff_counts`)",
                True,
            )
        )
        lines.append(
            _row(
                f"Simulate {n} (`refracture simulate`)",
                "vectorised",
                f"{_s(large['simulate_seconds'])}, "
                f"peak RSS {large['simulate_peak_rss_mb']:,.0f} MB",
                None,
            )
        )
    lines += ["", "## Where the time goes", ""]
    lines += _profile_table("Example cohort, one cold build", ex["profile"])
    if large:
        lines += [""]
        lines += _profile_table(f"{large['patients']:,} patients, one build", large["profile"])
        b = large["components"]["bootstrap"]
        lines += [
            "",
            f"## Bootstrap on executors ({b['replicates']:,} replicates, {b['levels']:,} levels)",
            "",
            "| executor | median | identical to in-process |",
            "|---|---|---|",
            f"| in-process | {_s(b['in_process_seconds'])} | (reference) |",
        ]
        for key in b:
            if key.endswith("_identical"):
                spec = key[: -len("_identical")]
                lines.append(
                    f"| {spec} | {_s(b[spec + '_seconds'])} | {'yes' if b[key] else '**no**'} |"
                )
    t1 = comp.get("table1")
    if t1:
        lines += [
            "",
            f"Example Table 1: stage {_s(t1['stage_seconds'])}, bare tableone "
            f"{_s(t1['bare_tableone_seconds'])} ({t1['overhead_ratio']:+.1%}).",
        ]
    notes = HERE / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text(encoding="utf-8").strip()]
    return "\n".join(lines) + "\n"


def _profile_table(title: str, profile: dict) -> list[str]:
    lines = [
        f"### {title}: {_s(profile['total_seconds'])} in-process, peak RSS "
        f"{profile['peak_rss_mb']:,.0f} MB "
        f"(largest child process {profile['peak_rss_children_mb']:,.0f} MB)",
        "",
        "| stage (from its progress line to the next) | time |",
        "|---|---|",
    ]
    for s in profile["stages"]:
        lines.append(f"| {s['stage']} | {_s(s['seconds'])} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument(
        "--executors",
        default="processes:2,dask-local:2",
        help="executors to time the large bootstrap on ('' for none)",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run each")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if args.smoke:
        args.repeat, args.patients = 1, 300
    work = Path(args.workdir or tempfile.mkdtemp(prefix="refracture-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
    }
    try:
        if not args.skip_large:  # first: its peak RSS must not be masked (see _peak_rss_mb)
            print(f"large cohort: {args.patients:,} patients", file=sys.stderr)
            results["large"] = bench_large(work, args.patients, args.repeat, args.executors)
        print("example cohort", file=sys.stderr)
        results["example"] = bench_example(work, args.repeat)
        results["example_components"] = bench_components(
            work, None, args.repeat, 200 if args.smoke else 2000
        )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(report(results, args.smoke), encoding="utf-8")
    args.results.with_suffix(".json").write_text(
        json.dumps(results, indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
