"""A versioned model registry on a directory, persisted with skops (never pickle).

    <model dir>/current                  the live version's name, switched by os.replace
    <model dir>/<UTC time>-<hash>/       model.skops, card.json, roc/pr/confusion/importance.png

A version directory is complete before it appears (built in a staging directory and
renamed). `load_model` checks the model file's SHA-256 against the card before reading
it, and lets skops build only the non-default types the card lists, which must also be
among the types reviewed here.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import skops.io as sio

from sensorpipe.core.hashing import file_sha256
from sensorpipe.core.output import write_json
from sensorpipe.model.classifier import Model
from sensorpipe.model.features import FeatureConfig

MODEL_FILE = "model.skops"
CARD_FILE = "card.json"
CURRENT = "current"
# Types beyond skops' defaults that the candidates need, reviewed: the tree predictor
# indexes its node arrays unchecked, so its file must be the one whose hash the card holds;
# Bunch (the voting ensemble's named_estimators_) is a dict with attribute access.
REVIEWED_TYPES = frozenset(
    {"sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", "sklearn.utils._bunch.Bunch"}
)


class ModelIntegrityError(RuntimeError):
    """A model directory whose files do not match their card, or a card not to be trusted."""


def save_model(model: Model, model_dir: str | Path, card: dict, plots=None) -> Path:
    """Write a new version (model, card, plots) and make it current; return its directory.

    `card` holds what the caller knows (spec, data fingerprint, metrics, ...); the file
    hash, skops types and library versions are added here. `plots(dir) -> [names]`
    draws into the version directory.
    """
    root = Path(model_dir)
    root.mkdir(parents=True, exist_ok=True)
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
    set_current(root, version)
    return final


def set_current(model_dir: str | Path, version: str) -> None:
    """Point `current` at version atomically: readers see the old name or the new one."""
    root = Path(model_dir)
    if not (root / version / CARD_FILE).is_file():
        raise ModelIntegrityError(f"{root / version}: not a model version (no {CARD_FILE})")
    tmp = root / f"{CURRENT}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(version + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / CURRENT)


def current_version(model_dir: str | Path) -> Path:
    """The version directory `current` names; a version directory itself is accepted too."""
    root = Path(model_dir)
    if (root / CARD_FILE).is_file():
        return root
    try:
        name = (root / CURRENT).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ModelIntegrityError(f"{root}: no model registry here ({exc.strerror})") from None
    if not name or "/" in name or name.startswith("."):
        raise ModelIntegrityError(f"{root / CURRENT}: names no version ({name!r})")
    return root / name


def load_model(model_dir: str | Path) -> Model:
    """Load the current version, refusing a file that differs from its card."""
    where = current_version(model_dir)
    try:
        card = json.loads((where / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelIntegrityError(f"{where / CARD_FILE}: unreadable card ({exc})") from None
    path = where / card.get("model_file", MODEL_FILE)
    digest = file_sha256(path)
    if digest != card.get("model_sha256"):
        raise ModelIntegrityError(
            f"{path}: SHA-256 {digest} differs from the card's {card.get('model_sha256')}; "
            "the file was changed after training, refusing to load it"
        )
    types = card.get("skops_types")
    if not isinstance(types, list) or not set(types) <= REVIEWED_TYPES:
        raise ModelIntegrityError(f"{where / CARD_FILE}: skops_types {types!r} are not all reviewed types")
    try:
        estimator = sio.load(path, trusted=types)
    except sio.exceptions.UntrustedTypesFoundException as exc:
        raise ModelIntegrityError(f"{path}: holds types its card does not list: {exc}") from None
    features = FeatureConfig(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in card["feature_config"].items()}
    )
    if getattr(estimator, "n_features_in_", len(features.names)) != len(features.names):
        raise ModelIntegrityError(
            f"{path}: the model takes {estimator.n_features_in_} features, the card lists {len(features.names)}"
        )
    return Model(estimator, features, float(card["threshold"]), card)


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


# Per process (a Spark Python worker): (model, an id of that load) by (version directory, SHA-256).
_MODELS: dict[tuple[str, str], tuple[Model, str]] = {}


def cached_model(where: str, sha256: str) -> tuple[Model, str]:
    """(model, id of the load) of version directory `where`: loaded and verified once per process,
    and refused when its model is not the one the job started with."""
    key = (where, sha256)
    if key not in _MODELS:
        model = load_model(where)
        if model.card.get("model_sha256") != sha256:
            raise ModelIntegrityError(f"{where}: its model is not the one the job started with ({sha256})")
        _MODELS[key] = (model, uuid.uuid4().hex)
    return _MODELS[key]
