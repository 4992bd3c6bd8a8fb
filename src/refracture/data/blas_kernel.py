"""Pin OpenBLAS's CPU kernel so that a calibrated simulation gives the same bytes everywhere.

The calibrated simulator anneals the example cohort towards the published
figures; each step fits a small logistic model, and whether a step is kept can
hang on the last bits of that fit. OpenBLAS picks its kernel by CPU (AVX-512
machines get "SkylakeX"), and the kernels round differently, so the same seed
drew different cohorts on different machines. The shipped example was drawn
with the AVX2 kernel ("Haswell"; "Zen" gives the same bits). :func:`pin` asks
OpenBLAS for that kernel, where the CPU has AVX2 and FMA and the user has not
a kernel set in the environment is replaced for this process only (a machine
may set another to avoid a bug in an old OpenBLAS on its CPU; the AVX2 kernel
is correct on every CPU that has AVX2). It only works before numpy is first
imported, so the command line calls it first; this module imports nothing but
the standard library. Elsewhere (another architecture, a CPU without AVX2)
the cohort is still calibrated but its bytes may differ from the example's.
"""

from __future__ import annotations

import os
import platform
import sys

__all__ = ["KERNEL", "pin"]

KERNEL = "Haswell"


def _cpu_has_avx2_fma() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return {"avx2", "fma"} <= flags
    except OSError:
        return False
    return False


def pin() -> bool:
    """Set ``OPENBLAS_CORETYPE`` to :data:`KERNEL` for this process when it can still
    take effect; True when the kernel is (or was already) pinned."""
    if os.environ.get("OPENBLAS_CORETYPE") == KERNEL:
        return True
    if "numpy" in sys.modules or platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    if not _cpu_has_avx2_fma():
        return False
    os.environ["OPENBLAS_CORETYPE"] = KERNEL
    return True
