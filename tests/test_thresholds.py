"""The threshold rules of sensorpipe/model/thresholds.py on six readings worked out by hand.

proba  0.1  0.2  0.3  0.5  0.7  0.9
label   0    1    0    1    1    1      (4 positives)

F1 of predicting p >= cut is 2 TP / (predicted + 4):
cut     0.1   0.2   0.3   0.5   0.7   0.9
F1      8/10  8/9   6/8   6/7   4/6   2/5
        .800  .889  .750  .857  .667  .400
"""

from __future__ import annotations

import numpy as np
import pytest

from sensorpipe.model.thresholds import f1_curve, max_f1, plateau_midpoint, smoothed_max

PROBA = np.array([0.1, 0.2, 0.3, 0.5, 0.7, 0.9])
LABEL = np.array([0, 1, 0, 1, 1, 1])


def test_the_f1_curve():
    cuts, f1 = f1_curve(LABEL, PROBA)
    assert cuts.tolist() == [0.1, 0.2, 0.3, 0.5, 0.7, 0.9]
    assert f1 == pytest.approx([8 / 10, 8 / 9, 6 / 8, 6 / 7, 4 / 6, 2 / 5])


def test_max_f1_is_the_best_cut_itself():
    assert max_f1(LABEL, PROBA) == 0.2


def test_the_plateau_is_the_contiguous_run_near_the_best():
    # tol 0.15: F1 >= 0.889 - 0.15 = 0.739 at 0.1, 0.2, 0.3, 0.5; 0.7 (.667) ends the run.
    # Its middle: (0.1 + 0.5) / 2 = 0.3
    assert plateau_midpoint(LABEL, PROBA, tol=0.15) == pytest.approx(0.3)
    # tol 0.05: F1 >= 0.839 at 0.2 and 0.5, but 0.3 (.750) between them cuts the run: 0.2 alone
    assert plateau_midpoint(LABEL, PROBA, tol=0.05) == 0.2


def test_the_smoothed_curve_peaks_elsewhere():
    # a grid of 0.1..0.9; p >= t gives the F1 of the cut at or above t:
    # t    0.1  0.2  0.3  0.4  0.5  0.6  0.7  0.8  0.9
    # F1   .800 .889 .750 .857 .857 .667 .667 .400 .400
    # averaged with both neighbours (the edges repeated): 0.1 (.8+.8+.889)/3 = .8296,
    # 0.2 (.8+.889+.75)/3 = .8130, 0.3 (.889+.75+.857)/3 = .8320, 0.4 (.75+.857+.857)/3 = .8214
    assert smoothed_max(LABEL, PROBA, width=0.2, step=0.1) == 0.3
