"""Stability and steering metrics from the per-prompt scores table.

The table has one row per prompt with `item, dimension, format, label, order, response, likert,
persona, persona_kind (none|country|placebo), country, template, n_options, expected_scale, p_first`
and the base-order probabilities `b_1 ... b_K`. Every metric works on the 0-1 scale position in the
questionnaire's base order, so formats that display options differently are comparable.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy.special import rel_entr
from sklearn.metrics import adjusted_rand_score
from scipy.stats import kendalltau

FACTORS = ("label", "order", "response", "likert")


def jensenshannon(p: np.ndarray, q: np.ndarray, base: float = 2) -> float:
    """Jensen-Shannon distance (scipy's definition), with rounding below zero clipped: identical
    distributions give 0, not NaN."""
    p, q = np.asarray(p, float) / np.sum(p), np.asarray(q, float) / np.sum(q)
    m = (p + q) / 2
    divergence = (rel_entr(p, m).sum() + rel_entr(q, m).sum()) / 2 / np.log(base)
    return float(np.sqrt(max(divergence, 0.0)))


def base_probs(scores: pd.DataFrame) -> np.ndarray:
    cols = sorted((c for c in scores.columns if c.startswith("b_")), key=lambda c: int(c[2:]))
    return scores[cols].to_numpy(dtype=float)


def format_instability(scores: pd.DataFrame) -> pd.DataFrame:
    """Per item and persona: SD of E[s] across formats, and the mean pairwise Jensen-Shannon distance
    (base 2, in [0, 1]) between the base-order answer distributions of formats with the same options."""
    rows = []
    for (item, persona), group in scores.groupby(["item", "persona"], sort=False):
        jsd = []
        for _, same in group.groupby("n_options"):
            probs = base_probs(same)[:, : int(same.n_options.iloc[0])]
            jsd += [jensenshannon(probs[a], probs[b], base=2) for a, b in combinations(range(len(probs)), 2)]
        rows.append({"item": item, "dimension": group.dimension.iloc[0], "persona": persona,
                     "persona_kind": group.persona_kind.iloc[0],
                     "sd": float(group.expected_scale.std(ddof=0)) if len(group) > 1 else np.nan,
                     "jsd": float(np.mean(jsd)) if jsd else np.nan, "mean": float(group.expected_scale.mean())})
    return pd.DataFrame(rows)


def _factor_gap(values: np.ndarray, levels: np.ndarray, items: np.ndarray, a, b) -> float:
    """Mean over items of |mean E[s] at level a - mean at level b|."""
    gaps = []
    for item in np.unique(items):
        here = items == item
        va, vb = values[here & (levels == a)], values[here & (levels == b)]
        if len(va) and len(vb):
            gaps.append(abs(va.mean() - vb.mean()))
    return float(np.mean(gaps)) if gaps else np.nan


def factor_effects(scores: pd.DataFrame, n_permutations: int = 500, seed: int = 0) -> pd.DataFrame:
    """For each format factor with two or more levels: the mean absolute per-item shift of E[s] between
    its levels, and a permutation p-value (the factor's labels shuffled among each item's prompts, so
    the null is "this factor moves answers no more than the other format variations do")."""
    rng = np.random.default_rng(seed)
    rows = []
    for factor in FACTORS:
        data = scores
        if factor == "likert":
            data = scores[scores.likert_item]
        elif factor == "order":
            data = scores[scores.order.isin(["ascending", "reversed"])]
        levels = sorted(data[factor].unique(), key=str)
        if len(levels) < 2 or data.empty:
            continue
        values, items = data.expected_scale.to_numpy(float), data.item.to_numpy()
        labels = data[factor].to_numpy()
        groups = [np.flatnonzero(items == item) for item in np.unique(items)]
        for a, b in combinations(levels, 2):
            observed = _factor_gap(values, labels, items, a, b)
            null = np.empty(n_permutations)
            for k in range(n_permutations):
                shuffled = labels.copy()
                for g in groups:
                    shuffled[g] = labels[rng.permutation(g)]
                null[k] = _factor_gap(values, shuffled, items, a, b)
            p = (1 + np.sum(null >= observed - 1e-12)) / (n_permutations + 1)
            rows.append({"factor": factor, "levels": f"{a} vs {b}", "effect": observed, "p_value": float(p),
                         "null_mean": float(np.mean(null))})
    return pd.DataFrame(rows, columns=["factor", "levels", "effect", "p_value", "null_mean"])


def position_bias(scores: pd.DataFrame) -> dict[str, float]:
    """Probability mass on the first-listed option, averaged over ascending and reversed orders (an
    answer that follows content, not position, puts on average 1/K there across the two orders)."""
    both = scores[scores.order.isin(["ascending", "reversed"]) & (scores.response == "identifier")]
    if both.empty:
        both = scores
    return {"position_bias": float(both.p_first.mean()),
            "position_bias_uniform": float((1.0 / both.n_options).mean())}


def steering_effects(scores: pd.DataFrame) -> pd.DataFrame:
    """Per item and persona: E[s | persona] - E[s | none], averaged over formats, beside the item's
    format noise (SD of E[s] across formats without a persona)."""
    base = scores[scores.persona_kind == "none"].set_index(["item", "format"]).expected_scale
    noise = scores[scores.persona_kind == "none"].groupby("item").expected_scale.std(ddof=0)
    steered = scores[scores.persona_kind != "none"].copy()
    if steered.empty:
        return pd.DataFrame(columns=["item", "dimension", "persona", "persona_kind", "country", "effect",
                                     "format_noise"])
    steered["delta"] = steered.expected_scale.to_numpy() - base.reindex(
        pd.MultiIndex.from_frame(steered[["item", "format"]])).to_numpy()
    out = (steered.groupby(["item", "dimension", "persona", "persona_kind", "country"], sort=False)
           .delta.mean().rename("effect").reset_index())
    out["format_noise"] = out.item.map(noise)
    return out


def steering_snr(scores: pd.DataFrame) -> pd.Series:
    """Per item: variance between country personas' mean E[s] (over formats) divided by the mean
    variance of E[s] across formats within a persona. Above 1: personas move answers more than
    formatting does."""
    country = scores[scores.persona_kind == "country"]
    out = {}
    for item, group in country.groupby("item", sort=False):
        by_persona = group.groupby("persona").expected_scale
        between = by_persona.mean().var(ddof=0)
        within = by_persona.var(ddof=0).mean()
        if len(by_persona) > 1 and within > 0:
            out[item] = between / within
    return pd.Series(out, dtype=float)


def rank_stability(scores: pd.DataFrame) -> pd.DataFrame:
    """Kendall tau between the orderings of countries (by E[s], averaged over templates) under each
    pair of formats, per item."""
    country = scores[scores.persona_kind == "country"]
    rows = []
    for item, group in country.groupby("item", sort=False):
        table = group.groupby(["format", "country"]).expected_scale.mean().unstack("country")
        if table.shape[1] < 3:
            continue
        for a, b in combinations(table.index, 2):
            tau = kendalltau(table.loc[a], table.loc[b]).statistic
            rows.append({"item": item, "format_a": a, "format_b": b, "tau": float(tau)})
    return pd.DataFrame(rows, columns=["item", "format_a", "format_b", "tau"])


def country_vectors(scores: pd.DataFrame) -> pd.DataFrame:
    """Countries x items: mean E[s] over formats and templates."""
    country = scores[scores.persona_kind == "country"]
    return country.groupby(["country", "item"]).expected_scale.mean().unstack("item")


def persona_spread(scores: pd.DataFrame) -> float:
    """Steerability: mean root-mean-square distance between country personas' answer vectors."""
    vectors = country_vectors(scores).to_numpy()
    if len(vectors) < 2:
        return np.nan
    return float(np.mean([np.sqrt(np.mean((vectors[a] - vectors[b]) ** 2))
                          for a, b in combinations(range(len(vectors)), 2)]))


def human_expected_scale(questionnaire, every_item: bool = False) -> pd.DataFrame:
    """Countries x items: the human mean answers on the 0-1 scale (a distribution's expected position,
    or the given mean), over the run's items or, with `every_item`, every item of the file."""
    rows = {}
    for item in (questionnaire.all_items if every_item else questionnaire.items):
        for country in item.human_countries:
            rows.setdefault(country, {})[item.id] = item.human_position(country)
    return pd.DataFrame(rows, dtype=float).T


def human_dimension_table(questionnaire, dimensions) -> pd.DataFrame:
    """Countries x dimensions: the questionnaire's human dimension scores (explicit or derived) on the
    run's dimensions, countries with a score on every one of them. Empty unless there are >= 3 such
    countries and >= 2 dimensions (too few to group)."""
    scores = questionnaire.human_dimension_scores if questionnaire is not None else {}
    table = pd.DataFrame(scores, dtype=float).T
    shared = sorted(set(table.columns) & set(dimensions))
    table = table[shared].dropna().sort_index() if shared else table.iloc[:0, :0]
    if len(table) < 3 or len(shared) < 2:
        return pd.DataFrame(dtype=float)
    return table


def human_spread(questionnaire) -> float:
    """The same RMS distance between real countries' answer vectors (items both answered)."""
    table = human_expected_scale(questionnaire)
    if len(table) < 2:
        return np.nan
    dists = []
    for a, b in combinations(table.index, 2):
        both = table.loc[[a, b]].dropna(axis=1)
        if both.shape[1]:
            dists.append(float(np.sqrt(np.mean((both.iloc[0] - both.iloc[1]) ** 2))))
    return float(np.mean(dists)) if dists else np.nan


def human_between_country_sd(questionnaire, every_item: bool = True) -> float:
    """Per item, the population SD across countries of their mean answer (0-1 scale), averaged over
    items answered by at least two countries: over every item of the questionnaire with human data (the
    paper's reference spread), or over the run's items alone (`every_item=False`)."""
    table = human_expected_scale(questionnaire, every_item)
    if len(table) < 2:
        return np.nan
    sd = table.std(ddof=0)[table.notna().sum() >= 2]
    return float(sd.mean()) if len(sd) else np.nan


EXTRAPOLABILITY_COLUMNS = ["held_in", "held_out", "r", "ari", "human_ari"]
# A Pearson r over fewer countries is mostly noise (over 3 points |r| > 0.9 happens 1 time in 7 by chance).
MIN_CORRELATION_COUNTRIES = 5


def country_dimension_answers(scores: pd.DataFrame) -> pd.DataFrame:
    """Country personas x dimensions: mean E[s] over the dimension's items, formats and wordings."""
    country = scores[scores.persona_kind == "country"]
    return country.groupby(["country", "dimension"]).expected_scale.mean().unstack("dimension")


def country_dimension_effects(scores: pd.DataFrame) -> pd.DataFrame:
    """Country personas x dimensions: mean steering effect (E[s | persona] - E[s | none]) over the
    dimension's items, formats and wordings."""
    effects = steering_effects(scores)
    effects = effects[effects.persona_kind == "country"]
    if effects.empty:
        return pd.DataFrame(dtype=float)
    return effects.groupby(["country", "dimension"]).effect.mean().unstack("dimension")


def extrapolability(scores: pd.DataFrame, human: pd.DataFrame | None = None, cluster_method: str = "ward") -> pd.DataFrame:
    """For every split of the dimensions into two halves: correlation across country personas between
    their mean steering effect on one half and on the held-out half (high r: a persona's effect on some
    dimensions predicts its effect on others; NaN below MIN_CORRELATION_COUNTRIES countries). With
    `cluster_method="ward"` (labscope's earlier method; the paper's is in `extrapolability.py`) also the
    adjusted Rand index between the Ward clustering of countries on the held-in half and on all
    dimensions (`ari`; NaN below extrapolability.MIN_COUNTRIES countries), and the same index for the
    human countries' dimension scores (`human_ari`; NaN when a half holds none of the scored dimensions)."""
    from .extrapolability import MIN_COUNTRIES, ward_clusters

    per = country_dimension_effects(scores)
    dims = sorted(per.columns) if len(per) else []
    if len(dims) < 2 or len(per) < 3:
        return pd.DataFrame(columns=EXTRAPOLABILITY_COLUMNS)
    ward = cluster_method == "ward"
    answers = country_dimension_answers(scores).loc[per.index]
    model_ok = ward and len(per) >= MIN_COUNTRIES
    everything = ward_clusters(answers) if model_ok else None
    human = human if ward and human is not None and len(human) >= MIN_COUNTRIES else None
    human_everything = ward_clusters(human) if human is not None else None
    rows = []
    half = len(dims) // 2
    for held_in in combinations(dims, half):
        if dims[0] not in held_in:  # each split once
            continue
        held_out = [d for d in dims if d not in held_in]
        x, y = per[list(held_in)].mean(axis=1), per[held_out].mean(axis=1)
        enough = len(per) >= MIN_CORRELATION_COUNTRIES and x.std() > 0 and y.std() > 0
        r = float(np.corrcoef(x, y)[0, 1]) if enough else np.nan
        ari = float(adjusted_rand_score(everything, ward_clusters(answers[list(held_in)]))) if model_ok else np.nan
        human_ari = np.nan
        if human is not None:
            human_in = [d for d in held_in if d in human.columns]
            if human_in and any(d in human.columns for d in held_out):
                human_ari = float(adjusted_rand_score(human_everything, ward_clusters(human[human_in])))
        rows.append({"held_in": ", ".join(held_in), "held_out": ", ".join(held_out), "r": r, "ari": ari,
                     "human_ari": human_ari})
    return pd.DataFrame(rows, columns=EXTRAPOLABILITY_COLUMNS)


def model_human_cluster_ari(scores: pd.DataFrame, human: pd.DataFrame, cluster_method: str = "ward",
                            k: int | None = None) -> float:
    """Adjusted Rand index between the model's clustering of its country personas and the humans'
    clustering of the same countries, both on the dimensions the human scores share with the run: Ward
    (`ward`), or the paper's standardised KMeans with the human side's k (`kmeans_silhouette`). NaN with
    fewer than extrapolability.MIN_COUNTRIES countries in both (or fewer than k + 1)."""
    from .extrapolability import MIN_COUNTRIES, kmeans_clusters, ward_clusters

    if human is None or not len(human):
        return np.nan
    answers = country_dimension_answers(scores)
    common = sorted(set(answers.index) & set(human.index))
    if len(common) < max(MIN_COUNTRIES, (k or 0) + 1):
        return np.nan
    dims = list(human.columns)
    model = answers.loc[common, [d for d in dims if d in answers.columns]]
    if model.shape[1] < 1 or model.isna().any().any():
        return np.nan
    if cluster_method == "ward":
        return float(adjusted_rand_score(ward_clusters(human.loc[common]), ward_clusters(model)))
    return float(adjusted_rand_score(kmeans_clusters(human.loc[common], k), kmeans_clusters(model, k)))


def _paper_side(side: str, table: pd.DataFrame, metrics: dict, tables: dict, notes: list) -> int | None:
    """The paper's extrapolability on one side (human scores or the model's steering effects): metrics
    `<side>_ari_median_r<r>` and `<side>_k`, rows of the subsets and silhouette tables, or a note."""
    from .extrapolability import K_MAX, Unavailable, paper_extrapolability

    what = {"human": "human dimension scores", "model": "the model's per-dimension steering effects"}[side]
    if table is None or not len(table):
        notes.append({"topic": f"{side} extrapolability", "note": f"unavailable: no {what} (needs at least 3 "
                      "countries scored on at least 2 of the run's dimensions)"})
        return None
    found = paper_extrapolability(table)
    if isinstance(found, Unavailable):
        notes.append({"topic": f"{side} extrapolability", "note": f"unavailable on {what}: {found.reason}"})
        return None
    metrics[f"{side}_k"] = float(found.k)
    for r, median in found.medians.items():
        metrics[f"{side}_ari_median_r{r}"] = median
    tables["subsets"].append(found.subsets.assign(side=side))
    tables["silhouettes"].append(found.silhouettes.assign(side=side))
    searched = min(K_MAX, found.countries - 1)
    note = (f"KMeans on standardised {what} of {found.countries} countries; k = {found.k} by silhouette over "
            f"2..{searched}")
    if searched < K_MAX:
        note += f" (the paper searches 2..{K_MAX}; {found.countries} countries allow at most {searched})"
    notes.append({"topic": f"{side} extrapolability", "note": note})
    return found.k


def summary(scores: pd.DataFrame, questionnaire=None, n_permutations: int = 500, seed: int = 0,
            cluster_method: str = "kmeans_silhouette") -> tuple[dict, dict]:
    """(metrics, tables) for a scores table. Table `notes` says which metrics are unavailable and why."""
    effects = steering_effects(scores)
    scores = scores[scores.persona_kind != "activation"]  # the rest describes prompting alone
    instability = format_instability(scores)
    snr = steering_snr(scores)
    ranks = rank_stability(scores)
    factors = factor_effects(scores[scores.persona_kind == "none"], n_permutations, seed)
    human_dims = human_dimension_table(questionnaire, scores.dimension.unique())
    extrap = extrapolability(scores, human_dims, cluster_method)
    none = instability[instability.persona_kind == "none"]
    n_countries = scores.loc[scores.persona_kind == "country", "country"].nunique()
    notes: list[dict] = []
    metrics = {
        "prompts": float(len(scores)),
        "format_instability_mean": float(none.sd.mean()),
        "format_jsd_mean": float(none.jsd.mean()),
        **position_bias(scores),
        "steering_snr_median": float(snr.median()) if len(snr) else np.nan,
        "country_effect_mean": float(effects[effects.persona_kind == "country"].effect.abs().mean()),
        "placebo_effect_mean": float(effects[effects.persona_kind == "placebo"].effect.abs().mean()),
        "format_noise_mean": float(effects.format_noise.mean()) if len(effects) else np.nan,
        "rank_kendall_tau_mean": float(ranks.tau.mean()) if len(ranks) else np.nan,
        "persona_spread": persona_spread(scores),
        "extrapolability_r_mean": float(extrap.r.mean()) if extrap.r.notna().any() else np.nan,
        "entropy_mean": float(scores.entropy.mean()),
        "country_personas": float(n_countries),
    }
    if not extrap.r.notna().any():
        notes.append({"topic": "extrapolability_r_mean", "note": f"unavailable: {n_countries} country persona(s); "
                      f"a correlation across countries needs at least {MIN_CORRELATION_COUNTRIES} (and 2 dimensions)"})
    paper = {"subsets": [], "silhouettes": []}
    if cluster_method == "ward":
        metrics["cluster_ari_mean"] = float(extrap.ari.mean()) if extrap.ari.notna().any() else np.nan
        if len(human_dims):
            metrics["human_cluster_ari_mean"] = (float(extrap.human_ari.mean()) if extrap.human_ari.notna().any()
                                                 else np.nan)
            metrics["model_human_cluster_ari"] = model_human_cluster_ari(scores, human_dims, "ward")
        if not extrap.ari.notna().any():
            notes.append({"topic": "cluster_ari_mean", "note": f"unavailable: {n_countries} country persona(s); Ward "
                          "clustering into min(3, countries - 1) groups needs at least 4"})
    else:
        human_k = _paper_side("human", human_dims, metrics, paper, notes)
        _paper_side("model", country_dimension_effects(scores), metrics, paper, notes)
        if human_k is not None:
            metrics["model_human_cluster_ari"] = model_human_cluster_ari(scores, human_dims, cluster_method, human_k)
    spec = pd.DataFrame(columns=["format", "persona", "measure", "alignment", "most_aligned", "best_score"])
    if questionnaire is not None and questionnaire.human_countries:
        metrics["human_spread"] = human_spread(questionnaire)
        metrics["human_between_country_sd"] = human_between_country_sd(questionnaire, every_item=True)
        metrics["human_between_country_sd_run"] = human_between_country_sd(questionnaire, every_item=False)
        spec = specification_curve(scores, questionnaire)
        for measure, name in (("1-JSD", "alignment_unsteered"), ("1-|ΔE[s]|", "alignment_unsteered_scale")):
            chosen = spec[(spec.format == "all") & (spec.persona == "none") & (spec.measure == measure)]
            metrics[name] = float(chosen.alignment.iloc[0]) if len(chosen) else np.nan
        chosen = spec[(spec.format == "all") & (spec.persona == "none")]
        if len(chosen):
            # How often the other specifications name the same most-aligned country as the chosen one.
            metrics["most_aligned_agreement"] = float((spec.most_aligned == chosen.most_aligned.iloc[0]).mean())
        if not questionnaire.distribution_countries:
            notes.append({"topic": "alignment_unsteered", "note": "unavailable: the questionnaire gives mean answers, "
                          "not answer distributions, so the Jensen-Shannon alignment (1-JSD) cannot be computed; "
                          "the expected-answer alignment (1-|ΔE[s]|) is alignment_unsteered_scale"})
    else:
        notes.append({"topic": "alignment", "note": "unavailable: the questionnaire has no human answers"})
    subsets = (pd.concat(paper["subsets"], ignore_index=True) if paper["subsets"]
               else pd.DataFrame(columns=["r", "dimensions", "ari", "side"]))
    silhouettes = (pd.concat(paper["silhouettes"], ignore_index=True) if paper["silhouettes"]
                   else pd.DataFrame(columns=["k", "silhouette", "side"]))
    tables = {"instability": instability, "steering": effects, "factors": factors,
              "snr": snr.rename_axis("item").rename("snr").reset_index(), "ranks": ranks,
              "extrapolability": extrap, "extrapolability_subsets": subsets[["side", "r", "dimensions", "ari"]],
              "extrapolability_silhouettes": silhouettes[["side", "k", "silhouette"]], "specification_curve": spec,
              "human_dimension_scores": human_dims.rename_axis("country").reset_index(),
              "notes": pd.DataFrame(notes, columns=["topic", "note"])}
    return {k: (float(v) if v is not None else np.nan) for k, v in metrics.items()}, tables


def _alignment(model_probs: np.ndarray, model_scale: float, human_dist, human_position: float, measure: str) -> float:
    if measure == "1-JSD":
        return float(1.0 - jensenshannon(model_probs, human_dist, base=2))
    return float(1.0 - abs(model_scale - human_position))


def specification_curve(scores: pd.DataFrame, questionnaire) -> pd.DataFrame:
    """Alignment to the human countries under every combination of analysis choices.

    Choices: the format (each one, or all averaged), the persona wording (no persona: the unsteered
    model against each country; template t: country c's persona against country c's people) and the
    measure (1 - Jensen-Shannon distance of the distributions, where the questionnaire has
    distributions, or 1 - |difference of E[s]|, also from mean answers). Each specification gives a
    mean alignment per country, its best country and the mean over countries.
    """
    positions = {(item.id, c): item.human_position(c) for item in questionnaire.items for c in item.human_countries}
    dists = {(item.id, c): np.asarray(d) for item in questionnaire.items for c, d in item.human.items()}
    countries = questionnaire.human_countries
    columns = ["format", "persona", "measure", "alignment", "most_aligned", "best_score"]
    if not positions or not countries:
        return pd.DataFrame(columns=columns)
    measures = [m for m, available in (("1-JSD", bool(dists)), ("1-|ΔE[s]|", True)) if available]
    data = scores[scores["item"].isin({i for i, _ in positions})]
    probs = base_probs(data)
    data = data.assign(_row=np.arange(len(data)))
    rows = []
    templates = sorted(t for t in data.template.unique() if t > 0 and (data.persona_kind == "country").any())
    for fmt_choice in ["all", *dict.fromkeys(data.format)]:
        chosen = data if fmt_choice == "all" else data[data.format == fmt_choice]
        for persona_choice in ["none", *[f"t{t}" for t in templates]]:
            for measure in measures:
                human = dists if measure == "1-JSD" else positions
                per_country = {}
                for country in countries:
                    if persona_choice == "none":
                        part = chosen[chosen.persona_kind == "none"]
                    else:
                        part = chosen[(chosen.country == country) & (chosen.template == int(persona_choice[1:]))]
                    values = []
                    for item, group in part.groupby("item"):
                        if (item, country) not in human:
                            continue
                        h = dists.get((item, country))
                        p = probs[group._row.to_numpy()][:, : len(h)].mean(axis=0) if h is not None else None
                        values.append(_alignment(p, float(group.expected_scale.mean()), h,
                                                 positions[(item, country)], measure))
                    if values:
                        per_country[country] = float(np.mean(values))
                if not per_country:
                    continue
                best = max(per_country, key=per_country.get)
                rows.append({"format": fmt_choice, "persona": persona_choice, "measure": measure,
                             "alignment": float(np.mean(list(per_country.values()))), "most_aligned": best,
                             "best_score": per_country[best]})
    return pd.DataFrame(rows, columns=columns)
