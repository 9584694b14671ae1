"""Load and validate a dataset spec (conf/<dataset>.toml) into frozen dataclasses.

Every engine reads its spec through `load_spec`; a spec that is wrong raises `SpecError`,
whose message names the file and the offending key (the CLI turns it into exit code 2).
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

TYPES = ("string", "int", "float", "timestamp", "category")
NUMERIC = ("int", "float")
IMPUTES = ("none", "mean", "median", "mode", "constant")
CLIPS = ("none", "iqr", "zscore")
SCALES = ("none", "zscore", "minmax", "robust")
ENCODES = ("none", "index", "onehot")
ON_INVALID = ("null", "reject")
DEFAULT_NULL_TOKENS = ("", "NA", "N/A", "null", "NULL", "NaN", "?")

DATASET_KEYS = {"name", "delimiter", "header", "null_tokens", "key", "drop"}
COLUMN_KEYS = {
    "name",
    "output",
    "type",
    "required",
    "range",
    "on_invalid",
    "impute",
    "fill",
    "clip",
    "scale",
    "encode",
}
# Sections later pipeline stages read (features, labels, model); validated by those stages.
OPEN_SECTIONS = {"features", "label", "model", "stream", "simulate"}
ALERTS_KEYS = {"window_hours", "min_lead_hours", "max_false_per_device_day", "repeat_hours"}
STREAM_KEYS = {"watermark", "quiet", "top_sensors", "buckets"}
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(second|minute|hour|day)s?\s*")
DEFAULT_QUIET = "30 minutes"


class SpecError(ValueError):
    """A spec that cannot be used; the message names the file and the key."""

    def __init__(self, path: str, key: str, problem: str):
        self.path, self.key, self.problem = path, key, problem
        super().__init__(f"{path}: {key}: {problem}")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    output: str = ""
    required: bool = False
    range: tuple[float, float] | None = None
    on_invalid: str = "null"
    impute: str = "none"
    fill: object = None
    clip: str = "none"
    scale: str = "none"
    encode: str = "none"

    @property
    def out(self) -> str:
        return self.output or self.name

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC

    @property
    def needs_quantiles(self) -> bool:
        """Exact median and quartiles cost a sort; only these columns pay it."""
        return self.impute == "median" or self.clip == "iqr" or self.scale == "robust"

    @property
    def needs_vocab(self) -> bool:
        return self.type == "category" or self.impute == "mode"

    @property
    def rejects_invalid(self) -> bool:
        return self.required or self.on_invalid == "reject"


@dataclass(frozen=True)
class Alerts:
    """[alerts]: how predictions are judged per event (DESIGN.md, "Judging predictions")."""

    window_hours: float = 72.0  # W: an alert this long before a failure is a useful warning
    min_lead_hours: float = 1.0  # L: an alert later than failure - L is too late to act on
    max_false_per_device_day: float = 0.02  # the false-alarm budget alerting is chosen for
    # an episode still above the threshold this long after its alert ends, and the reading
    # opens a new one (a reminder, as Alertmanager's repeat_interval); None: never
    repeat_hours: float | None = None

    @property
    def repeat_us(self) -> int | None:
        return None if self.repeat_hours is None else round(self.repeat_hours * 3_600_000_000)


@dataclass(frozen=True)
class Spec:
    path: str
    sha256: str
    name: str
    columns: tuple[Column, ...]
    delimiter: str = ","
    header: bool = True
    null_tokens: frozenset[str] = frozenset(DEFAULT_NULL_TOKENS)
    key: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)
    alerts: Alerts = Alerts()

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file; raise SpecError naming the file and key."""
    path = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SpecError(path, "(file)", f"cannot read spec: {exc.strerror}") from None
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(path, "(toml)", f"not valid TOML: {exc}") from None
    return parse_spec(doc, path, hashlib.sha256(data).hexdigest())


def parse_spec(doc: dict, path: str = "<spec>", sha256: str = "") -> Spec:
    unknown = set(doc) - {"dataset", "columns", "alerts"} - OPEN_SECTIONS
    if unknown:
        raise SpecError(path, sorted(unknown)[0], "unknown section")
    ds = _table(doc.get("dataset"), path, "dataset")
    _no_unknown(ds, DATASET_KEYS, path, "dataset")
    name = _typed(ds, "name", str, path, "dataset", required=True)
    delimiter = _typed(ds, "delimiter", str, path, "dataset", default=",")
    if delimiter != "whitespace" and (len(delimiter) != 1 or delimiter in '"\r\n'):
        raise SpecError(path, "dataset.delimiter", 'one character (not a quote), or "whitespace"')
    header = _typed(ds, "header", bool, path, "dataset", default=True)
    nulls = _str_list(ds, "null_tokens", path, list(DEFAULT_NULL_TOKENS))
    raw_cols = doc.get("columns")
    if not isinstance(raw_cols, list) or not raw_cols:
        raise SpecError(path, "columns", "at least one [[columns]] table is required")
    columns = tuple(_column(c, i, path) for i, c in enumerate(raw_cols))
    names = [c.name for c in columns]
    _unique(names, path, "columns.name")
    key = _str_list(ds, "key", path, [])
    drop = _str_list(ds, "drop", path, [])
    for i, k in enumerate(key):
        if k not in names:
            raise SpecError(path, f"dataset.key[{i}]", f"{k!r} is not a column")
    if not header:
        for i, d in enumerate(drop):
            if d not in names:
                raise SpecError(path, f"dataset.drop[{i}]", f"{d!r} is not a column")
    outs = [c.out for c in columns if c.name not in drop]
    _unique(outs, path, "columns.output")
    extra = {k: doc[k] for k in OPEN_SECTIONS if k in doc}
    alerts = _alerts(doc.get("alerts", {}), path)
    return Spec(
        path,
        sha256,
        name,
        columns,
        delimiter,
        header,
        frozenset(nulls),
        tuple(key),
        tuple(drop),
        extra,
        alerts,
    )


def _alerts(raw, path: str) -> Alerts:
    """The optional [alerts] section: numbers, window_hours > min_lead_hours >= 0."""
    tbl = _table(raw, path, "alerts")
    _no_unknown(tbl, ALERTS_KEYS, path, "alerts")
    for key, value in tbl.items():
        if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
            raise SpecError(path, f"alerts.{key}", f"must be a number >= 0, got {value!r}")
    alerts = Alerts(**{k: float(v) for k, v in tbl.items()})
    if not alerts.window_hours > alerts.min_lead_hours:
        raise SpecError(
            path,
            "alerts.window_hours",
            f"must be greater than min_lead_hours ({alerts.window_hours:g} <= {alerts.min_lead_hours:g})",
        )
    if alerts.repeat_hours is not None and not alerts.repeat_hours > 0:
        raise SpecError(path, "alerts.repeat_hours", f"must be a number > 0, got {tbl['repeat_hours']!r}")
    return alerts


@dataclass(frozen=True)
class StreamConfig:
    """[stream]: watermark delay, alert episode quiet time, top-k sensors, state buckets.
    quiet None: not set in the spec (the stream then takes the model card's, else 30 minutes)."""

    watermark: str = "2 minutes"  # how late (event time) an event may arrive and still be scored
    quiet: str | None = None  # an alert episode ends after the probability stays below this long
    top_sensors: int = 3  # sensors named in an alert
    # state keys: devices are hashed into this many (fixed per checkpoint); None: not set, the
    # job picks (streaming/restarts.bucket_count: one per core of a local master)
    buckets: int | None = None

    @property
    def watermark_us(self) -> int:
        return duration_us(self.watermark)

    @property
    def quiet_us(self) -> int:
        return duration_us(self.quiet or DEFAULT_QUIET)


def duration_us(text: str) -> int:
    """Microseconds of "2 minutes", "30 seconds", "1.5 hours" (the form Spark's withWatermark takes)."""
    m = DURATION.fullmatch(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration like '2 minutes'")
    return round(float(m.group(1)) * UNITS[m.group(2)] * 1_000_000)


def stream_config(spec: Spec) -> StreamConfig:
    """The [stream] section, validated; every key is optional."""
    raw = spec.extra.get("stream", {})
    tbl = _table(raw, spec.path, "stream")
    _no_unknown(tbl, STREAM_KEYS, spec.path, "stream")
    config = StreamConfig(**tbl)
    for key in ("watermark", "quiet"):
        value = getattr(config, key)
        if (value is not None or key == "watermark") and not (
            isinstance(value, str) and DURATION.fullmatch(value)
        ):
            raise SpecError(spec.path, f"stream.{key}", f'a duration like "2 minutes", got {value!r}')
    for key in ("top_sensors", "buckets"):
        value = getattr(config, key)
        if (value is not None or key == "top_sensors") and (type(value) is not int or value < 1):
            raise SpecError(spec.path, f"stream.{key}", f"an integer >= 1, got {value!r}")
    return config


def with_stream(spec: Spec, **values) -> Spec:
    """spec with [stream] keys set (e.g. the bucket count a stream resolved at its first start)."""
    stream = {**spec.extra.get("stream", {}), **values}
    return replace(spec, extra={**spec.extra, "stream": stream})


def _column(raw, i: int, path: str) -> Column:
    where = f"columns[{i}]"
    tbl = _table(raw, path, where)
    name = _typed(tbl, "name", str, path, where, required=True)
    if not name.strip() or name != name.strip():
        raise SpecError(path, f"{where}.name", "must be non-empty without surrounding spaces")
    where = f"columns[{i}] ({name})"
    _no_unknown(tbl, COLUMN_KEYS, path, where)
    ctype = _choice(tbl, "type", TYPES, path, where, None)
    col = dict(
        name=name,
        type=ctype,
        output=_typed(tbl, "output", str, path, where, default=""),
        required=_typed(tbl, "required", bool, path, where, default=False),
        on_invalid=_choice(tbl, "on_invalid", ON_INVALID, path, where, "null"),
        impute=_choice(tbl, "impute", IMPUTES, path, where, "none"),
        clip=_choice(tbl, "clip", CLIPS, path, where, "none"),
        scale=_choice(tbl, "scale", SCALES, path, where, "none"),
        encode=_choice(tbl, "encode", ENCODES, path, where, "none"),
        range=_range(tbl, path, where),
        fill=tbl.get("fill"),
    )
    numeric = ctype in NUMERIC
    for key in ("clip", "scale"):
        if col[key] != "none" and not numeric:
            raise SpecError(path, f"{where}.{key}", f"{key} needs an int or float column, not {ctype}")
    if col["range"] is not None and not numeric:
        raise SpecError(path, f"{where}.range", f"range needs an int or float column, not {ctype}")
    if col["encode"] != "none" and ctype != "category":
        raise SpecError(path, f"{where}.encode", f"encode needs a category column, not {ctype}")
    if col["impute"] in ("mean", "median") and not numeric:
        raise SpecError(path, f"{where}.impute", f"{col['impute']} needs an int or float column")
    if col["impute"] == "mode" and ctype == "timestamp":
        raise SpecError(path, f"{where}.impute", "mode is not defined for timestamps")
    if (col["impute"] == "constant") != ("fill" in tbl):
        raise SpecError(path, f"{where}.fill", 'fill is given exactly when impute = "constant"')
    if "fill" in tbl:
        col["fill"] = _fill(tbl["fill"], ctype, path, f"{where}.fill")
    return Column(**col)


def _fill(value, ctype: str, path: str, key: str):
    if ctype == "int" and type(value) is int:
        return value
    if ctype == "float" and type(value) in (int, float) and math.isfinite(value):
        return float(value)
    if ctype in ("string", "category") and isinstance(value, str):
        return value
    if ctype == "timestamp" and isinstance(value, str):
        from sensorpipe.core.values import parse_timestamp  # noqa: PLC0415 (avoid cycle)

        micros = parse_timestamp(value)
        if micros is not None:
            return micros
    raise SpecError(path, key, f"{value!r} is not a valid {ctype} value")


def _range(tbl: dict, path: str, where: str):
    if "range" not in tbl:
        return None
    r = tbl["range"]
    ok = (
        isinstance(r, list)
        and len(r) == 2
        and all(type(v) in (int, float) and math.isfinite(v) for v in r)
        and r[0] <= r[1]
    )
    if not ok:
        raise SpecError(path, f"{where}.range", "must be [low, high] with finite low <= high")
    return (float(r[0]), float(r[1]))


def _table(value, path: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise SpecError(path, where, "a table is required")
    return value


def _no_unknown(tbl: dict, known: set, path: str, where: str) -> None:
    for key in tbl:
        if key not in known:
            raise SpecError(path, f"{where}.{key}", f"unknown key (known: {', '.join(sorted(known))})")


def _typed(tbl, key, kind, path, where, default=None, required=False):
    if key not in tbl:
        if required:
            raise SpecError(path, f"{where}.{key}", "is required")
        return default
    value = tbl[key]
    if type(value) is not kind:
        raise SpecError(path, f"{where}.{key}", f"must be a {kind.__name__}, got {value!r}")
    return value


def _choice(tbl, key, choices, path, where, default):
    value = _typed(tbl, key, str, path, where, default=default, required=default is None)
    if value not in choices:
        raise SpecError(path, f"{where}.{key}", f"{value!r} is not one of {', '.join(choices)}")
    return value


def _str_list(tbl, key, path, default):
    value = tbl.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(path, f"dataset.{key}", "must be a list of strings")
    return value


def _unique(names, path, key):
    seen = set()
    for n in names:
        if n in seen:
            raise SpecError(path, key, f"{n!r} appears twice")
        seen.add(n)
