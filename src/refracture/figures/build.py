"""Draw every figure of the paper from the results into a folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from refracture.figures import plots
from refracture.figures.style import journal_style, save

if TYPE_CHECKING:
    from refracture.analysis.results import Results

__all__ = ["FIGURES", "draw_all"]

FIGURES: dict[str, str] = {
    "threshold_forest": "Odds ratio of a subsequent fracture at a level for T ≤ cutoff",
    "model_forest": "Univariable and multivariable odds ratios of refracture",
    "roc": "ROC curve of the level-specific T-score",
    "kaplan_meier": "Refracture-free survival, overall and by T-score group",
    "tscore_levels": "Level-specific T-scores of fractured and nonfractured levels",
    "predictive_values": "Sensitivity, specificity, PPV and NPV by cutoff",
}
"""File stem → what the figure shows (captions are written by the manuscript)."""


def draw_all(results: Results, folder: Path) -> list[Path]:
    """Draw each figure in the journal style and save it as PNG, PDF and SVG."""
    folder.mkdir(parents=True, exist_ok=True)
    first = results["thresholds"].meta.get("first_significant_cutoff")
    makers = {
        "threshold_forest": lambda: plots.threshold_forest(results["thresholds"]),
        # Firth estimates are drawn beside the ML ones when separation made them primary
        "model_forest": lambda: plots.model_forest(
            results["univariable"],
            results["multivariable"],
            firth=results["firth"]
            if results["multivariable"].meta.get("primary") == "firth"
            else None,
        ),
        "roc": lambda: plots.roc_plot(results["roc"]),
        "kaplan_meier": lambda: plots.km_plot(results["survival"]),
        "tscore_levels": lambda: plots.tscore_plot(results["level_tscore"], cutoff=first),
        "predictive_values": lambda: plots.predictive_values_plot(results["thresholds"]),
    }
    paths: list[Path] = []
    import matplotlib

    matplotlib.use("Agg")
    for stem, make in makers.items():
        with journal_style():
            ax = make()
            paths += save(ax.figure, folder / stem)
    return paths
