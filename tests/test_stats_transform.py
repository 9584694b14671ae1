"""Fitted statistics and the parameters derived from them, against hand-computed values."""

import math

import pytest

from sensorpipe.core.spec import Column
from sensorpipe.core.stats import column_stats, merge_moments, moments_of, quantiles_from_runs, sort_vocab
from sensorpipe.core.transform import RowTransformer, apply_value, fit_params, output_names


def runs(values):
    out = []
    for v in sorted(values):
        if out and out[-1][0] == v:
            out[-1][1] += 1
        else:
            out.append([v, 1])
    return out


def test_quantiles_linear_like_numpy():
    # [1, 2, 3, 4]: q1 at 0.75 -> 1.75, median 2.5, q3 at 2.25 -> 3.25
    assert quantiles_from_runs(4, runs([4, 1, 3, 2])) == {"q1": 1.75, "median": 2.5, "q3": 3.25}
    assert quantiles_from_runs(1, runs([7.0])) == {"q1": 7.0, "median": 7.0, "q3": 7.0}
    # 11 values of the messy corpus' pressure column
    got = quantiles_from_runs(11, runs([100, 102, 103, 104, 105, 106, 113, 118, 119, 120, 122]))
    assert got == {"q1": 103.5, "median": 106, "q3": 118.5}
    assert quantiles_from_runs(5, runs([2, 2, 2, 9, 9])) == {"q1": 2, "median": 2, "q3": 9}
    assert quantiles_from_runs(0, []) == {"q1": None, "median": None, "q3": None}


def test_moments_merge_equals_whole():
    whole = moments_of([1.0, 2.0, 3.0, 4.0, 10.0])
    merged = merge_moments(moments_of([1.0, 2.0]), moments_of([3.0, 4.0, 10.0]))
    assert whole[0] == merged[0] == 5
    assert whole[1] == merged[1] == 4.0
    assert math.isclose(whole[2], 50.0) and math.isclose(merged[2], 50.0)  # sum of squared deviations
    assert merge_moments(None, merged) == merged


def test_vocab_order_count_then_value():
    assert sort_vocab({"b": 2, "a": 2, "c": 5, "d": 1}) == [["c", 5], ["a", 2], ["b", 2], ["d", 1]]


def num(**kw):
    return Column(name="x", type=kw.pop("type", "float"), **kw)


def stats(**kw):
    st = column_stats(num(), 4, 1, [4, 2.5, 5.0, 1.0, 4.0], {"q1": 1.75, "median": 2.5, "q3": 3.25}, None)
    st.update(kw)
    return st


def test_stats_entry_population_std():
    st = stats()
    assert st["mean"] == 2.5 and st["std"] == math.sqrt(1.25) and st["min"] == 1.0
    assert st["median"] is None  # this column's spec needs no quantiles


def test_iqr_clip_and_robust_scale():
    p = fit_params(num(impute="median", clip="iqr", scale="robust"), stats(median=2.5, q1=1.75, q3=3.25))
    assert p.bounds == (-0.5, 5.5)  # 1.75 - 1.5*1.5, 3.25 + 1.5*1.5
    assert (p.center, p.divisor, p.fill) == (2.5, 1.5, 2.5)
    counts = {"imputed": 0, "clipped": 0}
    assert apply_value(p, 100.0, counts) == 2.0  # clipped to 5.5 -> (5.5-2.5)/1.5
    assert apply_value(p, None, counts) == 0.0
    assert counts == {"imputed": 1, "clipped": 1}


def test_minmax_narrowed_to_clip_bounds():
    p = fit_params(num(clip="zscore", scale="minmax"), stats(mean=0.0, std=1.0, min=-10.0, max=2.0))
    assert p.bounds == (-3.0, 3.0)
    assert (p.center, p.divisor) == (-3.0, 5.0)  # min narrowed to -3, max stays 2
    assert apply_value(p, -10.0) == 0.0 and apply_value(p, 2.0) == 1.0


def test_zero_spread_scales_to_zero():
    p = fit_params(num(scale="zscore"), stats(std=0.0))
    assert apply_value(p, 123.0) == 0.0
    p = fit_params(num(scale="robust"), stats(median=1.0, q1=1.0, q3=1.0))
    assert apply_value(p, 5.0) == 0.0


def test_int_column_stays_int_with_half_even_fill():
    col = num(type="int", impute="mean")
    assert fit_params(col, stats(mean=2.5)).fill == 2
    assert fit_params(col, stats(mean=3.5)).fill == 4
    scaled = fit_params(num(type="int", impute="mean", scale="zscore"), stats(mean=2.5, std=1.0))
    assert scaled.fill == 2.5 and apply_value(scaled, None) == 0.0


def test_encoding_onehot_index_and_unseen():
    vocab = [["L", 6], ["M", 3], ["H", 1]]
    st = column_stats(
        Column(name="t", type="category", encode="onehot"), 10, 0, None, None, {"L": 6, "M": 3, "H": 1}
    )
    assert st["vocab"] == vocab
    onehot = fit_params(Column(name="t", type="category", encode="onehot"), st)
    index = fit_params(Column(name="t", type="category", encode="index"), st)
    assert output_names([onehot, index]) == ["t__L", "t__M", "t__H", "t"]
    rt = RowTransformer([onehot, index])
    assert rt.csv_line(["M", "H"]) == "0,1,0,2"
    assert rt.csv_line(["Z", "Z"]) == "0,0,0,-1"
    assert rt.csv_line([None, None]) == "0,0,0,"


@pytest.mark.parametrize("value,text", [("a,b", '"a,b"'), ('q"', '"q"""'), ("", '""'), (None, "")])
def test_csv_quoting(value, text):
    rt = RowTransformer([fit_params(Column(name="s", type="string"), {})])
    assert rt.csv_line([value]) == text


def test_constant_column_has_exact_mean_and_zero_std_after_merging():
    # 0.03 in three partials: Chan's merge alone leaves roundoff in the mean and spread
    parts = [moments_of([0.03] * n) for n in (7, 11, 13)]
    merged = parts[0]
    for p in parts[1:]:
        merged = merge_moments(merged, p)
    st = column_stats(num(scale="zscore"), 31, 0, merged, None, None)
    assert (st["mean"], st["std"], st["min"], st["max"]) == (0.03, 0.0, 0.03, 0.03)
    assert apply_value(fit_params(num(scale="zscore"), st), 0.03) == 0.0
