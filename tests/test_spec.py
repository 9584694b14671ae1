"""Spec loading: the shipped specs load; every kind of bad spec exits 2 naming file and key."""

import pytest

from conftest import ROOT
from sensorpipe.cli import main as cli
from sensorpipe.core.spec import SpecError, load_spec

GOOD = """
[dataset]
name = "t"
key = ["id"]
[[columns]]
name = "id"
type = "int"
required = true
[[columns]]
name = "x"
type = "float"
impute = "mean"
scale = "zscore"
"""


def write(tmp_path, text):
    p = tmp_path / "spec.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", ["sensors", "ai4i", "cmapss"])
def test_shipped_specs_load(name):
    spec = load_spec(ROOT / "conf" / f"{name}.toml")
    assert spec.name == name
    assert len(spec.sha256) == 64


def test_defaults(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    assert spec.delimiter == "," and spec.header is True
    assert spec.null_tokens == {"", "NA", "N/A", "null", "NULL", "NaN", "?"}
    x = spec.column("x")
    assert (x.out, x.required, x.on_invalid, x.clip, x.encode) == ("x", False, "null", "none", "none")


def test_ai4i_spec_drops_leaks():
    spec = load_spec(ROOT / "conf" / "ai4i.toml")
    assert spec.drop == ("TWF", "HDF", "PWF", "OSF", "RNF")
    assert spec.column("Air temperature [K]").out == "air_temperature_k"


BAD = [
    # (replace this, with this, the key the message must name)
    ('name = "t"', 'name = "t"\nsurprise = 1', "dataset.surprise"),
    ('type = "float"', 'type = "double"', "columns[1] (x).type"),
    ('impute = "mean"', 'impute = "mean"\nencode = "onehot"', "columns[1] (x).encode"),
    ('impute = "mean"', 'impute = "sometimes"', "columns[1] (x).impute"),
    ("required = true", 'required = "yes"', "columns[0] (id).required"),
    ('key = ["id"]', 'key = ["nope"]', "dataset.key[0]"),
    ('impute = "mean"', 'impute = "constant"', "columns[1] (x).fill"),
    ('impute = "mean"', 'impute = "mean"\nrange = [5.0, 1.0]', "columns[1] (x).range"),
    ('impute = "mean"', 'impute = "mean"\ncolour = "red"', "columns[1] (x).colour"),
    ('name = "id"', 'name = "x"', "columns.name"),
    ("[dataset]", "[datasets]\n[dataset]", "datasets"),
]


@pytest.mark.parametrize("old,new,key", BAD)
def test_bad_spec_names_file_and_key(tmp_path, capsys, old, new, key):
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.key == key
    assert str(path) in str(err.value)
    code = cli(
        [
            "clean",
            "--engine",
            "pipe",
            "--spec",
            str(path),
            "--input",
            str(path),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2
    message = capsys.readouterr().err
    assert str(path) in message and key in message
    assert not (tmp_path / "out").exists()


def test_encode_on_float_is_refused(tmp_path):
    with pytest.raises(SpecError, match="encode needs a category column"):
        load_spec(write(tmp_path, GOOD.replace('scale = "zscore"', 'encode = "index"')))


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(SpecError, match=r"\(toml\)"):
        load_spec(write(tmp_path, "[dataset\n"))
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec(tmp_path / "absent.toml")


def test_constant_fill_must_match_type(tmp_path):
    text = GOOD.replace('impute = "mean"', 'impute = "constant"\nfill = "warm"')
    with pytest.raises(SpecError, match="fill"):
        load_spec(write(tmp_path, text))
    ok = load_spec(write(tmp_path, GOOD.replace('impute = "mean"', 'impute = "constant"\nfill = 1')))
    assert ok.column("x").fill == 1.0
