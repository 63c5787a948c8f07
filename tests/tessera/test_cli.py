"""The top-level `tessera` CLI lists every landed part and fails cleanly on bad input."""

import subprocess
import sys

from tessera.cli import build_parser, main


def test_help_lists_landed_groups():
    text = build_parser().format_help()
    for group in ("regmap", "model", "bench"):
        assert group in text


def test_no_command_prints_help_and_returns_2(capsys):
    assert main([]) == 2
    assert "usage: tessera" in capsys.readouterr().out


def test_regmap_check_passes_on_committed_files():
    out = subprocess.run([sys.executable, "-m", "tessera.cli", "regmap", "generate", "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_unknown_bench_is_an_error(capsys):
    assert main(["bench", "nonsense"]) == 2
    assert "unknown bench 'nonsense'" in capsys.readouterr().err
