"""A plugin package with one component of every kind, through the public contract only (issue 15).

``tests/contract_plugin`` is written the way docs/authoring.md says a plugin is written: a
hook module that imports nothing heavy, a registry fragment, and components that import
only the public core (``seqtk.core.interfaces``, ``seqtk.core.atomic``,
``seqtk.core.errors``), never ``seqtk.plugins``. It is loaded here as a user loads an
uninstalled plugin, through ``SEQTK_PLUGINS``, and trained end to end: a five-part GAN
from its own domain, generator, discriminator, objective, estimator and metrics (named by
its preset), and a model. ``seqtk validate``, ``seqtk list`` and ``seqtk score`` see it too.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seqtk.core.api import restore, run
from seqtk.core.plugins import PluginHost
from seqtk.core.registry import KINDS

from conftest import PLUGIN_ENV

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS / "contract_plugin"
MODULE = "contract_plugin.plugin"


@pytest.fixture
def contract_host(monkeypatch: pytest.MonkeyPatch) -> PluginHost:
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv("SEQTK_PLUGINS", MODULE)
    host = PluginHost()
    assert host.failures == [], [(i.name, i.error) for i in host.failures]
    return host


def _recipe(name: str, run_dir: Path, **sections: object) -> dict:
    recipe = {
        "seqtk": 1,
        "name": name,
        "seed": 0,
        "domain": {"name": "contract-dna", "params": {"samples": 400, "max_len": 12}},
        "train": {"batch_size": 32, "cpu_threads": 1, "optimizer": {"generator": {"lr": 0.01}, "discriminator": {"lr": 0.003}}},
        "eval": {"every": 20, "samples": 200},
        "output": {"dir": str(run_dir), "checkpoint_every": 20, "samples": 10},
    }
    recipe.update(sections)
    return recipe


def _log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]


def _seqtk(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m seqtk ARGS`` with the test plugin named in SEQTK_PLUGINS and nothing else of the developer's."""
    env = {key: value for key, value in os.environ.items() if key not in PLUGIN_ENV and key != "PYTHONPATH"}
    env.update(PYTHONPATH=str(TESTS), SEQTK_PLUGINS=MODULE, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "seqtk", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


# --------------------------------------------------------------------------- the package


def test_the_package_imports_only_the_public_contract() -> None:
    imported: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.setdefault(path.name, set()).update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.setdefault(path.name, set()).update(f"{node.module}.{alias.name}" for alias in node.names)
    assert {"plugin.py", "domain.py", "networks.py", "losses.py", "metrics.py", "model.py"} <= set(imported)
    seqtk = sorted({name for names in imported.values() for name in names if name.split(".")[0] == "seqtk"})
    public = ("seqtk.hookimpl", "seqtk.core.interfaces.", "seqtk.core.capabilities.", "seqtk.core.atomic.", "seqtk.core.errors.")
    assert all(name.startswith(public) for name in seqtk), f"the contract plugin imports more than the public contract: {seqtk}"


def test_loading_the_plugin_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "from seqtk.core.plugins import PluginHost\n"
        "host = PluginHost()\n"
        "assert not host.failures, [(i.name, i.error) for i in host.failures]\n"
        "assert host.registry.get('domains', 'contract-dna').plugin == 'contract'\n"
        "assert 'torch' not in sys.modules, 'loading the plugin imported torch'\n"
        "assert not [m for m in sys.modules if m.startswith('contract_plugin.') and m != 'contract_plugin.plugin']\n"
        "print('ok')\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in PLUGIN_ENV and key != "PYTHONPATH"}
    env.update(PYTHONPATH=str(TESTS), SEQTK_PLUGINS=MODULE)
    result = subprocess.run([sys.executable, "-c", code], cwd=TESTS, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_seqtk_plugins_registers_one_component_of_every_kind(contract_host: PluginHost) -> None:
    (info,) = [info for info in contract_host.infos if info.name == MODULE]
    assert info.status == "loaded"
    assert info.hooks == ["seqtk_callbacks", "seqtk_register", "seqtk_validate_recipe"]
    for kind in KINDS:
        mine = [entry.name for entry in contract_host.registry.entries(kind) if entry.plugin == "contract"]
        assert mine, f"the contract plugin registers no {kind}"
    assert contract_host.registry.preset("contract-gan").plugin == "contract"
    # the registry checks recipe values against the constructors' hints before building anything
    problems = dict(contract_host.registry.get("generators", "contract-gru").check_params({"hidden_dim": "big", "hiden": 3}))
    assert "expected an integer" in problems["hidden_dim"] and "did you mean 'hidden_dim'" in problems["hiden"]


# --------------------------------------------------------------------------- training


def test_a_gan_of_contract_components_trains_end_to_end(contract_host: PluginHost, tmp_path: Path) -> None:
    from contract_plugin.plugin import EVALUATIONS

    EVALUATIONS.clear()
    run_dir = tmp_path / "gan"
    recipe = _recipe(
        "contract-gan",
        run_dir,
        preset="contract-gan",
        train={
            "batch_size": 32,
            "cpu_threads": 1,
            "optimizer": {"generator": {"lr": 0.01}, "discriminator": {"lr": 0.003}},
            "pretrain": {"generator_steps": 40, "discriminator_steps": 10},
            "adversarial": {"steps": 10},
        },
        eval={"every": 10, "samples": 200},
    )
    result = run(recipe, host=contract_host)
    assert result.steps == 60
    # maximum-likelihood pretraining through pretrain_loss moved the samples towards the data
    assert result.metrics["contract-gc"] < result.initial_metrics["contract-gc"] - 0.1, (result.initial_metrics, result.metrics)
    records = _log(run_dir)
    evaluations = [r for r in records if r["phase"] == "eval"]
    assert [r["step"] for r in evaluations] == [0, 10, 20, 30, 40, 60]  # none at 50: the generator does not change in steps 41-50
    assert evaluations[-1]["d_auc"] > 0.5  # the discriminator's view of held-out data, through Scores.per_sequence
    adversarial = [r for r in records if r["phase"] == "adversarial"]
    assert adversarial and all("reward" in r and "d_loss" in r and "g_loss" in r for r in adversarial)
    # the plugin's callback saw every evaluation, the domain wrote every sample file
    assert [step for name, step, _ in EVALUATIONS if name == "contract-gan"] == [0, 10, 20, 30, 40, 60]
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [f"step-{s:08d}.txt" for s in (0, 10, 20, 30, 40, 60)]
    assert all(set(line) <= set("ACGT") for line in (run_dir / "samples" / "step-00000060.txt").read_text().splitlines())
    # every part of the run came from the plugin
    parts, _, _ = restore(run_dir, host=contract_host)
    built = [parts.domain, parts.generator, parts.discriminator, parts.objective, parts.estimator, *parts.metrics.values()]
    assert all(type(part).__module__.startswith("contract_plugin.") for part in built), [type(p) for p in built]


def test_a_model_from_the_plugin_trains(contract_host: PluginHost, tmp_path: Path) -> None:
    run_dir = tmp_path / "model"
    result = run(_recipe("contract-model", run_dir, model={"name": "contract-mle", "params": {"steps": 40}}), host=contract_host)
    assert result.metrics["contract-gc"] < result.initial_metrics["contract-gc"] - 0.1, (result.initial_metrics, result.metrics)
    nll = [r["nll"] for r in _log(run_dir) if r["phase"] == "likelihood"]
    assert nll[-1] < nll[0]


def test_the_plugins_own_recipe_rule_is_enforced(contract_host: PluginHost, tmp_path: Path) -> None:
    from seqtk.core.errors import RecipeError

    recipe = _recipe("contract-rule", tmp_path / "rule", preset="contract-gan", train={"adversarial": {"generator_steps": 2}})
    with pytest.raises(RecipeError, match="train.adversarial.generator_steps: contract-reinforce takes 1 generator step"):
        run(recipe, host=contract_host)


# --------------------------------------------------------------------------- the command line


def _cli_recipe(tmp_path: Path) -> dict:
    return _recipe(
        "contract-cli",
        tmp_path / "cli",
        generator={"name": "contract-gru", "params": {"hidden_dim": 16}},
        discriminator={"name": "contract-conv"},
        objective={"name": "contract-lsq"},
        estimator={"name": "contract-reinforce"},
    )


def test_seqtk_validate_in_a_fresh_process_finds_the_plugin_through_seqtk_plugins(tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(_cli_recipe(tmp_path), sort_keys=False), encoding="utf-8")
    valid = _seqtk("validate", "recipe.yaml", cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert "valid (domain contract-dna, generator contract-gru, discriminator contract-conv, objective contract-lsq, estimator contract-reinforce)" in valid.stdout


def test_seqtk_validate_list_and_score_on_the_plugins_components(
    contract_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from seqtk.core.cli import main

    monkeypatch.chdir(tmp_path)
    recipe = _cli_recipe(tmp_path)
    recipe["generator"]["params"]["hidden_dim"] = "big"
    recipe["objective"]["params"] = {"target": 1.0, "margin": 2.0}
    Path("bad.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    assert main(["validate", "bad.yaml"]) == 2
    errors = capsys.readouterr().err
    assert "generator.params.hidden_dim: expected an integer" in errors and "objective.params.margin: unknown parameter" in errors

    assert main(["list", "metrics"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.split()[:1] == ["contract-gc"]]
    assert "contract" in line.split("Difference in GC content")[-1], line

    Path("real.txt").write_text("GGCC\nGCGC\n", encoding="utf-8")   # GC content 1
    Path("fake.txt").write_text("GGAA\nATAT\n", encoding="utf-8")   # GC content 1/4
    assert main(["score", "contract-dna", "--real", "real.txt", "--samples", "fake.txt", "--metric", "contract-gc"]) == 0
    assert "0.75" in capsys.readouterr().out
