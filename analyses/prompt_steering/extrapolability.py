"""Extrapolability as Khan et al. (2025) measure it: do a few dimensions group countries as all do?

The paper's procedure (`kmeans_silhouette`), applied to a countries x dimensions table (human
dimension scores, or a model's per-dimension steering effects):

1. standardise each dimension (scikit-learn's `StandardScaler`: mean 0, population SD 1);
2. choose k by the best silhouette score of `KMeans(n_clusters=k, random_state=42)` (scikit-learn's
   default `n_init`) on all D dimensions, over k = 2..10 (at most countries - 1);
3. for every subset of 1..D-1 dimensions, cluster the countries on that subset alone with the same k
   and seed, and take the adjusted Rand index against the clustering on all D dimensions;
4. report the median ARI per subset size r.

A table too small to cluster gives a reason instead of numbers (`Unavailable`): fewer than
`MIN_COUNTRIES` countries, fewer than 2 dimensions, or no k with two or more distinct clusters.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

SEED = 42
K_MAX = 10
# With 3 countries any 2-cluster split has 3 possible outcomes, so ARI = 1 happens 1 time in 3 by
# chance: at least k + 1 countries with k >= 2 is not enough to mean anything; 4 is the floor.
MIN_COUNTRIES = 4
MAX_DIMENSIONS = 12  # 2^12 - 2 = 4094 subsets, each one KMeans fit


@dataclass(frozen=True)
class Unavailable:
    reason: str


@dataclass(frozen=True)
class PaperExtrapolability:
    k: int
    silhouettes: pd.DataFrame  # k, silhouette
    subsets: pd.DataFrame      # r, dimensions, ari
    medians: dict[int, float]  # r -> median ARI over the subsets of size r
    countries: int


def _kmeans(x: np.ndarray, k: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, random_state=SEED).fit_predict(x)


def choose_k(x: np.ndarray, k_max: int = K_MAX) -> tuple[int | None, pd.DataFrame]:
    """The k in 2..min(k_max, n - 1) with the best silhouette (the smallest such k on ties); None when
    no k gives two or more distinct clusters (all countries alike)."""
    from sklearn.metrics import silhouette_score

    rows = []
    for k in range(2, min(k_max, len(x) - 1) + 1):
        labels = _kmeans(x, k)
        if len(np.unique(labels)) >= 2:
            rows.append({"k": k, "silhouette": float(silhouette_score(x, labels))})
    table = pd.DataFrame(rows, columns=["k", "silhouette"])
    if table.empty:
        return None, table
    return int(table.k.iloc[int(np.argmax(table.silhouette.to_numpy()))]), table


def paper_extrapolability(table: pd.DataFrame) -> PaperExtrapolability | Unavailable:
    """The paper's procedure on a countries x dimensions table (rows with a missing value dropped)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    table = table.dropna()
    n, d = table.shape
    if d < 2:
        return Unavailable(f"{d} dimension(s): subsets of the dimensions need at least 2")
    if d > MAX_DIMENSIONS:
        return Unavailable(f"{d} dimensions: {2 ** d - 2} subsets are too many to cluster (at most "
                           f"{MAX_DIMENSIONS} dimensions)")
    if n < MIN_COUNTRIES:
        return Unavailable(f"{n} countries: clustering needs at least {MIN_COUNTRIES} (k >= 2 clusters, k + 1 "
                           "countries, and with 3 countries an ARI of 1 comes by chance 1 time in 3)")
    x = StandardScaler().fit_transform(table.to_numpy(dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # duplicate points: fewer distinct clusters than k
        k, silhouettes = choose_k(x)
        if k is None:
            return Unavailable(f"the {n} countries have the same scores on every dimension: nothing to cluster")
        everything = _kmeans(x, k)
        columns = list(table.columns)
        rows = []
        for r in range(1, d):
            for subset in combinations(range(d), r):
                ari = adjusted_rand_score(everything, _kmeans(x[:, list(subset)], k))
                rows.append({"r": r, "dimensions": ", ".join(columns[i] for i in subset), "ari": float(ari)})
    subsets = pd.DataFrame(rows, columns=["r", "dimensions", "ari"])
    medians = {int(r): float(g.median()) for r, g in subsets.groupby("r").ari}
    return PaperExtrapolability(k, silhouettes, subsets, medians, n)


def ward_clusters(table: pd.DataFrame) -> np.ndarray:
    """labscope's earlier method: Ward clustering of the unscaled scores into min(3, countries - 1) groups."""
    from sklearn.cluster import AgglomerativeClustering

    k = min(3, len(table) - 1)
    return AgglomerativeClustering(n_clusters=k).fit_predict(table.to_numpy())


def kmeans_clusters(table: pd.DataFrame, k: int) -> np.ndarray:
    """The paper's clustering with a given k: standardised scores, KMeans with seed 42."""
    from sklearn.preprocessing import StandardScaler

    return _kmeans(StandardScaler().fit_transform(table.to_numpy(dtype=float)), k)
