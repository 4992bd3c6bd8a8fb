"""``refracture init DIR``: a study project whose words and references are the authors'.

The project holds ``refracture.yml`` (commented, pointing at ``data/``, the
project's ``templates/`` and ``references.bib``), ``data/`` with a short README,
``templates/`` with a copy of every shipped template (each file overrides the
shipped one of the same relative path, so deleting a copy brings the shipped
text back for that part), ``references.bib``, a ``.gitignore`` for the build
folders and a README saying how to build and edit. ``--example`` copies the
example cohort into ``data/`` (and marks the title page synthetic), so the
project builds at once.

A folder that exists and is not empty is refused: ``init`` never writes into a
folder of the user's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from refracture.errors import OutputError

__all__ = ["init_project"]

_CONFIG = """\
# refracture configuration of this study (see the README beside it).
#
# Every key is optional: a key left out keeps refracture's default. Relative paths
# resolve against the folder of this file. Override a key for one run with --set:
#   refracture build --set analysis.alpha=0.01
# The full list of keys, with their defaults, is refracture.yml in refracture's
# repository.

data:
  # Folder with patients.csv and levels.csv (or the .parquet pair), or one Excel
  # workbook with sheets "patients" and "levels". See data/README.md.
  path: data

manuscript:
  title: "{title}"
  running_title: "{running_title}"
  # In order of authorship; one author has corresponding: true.
  authors:
    - name: "First Author"
      affiliations:
        - "Department, Institution"
      email: "first.author@example.org"
      corresponding: true
  # Printed in the abstract and methods: "... at {{setting}} ({{study_period}})".
  study_period: "the study period"
  setting: "the study institution"
  # true only for simulated data: the title page then says so.
  synthetic: {synthetic}
  funding: "No funding was received for this study."
  conflicts: "The authors declare no conflicts of interest."
  # Your words: each file in this folder replaces the shipped template of the
  # same path. Delete a file to go back to the shipped text for that part.
  templates: templates
  # Your references, cited as [@key] in the templates.
  bibliography: references.bib
  # The journal of `refracture submit`: its profile sets the limits checked and the
  # figure files made (generic, spine, or your own as templates/journals/NAME.yml).
  journal: generic

output:
  # The build folder: replaced whole by each build, never anything else.
  out: _manuscript
"""

_DATA_README = """\
# The study data

Put the two tables of the study here:

- `patients.csv`: one row per patient (`patient_id`, `age`, `sex`, `procedure`,
  `followup_months`, optional `bmi`, `steroid_use`, `osteoporosis_treatment`).
- `levels.csv`: one row per vertebral level of each patient (`patient_id`,
  `level`, `treated`, `subsequent_fracture`, `months_to_fracture`, optional
  `tscore`, `anterior_height_loss_pct`, `cement_volume_ml`, `cement_leakage`).

`patients.parquet` and `levels.parquet`, or one Excel workbook with sheets
`patients` and `levels`, work too. Every column, its type and its rules are in
the data dictionary (`docs/data-dictionary.md` in refracture's repository).
Check the tables with `refracture validate data`: it lists every problem at once,
with its file, row, column and value.

Patient identifiers are read but never written to any output; use pseudonymous
study ids.
"""

_GITIGNORE = """\
# refracture's build and submission folders, their staging folders and locks
_manuscript/
_manuscript-*/
_submission/
.*.building-*/
.*.previous/
.*.lock
# the Quarto sources written by refracture sources, and Quarto's own files
# (your own files in report/ are yours to commit)
/report/manuscript.*
/report/supplementary.*
/report/*_files/
/report/assets/
/report/.refracture-sources.json
/figures/
/_quarto.yml
.quarto/
"""

_README = """\
# {title}

A study paper written with refracture: the numbers, tables and figures come from
the data in `data/`, the words from `templates/`.

## Build

    refracture validate data     # every problem of the data at once
    refracture build             # the paper into _manuscript/

`_manuscript/` then holds `manuscript.html`, `.pdf` and `.docx`, the supplement,
the figures and every result (`results.json`, `tables/`). Open
`_manuscript/manuscript.html` in a browser to read the paper; a build whose
inputs did not change is a no-op, so rebuild as often as you like.

    refracture preview           # the paper in your browser, rebuilt as you save

keeps the paper open in your browser while you write: each saved template, data
or configuration file rebuilds it and the page reloads; an error shows above the
last good paper until you fix it. Ctrl-C stops it, after building PDF and DOCX.

With Quarto installed, `refracture sources` writes the paper's Quarto project
here (`report/`, `figures/`, `_quarto.yml`) without rendering it; then
`quarto preview` or `quarto render` in this folder work as in any Quarto project.

## Submit

    refracture submit --journal spine   # the submission into _submission/

`_submission/` holds what a journal's submission system takes (manuscript,
figures as separate files, supplement, the STROBE checklist with the page of each
item, a draft cover letter) and one zip of them, with `submission-check.md`: the
counts and files against the journal's limits. The journal's profile is
`refracture.yml`'s `manuscript.journal` (or `--journal`); put your own as
`templates/journals/NAME.yml`. A paragraph of your templates that reports a
STROBE item says so with a comment in it, e.g. `<!-- strobe: 12c -->`.

## Edit

- Your words are in `templates/partials/` (`introduction.md.j2`,
  `discussion.md.j2`, `methods.md.j2`, `results.md.j2`, `abstract.md.j2`,
  `key_points.md.j2`, `declarations.md.j2`, the figure legends in
  `figures.md.j2`) and the title page and the supplement's framing text in
  `templates/manuscript.qmd.j2` and `templates/supplementary.qmd.j2`.
- Write one sentence per line. A number from the results is written as a
  value, e.g. `{{{{ cohort.refracture.n }}}}`, never typed: it changes when the
  data change. `refracture context` lists every value you can use, with its
  meaning and its value on your data.
- Cite with `[@key]`, the key of an entry in `references.bib`.
- Delete a file of `templates/` to go back to refracture's text for that part.
- `refracture lint` checks your templates: a typed result number or an unknown
  value is reported with its file and line (the build refuses them too).
- Title, authors, the analysis settings and the build folder are set in
  `refracture.yml`.
"""


def _refuse(target: Path) -> None:
    if target.is_symlink() and not target.exists():
        raise OutputError(f"{target} is a symbolic link to nothing; choose another folder.")
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target} is a file; choose a new or empty folder for the project.")
    if target.is_dir():
        names = sorted(p.name for p in target.iterdir())
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            raise OutputError(
                f"{target} is not empty (it holds {shown}); refracture init writes only into "
                "a new or empty folder. Choose another folder."
            )


def init_project(target: Path, *, example: bool = False) -> list[Path]:
    """Create the study project ``target`` (absent or empty); return the files written."""
    from refracture.data.example import example_path
    from refracture.report.assets import asset, templates_dir
    from refracture.report.context import ManuscriptMeta

    target = Path(target)
    _refuse(target)
    meta = ManuscriptMeta()
    written: list[Path] = []

    def write(rel: str, text: str) -> None:
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    def copy(rel: str, source: Path) -> None:
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
        written.append(path)

    try:
        target.mkdir(parents=True, exist_ok=True)
        write(
            "refracture.yml",
            _CONFIG.format(
                title=meta.title.replace('"', '\\"'),
                running_title=meta.running_title.replace('"', '\\"'),
                synthetic="true" if example else "false",
            ),
        )
        write("README.md", _README.format(title=meta.title))
        write(".gitignore", _GITIGNORE)
        write("data/README.md", _DATA_README)
        if example:
            for name in ("patients.csv", "levels.csv"):
                copy(f"data/{name}", example_path() / name)
        shipped = templates_dir()
        for source in sorted(shipped.rglob("*.j2")):
            copy(f"templates/{source.relative_to(shipped).as_posix()}", source)
        copy("references.bib", asset("references.bib"))
    except OSError as exc:
        raise OutputError(f"Cannot write the project {target}: {exc.strerror or exc}") from exc
    return written
