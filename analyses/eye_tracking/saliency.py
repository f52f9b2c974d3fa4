"""Saliency metrics between maps and fixations (Bylinskii et al. 2019; Kümmerer et al. 2015), a simple
image-based saliency model (spectral residual, Hou & Zhang 2007) and the centre-bias baseline.

Conventions follow the MIT/Tübingen benchmark code, so values compare with pysaliency's
(tests/test_eye_tracking_metrics.py checks both against hand-computed values and pysaliency).
Fixations are (row, column) integer indices into the map.
"""

from __future__ import annotations

import numpy as np

EPS = 2.2204e-16  # the MIT benchmark's regulariser (MATLAB's eps)


def _density(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=float)
    m = m - min(m.min(), 0.0)
    total = m.sum()
    return m / total if total > 0 else np.full_like(m, 1.0 / m.size)


def nss(saliency: np.ndarray, rows, cols) -> float:
    """Mean of the standardised map (zero mean, unit SD over all pixels) at the fixations."""
    s = np.asarray(saliency, dtype=float)
    std = s.std()
    z = (s - s.mean()) / std if std > 0 else s - s.mean()
    return float(z[np.asarray(rows), np.asarray(cols)].mean())


def auc_judd(saliency: np.ndarray, rows, cols) -> float:
    """AUC-Judd: thresholds at the fixated values; hit rate over fixations, false-positive rate over the
    unfixated pixels; trapezoid area with the (0, 0) and (1, 1) ends."""
    s = np.asarray(saliency, dtype=float)
    fixated = np.zeros(s.shape, bool)
    fixated[np.asarray(rows), np.asarray(cols)] = True
    positives = np.sort(s[np.asarray(rows), np.asarray(cols)])[::-1]
    negatives = np.sort(s[~fixated])
    if len(negatives) == 0:
        return float("nan")
    thresholds = np.unique(positives)[::-1]
    hits = np.array([(positives >= t).mean() for t in thresholds])
    false = (len(negatives) - np.searchsorted(negatives, thresholds, side="left")) / len(negatives)
    hits = np.r_[0.0, hits, 1.0]
    false = np.r_[0.0, false, 1.0]
    return float(np.trapezoid(hits, false))


def cc(map_a: np.ndarray, map_b: np.ndarray) -> float:
    """Pearson correlation between two maps over pixels."""
    a, b = np.asarray(map_a, float).ravel(), np.asarray(map_b, float).ravel()
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def kl_divergence(predicted: np.ndarray, reference: np.ndarray) -> float:
    """KL(reference || predicted) in nats, both normalised to sum 1: sum Q log(eps + Q / (P + eps))."""
    p, q = _density(predicted), _density(reference)
    return float((q * np.log(EPS + q / (p + EPS))).sum())


def sim(map_a: np.ndarray, map_b: np.ndarray) -> float:
    """Histogram intersection of the two maps normalised to sum 1 (1: identical, 0: disjoint)."""
    return float(np.minimum(_density(map_a), _density(map_b)).sum())


def information_gain(predicted: np.ndarray, baseline: np.ndarray, rows, cols) -> float:
    """Bits per fixation that the predicted density gains over the baseline density (Kümmerer et al.):
    mean over fixations of log2(eps + P(x)) - log2(eps + B(x))."""
    p, b = _density(predicted), _density(baseline)
    rows, cols = np.asarray(rows), np.asarray(cols)
    return float(np.mean(np.log2(EPS + p[rows, cols]) - np.log2(EPS + b[rows, cols])))


def centre_bias(shape: tuple[int, int], sigma_cells: float) -> np.ndarray:
    """An isotropic Gaussian at the centre of the map: the baseline observers' centre bias follows."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    return np.exp(-(((yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2) / (2 * sigma_cells ** 2)))


def spectral_residual(image: np.ndarray, width: int = 64) -> np.ndarray:
    """Hou & Zhang's spectral residual saliency at the image's size: the log amplitude spectrum minus its
    local mean, back-transformed with the original phase, squared and blurred."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter, uniform_filter

    h, w = image.shape[:2]
    grey = np.asarray(Image.fromarray(np.asarray(image, np.uint8)).convert("L")
                      .resize((width, max(1, round(width * h / w)))), dtype=float)
    spectrum = np.fft.fft2(grey)
    log_amplitude = np.log(np.abs(spectrum) + 1e-9)
    residual = log_amplitude - uniform_filter(log_amplitude, 3, mode="nearest")
    small = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    small = gaussian_filter(small, 2.5)
    full = np.asarray(Image.fromarray(small.astype(np.float32)).resize((w, h), Image.BILINEAR), dtype=float)
    return full / full.max() if full.max() > 0 else full
