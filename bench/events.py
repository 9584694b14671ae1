"""Issue 15's event table: the model and the one-sensor baseline judged per event on the
held-out devices of several simulated fleets (sensorpipe.model.events), per seed and pooled.

    .venv/bin/python bench/events.py --seeds 0 1 2 [--spec conf/sensors.toml] [--work /tmp/events]

Per seed: `sensorpipe simulate` a default fleet (30 devices, --hours 720, 5-minute readings) and
`sensorpipe clean --engine pipe` it, both kept in --work and reused; then the same steps as
`sensorpipe train` (features, failure labels, device hold-out, sampling, the alerting choice:
sensorpipe.model.workflow) without writing a registry, and the held-out devices judged with the
card's threshold and quiet. The figures: caught by mode, lead median and p10, false alerts per
device-day. --spec lets a variant spec (features, model, alerts) be measured the same way;
--tie-shares 0.05 0 also judges, on the same trained models and out-of-fold grid, the choice
alerting.choose makes at each near-tie share (the former rule and today's exact ties); --each
judges every candidate held-out at its own best out-of-fold setting (the card's "candidates").
--hours 2880 trains on a longer history (kept in --work apart from other lengths); with
--first-hours 720 the held-out devices are also judged on their first 720 h only (failures,
alerts and device-days), like with like against a 720-h run. --max-rows overrides [model].
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from sensorpipe.core.spec import duration_us, load_spec
from sensorpipe.core.transform import sensor_cleaning
from sensorpipe.model import alerting
from sensorpipe.model.classifier import Events, Model, apply_rule, make_estimator, model_config, score, train
from sensorpipe.model.evaluate import card_quiet_us
from sensorpipe.model.events import alerts_from_scores, judge_alerts, judge_failures, monitored_spans
from sensorpipe.model.features import feature_config, with_features, without_warming
from sensorpipe.model.features import fitted as fit_health
from sensorpipe.model.history import read_clean, read_log, split_devices, stratified_sample
from sensorpipe.model.labels import label_config, with_failure_labels
from sensorpipe.model.rule import with_alarm

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "sensorpipe.cli"]


def history_dirs(seed: int, work: Path, hours: int = 720) -> tuple[Path, Path]:
    """The seed's simulated and cleaned directories; 720 h keeps the former names."""
    tag = f"{seed}" if hours == 720 else f"{seed}-h{hours}"
    return work / f"sim{tag}", work / f"clean{tag}"


def history(seed: int, work: Path, base_spec: str, hours: int = 720) -> Path:
    """The seed's simulated and cleaned history (made once, then reused)."""
    sim, clean = history_dirs(seed, work, hours)
    if not (sim / "failures.csv").is_file():
        args = ["--devices", "30", "--hours", str(hours), "--interval-s", "300", "--seed", str(seed)]
        subprocess.run([*CLI, "simulate", "--spec", base_spec, *args, "--output", str(sim)], check=True)
    if not (clean / "_SUCCESS").is_file():
        step = ["clean", "--engine", "pipe", "--spec", base_spec, "--input", str(sim / "sensors.csv")]
        subprocess.run([*CLI, *step, "--output", str(clean)], check=True, stdout=subprocess.DEVNULL)
    return sim


def first_hours(rows: pd.DataFrame, failures: pd.DataFrame, cut, ts: str):
    """(mask of the rows before cut, the failures before cut): a run cut at `cut`."""
    return (rows[ts] < cut).to_numpy(), failures[failures[ts] < cut]


def judged(rows: pd.DataFrame, proba, threshold, quiet_us, failures, alerts_cfg, dev, ts):
    """(failures judged with caught / lead, alerts judged with false, device-days)."""
    scored = rows.assign(probability=proba)
    alerts = alerts_from_scores(scored, threshold, quiet_us, dev, ts, repeat_us=alerts_cfg.repeat_us)
    spans = monitored_spans(scored, dev, ts)
    mine = failures[failures[dev].isin(spans.index)]
    w, lead = alerts_cfg.window_hours, alerts_cfg.min_lead_hours
    f = judge_failures(mine, alerts, spans, w, lead, dev, ts)
    a = judge_alerts(alerts, mine, spans, w, dev, ts)
    days = float((spans["last"] - spans["first"]).sum() / pd.Timedelta(days=1))
    f = f.assign(alert_before=[_latest_before(alerts, d, t, dev, ts) for d, t in zip(f[dev], f[ts])])
    return f[f["judged"]], a, days


def _latest_before(alerts: pd.DataFrame, device, t, dev: str, ts: str) -> float:
    """Hours from the device's latest alert before t (any age) to t; NaN without one."""
    mine = alerts.loc[(alerts[dev] == device) & (alerts[ts] < t), ts]
    return (t - mine.max()) / pd.Timedelta(hours=1) if len(mine) else float("nan")


def run_seed(
    seed: int,
    spec_path: str,
    work: Path,
    shares=(),
    hours=720,
    first=None,
    max_rows=None,
    each=False,
    either=None,
) -> dict:
    """The seed's held-out figures with the card's choice; with `shares`, also with the choice
    alerting.choose makes at each near-tie share on the same out-of-fold grid ("rules"); with
    `first` (hours), also the held-out figures over the history's first hours only; with
    `each`, every candidate judged held-out at its own best out-of-fold setting ("each"); with
    `either` = (wear, drop), also the indicators alone at those fixed thresholds and the model
    OR them ("either": an alert where either fires, the card's quiet)."""
    spec = load_spec(spec_path)
    features, label, config = feature_config(spec), label_config(spec), model_config(spec)
    if max_rows:
        config = dataclasses.replace(config, max_rows=max_rows)
    sim = history(seed, work, str(ROOT / "conf" / "sensors.toml"), hours)
    columns = [features.device, features.order, *features.sensors]
    frame, stats = read_clean(history_dirs(seed, work, hours)[1], spec, columns)
    start = frame[features.order].min()
    maint = read_log(sim / "maintenance.csv", features)
    failures = read_log(sim / "failures.csv", features)
    features = fit_health(features, frame, sensor_cleaning(spec, stats, features.sensors), maint)
    frame = without_warming(with_features(frame, features, maint))
    frame = with_failure_labels(frame, features, failures, label["horizon_hours"])
    kept, out = split_devices(frame[features.device], config.holdout, config.seed)
    held, frame = frame[frame[features.device].isin(out)], frame[frame[features.device].isin(kept)]
    whole = frame
    if len(frame) > config.max_rows:
        frame = stratified_sample(frame, config.max_rows, config.seed)
    grids, search = [], alerting.search
    alerting.search = lambda tl, *a, **k: (
        grids.append((search(tl, *a, **k), len(tl.judged_keys))) or grids[-1][0]
    )
    try:
        result = train(frame, features, config, Events(whole, failures, spec.alerts))
    finally:
        alerting.search = search
    card = result.alerting
    quiet_us = card_quiet_us({"alerting": card})
    rows = held[[features.device, features.order]]
    dev, ts = features.device, features.order
    proba = score(held, result.model).to_numpy()
    rule = apply_rule(held, result.baseline)
    model = judged(rows, proba, result.model.threshold, quiet_us, failures, spec.alerts, dev, ts)
    base = judged(rows, rule, 0.5, quiet_us, failures, spec.alerts, dev, ts)
    early = {}
    if first:
        m, f = first_hours(rows, failures, start + pd.Timedelta(hours=first), ts)
        early["model"] = judged(rows[m], proba[m], result.model.threshold, quiet_us, f, spec.alerts, dev, ts)
        early["baseline"] = judged(rows[m], np.asarray(rule)[m], 0.5, quiet_us, f, spec.alerts, dev, ts)
    rules, fitted = {}, {result.name: result.model.estimator}
    for share in shares:
        grid, n = grids[0]
        row, _ = alerting.choose(grid, n, spec.alerts.max_false_per_device_day, share)
        name = str(row["model"])
        if name not in fitted:  # deployed as train deploys it: with the indicators' alarm, if any
            x, y = frame[features.names].to_numpy(dtype=float), frame["label"].to_numpy(dtype=int)
            fitted[name] = with_alarm(make_estimator(name, config), features).fit(x, y)
        p = score(held, Model(fitted[name], features, float(row["threshold"]))).to_numpy()
        q = int(row["quiet_us"])
        rules[share] = {
            "model": judged(rows, p, float(row["threshold"]), q, failures, spec.alerts, dev, ts),
            "baseline": judged(rows, rule, 0.5, q, failures, spec.alerts, dev, ts),
            "chosen": (name, float(row["threshold"]), row["quiet"]),
            "oof": (int(row["caught"]), n, int(row["false"]), float(row["false_rate"])),
        }
    own = {}
    for name, c in card["candidates"].items() if each else ():
        if name not in fitted:
            x, y = frame[features.names].to_numpy(dtype=float), frame["label"].to_numpy(dtype=int)
            fitted[name] = with_alarm(make_estimator(name, config), features).fit(x, y)
        p = score(held, Model(fitted[name], features, c["threshold"])).to_numpy()
        q = duration_us(c["quiet"])
        own[name] = judged(rows, p, c["threshold"], q, failures, spec.alerts, dev, ts)
    both = {}
    if either:
        hit = ((held["wear_level"] >= either[0]) | (held["drift_drop"] >= either[1])).to_numpy()
        both["indicators"] = judged(rows, hit.astype(float), 0.5, quiet_us, failures, spec.alerts, dev, ts)
        p_or = np.where(hit, 1.0, proba)  # 1.0 >= any threshold: the indicators' alert
        both["model or indicators"] = judged(
            rows, p_or, result.model.threshold, quiet_us, failures, spec.alerts, dev, ts
        )
    return {
        "model": model,
        "baseline": base,
        "each": own,
        "either": both,
        "chosen": (result.name, card["threshold"], card["quiet"]),
        "rules": rules,
        "first": early,
        "rows": (len(whole), len(frame)),
    }


def line(name: str, parts: list) -> str:
    f = pd.concat([p[0] for p in parts])
    false = int(sum(p[1]["false"].sum() for p in parts))
    days = sum(p[2] for p in parts)
    modes = " ".join(f"{m} {int(g['caught'].sum())}/{len(g)}" for m, g in f.groupby("mode", sort=True))
    leads = f["lead_hours"].dropna().to_numpy(dtype=float)
    med = f"{np.median(leads):5.1f}" if len(leads) else "  -  "
    p10 = f"{np.percentile(leads, 10):5.1f}" if len(leads) else "  -  "
    share = f["caught"].mean() if len(f) else float("nan")
    return (
        f"{name:<16} caught {int(f['caught'].sum()):>2}/{len(f):<2} ({share:4.0%}) {modes:<24}"
        f" lead med {med} p10 {p10}  false {false:>3} / {days:6.1f} d = {false / days:.4f}"
    )


def pooled_first(results) -> None:
    """The pooled figures over the first hours, when the runs judged them."""
    results = [r for r in results if r.get("first")]
    for who in ("model", "baseline") if results else ():
        print("  " + line(f"{who} first", [r["first"][who] for r in results]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--spec", default=str(ROOT / "conf" / "sensors.toml"))
    ap.add_argument("--work", default="/tmp/events", help="simulated and cleaned histories, reused")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hours", type=int, default=720, help="simulated history length (default 720)")
    ap.add_argument("--first-hours", type=int, help="also judge the held-out devices' first H hours")
    ap.add_argument("--max-rows", type=int, help="override the spec's [model] max_rows")
    ap.add_argument(
        "--detail", action="store_true", help="the model's missed failures, with its latest alert"
    )
    ap.add_argument("--quiets", nargs="+", help="try these alert quiets instead of alerting.QUIETS")
    ap.add_argument("--each", action="store_true", help="also judge every candidate at its own best setting")
    ap.add_argument(
        "--either", type=float, nargs=2, metavar=("WEAR", "DROP"),
        help="also judge the indicators at these fixed thresholds, alone and OR the model ([features.health])",
    )  # fmt: skip
    ap.add_argument("--save", help="also pickle each seed's judged events to SAVE-<seed>.pkl")
    ap.add_argument("--pool", nargs="+", help="only pool pickles written by --save (no training)")
    ap.add_argument(
        "--tie-shares", type=float, nargs="+", default=[],
        help="also judge the choice at these near-tie shares (alerting.choose's share; 0: exact ties)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    work = Path(args.work)
    if args.quiets:  # a variant of the alerting search's grid
        alerting.search.__defaults__ = (tuple(args.quiets),)
    work.mkdir(parents=True, exist_ok=True)
    if args.pool:
        results = {p: pd.read_pickle(p) for p in args.pool}
        print(f"pooled {len(results)} runs: {' '.join(args.pool)}")
        for who in ("model", "baseline"):
            print("  " + line(who, [r[who] for r in results.values()]))
        pooled_first(results.values())
        for share in next(iter(results.values())).get("rules", {}):
            print(f"  share {share:g}:")
            for who in ("model", "baseline"):
                print("    " + line(who, [r["rules"][share][who] for r in results.values()]))
        return 0
    results = {}
    with threadpool_limits(limits=args.threads):
        for seed in args.seeds:
            t0 = time.time()
            r = run_seed(
                seed, args.spec, work, args.tie_shares, args.hours, args.first_hours, args.max_rows, args.each,
                args.either,
            )  # fmt: skip
            results[seed] = r
            if args.save:
                pd.to_pickle(r, f"{args.save}-{seed}.pkl")
            rows = f"{r['rows'][0]} training rows, {r['rows'][1]} fitted"
            print(f"seed {seed} ({args.hours} h, {rows}): chose {r['chosen']} in {time.time() - t0:.0f} s")
            for who in ("model", "baseline"):
                print("  " + line(f"{who}", [r[who]]), flush=True)
            for who, v in {**r["each"], **r["either"]}.items():
                print("  " + line(f"{who} (own)", [v]), flush=True)
            for who, v in r["first"].items():
                print("  " + line(f"{who} first", [v]), flush=True)
            for share, v in r["rules"].items():
                caught, n, false, rate = v["oof"]
                print(
                    f"  share {share:g}: chose {v['chosen']}, out of fold {caught}/{n} false {false} = {rate:.4f}"
                )
                for who in ("model", "baseline"):
                    print("    " + line(who, [v[who]]), flush=True)
            if args.detail:
                missed = r["model"][0][~r["model"][0]["caught"]]
                for _, m in missed.iterrows():
                    print(
                        f"    missed {m['device_id']} {m['mode']}: latest alert {m['alert_before']:.1f} h before"
                    )
    print(f"pooled seeds {' '.join(map(str, args.seeds))} ({args.spec}, {args.hours} h):")
    for who in ("model", "baseline"):
        print("  " + line(who, [r[who] for r in results.values()]))
    pooled_first(results.values())
    each = [{**r.get("each", {}), **r.get("either", {})} for r in results.values()]
    for name in [n for n in each[0] if all(n in e for e in each)]:  # candidates every seed judged
        print("  " + line(f"{name} (own)", [e[name] for e in each]))
    for share in args.tie_shares:
        print(f"  share {share:g}:")
        for who in ("model", "baseline"):
            print("    " + line(who, [r["rules"][share][who] for r in results.values()]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
