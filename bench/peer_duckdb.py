"""The DuckDB peer of bench/clean.py (run through bench/peers.py): the spec as generated SQL.

read_csv(all_varchar) into a table whose rowid is the file order; one statement parses, rejects
and de-duplicates (ROW_NUMBER over the key); one aggregation fits the stats (quantile_cont for the
exact quartiles); the parameters come from peer_common.derive; COPY writes the clean CSV.
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

NO_SECONDS = "([T ][0-9]{2}:[0-9]{2})"  # "T12:30+01:00": DuckDB casts it only as "T12:30:00+01:00"
PADDED = r"^[ \t\r\n\f\v]|[ \t\r\n\f\v]$"  # RE2 sees the escapes


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_lit(value) -> str:
    if isinstance(value, float):
        return f"CAST('{value!r}' AS DOUBLE)"
    return sql_str(value) if isinstance(value, str) else str(value)


def duck_parse(col, t: str) -> str:
    """SQL of one column's parsed value from its trimmed, null-token-free text t (NULL: invalid)."""
    if col.type == "float":
        return f"CASE WHEN regexp_full_match({t}, '{FLOAT_RE}') THEN TRY_CAST({t} AS DOUBLE) END"
    if col.type == "int":
        return f"CASE WHEN regexp_full_match({t}, '{INT_RE}') THEN TRY_CAST({t} AS BIGINT) END"
    if col.type == "timestamp":
        return (
            f"CASE WHEN regexp_full_match({t}, '{EPOCH_RE}') "
            f"THEN TRY_CAST(TRY_CAST({t} AS DECIMAL(38, 6)) * 1000000 AS BIGINT) "
            f"WHEN regexp_full_match({t}, '{ISO_RE}') THEN epoch_us(coalesce(TRY_CAST({t} AS TIMESTAMPTZ), "
            f"TRY_CAST(regexp_replace({t}, '{NO_SECONDS}', '\\1:00') AS TIMESTAMPTZ))) END"
        )
    return t


def duck_check(col, x: str) -> str:
    """SQL of the parsed value x kept only when finite and in range."""
    ok = [f"isfinite({x})"] if col.type == "float" else []
    if col.range:
        ok.append(f"{x} BETWEEN {sql_lit(col.range[0])} AND {sql_lit(col.range[1])}")
    return f"CASE WHEN {' AND '.join(ok)} THEN {x} END" if ok else x


def duck_valid_sql(spec: Spec) -> str:
    """The surviving rows, kept columns c0.. : texts t, parsed x, checked v; then reject, dedup."""
    ws = " || ".join(f"chr({ord(ch)})" for ch in WS)
    nulls = ", ".join(sql_str(t) for t in sorted(spec.null_tokens))
    cols = spec.columns
    # read_csv nulled the exact null tokens; trimming is slow in DuckDB, so only padded texts pay it
    texts = [
        f"CASE WHEN regexp_matches({n}, {sql_str(PADDED)}) "
        f"THEN nullif_tokens(trim({n}, {ws}), [{nulls}]) ELSE {n} END AS t{i}"
        for i, n in enumerate(sql_ident(c.name) for c in cols)
    ]
    parsed = [f"{duck_parse(c, f't{i}')} AS x{i}" for i, c in enumerate(cols)]
    checked = [f"{duck_check(c, f'x{i}')} AS v{i}" for i, c in enumerate(cols)]
    bad = [f"t{i} IS NULL" for i, c in enumerate(cols) if c.required]
    bad += [f"(t{i} IS NOT NULL AND v{i} IS NULL)" for i, c in enumerate(cols) if c.rejects_invalid]
    names = [c.name for c in cols]
    kept = [f"v{names.index(c.name)} AS c{i}" for i, c in enumerate(kept_columns(spec))]
    keys = ", ".join(f"v{names.index(k)}" for k in spec.key) or "ln"
    return (
        f"WITH t AS (SELECT rowid AS ln, {', '.join(texts)} FROM raw), "
        f"p AS (SELECT *, {', '.join(parsed)} FROM t), "
        f"q AS (SELECT *, {', '.join(checked)} FROM p) "
        f"SELECT {', '.join(kept)} FROM q WHERE NOT ({' OR '.join(bad) or 'false'}) "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY ln) = 1"
    )


def duck_stats(con, kept) -> dict:
    aggs, where = [], []
    for i, c in enumerate(kept):
        x = f"c{i}"
        stats = {"count": f"count({x})", "nulls": f"count(*) - count({x})"}
        if c.numeric:
            stats.update(mean=f"avg({x})", std=f"stddev_pop({x})", min=f"min({x})", max=f"max({x})")
            if c.needs_quantiles:
                stats.update({k: f"quantile_cont({x}, {q})" for k, q in QUANTILES.items()})
        aggs += stats.values()
        where += [(c.name, k) for k in stats]
    out = {c.name: {} for c in kept}
    for (name, key), value in zip(where, con.execute(f"SELECT {', '.join(aggs)} FROM valid").fetchone()):
        out[name][key] = value
    for i, c in enumerate(kept):
        if c.needs_vocab:
            rows = con.execute(
                f"SELECT c{i}, count(*) FROM valid WHERE c{i} IS NOT NULL GROUP BY 1"
            ).fetchall()
            out[c.name]["vocab"] = sort_vocab(rows)
    return out


def duck_outputs(p, x: str) -> list[str]:
    """SQL of one column's clean output field(s)."""
    v = x if p.fill is None else f"coalesce({x}, {sql_lit(p.fill)})"
    if p.bounds:
        (lo, hi), (to_lo, to_hi) = p.bounds, p.clip_to
        v = (
            f"(CASE WHEN {v} < {sql_lit(lo)} THEN {sql_lit(to_lo)} "
            f"WHEN {v} > {sql_lit(hi)} THEN {sql_lit(to_hi)} ELSE {v} END)"
        )
    if p.divisor == 0:
        v = f"CASE WHEN {v} IS NOT NULL THEN 0.0::DOUBLE END"
    elif p.divisor is not None:
        v = f"({v} - {sql_lit(p.center)}) / {sql_lit(p.divisor)}"
    elif p.col.type == "float":
        v = f"CAST({v} AS DOUBLE)"
    if p.col.type == "timestamp":
        return [f"rtrim(rtrim(strftime(make_timestamp({v}), '%Y-%m-%dT%H:%M:%S.%f'), '0'), '.') || 'Z'"]
    if p.col.encode == "onehot":
        return [f"CASE WHEN {v} = {sql_lit(a)} THEN 1 ELSE 0 END" for a in p.vocab]
    if p.col.encode == "index":
        cases = " ".join(f"WHEN {sql_lit(a)} THEN {i}" for i, a in enumerate(p.vocab))
        return [f"CASE WHEN {v} IS NULL THEN NULL ELSE (CASE {v} {cases} ELSE -1 END) END"]
    return [v]


def run_duckdb(spec: Spec, src: str, dst: str) -> int:
    import duckdb  # noqa: PLC0415

    header = read_header(spec, src)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE MACRO nullif_tokens(t, tokens) AS CASE WHEN list_contains(tokens, t) THEN NULL ELSE t END"
    )
    columns = ", ".join(f"{sql_str(h)}: 'VARCHAR'" for h in header)
    nulls = ", ".join(sql_str(t) for t in sorted(spec.null_tokens))
    con.execute(
        f"CREATE TEMP TABLE raw AS SELECT * FROM read_csv({sql_str(src)}, header = true, "
        f"auto_detect = false, columns = {{{columns}}}, delim = {sql_str(spec.delimiter)}, "
        f"quote = '\"', escape = '\"', nullstr = [{nulls}], "
        "ignore_errors = true)"
    )  # ignore_errors: a row with a wrong field count is skipped
    con.execute(f"CREATE TEMP TABLE valid AS {duck_valid_sql(spec)}")
    kept = kept_columns(spec)
    stats = duck_stats(con, kept)
    params = [derive(c, stats[c.name]) for c in kept]
    fields = [e for i, p in enumerate(params) for e in duck_outputs(p, f"c{i}")]
    con.execute(f"COPY (SELECT {', '.join(fields)} FROM valid) TO {sql_str(dst)} (FORMAT csv, HEADER false)")
    return con.execute("SELECT count(*) FROM valid").fetchone()[0]
