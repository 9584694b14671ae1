"""C-MAPSS FD001 at the last test cycle, one row per cross-validation split seed.

    .venv/bin/python bench/cmapss_seeds.py [--seeds 0 1 2 3 4] [--spec conf/cmapss.toml] [--dump out.npz]

Trains exactly as `sensorpipe train` does (sensorpipe.model.classifier.train on the
training file's features and labels), with [model] seed set to each seed (it fixes the
device-grouped folds and the trees' random state), then judges each model at the last
cycle of the 100 test units against RUL_FD001.txt, as `sensorpipe evaluate` does. The
threshold and the model come from training data only. --dump keeps each seed's
out-of-fold and test probabilities for analysis.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from sensorpipe.core.spec import load_spec
from sensorpipe.model.classifier import classification_metrics, model_config, score, train
from sensorpipe.model.features import feature_config, with_features, without_warming
from sensorpipe.model.labels import rul_max, with_labels
from sensorpipe.model.raw import last_readings, read_raw, read_truth

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmapss"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="conf/cmapss.toml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dump", help="npz file for each seed's out-of-fold and test probabilities")
    args = ap.parse_args()
    spec = load_spec(args.spec)
    features, config, horizon = feature_config(spec), model_config(spec), rul_max(spec)
    frame = read_raw(spec, DATA / "train_FD001.txt")
    frame = with_labels(without_warming(with_features(frame, features)), features, horizon)
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


if __name__ == "__main__":
    main()
