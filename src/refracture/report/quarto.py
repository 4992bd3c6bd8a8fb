"""The Quarto command-line tool: find it, check its version, run ``quarto render``.

Quarto is an external program, not a Python dependency. It is found through
``QUARTO_PATH`` (the path of the executable) or else as ``quarto`` on ``PATH``.
Every run is an argument list (never a shell), with a time limit; on timeout the
whole process group is killed, so no pandoc or typst child is left behind.
Every failure is a :class:`~refracture.errors.RenderError` that names the binary.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refracture.errors import ConfigError, RenderError

__all__ = [
    "FORMATS",
    "MIN_VERSION",
    "QuartoBinary",
    "describe",
    "find_quarto",
    "locate",
    "quarto_version",
    "render",
]

MIN_VERSION = (1, 4, 0)
"""The oldest Quarto release supported (typst output and ``-M`` as used here)."""

FORMATS: Mapping[str, str] = {"html": ".html", "typst": ".pdf", "docx": ".docx"}
"""Output formats passed to ``--to``, with the suffix of the file each one writes."""

INSTALL_HINT = (
    "Install Quarto (version {minimum} or newer) from https://quarto.org/docs/get-started/ "
    "and put it on PATH, or set QUARTO_PATH to the quarto executable."
)

STDERR_TAIL_LINES = 40

_VERSION_RE = re.compile(r"^\s*v?(?P<text>(\d+)\.(\d+)\.(\d+)[0-9A-Za-z.+-]*)", re.MULTILINE)


@dataclass(frozen=True)
class QuartoBinary:
    """A Quarto executable whose version was checked."""

    path: Path
    version: tuple[int, int, int]
    version_text: str
    """The version as Quarto prints it, e.g. ``"1.7.32"`` or ``"1.8.0-dev"``."""


def _dotted(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


def describe(binary: QuartoBinary) -> str:
    """One line for logs and ``--version`` output: ``"Quarto 1.7.32 at /usr/bin/quarto"``."""
    return f"Quarto {binary.version_text} at {binary.path}"


def find_quarto(env: Mapping[str, str] | None = None) -> Path | None:
    """The Quarto executable: ``QUARTO_PATH`` if set, else ``quarto`` on ``PATH``.

    ``env`` defaults to ``os.environ``. A set ``QUARTO_PATH`` must name an existing
    executable file (else :class:`RenderError`); it is not silently skipped.
    Returns ``None`` when neither gives a Quarto.
    """
    env = os.environ if env is None else env
    explicit = env.get("QUARTO_PATH", "").strip()
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise RenderError(f"QUARTO_PATH is set to {explicit!r}, but there is no file there.")
        if not os.access(path, os.X_OK):
            raise RenderError(f"QUARTO_PATH is set to {explicit!r}, but it is not executable.")
        return path
    found = shutil.which("quarto", path=env.get("PATH", os.defpath))
    return Path(found) if found else None


def quarto_version(path: Path, timeout: float = 30) -> tuple[tuple[int, int, int], str]:
    """Run ``<path> --version``; return the version as numbers and as printed.

    Tolerates surrounding whitespace, trailing text and pre-release suffixes
    (``"1.8.0-dev"`` is ``(1, 8, 0)``). A failure to run, a non-zero exit, a
    timeout or output without a version is a :class:`RenderError`.
    """
    try:
        done = subprocess.run(
            [str(path), "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RenderError(f"{path} --version did not answer within {timeout:g} s.") from exc
    except OSError as exc:
        raise RenderError(f"Cannot run Quarto at {path}: {exc}") from exc
    if done.returncode != 0:
        raise RenderError(
            f"{path} --version failed (exit code {done.returncode}).{_tail(done.stderr, 5)}"
        )
    match = _VERSION_RE.search(done.stdout)
    if match is None:
        raise RenderError(f"Cannot read a version from {path} --version: {done.stdout.strip()!r}")
    major, minor, patch = (int(match.group(i)) for i in (2, 3, 4))
    return (major, minor, patch), match.group("text")


def locate(env: Mapping[str, str] | None = None, timeout: float = 30) -> QuartoBinary:
    """Find Quarto and check it is at least :data:`MIN_VERSION`; else :class:`RenderError`."""
    minimum = _dotted(MIN_VERSION)
    path = find_quarto(env)
    if path is None:
        raise RenderError("Quarto was not found. " + INSTALL_HINT.format(minimum=minimum))
    version, text = quarto_version(path, timeout=timeout)
    if version < MIN_VERSION:
        raise RenderError(
            f"Quarto {text} at {path} is too old; version {minimum} or newer is needed. "
            + INSTALL_HINT.format(minimum=minimum)
        )
    return QuartoBinary(path=path, version=version, version_text=text)


def render(
    binary: QuartoBinary,
    project: Path,
    document: str,
    fmt: str,
    *,
    metadata: Mapping[str, str] | None = None,
    timeout: float = 600,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Run ``quarto render <document> --to <fmt> [-M key:value ...]`` in ``project``.

    ``document`` is relative to ``project``; ``fmt`` is one of :data:`FORMATS`.
    The process gets ``os.environ`` updated with ``env``. Returns the written file,
    ``<document stem><suffix>`` beside the document. A stale copy of that file is
    removed first, so a run that writes nothing cannot pass off an old output.

    Raises :class:`ConfigError` for an unknown format or a bad metadata key, and
    :class:`RenderError` when Quarto cannot start, exits non-zero (with the tail of
    its stderr), runs past ``timeout`` seconds (its process group is killed), or
    exits 0 without writing the output.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}.")
    args = [str(binary.path), "render", document, "--to", fmt]
    for key, value in (metadata or {}).items():
        if not key or ":" in key:
            raise ConfigError(f"Invalid Quarto metadata key {key!r} (empty or contains ':').")
        args += ["-M", f"{key}:{value}"]

    if not project.is_dir():
        raise RenderError(f"Cannot render with {binary.path}: no project folder {project}.")
    source = project / document
    output = source.parent / (Path(document).stem + FORMATS[fmt])
    if output == source:
        raise ConfigError(f"Document {document!r} would be overwritten by its own {fmt} output.")
    output.unlink(missing_ok=True)

    what = f"Quarto ({binary.path}) rendering {document} to {fmt}"
    returncode, stderr = _run(args, cwd=project, env={**os.environ, **(env or {})}, timeout=timeout)
    if returncode is None:
        raise RenderError(f"{what} timed out after {timeout:g} s and was stopped.{_tail(stderr)}")
    if returncode != 0:
        raise RenderError(f"{what} failed (exit code {returncode}).{_tail(stderr)}")
    if not output.is_file():
        raise RenderError(
            f"Quarto ({binary.path}) exited 0 but wrote no {output} "
            f"(rendering {document} to {fmt})."
        )
    return output


def _run(
    args: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float
) -> tuple[int | None, str]:
    """Run ``args`` in its own process group; (exit code or None on timeout, stderr)."""
    try:
        proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
            **_new_group(),
        )
    except OSError as exc:
        raise RenderError(f"Cannot run Quarto at {args[0]}: {exc}") from exc
    with proc:
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            try:  # collect what was written before the kill
                _, stderr = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                stderr = ""
            return None, stderr
        except BaseException:  # e.g. KeyboardInterrupt: leave no renderer running
            _kill_group(proc)
            raise
    return proc.returncode, stderr


def _new_group() -> dict[str, Any]:
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` and everything it started (its session's process group)."""
    if os.name == "nt":
        subprocess.run(
            ["taskkill", "/F", "/T", "/PID", str(proc.pid)],
            capture_output=True,
            check=False,
        )
    else:
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(proc.pid, signal.SIGKILL)
    proc.kill()  # in case the group kill did not reach it


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text`` as an indented block to append to a message."""
    kept = text.rstrip().splitlines()[-lines:]
    if not kept:
        return ""
    return "\nLast lines of its output:\n" + "\n".join("  " + line for line in kept)
