"""The edit → page loop: incremental rebuilds and ``refracture preview`` (issue 16).

    python benchmarks/incremental.py                  # medians of 5, RESULTS-incremental.md
    python benchmarks/incremental.py --smoke --results /tmp/x.md   # one run each, 20 cycles

Every figure is measured in one run on one machine, beside its baseline: a cold
build of the same project (fresh process, empty cache, new build folder), and
``quarto render`` of the same Quarto project when Quarto is installed (it is
not on the machine these figures were first taken on; the report says so).

Targets (issue 16, two cores, the example cohort, medians):

* saving a template → the reloaded HTML in the preview ≤ 1.0 s;
* a ``refracture.yml`` title change → the reloaded HTML ≤ 1.0 s;
* one data row changed → the reloaded HTML ≤ 3.0 s;
* ``refracture build`` after a template-only edit ≤ 2.5 s;
* a no-op rebuild with a ``refracture.yml`` ≤ 0.3 s;
* the preview's resident size stays flat over 100 edit cycles (the RSS curve).

The preview is measured end to end: the benchmark starts ``refracture preview
--no-browser`` as a user would, listens to its page's event stream, edits a
file and stops the clock when the event for the new build arrives and the new
HTML has been fetched (what the browser does on reload).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import _machine  # noqa: E402  (the same machine line as RESULTS.md)

PY = sys.executable
DISCUSSION = Path("templates/partials/discussion.md.j2")


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONWARNINGS": "ignore", "REFRACTURE_CACHE_DIR": str(cache)}


def _cli(project: Path, env: dict[str, str], *args: str) -> float:
    t = time.perf_counter()
    proc = subprocess.run(
        [PY, "-m", "refracture", *args], cwd=project, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"refracture {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return seconds


def _project(work: Path, name: str) -> Path:
    env = _env(work / "cache-init")
    subprocess.run(
        [PY, "-m", "refracture", "init", name, "--example"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    return work / name


def _word(i: int) -> str:
    """A distinct word for edit ``i`` (a typed number in a template fails the lint)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    word = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        word = letters[r] + word
    return "edit" + word


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def bench_builds(work: Path, repeat: int) -> dict:
    """Cold builds, builds after a template edit, and no-op rebuilds, side by side."""
    project = _project(work, "builds")
    cold, template, noop = [], [], []
    for i in range(repeat):
        cache = work / f"cache-cold-{i}"
        cold.append(
            _cli(project, _env(cache), "build", "--engine", "embedded", "--out", f"cold-{i}")
        )
    env = _env(work / "cache-incremental")
    _cli(project, env, "build", "--engine", "embedded")
    for i in range(repeat):
        _append(project / DISCUSSION, f"\nAn added sentence, edit {_word(i)}.\n")
        template.append(_cli(project, env, "build", "--engine", "embedded"))
    for _ in range(repeat):
        noop.append(_cli(project, env, "build", "--engine", "embedded"))
    return {"cold": cold, "template": template, "noop": noop}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Preview:
    """``refracture preview --no-browser`` in a project, and a reader of its events."""

    def __init__(self, project: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [PY, "-m", "refracture", "preview", "--no-browser", "--port", str(self.port)],
            cwd=project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(self.base + "/", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit("refracture preview did not start") from None
                time.sleep(0.2)
        built = project / "_manuscript" / "manuscript.html"
        while not built.is_file() or self._state()["building"]:  # the first build
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("refracture preview did not build the paper")
            time.sleep(0.2)
        self.events = urllib.request.urlopen(self.base + EVENTS, timeout=120)
        self.seen = self._state()["build"]

    def _state(self) -> dict:
        with urllib.request.urlopen(self.base + "/__refracture/state", timeout=30) as r:
            return json.loads(r.read())

    def next_build(self) -> dict:
        """Block until a build newer than the last one seen has finished; its state."""
        while True:
            line = self.events.readline().decode("utf-8")
            if not line:
                raise SystemExit("the preview's event stream closed")
            if not line.startswith("data:"):
                continue
            state = json.loads(line[5:])
            if state["building"] or state["build"] == self.seen:
                continue
            self.seen = state["build"]
            if state["failed"]:
                raise SystemExit(f"a rebuild failed: {state['status']}")
            return state

    def page(self) -> str:
        return urllib.request.urlopen(self.base + "/", timeout=30).read().decode("utf-8")

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        return kb / 1024

    def close(self) -> None:
        self.events.close()
        self.proc.send_signal(2)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()


EVENTS = "/__refracture/events"


def _timed(preview: _Preview, edit, expect: str) -> float:
    t = time.perf_counter()
    edit()
    while True:
        preview.next_build()
        if expect in preview.page():
            return time.perf_counter() - t


def bench_preview(work: Path, repeat: int, cycles: int) -> dict:
    project = _project(work, "preview")
    preview = _Preview(project, _env(work / "cache-preview"))
    try:
        template, title, data = [], [], []
        for i in range(repeat):
            words = f"Sentence {_word(i)} added while previewing."
            template.append(
                _timed(preview, lambda w=words: _append(project / DISCUSSION, f"\n{w}\n"), words)
            )
        config = project / "refracture.yml"
        for i in range(repeat):
            text = config.read_text(encoding="utf-8")
            old = text.split('title: "', 1)[1].split('"', 1)[0]
            new = f"Edited title {_word(i)}"
            title.append(
                _timed(
                    preview,
                    lambda t=text, o=old, n=new: config.write_text(t.replace(o, n, 1)),
                    new,
                )
            )
        levels = project / "data" / "levels.csv"
        original = levels.read_text(encoding="utf-8")
        for i in range(repeat):
            lines = original.splitlines(keepends=True)
            # one T-score of one level row changes; the paper's numbers change with it
            row = next(k for k, line in enumerate(lines) if ",-3.7," in line)
            lines[row] = lines[row].replace(",-3.7,", f",-{2.0 + i / 10:.1f},", 1)
            t = time.perf_counter()
            levels.write_text("".join(lines), encoding="utf-8")
            preview.next_build()
            preview.page()
            data.append(time.perf_counter() - t)
        levels.write_text(original, encoding="utf-8")
        preview.next_build()
        rss = [preview.rss_mb()]
        for i in range(cycles):
            words = f"Cycle {_word(i)}."
            _timed(preview, lambda w=words: _append(project / DISCUSSION, f"\n{w}\n"), words)
            rss.append(preview.rss_mb())
    finally:
        preview.close()
    return {"template": template, "title": title, "data": data, "rss": rss}


def _quarto(work: Path, repeat: int) -> list[float] | None:
    quarto = os.environ.get("QUARTO_PATH") or shutil.which("quarto")
    if not quarto:
        return None
    project = _project(work, "quarto")
    env = _env(work / "cache-quarto")
    _cli(project, env, "sources")
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([quarto, "render"], cwd=project, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return times


def _s(x: float) -> str:
    return f"{x:.2f} s" if x >= 0.1 else f"{x * 1000:.0f} ms"


def _cell(values: list[float]) -> str:
    spread = f"min {_s(min(values))}, max {_s(max(values))}, n = {len(values)}"
    return f"{_s(statistics.median(values))} ({spread})"


def report(builds: dict, preview: dict, quarto: list[float] | None, smoke: bool) -> str:
    cold = statistics.median(builds["cold"])
    m = _machine()
    lines = [
        "# Benchmark results: the edit → page loop",
        "",
        f"Written by `python benchmarks/incremental.py{' --smoke' if smoke else ''}` on "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM; Python {m['python']}; "
        f"{m['system']}; refracture commit {m['commit']}.",
        "",
        "Medians of wall-clock times; each ratio is against the cold build of the same "
        f"project measured in the same run ({_s(cold)}).",
        "",
        "| target | limit | measured | vs cold build | met |",
        "|---|---|---|---|---|",
    ]
    rows = [
        ("Template saved → reloaded HTML (preview)", 1.0, preview["template"]),
        ("`refracture.yml` title changed → reloaded HTML (preview)", 1.0, preview["title"]),
        ("One data row changed → reloaded HTML (preview)", 3.0, preview["data"]),
        ("`refracture build` after a template-only edit", 2.5, builds["template"]),
        ("No-op rebuild with a `refracture.yml`", 0.3, builds["noop"]),
    ]
    for label, limit, values in rows:
        med = statistics.median(values)
        met = "yes" if med <= limit else "**no**"
        lines.append(f"| {label} | ≤ {_s(limit)} | {_cell(values)} | {med / cold:.2f}× | {met} |")
    baseline = _cell(builds["cold"])
    lines.append(f"| Cold build of the same project (the baseline) | — | {baseline} | 1.00× | — |")
    if quarto:
        lines.append(
            f"| `quarto render` of the same project | — | {_cell(quarto)} | "
            f"{statistics.median(quarto) / cold:.2f}× | — |"
        )
    else:
        lines.append(
            "| `quarto render` of the same project | — | not measured: Quarto is not "
            "installed on this machine | — | — |"
        )
    rss = preview["rss"]
    first, last = rss[0], rss[-1]
    lines += [
        "",
        f"## Preview memory over {len(rss) - 1} edit cycles",
        "",
        f"Resident size after the first build {first:.0f} MB, after the last cycle "
        f"{last:.0f} MB ({last - first:+.0f} MB), highest {max(rss):.0f} MB.",
        "",
        "| cycle | RSS (MB) |",
        "|---|---|",
    ]
    step = max(1, (len(rss) - 1) // 10)
    for i in range(0, len(rss), step):
        lines.append(f"| {i} | {rss[i]:.0f} |")
    if (len(rss) - 1) % step:
        lines.append(f"| {len(rss) - 1} | {rss[-1]:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="one run each, 5 cycles")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS-incremental.md")
    args = parser.parse_args()
    repeat, cycles = (1, 5) if args.smoke else (args.repeat, args.cycles)
    with tempfile.TemporaryDirectory(prefix="refracture-bench-") as tmp:
        work = Path(tmp)
        builds = bench_builds(work, repeat)
        preview = bench_preview(work, repeat, cycles)
        quarto = _quarto(work, repeat)
    text = report(builds, preview, quarto, args.smoke)
    args.results.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
