"""``TableOne`` with its two per-value Python loops vectorised (:func:`fast_tableone`).

tableone 0.9.6 visits every value in Python twice: its hypothesis-test table
coerces continuous values one at a time (``Series.apply(pd.to_numeric)``) and its
categorical summaries turn every value into a string one at a time
(``str(value)``). With that version, :func:`fast_tableone` runs tableone with
those two methods replaced by copies (MIT licence, © 2017 Tom Pollard) in which
only these loops are vectorised: a float column is already numeric, and each
*distinct* value is turned into a string once. Every table tableone builds is
otherwise its own (tested equal to a bare ``TableOne`` call), and the Table 1
stage then costs less than a bare call at a million rows. Other tableone versions
run bare.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["fast_tableone"]

_FAST_TABLEONE_VERSION = "0.9.6"
"""The tableone version whose ``Tables.create_htest_table`` and
``Tables.create_cat_describe`` the copies below come from."""


def _as_numeric(s: pd.Series) -> pd.Series:
    """``s.apply(pd.to_numeric, errors="coerce")`` without the per-value call where
    ``s`` is already a numeric (not boolean) column: then every value maps to itself."""
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s
    return s.apply(pd.to_numeric, errors="coerce")


def _as_strings(values: Any) -> Any:
    """``[str(v) if not pd.isnull(v) else None for v in values]`` as an array, with
    ``str`` applied once per distinct value. Falls back to the list comprehension
    unless the values are all strings, all numbers or all booleans (where equal
    values also have equal ``str``)."""
    arr = np.asarray(values)
    kind = pd.api.types.infer_dtype(arr, skipna=True)
    if kind not in ("string", "integer", "floating", "boolean", "empty"):
        return [str(v) if not pd.isnull(v) else None for v in arr]
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    lookup = np.array([*(str(u) for u in uniques), None], dtype=object)
    return lookup[codes]


@functools.cache
def _fast_tableone_class() -> type | None:
    """``TableOne`` with the two vectorised ``Tables`` methods (None for other versions)."""
    from importlib.metadata import version

    if version("tableone") != _FAST_TABLEONE_VERSION:
        return None
    from tableone import TableOne
    from tableone.tables import Tables

    class FastTables(Tables):
        def create_htest_table(  # tableone 0.9.6's, one line changed (marked)
            self,
            data,
            continuous,
            categorical,
            nonnormal,
            groupby,
            groupbylvls,
            htest,
            pval,
            pval_adjust,
            ttest_equal_var,
        ) -> pd.DataFrame:
            df = pd.DataFrame(
                index=continuous + categorical,
                columns=["continuous", "nonnormal", "min_observed", "P-Value", "Test"],
            )
            df.index = df.index.rename("variable")
            df["continuous"] = np.where(df.index.isin(continuous), True, False)
            df["nonnormal"] = np.where(df.index.isin(nonnormal), True, False)
            min_observed = 0
            for v in df.index:
                is_continuous = df.loc[v]["continuous"]
                is_categorical = ~df.loc[v]["continuous"]
                is_normal = ~df.loc[v]["nonnormal"]
                if is_continuous:
                    grouped_data = {}
                    for s in groupbylvls:
                        lvl_data = data.loc[data[groupby] == s, v]
                        lvl_data = _as_numeric(lvl_data).dropna()  # changed: vectorised
                        grouped_data[s] = lvl_data.values
                    min_observed = min([len(x) for x in grouped_data.values()])
                elif is_categorical:
                    cross_tab = pd.crosstab(data[groupby].rename("_groupby_var_"), data[v])
                    min_observed = cross_tab.sum(axis=1).min()
                    grouped_data = cross_tab.T.to_dict("list")
                df.loc[v, "min_observed"] = min_observed
                (df.loc[v, "P-Value"], df.loc[v, "Test"], _warning) = self.statistics._p_test(
                    v,
                    grouped_data,
                    is_continuous,
                    is_categorical,
                    is_normal,
                    min_observed,
                    htest,
                    ttest_equal_var,
                )
            if pval and pval_adjust:
                adjusted = self.statistics.multipletests(
                    df["P-Value"], alpha=0.05, method=pval_adjust
                )
                df["P-Value (adjusted)"] = adjusted[1]
                df["adjust method"] = pval_adjust
            return df

        def create_cat_describe(  # tableone 0.9.6's, with the counting vectorised
            self,
            data,
            categorical,
            decimals,
            row_percent,
            include_null,
            groupby=None,
            groupbylvls=None,
        ) -> pd.DataFrame:
            # tableone turns every value into str (None where null), then counts the
            # (variable, value) pairs of the melted frame with groupby().size(); here
            # each distinct value is turned into str once and counted with bincount
            group_dict = {}
            coded = {}
            for col in categorical:
                strings = np.asarray(_as_strings(data[col].values), dtype=object)
                coded[col] = pd.factorize(strings, use_na_sentinel=True)
            all_levels = {col: sorted(set(coded[col][1].tolist())) for col in categorical}
            full_index = pd.MultiIndex.from_tuples(
                [(col, val) for col in categorical for val in all_levels[col]],
                names=["variable", "value"],
            )

            def count(mask: np.ndarray | None) -> tuple[pd.Series, list[int]]:
                parts, nonnull = [], []
                for col in categorical:
                    codes, uniques = coded[col]
                    sel = codes if mask is None else codes[mask]
                    sel = sel[sel >= 0]
                    nonnull.append(int(sel.size))
                    c = np.bincount(sel, minlength=len(uniques)).astype("int64")
                    index = pd.MultiIndex.from_arrays(
                        [np.full(len(uniques), col, dtype=object), np.asarray(uniques)],
                        names=["variable", "value"],
                    )
                    parts.append(pd.Series(c, index=index))
                return pd.concat(parts), nonnull

            full_counts, _ = count(None)
            columns = data[categorical].columns
            for g in groupbylvls:
                mask = (data[groupby] == g).to_numpy() if groupby else None
                counts, nonnull = count(mask)
                n_rows = len(data) if mask is None else int(mask.sum())
                ct = pd.Series(nonnull, index=columns, dtype="int64").to_frame(name="n")
                ct.index.name = "variable"
                if include_null:
                    nulls = pd.DataFrame("", index=columns, columns=["Missing"])
                    nulls.index.name = "variable"
                else:
                    missing = [n_rows - k for k in nonnull]
                    nulls = pd.Series(missing, index=columns, dtype="int64").to_frame(
                        name="Missing"
                    )
                    nulls.index.name = "variable"
                df = counts.reindex(full_index, fill_value=0).to_frame(name="freq")
                df["percent"] = (
                    df["freq"].div(df.groupby(level=0).freq.sum(), level=0).astype(float) * 100
                )
                df["percent_row"] = df.index.map(
                    lambda idx, df=df: df.at[idx, "freq"] / full_counts.get(idx, np.nan) * 100
                )
                if isinstance(decimals, int):
                    f = f"{{:.{decimals}f}}"
                    df["percent_str"] = df["percent"].astype(float).map(f.format)
                    df["percent_row_str"] = df["percent_row"].astype(float).map(f.format)
                elif isinstance(decimals, dict):
                    df.loc[:, "percent_str"] = df.apply(
                        self.format_cat, axis=1, args=["percent", decimals]
                    )
                    df.loc[:, "percent_row_str"] = df.apply(
                        self.format_cat, axis=1, args=["percent_row", decimals]
                    )
                else:
                    f = "{:.1f}"
                    df["percent_str"] = df["percent"].astype(float).map(f.format)
                    df["percent_row_str"] = df["percent_row"].astype(float).map(f.format)
                df = df.join(ct)
                levels = df.reset_index()[["variable", "value"]].groupby("variable").first()
                nulls = nulls.join(levels)
                nulls = nulls.set_index("value", append=True)
                df = df.join(nulls)
                if row_percent:
                    df["t1_summary"] = df.freq.map(str) + " (" + df.percent_row_str.map(str) + ")"
                else:
                    df["t1_summary"] = df.freq.map(str) + " (" + df.percent_str.map(str) + ")"
                group_dict[g] = df
            df_cat = pd.concat(group_dict, axis=1)
            if df_cat.columns.nlevels > 1:
                df_cat = df_cat.swaplevel(0, 1, axis=1).sort_index(axis=1, level=0)
            return df_cat

    class FastTableOne(TableOne):
        def create_intermediate_tables(self, data):
            self.tables = FastTables()
            super().create_intermediate_tables(data)

    return FastTableOne


def fast_tableone(data: pd.DataFrame, **kwargs: Any) -> Any:
    """``TableOne(data, **kwargs)``, with its two per-value loops vectorised when the
    installed tableone is the version they were copied from (module docstring)."""
    cls = _fast_tableone_class()
    if cls is None:
        from tableone import TableOne

        return TableOne(data, **kwargs)
    return cls(data, **kwargs)
