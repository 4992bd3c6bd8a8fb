"""Property: any small valid cohort gives a manuscript, with no NaN in its text.

Random valid cohorts (``tests/data/cohorts.py``) of one to five patients are
validated, derived and analysed, and both documents are written from the
templates. Such cohorts hit every edge at once: no or only events, empty groups,
a single patient per procedure, separation, constant or missing T-scores. The
build must not fail and no number may print as "nan", "inf" or "None".
"""

from __future__ import annotations

import dataclasses
import re

from hypothesis import HealthCheck, Phase, given, settings

from refracture.analysis.results import run_analyses
from refracture.analysis.settings import AnalysisSettings
from refracture.data.derive import derive
from refracture.data.validate import validate
from refracture.report.context import build_context
from refracture.report.render import render_documents
from refracture.report.sources import software_versions
from tests.data.cohorts import Tables, cohorts, raw_of

# few bootstrap replicates: the property is about edge cases, not precision
FAST_ANALYSES = dataclasses.replace(AnalysisSettings(), bootstrap_replicates=50)
SOFTWARE = software_versions("no renderer")
NOT_A_NUMBER = re.compile(r"\b(nan|NaN|NAN|inf|Inf|INF|Infinity|None)\b")


@settings(
    max_examples=15,
    deadline=None,
    # an example takes seconds to analyse: report a failing cohort as drawn, unshrunk
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tables=cohorts(max_patients=5))
def test_random_small_cohorts_give_a_manuscript_without_nan(tables: Tables) -> None:
    report = validate(raw_of(tables))
    assert report.ok, report.render()
    cohort = report.cohort
    assert cohort is not None
    results = run_analyses(derive(cohort.patients, cohort.levels), FAST_ANALYSES)
    results.to_json()  # serialisable: no NaN or infinity reaches results.json
    documents = render_documents(build_context(results, software=SOFTWARE))
    for name, text in documents.items():
        hits = [text[max(0, m.start() - 60) : m.end() + 20] for m in NOT_A_NUMBER.finditer(text)]
        assert not hits, f"{name}: {hits}"
