"""Bringing a study's own data into the contract through an import mapping.

A study's data rarely arrive in the contract's two tables. They live in a REDCap
project (a records export with a repeating instrument for the vertebral levels and a
data dictionary whose choice fields are coded ``1, Female | 2, Male``), in SPSS
``.sav``, Stata ``.dta`` or SAS ``.sas7bdat`` files with value labels, or in one wide
spreadsheet with a row per patient and a column per level (``tscore_L1``,
``treated_T12``). A mapping file (YAML) says which source column fills which contract
column; the importer reads the source, resolves each value (the mapping's own
``values:``, then the dictionary's choices or the file's value labels, then the
contract's synonyms; what none of them resolves is left as written, for validation to
report, never guessed), reshapes wide levels into rows and returns contract-format
tables that carry the way back to every source cell.

One job per module:

* :mod:`~.mapping`: the mapping file's schema, read and checked (every problem at once);
* :mod:`~.inputs`: the files a mapping reads (light: for a build's rebuild check);
* :mod:`~.sources`: the source readers (CSV, XLSX, Parquet; SPSS, Stata, SAS through
  pyreadstat with their value labels), :mod:`~.redcap`: REDCap exports and dictionaries;
* :mod:`~.values`: value resolution and the contract's synonyms;
* :mod:`~.assemble`: source rows to contract rows (long, repeating instrument, wide);
* :mod:`~.run`: the whole import (:func:`~.run.import_mapping`);
* :mod:`~.report`: ``import-report.md``; :mod:`~.suggest`: a drafted mapping.

Nothing here is imported by :mod:`refracture.data.load` except when a cohort path is a
mapping (``.yml``/``.yaml``).
"""
