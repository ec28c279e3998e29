"""The command line: listing without torch, plugins, validate, python -m, errors without tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqtk.core.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_python(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120, cwd=REPO)


def test_list_does_not_import_torch() -> None:
    code = "import sys; from seqtk.core.cli import main; main(['list']); print('torch imported:', 'torch' in sys.modules)"
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert "torch imported: False" in result.stdout
    for name in ("sines", "lstm", "gru", "minimax", "wgan-gp", "reparam", "mmd", "rgan"):
        assert f"  {name} " in result.stdout


def test_list_one_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "presets"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("presets\n")
    assert "rgan" in out and "lstm + gru + minimax + reparam" in out and "generators" not in out


def test_plugins_shows_versions_and_hooks(capsys: pytest.CaptureFixture[str]) -> None:
    from seqtk import __version__

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert f"builtin: seqtk {__version__} [loaded]" in out
    assert "hooks: seqtk_callbacks, seqtk_register" in out  # the catalogue and seqtk's own callbacks


def test_no_plugin_blocks_the_builtins_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-plugin", "builtin", "plugins"]) == 0
    out = capsys.readouterr().out
    assert "builtin: seqtk" in out and "[blocked]" in out
    assert main(["--no-plugin", "builtin", "list", "generators"]) == 0
    assert "(none)" in capsys.readouterr().out


def test_python_dash_m_and_version() -> None:
    result = run_python("-m", "seqtk", "--version")
    assert result.returncode == 0 and result.stdout.startswith("seqtk ")


def test_validate_reports_success(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(REPO / "recipes" / "quickstart.yaml")]) == 0
    assert "valid (domain sines, generator lstm, discriminator cnn, objective minimax, estimator reparam)" in capsys.readouterr().out


def test_a_recipe_error_in_a_subprocess_has_exit_code_2_and_no_traceback(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("seqtk: 1\nname: x\ndomain: {name: sinez}\npreset: rgan\n")
    result = run_python("-m", "seqtk", "run", str(recipe))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{recipe}: domain.name: unknown domain 'sinez' (did you mean 'sines'?)")
    assert "Traceback" not in result.stderr


def test_a_broken_plugin_is_named_and_the_rest_keeps_working(tmp_path: Path) -> None:
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('missing dependency xyz')\n")
    result = run_python(
        "-m", "seqtk", "list", "generators",
        env={"SEQTK_PLUGINS": "broken_plugin", "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 0
    assert "plugin 'broken_plugin'" in result.stderr and "missing dependency xyz" in result.stderr
    assert "lstm" in result.stdout


def test_no_command_prints_help() -> None:
    assert main([]) == 2



def test_an_unexpected_error_names_the_plugin_frame_not_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from seqtk.plugins import discriminators

    def broken_forward(self, batch):  # type: ignore[no-untyped-def]
        return torch.zeros(2, 3) @ torch.zeros(4, 5)  # shape error raised deep inside torch

    monkeypatch.setattr(discriminators.GRUDiscriminator, "forward", broken_forward)
    monkeypatch.delenv("SEQTK_TRACEBACK", raising=False)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "seqtk: 1\nname: boom\npreset: rgan\ndomain: {name: sines, params: {samples: 32, length: 4, features: 1}}\n"
        f"train: {{batch_size: 4, adversarial: {{steps: 2}}}}\neval: {{samples: 8}}\noutput: {{dir: {tmp_path / 'run'}}}\n"
    )
    assert main(["run", str(recipe), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("seqtk: unexpected RuntimeError:")
    assert "raised in broken_forward at" in err and "test_cli.py" in err
    assert "SEQTK_TRACEBACK=1" in err and "Traceback" not in err
    monkeypatch.setenv("SEQTK_TRACEBACK", "1")
    with pytest.raises(RuntimeError):
        main(["run", str(recipe), "--quiet", "--overwrite"])


def test_main_restores_the_warning_display_it_replaces() -> None:
    import warnings

    from seqtk.core.cli import main

    before = warnings.showwarning
    main(["list"])
    assert warnings.showwarning is before



def test_a_reader_that_stops_early_gets_no_error_message() -> None:
    """`seqtk list | head -1`: the closed pipe is the reader's choice, not a seqtk bug."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before seqtk prints its first line
    try:
        result = subprocess.run(
            [sys.executable, "-m", "seqtk", "list"], stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=120
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert result.stderr == "", result.stderr
