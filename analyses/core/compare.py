"""Compare cached runs: every run of an analysis in one table, grouped, with exact per-group statistics.

Experiment dashboards aggregate over a sample of the first runs, or show one seed at a time; here every
cached result of an analysis is a row, and a group's mean, standard deviation, standard error and 95%
confidence interval (Student's t, so small groups get honest intervals) are computed over all of its runs.
A metric missing from some runs is aggregated over the runs that have it (`<metric>_n` says how many).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

RUN_COLUMNS = ("computed_at", "compute_seconds", "key")
STATISTICS = ("mean", "std", "sem", "ci95_low", "ci95_high")


def runs_table(records: Iterable[Mapping[str, Any]]) -> tuple[pd.DataFrame, list[str], list[str]]:
    """One row per run: parameters, metrics, computed_at, compute_seconds, key.

    `records` hold `params`, `metrics`, `computed_at`, `compute_seconds` and `key` (what the cache lists).
    Returns the table and the names of its parameter and metric columns. A metric named like a parameter
    is renamed `<name> (metric)`.
    """
    rows, params, metrics = [], {}, {}
    for record in records:
        row = {}
        for name, value in (record.get("params") or {}).items():
            params[name] = None
            row[name] = _plain(value)
        for name, value in (record.get("metrics") or {}).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) and value is not None:
                continue  # only numbers are metrics
            column = f"{name} (metric)" if name in params else name
            metrics[column] = None
            row[column] = np.nan if value is None else float(value)
        for name in RUN_COLUMNS:
            row[name] = record.get(name)
        rows.append(row)
    table = pd.DataFrame(rows, columns=[*params, *metrics, *RUN_COLUMNS])
    return table, list(params), list(metrics)


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def differing(table: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The parameters whose value is not the same in every run (what tells the runs apart)."""
    return [c for c in columns if table[c].astype(str).nunique(dropna=False) > 1]


def where(table: pd.DataFrame, conditions: Mapping[str, Any]) -> pd.DataFrame:
    """Runs whose parameters equal the given values (compared as the spec coerced them)."""
    keep = pd.Series(True, index=table.index)
    for name, value in conditions.items():
        if name not in table:
            from .errors import InputError

            raise InputError(f"no parameter or metric named {name!r} in these runs")
        keep &= table[name].astype(str) == str(value)
    return table[keep]


def summarise(values: pd.Series) -> dict[str, float]:
    """Mean, standard deviation (n - 1), standard error and a t-based 95% interval of one metric's values."""
    from scipy import stats

    x = values.dropna().to_numpy(dtype=float)
    n = len(x)
    out = {"n": n, "mean": float(np.mean(x)) if n else math.nan}
    std = float(np.std(x, ddof=1)) if n > 1 else math.nan
    sem = std / math.sqrt(n) if n > 1 else math.nan
    half = float(stats.t.ppf(0.975, n - 1)) * sem if n > 1 else math.nan
    out.update(std=std, sem=sem, ci95_low=out["mean"] - half, ci95_high=out["mean"] + half)
    return out


def count_column(by: Sequence[str]) -> str:
    """`n`, the runs per group; `n_runs` when a grouping parameter is itself called `n`."""
    return "n_runs" if "n" in by else "n"


def group(table: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """One row per group of `by`: its values, `n` runs, and for every metric its statistics over all of them."""
    missing = [name for name in by if name not in table]
    if missing:
        from .errors import InputError

        raise InputError(f"cannot group by {missing}: not parameters of these runs")
    rows = []
    groups = table.groupby(list(by), dropna=False, sort=True) if by else [((), table)]
    for values, members in groups:
        values = values if isinstance(values, tuple) else (values,)
        row: dict[str, Any] = dict(zip(by, values))
        row[count_column(by)] = len(members)
        for metric in metrics:
            summary = summarise(members[metric])
            for statistic in STATISTICS:
                row[f"{metric}_{statistic}"] = summary[statistic]
            if summary["n"] != len(members):
                row[f"{metric}_n"] = summary["n"]
        rows.append(row)
    return pd.DataFrame(rows)


def importance(table: pd.DataFrame, params: Sequence[str], metric: str, seed: int = 0) -> pd.DataFrame:
    """How much each parameter matters for a metric: a random forest's impurity importance and the
    (Spearman) correlation, as W&B shows them; only runs with the metric count. Categorical parameters
    enter the forest one-hot, and their importance is summed."""
    from sklearn.ensemble import RandomForestRegressor

    data = table.dropna(subset=[metric])
    if len(data) < 3 or not params:
        return pd.DataFrame(columns=["parameter", "importance", "correlation", "runs"])
    features, owner = [], []
    for name in params:
        column = data[name]
        numeric = pd.to_numeric(column, errors="coerce")
        if numeric.notna().all() and column.dtype != object or column.dtype == bool:
            features.append(numeric.astype(float).rename(name))
            owner.append(name)
        else:
            dummies = pd.get_dummies(column.astype(str), prefix=name, dtype=float)
            features.extend(dummies[c] for c in dummies)
            owner.extend([name] * dummies.shape[1])
    x = pd.concat(features, axis=1).to_numpy()
    forest = RandomForestRegressor(n_estimators=200, random_state=seed).fit(x, data[metric].to_numpy(dtype=float))
    rows = []
    for name in params:
        share = float(sum(w for w, o in zip(forest.feature_importances_, owner) if o == name))
        numeric = pd.to_numeric(data[name], errors="coerce")
        correlation = (float(numeric.corr(data[metric], method="spearman"))
                       if numeric.notna().all() and numeric.nunique() > 1 else math.nan)
        rows.append({"parameter": name, "importance": share, "correlation": correlation, "runs": len(data)})
    return pd.DataFrame(rows).sort_values("importance", ascending=False, ignore_index=True)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: Any) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(text))


def _number(value: float, digits: int = 3) -> str:
    """`digits` significant digits for LaTeX's math mode: 1210, 0.427, and 2.51\\times10^{-8} where plain
    digits would run long (never Python's 1.21e+03, which LaTeX sets as a sum)."""
    if value is None or not math.isfinite(value):
        return "--"
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(float(f"{value:.{digits}g}"))))
    if -3 <= exponent < 6:
        text = f"{value:.{max(0, digits - 1 - exponent)}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa = f"{value / 10 ** exponent:.{digits}g}"
    return f"{mantissa} \\times 10^{{{exponent}}}"


def latex_table(groups: pd.DataFrame, by: Sequence[str], metrics: Sequence[str], error: str = "sem") -> str:
    """A `booktabs` table: one row per group, `mean ± SE` (or `± CI half-width`) per metric, and N."""
    if error not in ("sem", "ci95"):
        raise ValueError("error must be 'sem' or 'ci95'")
    header = [*(latex_escape(b) for b in by), "$N$", *(latex_escape(m) for m in metrics)]
    lines = [r"\begin{tabular}{" + "l" * len(by) + "r" + "c" * len(metrics) + "}", r"\toprule",
             " & ".join(header) + r" \\", r"\midrule"]
    for _, row in groups.astype(object).iterrows():  # as objects: a row of a mixed table keeps 16, not 16.0
        cells = [latex_escape(row[b]) for b in by] + [str(int(row[count_column(by)]))]
        for metric in metrics:
            mean = row[f"{metric}_mean"]
            spread = (row[f"{metric}_sem"] if error == "sem"
                      else (row[f"{metric}_ci95_high"] - row[f"{metric}_ci95_low"]) / 2)
            cells.append(f"${_number(mean)}$" if not math.isfinite(spread)
                         else f"${_number(mean)} \\pm {_number(spread, 2)}$")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    caption = "mean $\\pm$ standard error" if error == "sem" else "mean $\\pm$ half-width of the 95\\% $t$ interval"
    return f"% {caption} over the runs of each group; N runs per group\n" + "\n".join(lines) + "\n"


def cached_runs(store, analysis: str) -> list[dict[str, Any]]:
    """Every cached result of an analysis as records (params, metrics, computed_at, compute_seconds, key)."""
    listing = getattr(store, "run_records", None)  # the cache's index: one query, no file opened
    if listing is not None:
        return list(listing(analysis))
    import json
    import zipfile

    records = []
    for path in sorted((store.root / "results" / analysis).glob("*.zip")):
        try:
            with zipfile.ZipFile(path) as archive:
                manifest = json.loads(archive.read("manifest.json"))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            continue  # being replaced, or corrupt: the cache reports it when it is read
        provenance = manifest.get("provenance", {})
        records.append({"params": provenance.get("params", {}), "metrics": manifest.get("metrics", {}),
                        "computed_at": provenance.get("computed_at"),
                        "compute_seconds": provenance.get("compute_seconds"), "key": manifest.get("key")})
    return records


def missing_points(table: pd.DataFrame, params: Sequence[str], axes: Sequence[str]) -> list[dict[str, Any]]:
    """The grid's empty cells: every combination of the values `axes` take in these runs that no run has,
    as complete parameter sets (the other parameters as the runs share them).

    Only defined when the runs agree on every parameter outside `axes`: otherwise a missing cell has no
    single setting, and an InputError says which parameters disagree.
    """
    from .errors import InputError

    others = [p for p in params if p not in axes]
    disagree = differing(table, others)
    if disagree:
        raise InputError(f"the runs also differ in {', '.join(disagree)}: filter or group on them first, "
                         "so that each missing cell has one setting")
    if table.empty or not axes:
        return []
    base = {p: table[p].iloc[0] for p in others}
    values = [sorted(table[a].dropna().unique().tolist(), key=str) for a in axes]
    present = {tuple(str(v) for v in row) for row in table[list(axes)].itertuples(index=False)}
    import itertools

    return [{**base, **dict(zip(axes, combination))} for combination in itertools.product(*values)
            if tuple(str(v) for v in combination) not in present]


def export_bundle(store, analysis: str, figures: Mapping[str, Any], table: pd.DataFrame,
                  groups: pd.DataFrame | None, by: Sequence[str], formats: Sequence[str] = ("svg", "pdf"),
                  style: str = "ml-column") -> bytes:
    """A comparison for a paper, as one zip: its figures (in `style`, with caption files), `runs.csv`,
    `groups.csv` and provenance.json with the full provenance of every run in `table` (its cache key
    added), so each point of a figure can be traced to the settings and code that computed it."""
    from . import export

    provenance: dict[str, Any] = {"analysis": analysis, "group_by": list(by), "runs": []}
    for key in table.key:
        result = store.read(analysis, key)
        if result is not None:
            provenance["runs"].append({**result.provenance, "cache_key": key})
    tables = {"runs": table, **({"groups": groups} if groups is not None else {})}
    return export.bundle_bytes(dict(figures) if formats else {}, tables, provenance, formats=list(formats), style=style)
