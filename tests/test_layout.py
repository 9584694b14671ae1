"""What ships to a Hadoop task node: `mapreduce/runner.py ship()` copies the Streaming scripts
and zips `sensorpipe/core`; all of it must run on a node that has only Python's stdlib."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile

from mapreduce.runner import SCRIPTS, ship


def imported_modules(source: str) -> set[str]:
    """Every module a source imports, at any depth (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def foreign(modules: set[str], local: set[str]) -> set[str]:
    """The modules that are neither the stdlib's nor among `local` (what was shipped)."""
    return {m for m in modules if m.split(".")[0] not in sys.stdlib_module_names and m not in local}


def test_the_check_names_every_foreign_import():
    source = (
        "import json\nimport numpy as np\nfrom pandas import DataFrame\nfrom sensorpipe.core.spec import Spec\n"
        "from sensorpipe.model.features import X\n"
        "def f():\n    import pyarrow.parquet\n    from . import sibling\n"
    )
    got = foreign(imported_modules(source), {"sensorpipe.core.spec"})
    assert got == {"numpy", "pandas", "sensorpipe.model.features", "pyarrow.parquet"}


def test_what_ships_imports_only_the_stdlib_and_itself(tmp_path):
    shipped = ship(tmp_path / "files")
    with zipfile.ZipFile(tmp_path / "files" / "sensorpipe.zip") as z:
        sources = {n: z.read(n).decode() for n in z.namelist()}
    assert set(sources) >= {"sensorpipe/__init__.py", "sensorpipe/core/spec.py", "sensorpipe/core/rows.py"}
    assert all(n.startswith("sensorpipe/core/") for n in sources if n != "sensorpipe/__init__.py")
    local = {n.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for n in sources}
    local |= {"sensorpipe", "sensorpipe.core"} | {s.removesuffix(".py") for s in SCRIPTS}
    for path in shipped:
        if path.endswith(".py"):
            sources[path] = open(path, encoding="utf-8").read()
    bad = {name: foreign(imported_modules(text), local) for name, text in sources.items()}
    assert {name: mods for name, mods in bad.items() if mods} == {}


def test_the_scripts_import_on_a_stdlib_only_python(tmp_path):
    """-S: no site-packages (no pyspark, no pandas, not this checkout): only what ship() made."""
    files = tmp_path / "files"
    ship(files)
    names = ", ".join(s.removesuffix(".py") for s in SCRIPTS)
    probe = f"import {names}, sensorpipe.core.transform; print(sensorpipe.core.transform.__file__)"
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        cwd=files,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "sensorpipe.zip" in done.stdout
