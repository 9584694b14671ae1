"""Decision-threshold rules on out-of-fold predictions (predict 1 when p >= threshold).

The F1 of a cut is a step function of the threshold: between two neighbouring predicted
probabilities nothing changes, and near its best it is flat to within the noise of a few units.
`max_f1` takes the best cut itself, which lies on the edge of that flat top, right against the
probabilities of the readings it just let through; a new unit a little below them is missed or a
healthy one a little above them alarms. `plateau_midpoint` takes the middle, in probability, of
the run of cuts around the best whose F1 is within `tol` of it; `smoothed_max` the best of the
F1 curve averaged over a window of thresholds. bench/cmapss_seeds.py --nested compares them by
nested cross-validation on training units only: the same held-out F1 on average, but the
plateau's middle moves far less with the split of the folds (RESULTS in the README), so
classifier.train picks the per-reading threshold with `plateau_midpoint`.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve

PLATEAU_TOL = 0.005  # F1 within half a point of the best: "tied" at the two decimals it is read at
SMOOTH_WIDTH = 0.1  # smoothed_max: F1 averaged over thresholds within +-0.05


def f1_curve(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cuts, F1): each distinct probability, ascending, and the F1 of predicting p >= it."""
    precision, recall, cuts = precision_recall_curve(np.asarray(y, dtype=int), np.asarray(proba, dtype=float))
    precision, recall = precision[:-1], recall[:-1]
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(precision), where=total > 0)
    return cuts, f1


def max_f1(y: np.ndarray, proba: np.ndarray) -> float:
    """The probability cut (predict 1 when p >= cut) with the highest F1 (the lowest such)."""
    cuts, f1 = f1_curve(y, proba)
    return float(cuts[int(np.argmax(f1))])


def plateau_midpoint(y: np.ndarray, proba: np.ndarray, tol: float = PLATEAU_TOL) -> float:
    """The middle of the contiguous run of cuts, around the best, with F1 >= best - tol."""
    cuts, f1 = f1_curve(y, proba)
    best = int(np.argmax(f1))
    near = f1 >= f1[best] - tol
    low = high = best
    while low > 0 and near[low - 1]:
        low -= 1
    while high < len(cuts) - 1 and near[high + 1]:
        high += 1
    return float((cuts[low] + cuts[high]) / 2)


def smoothed_max(y: np.ndarray, proba: np.ndarray, width: float = SMOOTH_WIDTH, step: float = 0.01) -> float:
    """The threshold, on a grid of `step`, whose F1 averaged over thresholds within width/2 is
    highest (the lowest such if several tie)."""
    y, proba = np.asarray(y, dtype=int), np.asarray(proba, dtype=float)
    grid = np.round(np.arange(1, round(1 / step)) * step, 10)  # 0.3, not 0.30000000000000004
    order = np.sort(proba)
    positives = np.sort(proba[y == 1])
    predicted = len(order) - np.searchsorted(order, grid, side="left")  # p >= t
    hits = len(positives) - np.searchsorted(positives, grid, side="left")
    denominator = predicted + len(positives)
    f1 = np.divide(2 * hits, denominator, out=np.zeros(len(grid)), where=denominator > 0)
    half = int(round(width / 2 / step))
    padded = np.pad(f1, half, mode="edge")
    smooth = np.convolve(padded, np.ones(2 * half + 1) / (2 * half + 1), mode="valid")
    return float(grid[int(np.argmax(smooth))])


RULES = {"max_f1": max_f1, "plateau_midpoint": plateau_midpoint, "smoothed_max": smoothed_max}
