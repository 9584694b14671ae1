"""A versioned model registry on a directory of any file store (a local path, hdfs://),
persisted with skops (never pickle).

    <model dir>/current                  the live version's name, replaced by one atomic rename
    <model dir>/<UTC time>-<hash>/       model.skops, card.json, roc/pr/confusion/importance.png

A version directory is complete before it appears (built in a staging directory and
renamed; a remote registry gets a version saved locally first, then uploaded). `read_version`
checks the model file's SHA-256 against the card and the card's types against the reviewed
ones; skops then builds only the non-default types the card lists. A Spark job reads and
verifies a version on its driver and ships the bytes to its workers, which load them once
per process (`cached_model`), never from a path.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import skops.io as sio

from sensorpipe.core.hashing import file_sha256
from sensorpipe.core.output import write_json
from sensorpipe.model.classifier import Model
from sensorpipe.model.features import FeatureConfig
from sensorpipe.store.base import FILE, Store
from sensorpipe.store.uri import store_for

MODEL_FILE = "model.skops"
CARD_FILE = "card.json"
CURRENT = "current"
# Types beyond skops' defaults that the candidates need, reviewed: the tree predictor
# indexes its node arrays unchecked, so its file must be the one whose hash the card holds;
# Bunch (the voting ensemble's named_estimators_) is a dict with attribute access;
# IndicatorAlarm (sensorpipe/model/rule.py) holds a model, two column positions, two levels.
REVIEWED_TYPES = frozenset(
    {
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.utils._bunch.Bunch",
        "sensorpipe.model.rule.IndicatorAlarm",
    }
)


class ModelIntegrityError(RuntimeError):
    """A model directory whose files do not match their card, or a card not to be trusted."""


@dataclass(frozen=True)
class Version:
    """A version as a driver read and verified it: where it is, its card, and its model file's
    bytes, or (shipped to Spark's workers) what holds them in `.value`, a broadcast."""

    where: str
    card: dict
    data: Any

    @property
    def sha256(self) -> str:
        return self.card["model_sha256"]


def save_model(model: Model, model_dir: str | Path, card: dict, plots=None, store: Store | None = None):
    """Write a new version (model, card, plots) and make it current; return where it is (a
    Path for a local registry, a URI string for a remote one).

    `card` holds what the caller knows (spec, data fingerprint, metrics, ...); the file
    hash, skops types and library versions are added here. `plots(dir) -> [names]`
    draws into the version directory. A remote registry (hdfs://, or any `store` given)
    gets the version built in a local temporary registry, then uploaded (`publish`).
    """
    if store is None and "://" not in str(model_dir):
        root = Path(model_dir)
        root.mkdir(parents=True, exist_ok=True)
        final = _save_local(model, root, card, plots)
        set_current(root, final.name)
        return final
    with tempfile.TemporaryDirectory(prefix="sensorpipe-model-") as tmp:
        return publish(_save_local(model, Path(tmp), card, plots), str(model_dir), store)


def _save_local(model: Model, root: Path, card: dict, plots) -> Path:
    """The version directory, built in a staging directory of root and renamed into place."""
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        sio.dump(model.estimator, stage / MODEL_FILE)
        digest = file_sha256(stage / MODEL_FILE)
        types = sorted(sio.get_untrusted_types(file=stage / MODEL_FILE))
        unreviewed = sorted(set(types) - REVIEWED_TYPES)
        if unreviewed:
            raise ModelIntegrityError(f"the model needs types nobody reviewed: {unreviewed}")
        created = datetime.now(UTC)
        version = f"{created:%Y%m%dT%H%M%S%fZ}-{digest[:8]}"
        full = {
            "version": version,
            "created": created.isoformat().replace("+00:00", "Z"),
            **card,
            "features": model.features.names,
            "feature_config": model.features.to_dict(),
            "threshold": model.threshold,
            "model_file": MODEL_FILE,
            "model_sha256": digest,
            "skops_types": types,
            "libraries": library_versions(),
            "plots": plots(stage) if plots else [],
        }
        write_json(stage / CARD_FILE, full)
        final = root / version
        os.rename(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return final


def publish(local_version: Path, model_dir: str, store: Store | None = None) -> str:
    """Upload a local version directory into a registry (a hidden staging directory there,
    renamed whole) and make it current; return the version's URI."""
    store = store or store_for(model_dir)
    root = model_dir.rstrip("/")
    store.mkdir(root)
    stage = store.make_stage(root, ".staging-")
    try:
        for f in sorted(local_version.iterdir()):
            store.write_bytes(store.join(stage, f.name), f.read_bytes())
        final = store.join(root, local_version.name)
        store.rename(stage, final)
    except BaseException:
        store.delete(stage)
        raise
    set_current(root, local_version.name, store)
    return final


def set_current(model_dir: str | Path, version: str, store: Store | None = None) -> None:
    """Point `current` at version atomically: readers see the old name or the new one (a
    file beside it, then one rename over `current`: os.replace, or Hadoop's rename with overwrite)."""
    store = store or store_for(str(model_dir))
    root = str(model_dir).rstrip("/")
    if store.kind(store.join(root, f"{version}/{CARD_FILE}")) != FILE:
        raise ModelIntegrityError(f"{root}/{version}: not a model version (no {CARD_FILE})")
    tmp = store.join(root, f"{CURRENT}.tmp.{uuid.uuid4().hex[:8]}")
    try:
        store.write_bytes(tmp, (version + "\n").encode())
        store.replace(tmp, store.join(root, CURRENT))
    except BaseException:
        store.delete(tmp)
        raise


def resolve(model_dir: str | Path, store: Store | None = None) -> str:
    """The version directory `current` names (a version directory itself is accepted too);
    a local one by its absolute path."""
    store = store or store_for(str(model_dir))
    root = str(model_dir).rstrip("/")
    root = root if "://" in root else os.path.abspath(root)
    if store.kind(store.join(root, CARD_FILE)) == FILE:
        return root
    pointer = store.join(root, CURRENT)
    if store.kind(pointer) != FILE:
        raise ModelIntegrityError(f"{root}: no model registry here (no {CURRENT}, no {CARD_FILE})")
    name = store.read_bytes(pointer).decode("utf-8").strip()
    if not name or "/" in name or name.startswith("."):
        raise ModelIntegrityError(f"{pointer}: names no version ({name!r})")
    return store.join(root, name)


def current_version(model_dir: str | Path) -> Path:
    """resolve() of a local registry, as a Path."""
    return Path(resolve(model_dir))


def read_card(where: str | Path, store: Store | None = None) -> dict:
    """A version directory's card.json."""
    store = store or store_for(str(where))
    path = store.join(str(where), CARD_FILE)
    try:
        if store.kind(path) != FILE:
            raise ModelIntegrityError(f"{path}: missing; {where} is not a model version")
        return json.loads(store.read_bytes(path).decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelIntegrityError(f"{path}: unreadable card ({exc})") from None


def read_version(model_dir: str | Path, store: Store | None = None) -> Version:
    """The current version's card and model bytes, refused when the bytes differ from the
    card's SHA-256 or the card trusts types nobody reviewed."""
    store = store or store_for(str(model_dir))
    where = resolve(model_dir, store)
    card = read_card(where, store)
    path = store.join(where, card.get("model_file", MODEL_FILE))
    if store.kind(path) != FILE:
        raise ModelIntegrityError(f"{path}: missing, though its card names it")
    data = store.read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    if digest != card.get("model_sha256"):
        raise ModelIntegrityError(
            f"{path}: SHA-256 {digest} differs from the card's {card.get('model_sha256')}; "
            "the file was changed after training, refusing to load it"
        )
    types = card.get("skops_types")
    if not isinstance(types, list) or not set(types) <= REVIEWED_TYPES:
        raise ModelIntegrityError(f"{where}/{CARD_FILE}: skops_types {types!r} are not all reviewed types")
    return Version(where, card, data)


def model_of(version: Version) -> Model:
    """The model of a verified version's bytes; skops builds only the types its card lists."""
    card, data = version.card, _bytes(version)
    try:
        estimator = sio.loads(data, trusted=card["skops_types"])
    except sio.exceptions.UntrustedTypesFoundException as exc:
        raise ModelIntegrityError(f"{version.where}: holds types its card does not list: {exc}") from None
    features = FeatureConfig.from_dict(card["feature_config"])
    if getattr(estimator, "n_features_in_", len(features.names)) != len(features.names):
        raise ModelIntegrityError(
            f"{version.where}: the model takes {estimator.n_features_in_} features, "
            f"the card lists {len(features.names)}"
        )
    return Model(estimator, features, float(card["threshold"]), card)


def load_model(model_dir: str | Path, store: Store | None = None) -> Model:
    """Load the current version, refusing a file that differs from its card."""
    return model_of(read_version(model_dir, store))


def _bytes(version: Version) -> bytes:
    return version.data if isinstance(version.data, bytes) else version.data.value


def library_versions() -> dict:
    import matplotlib
    import numpy
    import pandas
    import sklearn
    import skops

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "matplotlib": matplotlib.__version__,
    }


# Per process (a Spark Python worker): (model, an id of that load) by the model file's SHA-256.
_MODELS: dict[str, tuple[Model, str]] = {}


def cached_model(version: Version) -> tuple[Model, str]:
    """(model, id of the load) of a version the driver verified: built from its bytes once per
    process (a broadcast's value is read only then), and refused when the bytes are not the
    ones the card and the job started with."""
    if version.sha256 not in _MODELS:
        data = _bytes(version)
        if hashlib.sha256(data).hexdigest() != version.sha256:
            raise ModelIntegrityError(
                f"{version.where}: the bytes shipped are not the model {version.sha256}"
            )
        _MODELS[version.sha256] = (model_of(replace(version, data=data)), uuid.uuid4().hex)
    return _MODELS[version.sha256]
