"""ROC analysis of the level-specific T-score for a level's subsequent fracture.

Score: ``−tscore`` (a lower T-score means a higher risk), so the AUC is the
probability that a fractured level has a *lower* T-score than a non-fractured one
(ties count one half). Thresholds are read as "T ≤ t" on the T-score scale.

* AUC with the DeLong 95 % CI, by the fast algorithm of Sun & Xu (2014, IEEE Signal
  Process Lett 21:1389) with midranks: for positives X (m) and negatives Y (n),
  V10_i = (Tz_i − Tx_i)/n, V01_j = 1 − (Tz_j − Ty_j)/m, Var(AUC) = S10/m + S01/n.
* Youden-optimal cutoff: maximise sens + spec − 1 over the observed T-scores t.
* Patient-clustered bootstrap (:func:`bootstrap_roc`) for percentile CIs of the
  AUC and the Youden cutoff, vectorised over replicates via weighted counts.

T-scores are compared as exact decimals (see
:func:`refracture.analysis.thresholds.scaled_integers`), so float artefacts
never split a tie.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from refracture.analysis.result import Result
from refracture.analysis.settings import AnalysisSettings
from refracture.analysis.thresholds import MAX_DECIMALS, scaled_integers
from refracture.data.derive import DerivedData

if TYPE_CHECKING:
    from refracture.common.parallel import Executor

__all__ = [
    "BOOTSTRAP_BLOCK",
    "BOOTSTRAP_CHUNK",
    "BOOTSTRAP_MEMORY_ELEMENTS",
    "block_rng",
    "bootstrap_chunks",
    "bootstrap_roc",
    "bootstrap_roc_chunked",
    "delong",
    "roc_analysis",
    "roc_curve_points",
    "youden_from_counts",
]

BOOTSTRAP_MEMORY_ELEMENTS = 1 << 24
"""Replicates are processed in batches of at most this many matrix cells."""

BOOTSTRAP_BLOCK = 64
"""Replicates per seeded generator (part of the seeding scheme: never change it)."""

BOOTSTRAP_CHUNK = 4 * BOOTSTRAP_BLOCK
"""Replicates per piece of work when an executor spreads the bootstrap (a multiple of
:data:`BOOTSTRAP_BLOCK`, so no piece re-draws the start of a block; the results do
not depend on it)."""

BOOTSTRAP_PER_REPLICATE_PATIENTS = 4096
"""From this many patients on, each replicate's counts are one sparse product."""


# ---------------------------------------------------------------------------
# AUC and DeLong variance
# ---------------------------------------------------------------------------


def delong(score: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """AUC of ``score`` (higher = positive) and its DeLong variance (Sun & Xu 2014).

    Returns ``(auc, variance)``; ``variance`` is NaN when a class has fewer than two
    members and the AUC is NaN when a class is empty.
    """
    from scipy.stats import rankdata

    score = np.asarray(score)
    positive = np.asarray(positive, dtype=bool)
    x = score[positive]
    y = score[~positive]
    m, n = x.size, y.size
    if m == 0 or n == 0:
        return math.nan, math.nan
    tz = rankdata(np.concatenate([x, y]), method="average")
    tx = rankdata(x, method="average")
    ty = rankdata(y, method="average")
    auc = float((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
    if m < 2 or n < 2:
        return auc, math.nan
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    variance = float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)
    return auc, variance


# ---------------------------------------------------------------------------
# weighted counts → AUC and Youden (shared by the point estimate and the bootstrap)
# ---------------------------------------------------------------------------


def youden_from_counts(
    pos: np.ndarray, neg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """AUC and Youden index from integer counts per unique T-score (ascending).

    ``pos``/``neg`` have shape ``(..., U)``: the (weighted) number of fractured /
    non-fractured levels at each sorted unique T-score. The threshold "T ≤ u_k"
    has sens = cumpos_k / P and 1 − spec = cumneg_k / N. Returns ``(auc, index,
    j, sens, spec)`` along the leading axes; ``index`` is the position of the
    Youden-optimal u_k among the values with a positive count (−1, with NaN
    j/sens/spec, when no threshold has J > 0 or a class is empty). J is compared
    in exact integer arithmetic (J·P·N = cumpos·N − cumneg·P); ties go to the
    highest T-score.
    """
    pos = np.asarray(pos, dtype="int64")
    neg = np.asarray(neg, dtype="int64")
    cp = np.cumsum(pos, axis=-1)
    cn = np.cumsum(neg, axis=-1)
    p_tot = cp[..., -1:]
    n_tot = cn[..., -1:]
    valid = (p_tot[..., 0] > 0) & (n_tot[..., 0] > 0)
    # pairs won by the positive: T_pos < T_neg, i.e. negatives above u_k; ties count 1/2
    wins = (pos * (n_tot - cn)).sum(axis=-1) + 0.5 * (pos * neg).sum(axis=-1)
    denom = (p_tot * n_tot)[..., 0].astype("float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = np.where(valid, wins / denom, np.nan)
    numer = cp * n_tot - cn * p_tot  # J · P · N, exact
    # only T-scores present (weight > 0) are candidate cutoffs: in a bootstrap replicate
    # an absent value would tie with the next lower present one
    numer = np.where((pos + neg) > 0, numer, np.iinfo(np.int64).min)
    last = numer.shape[-1] - 1
    idx = last - np.argmax(numer[..., ::-1], axis=-1)  # highest T among ties
    best = np.take_along_axis(numer, idx[..., None], axis=-1)[..., 0]
    ok = valid & (best > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.where(ok, best / denom, np.nan)
        sens = np.where(
            ok, np.take_along_axis(cp, idx[..., None], -1)[..., 0] / p_tot[..., 0], np.nan
        )
        spec = np.where(
            ok, 1 - np.take_along_axis(cn, idx[..., None], -1)[..., 0] / n_tot[..., 0], np.nan
        )
    return auc, np.where(ok, idx, -1), j, sens, spec


def _unique_values(tscore: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, bool]:
    ints, k, rounded = scaled_integers(tscore)
    uniq, inverse = np.unique(ints, return_inverse=True)
    return uniq, inverse.reshape(-1), k, rounded


def _decimal_text(value: int, k: int) -> str:
    s = format(Decimal(int(value)).scaleb(-k), "f")
    return s[1:] if s.startswith("-") and Decimal(s) == 0 else s


def roc_curve_points(
    tscore: np.ndarray, fractured: np.ndarray
) -> tuple[list[float], list[float], list[float | None]]:
    """ROC curve of −T: ``(fpr, tpr, thresholds)``; point k means "T ≤ thresholds[k]".

    The first point is the origin (threshold ``None``: nothing called positive);
    the thresholds are the sorted unique T-scores (ascending), so the curve runs
    from (0, 0) to (1, 1).
    """
    y = np.asarray(fractured, dtype=bool)
    uniq, inv, k, _ = _unique_values(tscore)
    pos = np.bincount(inv[y], minlength=uniq.size)
    neg = np.bincount(inv[~y], minlength=uniq.size)
    p_tot, n_tot = int(pos.sum()), int(neg.sum())
    if p_tot == 0 or n_tot == 0:
        return [], [], []
    tpr = [0.0, *(np.cumsum(pos) / p_tot).tolist()]
    fpr = [0.0, *(np.cumsum(neg) / n_tot).tolist()]
    thresholds: list[float | None] = [None, *[round(float(u) / 10**k, k) for u in uniq]]
    return fpr, tpr, thresholds


# ---------------------------------------------------------------------------
# patient-clustered bootstrap
# ---------------------------------------------------------------------------


def block_rng(seed: int, block: int) -> np.random.Generator:
    """The generator of bootstrap block ``block`` (replicates ``block·B … block·B + B − 1``).

    ``default_rng(SeedSequence(seed, spawn_key=(block,)))`` — the same stream as
    ``SeedSequence(seed).spawn(block + 1)[block]``; B = :data:`BOOTSTRAP_BLOCK`.
    """
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(block),)))


def _patient_draws(seed: int, start: int, stop: int, n_pat: int) -> Iterator[np.ndarray]:
    """Patient indices drawn with replacement for replicates ``start … stop − 1``.

    Replicate r is the (r mod B + 1)-th call ``integers(0, n_pat, size=n_pat)`` on
    :func:`block_rng` ``(seed, r // B)``: it depends on ``(seed, r)`` only, so any
    split into chunks reproduces the same replicates (a chunk starting inside a
    block first skips that block's earlier rows).
    """
    block = -1
    gen = None
    for r in range(start, stop):
        b, i = divmod(r, BOOTSTRAP_BLOCK)
        if b != block:
            gen, block = block_rng(seed, b), b
            for _ in range(i):
                gen.integers(0, n_pat, size=n_pat)
        assert gen is not None
        yield gen.integers(0, n_pat, size=n_pat)


def bootstrap_roc(
    tscore: np.ndarray,
    fractured: np.ndarray,
    patient_codes: np.ndarray,
    replicates: int,
    seed: int,
    chunk: tuple[int, int] | range | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Patient-clustered bootstrap of the AUC and the Youden-optimal cutoff.

    Each replicate draws as many patients as there are (with replacement; seeding
    in :func:`_patient_draws`: replicate r depends on ``(seed, r)`` only) and
    gives every level its patient's multiplicity as a weight; the AUC (weighted
    Mann–Whitney) and the Youden cutoff then follow from weighted counts per
    unique T-score for all replicates of a batch at once.

    ``chunk = (start, stop)`` computes replicates ``start … stop − 1`` of
    ``replicates`` only (``None``: all); concatenating the chunks of any split
    gives exactly the arrays of one full run. Returns ``(auc, youden_cutoff)``,
    one entry per replicate (NaN where a replicate lacks a class, or — for the
    cutoff — where no threshold has a Youden index above 0).
    """
    from scipy.sparse import csr_array

    if chunk is None:
        start, stop = 0, int(replicates)
    elif isinstance(chunk, range):
        if chunk.step != 1:
            raise ValueError("a chunk range must have step 1")
        start, stop = chunk.start, chunk.stop
    else:
        start, stop = (int(v) for v in chunk)
    if not 0 <= start <= stop <= replicates:
        raise ValueError(f"chunk {chunk!r} is not within 0…{replicates}")
    count = stop - start
    auc_out = np.full(count, np.nan)
    cut_out = np.full(count, np.nan)
    tscore = np.asarray(tscore, dtype="float64")
    if count == 0 or tscore.size == 0:
        return auc_out, cut_out
    y = np.asarray(fractured, dtype=bool)
    uniq, inv, k, _ = _unique_values(tscore)
    _, patient = np.unique(np.asarray(patient_codes), return_inverse=True)
    patient = patient.reshape(-1)
    n_pat, n_val = int(patient.max()) + 1, uniq.size
    ones = np.ones(int(y.sum()), dtype="int64")
    m_pos = csr_array((ones, (patient[y], inv[y])), shape=(n_pat, n_val))
    ones = np.ones(int((~y).sum()), dtype="int64")
    m_neg = csr_array((ones, (patient[~y], inv[~y])), shape=(n_pat, n_val))
    m_pos_t, m_neg_t = m_pos.T, m_neg.T  # CSC: fast against the F-ordered weights.T
    values = uniq.astype("float64") / 10**k
    batch = max(1, min(count, BOOTSTRAP_MEMORY_ELEMENTS // max(n_pat, n_val)))
    # Many patients: one sparse product per replicate on its contiguous weight
    # vector, positives and negatives stacked (multiplying a whole batch would
    # first copy the batch's weights into the other memory order). The counts
    # are integers either way, so both routes give the same arrays.
    per_replicate = n_pat > BOOTSTRAP_PER_REPLICATE_PATIENTS
    if per_replicate:
        m_both = csr_array(
            (
                np.ones(y.size, dtype="int64"),
                (np.where(y, inv, inv + n_val), patient),
            ),
            shape=(2 * n_val, n_pat),
        )
    draws = _patient_draws(seed, start, stop, n_pat)
    for lo in range(0, count, batch):
        hi = min(count, lo + batch)
        if per_replicate:
            pos = np.empty((hi - lo, n_val), dtype="int64")
            neg = np.empty((hi - lo, n_val), dtype="int64")
            for i in range(hi - lo):
                both = m_both @ np.bincount(next(draws), minlength=n_pat)
                pos[i], neg[i] = both[:n_val], both[n_val:]
        else:
            weights = np.empty((hi - lo, n_pat), dtype="int64")
            for i in range(hi - lo):
                weights[i] = np.bincount(next(draws), minlength=n_pat)
            pos = (m_pos_t @ weights.T).T
            neg = (m_neg_t @ weights.T).T
        auc, idx, _, _, _ = youden_from_counts(pos, neg)
        auc_out[lo:hi] = auc
        cut_out[lo:hi] = np.where(idx >= 0, values[np.maximum(idx, 0)], np.nan)
    return auc_out, cut_out


def bootstrap_chunks(replicates: int, size: int = BOOTSTRAP_CHUNK) -> list[tuple[int, int]]:
    """``(start, stop)`` pieces of ``size`` replicates covering ``0 … replicates − 1``."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, not {size}")
    return [(lo, min(lo + size, replicates)) for lo in range(0, replicates, size)]


def bootstrap_roc_chunked(
    tscore: np.ndarray,
    fractured: np.ndarray,
    patient_codes: np.ndarray,
    replicates: int,
    seed: int,
    executor: Executor | None = None,
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`bootstrap_roc` with its replicates spread over ``executor`` in chunks.

    ``executor`` defaults to :func:`refracture.build.executor.current_executor`. In this
    process the bootstrap is one call, as before; elsewhere the chunks of
    :func:`bootstrap_chunks` are mapped over the workers and concatenated in
    order. Either way the arrays are exactly those of one full run. The default
    ``chunk_size`` is :data:`BOOTSTRAP_CHUNK`, or on a pool of N local processes
    one N-th of the replicates (rounded up to whole blocks): every chunk carries
    the level arrays and builds its own count matrices, so fewer chunks cost less.
    """
    from refracture.common.parallel import current_executor

    executor = (executor or current_executor()).for_work(
        float(replicates) * np.asarray(tscore).size
    )
    if chunk_size is None:
        chunk_size = BOOTSTRAP_CHUNK
        workers = getattr(executor, "workers", None)
        if isinstance(workers, int) and workers > 0:
            blocks = -(-replicates // (workers * BOOTSTRAP_BLOCK))
            chunk_size = max(chunk_size, blocks * BOOTSTRAP_BLOCK)
    if executor.in_process or replicates <= chunk_size:
        return bootstrap_roc(tscore, fractured, patient_codes, replicates, seed)
    common = (
        np.asarray(tscore, dtype="float64"),
        np.asarray(fractured, dtype=bool),
        np.asarray(patient_codes),
        int(replicates),
        int(seed),
    )
    parts = executor.map(bootstrap_roc, bootstrap_chunks(replicates, chunk_size), common=common)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# ---------------------------------------------------------------------------
# the analysis
# ---------------------------------------------------------------------------


def _percentile_ci(x: np.ndarray, alpha: float) -> tuple[float, float, int]:
    x = x[np.isfinite(x)]
    if x.size < 2:
        return math.nan, math.nan, int(x.size)
    lo, hi = np.quantile(x, [alpha / 2, 1 - alpha / 2], method="linear")
    return float(lo), float(hi), int(x.size)


_DEFAULT_SETTINGS = AnalysisSettings()


class PendingBootstrap:
    """A bootstrap running on worker processes while this process goes on."""

    def __init__(self, run) -> None:
        import threading

        self._box: dict[str, object] = {}

        def target() -> None:
            try:
                self._box["value"] = run()
            except BaseException as exc:  # raised again by result()
                self._box["error"] = exc

        # the thread only hands chunks to the workers and waits (no GIL held)
        self._thread = threading.Thread(target=target, name="bootstrap", daemon=True)
        self._thread.start()

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        self._thread.join()
        if "error" in self._box:
            raise self._box["error"]  # type: ignore[misc]
        return self._box["value"]  # type: ignore[return-value]


def start_bootstrap(
    data: DerivedData, settings: AnalysisSettings, executor: Executor | None = None
) -> PendingBootstrap | None:
    """Start the ROC bootstrap now if it goes to other processes (a registry-size
    job on the default executor, or ``--workers``/Dask), so that it runs while
    this process computes the other analyses; ``None`` when it would run here
    (then :func:`roc_analysis` computes it as usual). Same arrays either way."""
    from refracture.analysis.thresholds import level_arrays
    from refracture.common.parallel import current_executor

    replicates = int(settings.bootstrap_replicates)
    tscore, y, patients, _ = level_arrays(data)
    if replicates <= 0 or tscore.size == 0 or y.all() or not y.any():
        return None
    executor = (executor or current_executor()).for_work(float(replicates) * tscore.size)
    if executor.in_process:
        return None
    codes, _ = pd.factorize(patients)
    seed = settings.seed
    return PendingBootstrap(
        lambda: bootstrap_roc_chunked(tscore, y, codes, replicates, seed, executor)
    )


def roc_analysis(
    data: DerivedData,
    settings: AnalysisSettings = _DEFAULT_SETTINGS,
    executor: Executor | None = None,
    bootstrap: PendingBootstrap | None = None,
) -> Result:
    """AUC (DeLong CI, bootstrap CI) and Youden-optimal cutoff of the level T-score.

    Rows: ``auc`` (estimate, DeLong ``ci_low``/``ci_high``, ``p`` for H0 AUC = 0.5,
    ``se``, ``ci_boot_low``/``ci_boot_high``) and ``youden_cutoff`` (the cutoff t
    of "T ≤ t" on the T-score scale; ``ci_low``/``ci_high`` = ``ci_boot_low``/
    ``ci_boot_high`` = patient-bootstrap percentile CI; ``sens``, ``spec``,
    ``youden_j``, ``cutoff_text``). Both rows also carry ``n_events``,
    ``n_patients`` and ``n_boot`` (replicates with an estimate). ``n`` = levels.
    The ROC curve is in ``meta`` as lists ``roc_fpr``, ``roc_tpr``,
    ``roc_thresholds``.

    The bootstrap runs on ``executor`` (default: the current one, see
    :func:`bootstrap_roc_chunked`); the result does not depend on which.
    """
    from scipy.stats import norm

    alpha = settings.alpha
    z = float(norm.ppf(1 - alpha / 2))
    from refracture.analysis.thresholds import level_arrays

    tscore, y, patients, notes = level_arrays(data)
    codes, _ = pd.factorize(patients)
    n = int(tscore.size)
    m_pos = int(y.sum())
    n_neg = n - m_pos
    n_patients = int(codes.max()) + 1 if n else 0

    auc = se = ci_lo = ci_hi = p = math.nan
    cutoff = sens = spec = j = math.nan
    cutoff_text: str | None = None
    boot_auc = boot_cut = np.empty(0)
    replicates = int(settings.bootstrap_replicates)
    k = 0
    fpr: list[float] = []
    tpr: list[float] = []
    thr: list[float | None] = []

    if n == 0:
        notes.append("The level-specific analysis set is empty; the ROC analysis is not estimable.")
    elif m_pos == 0 or n_neg == 0:
        which = "no level had" if m_pos == 0 else "every level had"
        notes.append(f"AUC not estimable: {which} a subsequent fracture (both classes are needed).")
    else:
        ints, k, rounded = scaled_integers(tscore)
        if rounded:
            notes.append(f"T-scores were rounded to {MAX_DECIMALS} decimals before ranking.")
        auc, var = delong(-ints, y)
        if math.isnan(var):
            notes.append(
                "DeLong variance needs at least two fractured and two non-fractured levels; "
                "the DeLong CI and P are not estimable."
            )
        elif var <= 0:
            notes.append(
                "DeLong variance is zero (complete separation or a constant T-score); "
                "the DeLong CI and P are not estimable."
            )
        else:
            se = math.sqrt(var)
            ci_lo, ci_hi = max(0.0, auc - z * se), min(1.0, auc + z * se)
            p = float(2 * norm.sf(abs(auc - 0.5) / se))
        uniq, inv, _, _ = _unique_values(tscore)
        pos = np.bincount(inv[y], minlength=uniq.size)
        neg = np.bincount(inv[~y], minlength=uniq.size)
        _, idx, jj, ss, sp = youden_from_counts(pos, neg)
        if uniq.size == 1:
            notes.append("The T-score is constant: no discrimination (AUC 0.5 by ties).")
        if int(idx) >= 0:
            cutoff = float(uniq[int(idx)]) / 10**k
            cutoff_text = _decimal_text(int(uniq[int(idx)]), k)
            sens, spec, j = float(ss), float(sp), float(jj)
        else:
            notes.append("No cutoff has a Youden index above 0; the Youden cutoff is not defined.")
        fpr, tpr, thr = roc_curve_points(tscore, y)
        if bootstrap is not None:  # started earlier by start_bootstrap, same inputs
            boot_auc, boot_cut = bootstrap.result()
        elif replicates > 0:
            boot_auc, boot_cut = bootstrap_roc_chunked(
                tscore, y, codes, replicates, settings.seed, executor
            )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        b_auc_lo, b_auc_hi, n_boot_auc = _percentile_ci(boot_auc, alpha)
        b_cut_lo, b_cut_hi, n_boot_cut = _percentile_ci(boot_cut, alpha)
    if boot_auc.size and n_boot_auc < boot_auc.size:
        notes.append(
            f"{boot_auc.size - n_boot_auc} of {boot_auc.size} bootstrap replicates lacked "
            "fractured or non-fractured levels and gave no AUC."
        )
    if boot_cut.size and n_boot_cut < boot_cut.size:
        notes.append(
            f"{boot_cut.size - n_boot_cut} of {boot_cut.size} bootstrap replicates had no "
            "Youden-optimal cutoff (no class or no threshold with J > 0)."
        )
    if boot_auc.size and (n_boot_auc < 2 or n_boot_cut < 2):
        notes.append("Too few usable bootstrap replicates for a percentile CI.")
    if n and m_pos and n_neg and replicates <= 0:
        notes.append("Bootstrap skipped (0 replicates); no bootstrap CIs.")

    common = {"n": n, "n_events": m_pos, "n_patients": n_patients}
    table = pd.DataFrame(
        [
            {
                "term": "auc",
                "estimate": auc,
                "ci_low": ci_lo,
                "ci_high": ci_hi,
                "p": p,
                **common,
                "se": se,
                "ci_boot_low": b_auc_lo,
                "ci_boot_high": b_auc_hi,
                "n_boot": n_boot_auc,
                "sens": math.nan,
                "spec": math.nan,
                "youden_j": math.nan,
                "cutoff_text": None,
            },
            {
                "term": "youden_cutoff",
                "estimate": cutoff,
                "ci_low": b_cut_lo,
                "ci_high": b_cut_hi,
                "p": math.nan,
                **common,
                "se": math.nan,
                "ci_boot_low": b_cut_lo,
                "ci_boot_high": b_cut_hi,
                "n_boot": n_boot_cut,
                "sens": sens,
                "spec": spec,
                "youden_j": j,
                "cutoff_text": cutoff_text,
            },
        ]
    )
    meta: dict[str, object] = {
        "unit": "level (untreated, with a T-score)",
        "outcome": "subsequent_fracture",
        "score": "−tscore (a lower T-score means a higher risk; AUC = P(T fractured < T other))",
        "ties": "count one half (midranks)",
        "alpha": alpha,
        "ci_level": 1 - alpha,
        "auc_ci_method": (
            "DeLong, fast algorithm of Sun & Xu (2014) with midranks; "
            "AUC ± z·SE truncated to [0, 1]"
        ),
        "auc_p_method": "two-sided z test of AUC = 0.5 with the DeLong SE",
        "youden_rule": (
            "maximise sens + spec − 1 over thresholds 'T ≤ t', t an observed T-score; "
            "ties to the highest t; undefined when no J > 0"
        ),
        "bootstrap": "patient-clustered (patients resampled with replacement)",
        "bootstrap_replicates": replicates,
        "bootstrap_seed": int(settings.seed),
        "bootstrap_seeding": (
            f"replicate r is the (r mod {BOOTSTRAP_BLOCK} + 1)-th draw "
            "integers(0, P, size=P) of numpy default_rng(SeedSequence(seed, "
            f"spawn_key=(r // {BOOTSTRAP_BLOCK},))); it depends on (seed, r) only, "
            "so any split into chunks gives identical replicates"
        ),
        "bootstrap_ci": "percentile, numpy quantile method 'linear'",
        "decimals_compared": k,
        "roc_curve": (
            "meta lists roc_fpr, roc_tpr, roc_thresholds: point i is 'T ≤ roc_thresholds[i]'; "
            "the first point is the origin (threshold null)"
        ),
        "roc_fpr": fpr,
        "roc_tpr": tpr,
        "roc_thresholds": thr,
    }
    return Result("roc", table, notes=tuple(notes), meta=meta)
