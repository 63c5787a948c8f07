"""Tests for the benchmark record format (tessera/bench.py) against shared/bench-format.md."""

import json

import pytest

from tessera.bench import Record, format_table, write_results


def test_ratio_is_value_over_anchor_whichever_way_is_better():
    up = Record("c", "GOPS", "higher", 50.0, "a", 100.0, goal=1.0)
    down = Record("c", "us", "lower", 50.0, "a", 100.0, goal=3.0)
    assert up.ratio == 0.5 and up.misses_goal()
    assert down.ratio == 0.5 and not down.misses_goal()


def test_missing_anchor_keeps_null_and_note(tmp_path):
    rec = Record("gemm 1x64x64", "GOPS", "higher", 10.0, "torch._int_mm", None, goal=1.0, note="torch not installed")
    path = write_results("unit", [rec], out_dir=tmp_path)
    doc = json.loads(path.read_text())
    (r,) = doc["records"]
    assert r["anchor_value"] is None and r["note"] == "torch not installed"
    assert "ratio" not in r and doc["bench"] == "unit" and doc["machine"]["cores"] >= 1


def test_bad_direction_is_rejected():
    with pytest.raises(ValueError, match="better must be 'higher' or 'lower', not 'up'"):
        Record("c", "GOPS", "up", 1.0)


def test_table_marks_misses():
    rows = [("b", Record("fast", "x", "higher", 2.0, "a", 1.0, goal=1.0).to_json()),
            ("b", Record("slow", "x", "higher", 0.5, "a", 1.0, goal=1.0).to_json())]
    table = format_table(rows).splitlines()
    assert table[2].rstrip().endswith("ok") and table[3].rstrip().endswith("MISS")
