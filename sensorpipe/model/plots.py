"""PNG plots of a classifier's scores: ROC, precision-recall, confusion matrix, importance.

Drawn on matplotlib's Agg canvas directly (no pyplot, no global backend state), so they
work headless and from any thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve


def _figure(size=(5.0, 4.0)) -> tuple[Figure, object]:
    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path.name


def write_plots(
    out: Path, y: np.ndarray, proba: np.ndarray, threshold: float, importance: pd.Series, title: str
) -> list[str]:
    """Write roc.png, pr.png, confusion.png (of out-of-fold scores) and importance.png."""
    scored = f"{title}, out of fold"
    return [
        roc_plot(out / "roc.png", y, proba, scored),
        pr_plot(out / "pr.png", y, proba, threshold, scored),
        confusion_plot(out / "confusion.png", y, (proba >= threshold).astype(int), scored),
        importance_plot(out / "importance.png", importance, title),
    ]


def roc_plot(path: Path, y, proba, title: str) -> str:
    fig, ax = _figure()
    fpr, tpr, _ = roc_curve(y, proba)
    ax.plot(fpr, tpr, lw=1.5)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC: {title}")
    return _save(fig, path)


def pr_plot(path: Path, y, proba, threshold: float, title: str) -> str:
    fig, ax = _figure()
    precision, recall, cuts = precision_recall_curve(y, proba)
    ax.plot(recall, precision, lw=1.5)
    at = int(np.searchsorted(cuts, threshold)) if len(cuts) else 0
    ax.plot([recall[at]], [precision[at]], "o", c="red", label=f"threshold {threshold:.3f}")
    ax.legend(loc="lower left")
    ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall: {title}")
    return _save(fig, path)


def confusion_plot(path: Path, y, pred, title: str) -> str:
    fig, ax = _figure((4.0, 3.6))
    matrix = confusion_matrix(y, pred, labels=[0, 1])
    ax.imshow(matrix, cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        ax.text(j, i, str(n), ha="center", va="center", c="white" if n > matrix.max() / 2 else "black")
    ax.set(xticks=[0, 1], yticks=[0, 1], xlabel="predicted", ylabel="actual", title=f"Confusion: {title}")
    return _save(fig, path)


def importance_plot(path: Path, importance: pd.Series, title: str, top: int = 20) -> str:
    shown = importance.head(top)[::-1]
    fig, ax = _figure((6.0, 0.25 * len(shown) + 1.2))
    ax.barh(list(shown.index), shown.to_numpy())
    ax.tick_params(axis="y", labelsize=7)
    ax.set(xlabel="importance", title=f"Feature importance: {title}")
    return _save(fig, path)
