"""`make demo`'s steps on a small configuration: it runs, and the three engines agree."""

import json

import pytest

from sensorpipe.demo import main as demo


@pytest.mark.slow
def test_demo_small(tmp_path, capsys):
    assert demo(["--rows", "3000", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "agree on every clean row: yes" in printed
    reports = {e: json.loads((tmp_path / e / "report.json").read_text()) for e in ("hadoop", "pipe", "spark")}
    assert len({r["rows_clean"] for r in reports.values()}) == 1
    assert reports["spark"]["rows_in"] == reports["hadoop"]["rows_in"] > 3000  # duplicates add rows
