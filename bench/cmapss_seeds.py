"""C-MAPSS FD001 at the last test cycle, one row per cross-validation split seed.

    .venv/bin/python bench/cmapss_seeds.py [--seeds 0 1 2 3 4] [--spec conf/cmapss.toml] [--dump out.npz]
    .venv/bin/python bench/cmapss_seeds.py --nested [--inner pairs|train] [--draws 200] [--seeds ...]

Trains exactly as `sensorpipe train` does (sensorpipe.model.classifier.train on the
training file's features and labels), with [model] seed set to each seed (it fixes the
device-grouped folds and the trees' random state), then judges each model at the last
cycle of the 100 test units against RUL_FD001.txt, as `sensorpipe evaluate` does. The
threshold and the model come from training data only. --dump keeps each seed's
out-of-fold and test probabilities for analysis.

--nested compares the threshold rules of sensorpipe/model/thresholds.py on the training file
only (the test file is not read). For each seed the outer folds are train's own unit-grouped
folds. --inner pairs (cheap): each outer fold's threshold is picked on the other four folds,
each predicted by a --model fitted on the remaining three (a 4-fold inner CV whose models never
saw the outer fold); the outer fold is scored by the model fitted on the other four, i.e. train's
own out-of-fold predictions. --inner train: on the other four folds' units `train` runs as it
ships (its own 5-fold CV, the model re-chosen, the refit), the rules pick on its out-of-fold
predictions and its refitted model scores the outer fold. Judged per rule, pooled over the
outer folds: F1 over every held-out reading (each reading stands for a unit cut there, as the
test units are), and the mean F1 at one random cut per unit (100 units, a test-sized draw)
over --draws draws, with its paired difference to max_f1; then the spread of the thresholds.
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from threadpoolctl import threadpool_limits

from sensorpipe.core.spec import load_spec
from sensorpipe.model.classifier import (
    _folds,
    classification_metrics,
    make_estimator,
    model_config,
    score,
    train,
)
from sensorpipe.model.features import feature_config, with_features, without_warming
from sensorpipe.model.labels import rul_max, with_labels
from sensorpipe.model.raw import last_readings, read_raw, read_truth
from sensorpipe.model.thresholds import RULES

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmapss"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="conf/cmapss.toml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dump", help="npz file for each seed's out-of-fold and test probabilities")
    ap.add_argument("--nested", action="store_true", help="compare the threshold rules by nested CV")
    ap.add_argument("--inner", choices=["pairs", "train"], default="pairs", help="--nested: see above")
    ap.add_argument("--draws", type=int, default=200, help="--nested: draws of one random cut per unit")
    ap.add_argument(
        "--model", default="ensemble", help="--nested --inner pairs: the candidate train picks on FD001"
    )
    args = ap.parse_args()
    spec = load_spec(args.spec)
    features, config, horizon = feature_config(spec), model_config(spec), rul_max(spec)
    frame = read_raw(spec, DATA / "train_FD001.txt")
    frame = with_labels(without_warming(with_features(frame, features)), features, horizon)
    if args.nested:
        nested(frame, features, config, args)
        return
    last = last_readings(with_features(read_raw(spec, DATA / "test_FD001.txt"), features), features)
    y_test = (read_truth(DATA / "RUL_FD001.txt").to_numpy() <= horizon).astype(int)
    dump = {"y_test": y_test, "y_oof": frame["label"].to_numpy(), "rul_oof": frame["rul"].to_numpy()}
    print(f"{args.spec}: candidates {', '.join(config.candidates)}, {config.folds} folds, rul_max {horizon}")
    print("| seed | model | threshold | precision | recall | F1 | TP | FP | FN | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        start = time.perf_counter()
        with threadpool_limits(limits=args.threads):
            result = train(frame, features, replace(config, seed=seed))
            proba = score(last, result.model).to_numpy()
        m = classification_metrics(y_test, proba, result.model.threshold)
        pred = proba >= result.model.threshold
        tp, fp, fn = (
            int((pred & (y_test == 1)).sum()),
            int((pred & (y_test == 0)).sum()),
            int((~pred & (y_test == 1)).sum()),
        )
        took = time.perf_counter() - start
        print(
            f"| {seed} | {result.name} | {result.model.threshold:.3f} | {m['precision']:.3f} | {m['recall']:.3f}"
            f" | {m['f1']:.3f} | {tp} | {fp} | {fn} | {took:.0f} |",
            flush=True,
        )
        dump[f"oof_{seed}"], dump[f"test_{seed}"] = result.oof_proba, proba
        dump[f"threshold_{seed}"] = np.array(result.model.threshold)
    if args.dump:
        np.savez(args.dump, **dump)


def nested(frame, features, config, args) -> None:
    """The --nested comparison (module docstring): one row per seed and rule, then the means."""
    x = frame[features.names].to_numpy(dtype=float)
    y, units = frame["label"].to_numpy(dtype=int), frame[features.device].to_numpy()
    print(
        f"nested CV on the training file: --inner {args.inner}, model {args.model}, rules {', '.join(RULES)}"
    )
    print(
        "| seed | rule | outer-fold thresholds | F1 every reading | F1 one cut per unit (mean, sd) | paired diff |"
    )
    print("|---|---|---|---|---|---|")
    every: dict[str, list[float]] = {r: [] for r in RULES}
    at_cut: dict[str, list[np.ndarray]] = {r: [] for r in RULES}
    cuts: dict[str, list[float]] = {r: [] for r in RULES}
    saved = {"y_oof": y}
    for seed in args.seeds:
        start, cfg = time.perf_counter(), replace(config, seed=seed)
        folds = [held for _, held in _folds(y, units, cfg)]  # train's own folds for this seed
        with threadpool_limits(limits=args.threads):
            if args.inner == "pairs":
                outer, picked = pairs_nested(x, y, folds, args.model, cfg)
            else:
                outer, picked = train_nested(frame, features, folds, cfg)
        draws = one_cut_per_unit(units, args.draws, np.random.default_rng(seed))
        for rule in RULES:
            pred = np.zeros(len(y), dtype=int)
            for held, t in zip(folds, picked[rule], strict=True):
                pred[held] = outer[held] >= t
            cuts[rule] += picked[rule]
            every[rule].append(f1_score(y, pred))
            at_cut[rule].append(np.array([f1_score(y[d], pred[d]) for d in draws]))
            diff = at_cut[rule][-1] - at_cut["max_f1"][-1]
            print(
                f"| {seed} | {rule} | {', '.join(f'{t:.3f}' for t in picked[rule])} | {every[rule][-1]:.4f}"
                f" | {at_cut[rule][-1].mean():.4f}, {at_cut[rule][-1].std():.4f}"
                f" | {diff.mean():+.4f} (sd {diff.std():.4f}) |"
            )
        print(f"(seed {seed}: {time.perf_counter() - start:.0f} s)", flush=True)
        if args.dump:  # after each seed: the outer out-of-fold probabilities
            saved[f"oof_{seed}"] = outer
            np.savez(args.dump, **saved)
    print(
        "\n| rule | mean F1 every reading | mean F1 one cut per unit | diff to max_f1 per seed | threshold mean, sd |"
    )
    print("|---|---|---|---|---|")
    for rule in RULES:
        diffs = [(a - b).mean() for a, b in zip(at_cut[rule], at_cut["max_f1"], strict=True)]
        print(
            f"| {rule} | {np.mean(every[rule]):.4f} | {np.mean([a.mean() for a in at_cut[rule]]):.4f}"
            f" | {', '.join(f'{d:+.4f}' for d in diffs)} | {np.mean(cuts[rule]):.3f}, {np.std(cuts[rule]):.3f} |"
        )


def pairs_nested(x, y, folds, name: str, cfg) -> tuple[np.ndarray, dict[str, list[float]]]:
    """--inner pairs: (the outer out-of-fold probabilities, each rule's threshold per outer fold)."""
    outer = np.zeros(len(y))
    for k, held in enumerate(folds):
        outer[held] = fit_without(x, y, folds, [k], name, cfg).predict_proba(x[held])[:, 1]
    inner = {}  # (j, k): fold j's probabilities by the model that saw neither j nor k
    for j, k in itertools.combinations(range(len(folds)), 2):
        model = fit_without(x, y, folds, [j, k], name, cfg)
        inner[j, k] = model.predict_proba(x[folds[j]])[:, 1]
        inner[k, j] = model.predict_proba(x[folds[k]])[:, 1]
    picked: dict[str, list[float]] = {r: [] for r in RULES}
    for k in range(len(folds)):
        others = [j for j in range(len(folds)) if j != k]
        y_in = np.concatenate([y[folds[j]] for j in others])
        p_in = np.concatenate([inner[j, k] for j in others])
        for rule, pick in RULES.items():
            picked[rule].append(pick(y_in, p_in))
    return outer, picked


def train_nested(frame, features, folds, cfg) -> tuple[np.ndarray, dict[str, list[float]]]:
    """--inner train: the same, with `train` itself run on each outer fold's other units."""
    outer = np.zeros(len(frame))
    picked: dict[str, list[float]] = {r: [] for r in RULES}
    for held in folds:
        result = train(frame.drop(frame.index[held]), features, cfg)
        outer[held] = score(frame.iloc[held], result.model).to_numpy()
        for rule, pick in RULES.items():
            picked[rule].append(pick(result.oof_label, result.oof_proba))
    return outer, picked


def fit_without(x, y, folds, out: list[int], name: str, cfg):
    """The candidate `name` fitted on every row outside the folds `out`."""
    keep = np.setdiff1d(np.arange(len(y)), np.concatenate([folds[k] for k in out]))
    return make_estimator(name, cfg).fit(x[keep], y[keep])


def one_cut_per_unit(units: np.ndarray, draws: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`draws` index arrays, each holding one row of every unit chosen uniformly at random."""
    rows_of = [np.flatnonzero(units == u) for u in np.unique(units)]
    return [np.array([rng.choice(rows) for rows in rows_of]) for _ in range(draws)]


if __name__ == "__main__":
    main()
