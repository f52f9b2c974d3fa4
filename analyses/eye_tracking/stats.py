"""Statistics between conditions, with images as the unit of pairing (as in the paper).

Each measure is averaged over observers per (image, condition); the real condition is compared with
every manipulated one and with their mean by the Wilcoxon signed-rank test over images (Holm-corrected
within a family), all conditions together by Friedman's test, with effect sizes and bootstrap intervals;
and, at the trial level, a linear mixed model with random intercepts for subject and image (statsmodels).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

FAKE = "manipulated (mean)"
CROSSED_LIMIT = 4000  # rows: above this the crossed-effects model's dense design gets slow


def image_means(trials: pd.DataFrame, measures) -> pd.DataFrame:
    return trials.groupby(["stimulus", "condition"], as_index=False)[list(measures)].mean()


def _paired(means: pd.DataFrame, measure: str, real: str, fake_conditions) -> dict[str, pd.DataFrame]:
    """condition -> images with both values, columns real and other."""
    wide = means.pivot(index="stimulus", columns="condition", values=measure)
    out = {}
    for cond in fake_conditions:
        if cond in wide:
            out[cond] = wide[[real, cond]].dropna().set_axis(["real", "other"], axis=1)
    fakes = [c for c in fake_conditions if c in wide]
    if len(fakes) > 1:
        pooled = pd.DataFrame({"real": wide[real], "other": wide[fakes].mean(axis=1, skipna=True)}).dropna()
        out[FAKE] = pooled
    return out


def _test(pairs: pd.DataFrame, resamples: int, rng: np.random.Generator) -> dict:
    diff = (pairs["other"] - pairs["real"]).to_numpy()
    n = len(diff)
    row = {"n_images": n, "real_mean": pairs["real"].mean(), "other_mean": pairs["other"].mean(),
           "mean_difference": diff.mean() if n else np.nan, "statistic": np.nan, "p": np.nan,
           "rank_biserial": np.nan, "ci_low": np.nan, "ci_high": np.nan, "dz": np.nan, "dz_ci_low": np.nan,
           "dz_ci_high": np.nan}
    nonzero = diff[diff != 0]
    if n < 2 or len(nonzero) == 0:
        return row
    result = stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided")
    ranks = stats.rankdata(np.abs(nonzero))
    plus, minus = ranks[nonzero > 0].sum(), ranks[nonzero < 0].sum()
    row.update(statistic=float(result.statistic), p=float(result.pvalue), rank_biserial=(plus - minus) / (plus + minus))
    if n >= 3:
        mean_ci = stats.bootstrap((diff,), np.mean, n_resamples=resamples, method="percentile", random_state=rng)
        row.update(ci_low=mean_ci.confidence_interval.low, ci_high=mean_ci.confidence_interval.high)
        if diff.std(ddof=1) > 0:
            def dz(d, axis=-1):
                sd = d.std(axis=axis, ddof=1)
                return np.where(sd > 0, d.mean(axis=axis) / np.where(sd > 0, sd, 1.0), 0.0)

            row["dz"] = float(dz(diff))
            dz_ci = stats.bootstrap((diff,), dz, n_resamples=resamples, method="percentile", random_state=rng)
            row.update(dz_ci_low=dz_ci.confidence_interval.low, dz_ci_high=dz_ci.confidence_interval.high)
    return row


def condition_tests(means: pd.DataFrame, measures, real: str, fake_conditions, resamples: int,
                    seed: int) -> pd.DataFrame:
    """Wilcoxon real vs each manipulated condition and vs their mean, per measure.

    Holm: within a measure across the manipulated conditions; the pooled comparison across measures.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for measure in measures:
        for cond, pairs in _paired(means, measure, real, fake_conditions).items():
            rows.append({"measure": measure, "comparison": f"{real} vs {cond}", "condition": cond,
                         **_test(pairs, resamples, rng)})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["p_holm"] = np.nan
    pooled = table["condition"] == FAKE
    families = [part.index for _, part in table[~pooled].groupby("measure")] + [table.index[pooled]]
    for index in families:
        ok = index[table.loc[index, "p"].notna()]
        if len(ok):
            table.loc[ok, "p_holm"] = multipletests(table.loc[ok, "p"], method="holm")[1]
    return table


def friedman(means: pd.DataFrame, measures, conditions) -> pd.DataFrame:
    """Friedman's test across all conditions, on the images seen in every condition (needs 3+ conditions)."""
    rows = []
    if len(conditions) < 3:
        return pd.DataFrame(rows)
    for measure in measures:
        wide = means.pivot(index="stimulus", columns="condition", values=measure)[list(conditions)].dropna()
        if len(wide) < 2 or np.ptp(wide.to_numpy()) == 0:
            continue
        result = stats.friedmanchisquare(*(wide[c].to_numpy() for c in conditions))
        rows.append({"measure": measure, "n_images": len(wide), "k_conditions": len(conditions),
                     "chi2": float(result.statistic), "p": float(result.pvalue)})
    table = pd.DataFrame(rows)
    if not table.empty:
        table["p_holm"] = multipletests(table["p"], method="holm")[1]
    return table


def mixed_models(trials: pd.DataFrame, measures, real: str) -> tuple[pd.DataFrame, str]:
    """measure ~ condition (real as reference) with random intercepts for subject and image, per measure.

    Crossed random effects (one group, a variance component each) up to CROSSED_LIMIT rows; above it,
    a random intercept per subject on the measure centred within each image (image as a fixed effect,
    exactly so in a balanced design). Returns the table and why it is empty.
    """
    import statsmodels.formula.api as smf

    n_sub, n_img, n_cond = (trials[c].nunique() for c in ("subject", "stimulus", "condition"))
    if n_cond < 2 or n_sub < 2 or n_img < 2:
        return pd.DataFrame(), (f"a mixed model needs 2+ conditions, subjects and images; the data have {n_cond}, "
                                f"{n_sub}, {n_img}")
    crossed = len(trials) <= CROSSED_LIMIT
    term = f"C(condition, Treatment({real!r}))"
    rows = []
    for measure in measures:
        data = trials[["subject", "stimulus", "condition", measure]].dropna().rename(columns={measure: "value"})
        if len(data) < 10 or data["value"].std() == 0:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if crossed:
                    model = smf.mixedlm(f"value ~ {term}", data, groups=np.ones(len(data)),
                                        vc_formula={"subject": "0 + C(subject)", "image": "0 + C(stimulus)"})
                else:
                    data = data.assign(value=data["value"] - data.groupby("stimulus")["value"].transform("mean"))
                    model = smf.mixedlm(f"value ~ {term}", data, groups=data["subject"])
                fit = model.fit(reml=True, method=["lbfgs", "powell"])
            except (np.linalg.LinAlgError, ValueError) as exc:
                rows.append({"measure": measure, "term": "(model failed)", "note": str(exc)[:200]})
                continue
        for name in fit.params.index:
            if not name.startswith("C(condition"):
                continue
            rows.append({"measure": measure, "term": name.split("[T.")[-1].rstrip("]"),
                         "coef": fit.params[name], "se": fit.bse[name], "p": fit.pvalues[name],
                         "n_obs": len(data), "converged": bool(fit.converged),
                         "model": "crossed random intercepts (subject, image)" if crossed
                         else "random intercept (subject), measure centred within image"})
    return pd.DataFrame(rows), ""
