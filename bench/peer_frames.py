"""The polars and pandas peers of bench/clean.py (run through bench/peers.py).

Each one: parse every value with the grammar of peer_common.py, reject, de-duplicate on the key in file
order, fit the stats in one aggregation, derive the parameters with peer_common.derive, then impute ->
clip -> scale -> encode and write CSV. Each library is imported by its own peer only.
"""

from __future__ import annotations

from peer_common import (
    EPOCH_RE,
    FLOAT_RE,
    INT_RE,
    ISO_RE,
    QUANTILES,
    WS,
    derive,
    kept_columns,
    read_header,
    sort_vocab,
)

from sensorpipe.core.spec import Spec

# --- polars: lazy scan of lines, split on the delimiter; streaming collect, sink_csv -------------


def polars_timestamp(pl, t):
    """Epoch microseconds from epoch seconds or ISO-8601 (null: invalid)."""
    whole = t.str.extract(r"^(-?[0-9]+)", 1).cast(pl.Int64, strict=False)
    frac = t.str.extract(r"\.([0-9]+)$", 1).str.pad_end(6, "0").cast(pl.Int64, strict=False).fill_null(0)
    epoch = whole * 1_000_000 + pl.when(t.str.starts_with("-")).then(-frac).otherwise(frac)
    iso = t.str.replace(" ", "T", literal=True)  # to one layout: 'T', seconds, a time
    iso = iso.str.replace(r"(T[0-9]{2}:[0-9]{2})(Z|[+-]|$)", "${1}:00${2}")
    iso = pl.when(iso.str.len_bytes() == 10).then(iso + "T00:00:00").otherwise(iso)
    iso = [
        iso.str.to_datetime(f"%Y-%m-%dT%H:%M:%S%.f{zone}", time_unit="us", strict=False).dt.epoch("us")
        for zone in ("%#z", "")
    ]  # with a zone (Z, +hh:mm), then without (UTC)
    ok = t.str.contains(f"^(?:{ISO_RE})$")
    return pl.when(t.str.contains(f"^{EPOCH_RE}$")).then(epoch).when(ok).then(pl.coalesce(iso))


def polars_parse(pl, col, t):
    """Expression of one column's value from its text t (null: missing or invalid)."""
    if col.type == "timestamp":
        return polars_timestamp(pl, t)
    if not col.numeric:
        return t
    grammar, dtype = (FLOAT_RE, pl.Float64) if col.type == "float" else (INT_RE, pl.Int64)
    v = pl.when(t.str.contains(f"^(?:{grammar})$")).then(t.cast(dtype, strict=False))
    ok = v.is_finite() if col.type == "float" else v.is_not_null()
    if col.range:
        ok = ok & v.is_between(*col.range)
    return pl.when(ok).then(v)


def polars_valid(pl, spec: Spec, header: list[str], src: str):
    """LazyFrame of the surviving rows in file order, kept columns named c0.."""
    d, cols, names = spec.delimiter, spec.columns, [c.name for c in spec.columns]
    line = pl.col("line")
    lines = pl.scan_lines(src).slice(1).filter(line.str.count_matches(d, literal=True) == len(header) - 1)
    fields = lines.select(line.str.split_exact(d, len(header) - 1).struct.unnest())
    nulls = sorted(spec.null_tokens)
    texts = [pl.col(f"field_{header.index(c.name)}").str.strip_chars(WS) for c in cols]
    texts = [pl.when(t.is_in(nulls)).then(None).otherwise(t).alias(f"t{i}") for i, t in enumerate(texts)]
    values = [polars_parse(pl, c, pl.col(f"t{i}")).alias(f"v{i}") for i, c in enumerate(cols)]
    bad = [pl.col(f"t{i}").is_null() for i, c in enumerate(cols) if c.required]
    bad += [
        pl.col(f"t{i}").is_not_null() & pl.col(f"v{i}").is_null()
        for i, c in enumerate(cols)
        if c.rejects_invalid
    ]
    kept = [pl.col(f"v{names.index(c.name)}").alias(f"c{i}") for i, c in enumerate(kept_columns(spec))]
    keys = [f"v{names.index(k)}" for k in spec.key] or None
    return (
        fields.select(texts)
        .with_columns(values)
        .filter(~pl.any_horizontal(bad) if bad else pl.lit(True))
        .unique(subset=keys, keep="first", maintain_order=True)
        .select(kept)
    )


def polars_stats(pl, valid, kept) -> dict:
    aggs = []
    for i, c in enumerate(kept):
        x = pl.col(f"c{i}")
        stats = {"count": x.count(), "nulls": x.null_count()}
        if c.numeric:
            stats.update(mean=x.mean(), std=x.std(ddof=0), min=x.min(), max=x.max())
            if c.needs_quantiles:
                stats.update({k: x.quantile(q, interpolation="linear") for k, q in QUANTILES.items()})
        aggs += [e.alias(f"{c.name}\t{k}") for k, e in stats.items()]
    out = {c.name: {} for c in kept}
    for label, value in valid.select(aggs).row(0, named=True).items():
        name, key = label.split("\t")
        out[name][key] = value
    for i, c in enumerate(kept):
        if c.needs_vocab:
            out[c.name]["vocab"] = sort_vocab(valid.get_column(f"c{i}").drop_nulls().value_counts().rows())
    return out


def polars_outputs(pl, p, x) -> list:
    v = x if p.fill is None else x.fill_null(pl.lit(p.fill))
    if p.bounds:
        (lo, hi), (to_lo, to_hi) = p.bounds, p.clip_to
        v = pl.when(v < lo).then(pl.lit(to_lo)).when(v > hi).then(pl.lit(to_hi)).otherwise(v)
    if p.divisor == 0:
        v = pl.when(v.is_not_null()).then(pl.lit(0.0))
    elif p.divisor is not None:
        v = (v - p.center) / p.divisor
    elif p.col.type == "float":
        v = v.cast(pl.Float64)
    name = p.col.out
    if p.col.type == "timestamp":
        text = pl.from_epoch(v, time_unit="us").dt.strftime("%Y-%m-%dT%H:%M:%S%.6f")
        return [(text.str.strip_chars_end("0").str.strip_chars_end(".") + "Z").alias(name)]
    if p.col.encode == "onehot":
        return [(v == a).fill_null(False).cast(pl.Int8).alias(n) for a, n in zip(p.vocab, p.names)]
    if p.col.encode == "index":
        index = {a: i for i, a in enumerate(p.vocab)}
        return [v.replace_strict(index, default=-1, return_dtype=pl.Int64).alias(name)]
    return [v.alias(name)]


def run_polars(spec: Spec, src: str, dst: str) -> int:
    import polars as pl  # noqa: PLC0415

    header = read_header(spec, src)
    valid = polars_valid(pl, spec, header, src).collect(engine="streaming")
    kept = kept_columns(spec)
    stats = polars_stats(pl, valid, kept)
    params = [derive(c, stats[c.name]) for c in kept]
    fields = [e for i, p in enumerate(params) for e in polars_outputs(pl, p, pl.col(f"c{i}"))]
    valid.lazy().select(fields).sink_csv(dst, include_header=False)
    return valid.height


# --- pandas: read_csv(engine="pyarrow") into Arrow strings, vectorized parse, to_csv ----------


def pandas_timestamp(pd, t):
    """UTC datetimes from epoch seconds or ISO-8601 texts (NaT: invalid)."""
    epoch = t.str.fullmatch(EPOCH_RE).fillna(False)
    parts = t.where(epoch).str.extract(r"^(?P<whole>-?[0-9]+)(?:\.(?P<frac>[0-9]+))?$")
    frac = pd.to_numeric(parts["frac"].str.pad(6, side="right", fillchar="0")).fillna(0)
    micros = pd.to_numeric(parts["whole"]) * 1_000_000 + frac.where(
        ~t.str.startswith("-").fillna(False), -frac
    )
    iso = t.where(~epoch & t.str.fullmatch(ISO_RE).fillna(False))
    iso = iso.where(iso.str.len() != 10, iso + "T00:00:00")  # a date alone: midnight
    zoned = iso.str.contains(r"(?:Z|[+-][0-9]{2}:?[0-9]{2})$").fillna(False)
    iso = iso.where(zoned, iso + "Z")  # no zone is UTC (to_datetime misreads naive texts among zoned)
    iso = pd.to_datetime(iso, format="ISO8601", utc=True, errors="coerce")
    return iso.where(~epoch, pd.to_datetime(micros.astype("Int64"), unit="us", utc=True))


def pandas_parse(pd, col, t):
    """Series of one column's values from its texts t (NA: missing or invalid)."""
    if col.type == "timestamp":
        return pandas_timestamp(pd, t)
    if not col.numeric:
        return t
    if col.type == "float":  # Arrow's cast reads the grammar's texts; to_numeric would go via objects
        v = t.where(t.str.fullmatch(FLOAT_RE).fillna(False)).astype("float64[pyarrow]").astype("float64")
    else:  # to_numeric turns an out-of-range int into NA where Arrow's cast raises
        v = pd.to_numeric(t.where(t.str.fullmatch(INT_RE).fillna(False)), errors="coerce").astype("Int64")
    ok = v.between(*col.range) if col.range else v.notna()
    return v.where(ok & (v.abs() != float("inf")))


def pandas_valid(pd, pa, spec: Spec, src: str):
    """DataFrame of the surviving rows in file order, kept columns named c0.."""
    # ArrowDtype(string) reaches Arrow's reader as the column type; "string[pyarrow]" or str would
    # read "01500" as a double first and hand back "1500.0". A wrong field count: the row is skipped.
    text = pd.ArrowDtype(pa.string())
    raw = pd.read_csv(
        src, sep=spec.delimiter, engine="pyarrow", dtype=text, keep_default_na=False, on_bad_lines="skip"
    )
    raw.columns = [h.strip(WS) for h in raw.columns]
    nulls = list(spec.null_tokens)
    bad = pd.Series(False, index=raw.index)
    values = {}
    for c in spec.columns:
        t = raw[c.name].str.strip(WS)
        t = t.mask(t.isin(nulls))
        v = pandas_parse(pd, c, t)
        if c.required:
            bad |= t.isna()
        if c.rejects_invalid:
            bad |= t.notna() & v.isna()
        values[c.name] = v
    valid = pd.DataFrame(values)[~bad]
    if spec.key:
        valid = valid.drop_duplicates(subset=list(spec.key), keep="first")
    kept = kept_columns(spec)
    return valid[[c.name for c in kept]].set_axis([f"c{i}" for i in range(len(kept))], axis=1)


def pandas_stats(valid, kept) -> dict:
    out = {}
    for i, c in enumerate(kept):
        x = valid[f"c{i}"]
        st = {"count": int(x.count()), "nulls": int(x.isna().sum())}
        if c.numeric and st["count"]:
            kind = int if c.type == "int" else float
            st.update(mean=float(x.mean()), std=float(x.std(ddof=0)), min=kind(x.min()), max=kind(x.max()))
            if c.needs_quantiles:
                qs = x.astype("float64").quantile(list(QUANTILES.values()))
                st.update({k: float(q) for k, q in zip(QUANTILES, qs)})
        if c.needs_vocab:
            st["vocab"] = sort_vocab(x.value_counts().items())
        out[c.name] = st
    return out


def pandas_outputs(pd, p, x) -> dict:
    v = x if p.fill is None else x.fillna(p.fill)
    if p.bounds:
        (lo, hi), (to_lo, to_hi) = p.bounds, p.clip_to
        v = v.mask(v < lo, to_lo).mask(v > hi, to_hi)
    if p.divisor == 0:
        v = v.notna().astype("float64").where(v.notna()) * 0.0
    elif p.divisor is not None:
        v = (v - p.center) / p.divisor
    elif p.col.type == "float":
        v = v.astype("float64")
    if p.col.type == "timestamp":  # format each distinct instant once (a fleet shares them)
        codes, instants = pd.factorize(v)
        texts = instants.strftime("%Y-%m-%dT%H:%M:%S.%f").str.rstrip("0").str.rstrip(".") + "Z"
        return {p.col.out: pd.Series(texts.take(codes), index=v.index).where(codes >= 0)}
    if p.col.encode == "onehot":
        return {n: (v == a).fillna(False).astype("int8") for a, n in zip(p.vocab, p.names)}
    if p.col.encode == "index":
        index = {a: i for i, a in enumerate(p.vocab)}
        return {p.col.out: v.map(index).fillna(-1).astype("Int64").where(v.notna())}
    return {p.col.out: v}


def run_pandas(spec: Spec, src: str, dst: str) -> int:
    import pandas as pd  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415

    read_header(spec, src)
    valid = pandas_valid(pd, pa, spec, src)
    kept = kept_columns(spec)
    stats = pandas_stats(valid, kept)
    params = [derive(c, stats[c.name]) for c in kept]
    out = {}
    for i, p in enumerate(params):
        out.update(pandas_outputs(pd, p, valid[f"c{i}"]))
    pd.DataFrame(out).to_csv(dst, header=False, index=False)
    return len(valid)
