"""The example third-party plugin (examples/seqtk-ralsgan) and the plugin machinery around it.

Three layers, cheapest first:

1. the objective's numbers, checked against values worked out by hand;
2. plugin loading through fake entry points (fake ``*.dist-info`` directories read by
   ``importlib.metadata``, as pluggy's own tests fake them): names, clashes, broken
   plugins, blocking, disabled autoload and misspelled hooks;
3. the real thing: the package installed offline with pip and used by ``python -m seqtk``
   in a subprocess, and seqtk's own wheel checked for layout and run from outside the
   repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import torch

from seqtk.core.errors import UnknownNameError
from seqtk.core.plugins import PluginHost, PluginInfo

from conftest import PLUGIN_ENV

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "seqtk-ralsgan"


@pytest.fixture
def example_on_path(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    return EXAMPLE


# =========================================================================== 1. the loss


@pytest.fixture
def ralsgan(example_on_path: Path):  # type: ignore[no-untyped-def]
    from seqtk_ralsgan import objective

    return objective


# Worked example used below: real scores [1, 2, 3] (mean 2), fake scores [0, -1, 1] (mean 0), margin 1.
REAL = (1.0, 2.0, 3.0)
FAKE = (0.0, -1.0, 1.0)


def test_pure_functions_match_hand_computed_values(ralsgan) -> None:  # type: ignore[no-untyped-def]
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    real_mean, fake_mean = torch.tensor(2.0), torch.tensor(0.0)
    real_term, fake_term = ralsgan.ralsgan_discriminator_loss(real, fake, real_mean, fake_mean)
    # (r - mean_f - 1)^2 = (r - 1)^2 and (f - mean_r + 1)^2 = (f - 1)^2, elementwise
    assert torch.allclose(real_term, torch.tensor([0.0, 1.0, 4.0]))
    assert torch.allclose(fake_term, torch.tensor([1.0, 4.0, 0.0]))
    real_term, fake_term = ralsgan.ralsgan_generator_loss(real, fake, real_mean, fake_mean)
    # (r - mean_f + 1)^2 = (r + 1)^2 and (f - mean_r - 1)^2 = (f - 3)^2
    assert torch.allclose(real_term, torch.tensor([4.0, 9.0, 16.0]))
    assert torch.allclose(fake_term, torch.tensor([9.0, 16.0, 4.0]))
    # margin 2: (r - 0 - 2)^2 and (f - 2 + 2)^2
    real_term, fake_term = ralsgan.ralsgan_discriminator_loss(real, fake, real_mean, fake_mean, margin=2.0)
    assert torch.allclose(real_term, torch.tensor([1.0, 0.0, 1.0]))
    assert torch.allclose(fake_term, torch.tensor([0.0, 1.0, 1.0]))


def test_objective_reduces_with_scores_mean(ralsgan) -> None:  # type: ignore[no-untyped-def]
    from seqtk.core.interfaces import Objective, Scores

    objective = ralsgan.RaLSGAN()
    assert isinstance(objective, Objective) and objective.generator_needs_real
    real, fake = Scores(torch.tensor(REAL)), Scores(torch.tensor(FAKE))
    # (0 + 1 + 4) / 3 + (1 + 4 + 0) / 3 = 10/3
    assert objective.discriminator_loss(real, fake).item() == pytest.approx(10 / 3)
    # (4 + 9 + 16) / 3 + (9 + 16 + 4) / 3 = 58/3
    assert objective.generator_loss(fake, real).item() == pytest.approx(58 / 3)
    # averages, not pairs: batches of different sizes are fine. Real [2] against fake [0, -1, 1]:
    # (2 - 0 - 1)^2 = 1; (f - 2 + 1)^2 = [1, 4, 0] -> 5/3
    assert objective.discriminator_loss(Scores(torch.tensor([2.0])), fake).item() == pytest.approx(1 + 5 / 3)
    with pytest.raises(ValueError, match="real batch"):
        objective.generator_loss(fake)


def test_objective_ignores_padding_of_per_step_scores(ralsgan) -> None:  # type: ignore[no-untyped-def]
    from seqtk.core.interfaces import Scores

    # real steps hold [1, 3] and [2] (mean 2); fake steps [0, 0] and [-3] (mean -1); 50s are padding
    real = Scores(torch.tensor([[1.0, 3.0], [2.0, 50.0]]), weight=torch.tensor([[1.0, 1.0], [1.0, 0.0]]))
    fake = Scores(torch.tensor([[0.0, 0.0], [-3.0, 50.0]]), weight=torch.tensor([[1.0, 1.0], [1.0, 0.0]]))
    # real: (r + 1 - 1)^2 = [1, 9, 4] -> 14/3; fake: (f - 2 + 1)^2 = [1, 1, 16] -> 18/3
    assert ralsgan.RaLSGAN().discriminator_loss(real, fake).item() == pytest.approx(14 / 3 + 18 / 3)


def test_gradients_and_reward(ralsgan) -> None:  # type: ignore[no-untyped-def]
    from seqtk.core.interfaces import Scores

    objective = ralsgan.RaLSGAN()
    real = torch.tensor(REAL, requires_grad=True)
    fake = torch.tensor(FAKE, requires_grad=True)
    objective.discriminator_loss(Scores(real), Scores(fake)).backward()
    # d/dr_i = 2 (r_i - 1) / 3 from the real term, plus the fake term through the real mean:
    # sum_j 2 (f_j - 1) * (-1/3) / 3 = -2 * (-3) / 9 = 2/3
    assert torch.allclose(real.grad, torch.tensor([0.0, 2.0, 4.0]) / 3 + 2 / 3)
    # d/df_i = 2 (f_i - 1) / 3, plus the real term through the fake mean: -2 sum_j (r_j - 1) / 9 = -2/3
    assert torch.allclose(fake.grad, torch.tensor([-2.0, -4.0, 0.0]) / 3 - 2 / 3)

    scores = torch.tensor(FAKE, requires_grad=True)
    reward = objective.reward(scores, torch.tensor(REAL))
    # -(f - mean_r - 1)^2 = -(f - 3)^2
    assert torch.allclose(reward, torch.tensor([-9.0, -16.0, -4.0])) and not reward.requires_grad
    with pytest.raises(ValueError, match="real_scores"):
        objective.reward(scores)


def test_objective_refuses_a_bad_margin(ralsgan) -> None:  # type: ignore[no-untyped-def]
    for margin in (0.0, -1.0, True):
        with pytest.raises(ValueError, match="margin must be a number > 0"):
            ralsgan.RaLSGAN(margin=margin)


def test_constructor_hints_let_the_registry_check_recipe_values(example_on_path: Path) -> None:
    host = PluginHost(entry_points=[*_builtin_entry_points(), _ralsgan_entry_point()])
    entry = host.registry.get("objectives", "ralsgan")
    assert entry.check_params({"margin": 2}) == []
    problems = dict(entry.check_params({"margin": "one", "d": 1.0}))
    assert "expected a number" in problems["margin"]
    assert "unknown parameter" in problems["d"]
    built = entry.build({"spec": object()}, {"margin": 0.5})
    assert built.margin == 0.5


def test_plugin_module_imports_no_torch() -> None:
    """`seqtk list` loads every plugin module: this one must not pull in torch."""
    code = textwrap.dedent(
        """
        import sys
        import seqtk_ralsgan.plugin as plugin
        from seqtk.core.plugins import PluginHost
        host = PluginHost(plugins=[plugin])
        assert host.registry.get("objectives", "ralsgan").plugin == "ralsgan", host.infos
        assert not host.failures, host.failures
        assert "torch" not in sys.modules, "importing the plugin imported torch"
        assert "seqtk_ralsgan.objective" not in sys.modules
        print("ok")
        """
    )
    result = _python(["-c", code], pythonpath=[EXAMPLE], cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_fragment_is_a_valid_registry_fragment() -> None:
    import yaml

    from seqtk.core.registry import parse_fragment

    path = EXAMPLE / "seqtk_ralsgan" / "registry.yaml"
    entries, presets = parse_fragment(yaml.safe_load(path.read_text()), plugin="ralsgan", where=str(path))
    assert [(e.kind, e.name, e.target) for e in entries] == [("objectives", "ralsgan", "seqtk_ralsgan.objective:RaLSGAN")]
    assert presets == []


# =========================================================================== 2. fake entry points


def _fake_distribution(root: Path, name: str, entry_points: dict[str, str], version: str = "0.1.0") -> metadata.Distribution:
    """A ``*.dist-info`` directory like pip writes, read back through ``importlib.metadata``.

    Its entry points are real ``importlib.metadata.EntryPoint`` objects with ``.dist``
    set, which is what ``PluginHost`` reads the distribution's name and version from.
    """
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    lines = ["[seqtk]", *(f"{key} = {value}" for key, value in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return metadata.PathDistribution(info)


def _entry_points(dist: metadata.Distribution) -> list[metadata.EntryPoint]:
    return list(dist.entry_points.select(group="seqtk"))


def _builtin_entry_points() -> list[metadata.EntryPoint]:
    """seqtk's own entry points, from the installed seqtk distribution."""
    found = _entry_points(metadata.distribution("seqtk"))
    assert "builtin" in [ep.name for ep in found]
    return found


def _ralsgan_entry_point(tmp: Path | None = None) -> metadata.EntryPoint:
    if tmp is None:
        return metadata.EntryPoint(name="ralsgan", value="seqtk_ralsgan.plugin", group="seqtk")
    (ep,) = _entry_points(_fake_distribution(tmp, "seqtk-ralsgan", {"ralsgan": "seqtk_ralsgan.plugin"}))
    return ep


def _write_module(directory: Path, name: str, source: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")


def _info(host: PluginHost, name: str) -> PluginInfo:
    (info,) = [info for info in host.infos if info.name == name]
    return info


def test_entry_point_registers_ralsgan_under_its_plugin_name(example_on_path: Path, tmp_path: Path) -> None:
    host = PluginHost(entry_points=[*_builtin_entry_points(), _ralsgan_entry_point(tmp_path)])
    assert host.failures == []
    entry = host.registry.get("objectives", "ralsgan")
    assert entry.plugin == "ralsgan"
    assert entry.target == "seqtk_ralsgan.objective:RaLSGAN"
    info = _info(host, "ralsgan")
    assert (info.status, info.module, info.distribution, info.version) == ("loaded", "seqtk_ralsgan.plugin", "seqtk-ralsgan", "0.1.0")
    assert info.hooks == ["seqtk_register"]
    # the built-ins are untouched
    assert host.registry.get("objectives", "minimax").plugin == "builtin"
    # ... and the built-in least-squares objective `lsgan` sits beside the plugin's `ralsgan`
    assert {"ralsgan", "lsgan", "minimax", "wgan-gp"} <= set(host.registry.names("objectives"))
    assert host.registry.get("objectives", "lsgan").plugin == "builtin"


def test_discovery_finds_an_installed_distribution(example_on_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``entry_points=``: the host finds the fake dist-info on sys.path by itself."""
    _fake_distribution(tmp_path / "site", "seqtk-ralsgan", {"ralsgan": "seqtk_ralsgan.plugin"})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    host = PluginHost()
    names = [info.name for info in host.infos]
    assert names.index("builtin") < names.index("ralsgan"), "seqtk's own plugins must load first"
    assert _info(host, "ralsgan").distribution == "seqtk-ralsgan"
    assert host.registry.get("objectives", "ralsgan").plugin == "ralsgan"


def test_clashing_name_is_refused_naming_both_plugins(example_on_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modules = tmp_path / "modules"
    (modules / "clash.yaml").parent.mkdir(parents=True)
    (modules / "clash.yaml").write_text(
        "seqtk-registry: 1\n"
        "objectives:\n"
        "  clash-only: {target: 'seqtk_test_clash_plugin:Nothing'}\n"
        "  minimax: {target: 'seqtk_test_clash_plugin:Nothing'}\n",
        encoding="utf-8",
    )
    _write_module(
        modules,
        "seqtk_test_clash_plugin",
        """
        from pathlib import Path
        from seqtk import hookimpl

        @hookimpl
        def seqtk_register(registry):
            registry.load_fragment(Path(__file__).with_name("clash.yaml"), plugin="clash")
        """,
    )
    monkeypatch.syspath_prepend(str(modules))
    (clash,) = _entry_points(_fake_distribution(tmp_path / "site", "seqtk-clash", {"clash": "seqtk_test_clash_plugin"}))
    with pytest.warns(UserWarning, match="'clash'"):
        host = PluginHost(entry_points=[*_builtin_entry_points(), clash, _ralsgan_entry_point()])

    # both plugins load; the clashed name resolves to neither (tests/test_plugin_clashes.py has the policy)
    assert _info(host, "clash").status == "loaded" and host.failures == []
    assert "clash-only" in host.registry.names("objectives")
    with pytest.raises(UnknownNameError, match="objective 'minimax' is registered by plugin 'builtin' .* and plugin 'clash'"):
        host.registry.get("objectives", "minimax")
    # the plugins around it keep working
    assert _info(host, "builtin").status == "loaded"
    assert host.registry.get("objectives", "ralsgan").plugin == "ralsgan"


def test_plugin_that_raises_on_import_is_reported_and_skipped(example_on_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_module(tmp_path, "seqtk_test_broken_plugin", 'raise RuntimeError("boom at import")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    broken = metadata.EntryPoint(name="broken", value="seqtk_test_broken_plugin", group="seqtk")
    with pytest.warns(UserWarning, match="'broken'"):
        host = PluginHost(entry_points=[*_builtin_entry_points(), broken, _ralsgan_entry_point()])

    info = _info(host, "broken")
    assert info.status == "failed"
    assert "RuntimeError" in info.error and "boom at import" in info.error
    assert [i.name for i in host.failures] == ["broken"]
    assert _info(host, "builtin").status == "loaded"
    assert {"sines", "lstm", "gru", "minimax", "reparam"} <= {
        name for kind in ("domains", "generators", "discriminators", "objectives", "estimators") for name in host.registry.names(kind)
    }
    assert host.registry.get("objectives", "ralsgan").plugin == "ralsgan"


def test_blocking_by_name(example_on_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry_points = [*_builtin_entry_points(), _ralsgan_entry_point()]

    host = PluginHost(blocked=["ralsgan"], entry_points=entry_points)
    assert _info(host, "ralsgan").status == "blocked"
    assert "ralsgan" not in host.registry.names("objectives")
    assert host.failures == []
    assert _info(host, "builtin").status == "loaded"

    monkeypatch.setenv("SEQTK_BLOCK_PLUGINS", "no-such-plugin, ralsgan")
    with pytest.warns(UserWarning, match="SEQTK_BLOCK_PLUGINS names 'no-such-plugin', but no plugin has that name"):
        host = PluginHost(entry_points=entry_points)
    assert _info(host, "ralsgan").status == "blocked"
    assert "ralsgan" not in host.registry.names("objectives")
    assert "minimax" in host.registry.names("objectives")


def test_disabled_autoload_keeps_only_seqtks_own_plugins(example_on_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry_points = [*_builtin_entry_points(), _ralsgan_entry_point(tmp_path)]
    monkeypatch.setenv("SEQTK_DISABLE_PLUGIN_AUTOLOAD", "1")
    host = PluginHost(entry_points=entry_points)
    assert _info(host, "builtin").status == "loaded"
    assert _info(host, "ralsgan").status == "not autoloaded"
    assert "ralsgan" not in host.registry.names("objectives")
    assert "minimax" in host.registry.names("objectives")

    # ... and SEQTK_PLUGINS still loads a module named explicitly
    monkeypatch.setenv("SEQTK_PLUGINS", "seqtk_ralsgan.plugin")
    host = PluginHost(entry_points=entry_points)
    assert _info(host, "seqtk_ralsgan.plugin").status == "loaded"
    assert host.registry.get("objectives", "ralsgan").plugin == "ralsgan"

    # the constructor argument overrides the environment variable
    monkeypatch.delenv("SEQTK_PLUGINS")
    host = PluginHost(entry_points=entry_points, autoload=True)
    assert _info(host, "ralsgan").status == "loaded"


def test_misspelled_hook_is_reported_as_failed(example_on_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_module(
        tmp_path,
        "seqtk_test_typo_plugin",
        """
        from seqtk import hookimpl

        @hookimpl
        def seqtk_registr(registry):
            registry.add("objectives", "typo", "seqtk_test_typo_plugin:Nothing", plugin="typo")
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    typo = metadata.EntryPoint(name="typo", value="seqtk_test_typo_plugin", group="seqtk")
    with pytest.warns(UserWarning, match="'typo'"):
        host = PluginHost(entry_points=[*_builtin_entry_points(), typo, _ralsgan_entry_point()])

    info = _info(host, "typo")
    assert info.status == "failed"
    assert "seqtk_registr" in info.error
    assert host.pm.get_plugin("typo") is None
    assert _info(host, "builtin").status == "loaded"
    assert host.registry.get("objectives", "ralsgan").plugin == "ralsgan"


# =========================================================================== 3. real packages


def _python(args: list[str], *, pythonpath: list[Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with only ``pythonpath`` added and no SEQTK_* settings."""
    env = {key: value for key, value in os.environ.items() if key not in PLUGIN_ENV and key != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _pip(*args: str, cwd: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"pip {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def installed_ralsgan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """seqtk-ralsgan installed offline into a directory of its own (a stand-in site-packages).

    pip builds from a copy, so no build/ or *.egg-info lands in the source tree.
    """
    root = tmp_path_factory.mktemp("ralsgan")
    source = root / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "runs"))
    site = root / "site"
    _pip("install", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(site), str(source), cwd=root)
    return site


def test_installed_package_layout(installed_ralsgan: Path) -> None:
    assert (installed_ralsgan / "seqtk_ralsgan" / "registry.yaml").is_file()
    (dist,) = metadata.distributions(path=[str(installed_ralsgan)])
    assert (dist.metadata["Name"], dist.version) == ("seqtk-ralsgan", "0.1.0")
    assert [(ep.name, ep.value) for ep in dist.entry_points.select(group="seqtk")] == [("ralsgan", "seqtk_ralsgan.plugin")]
    assert dist.requires == ["seqtk"]


def test_installed_plugin_is_listed(installed_ralsgan: Path, tmp_path: Path) -> None:
    result = _python(["-m", "seqtk", "list", "objectives"], pythonpath=[installed_ralsgan], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ralsgan" in result.stdout
    (line,) = [line for line in result.stdout.splitlines() if line.split()[:1] == ["ralsgan"]]
    assert "plugin ralsgan" in line, "seqtk list should say which plugin a component comes from"
    assert "minimax" in result.stdout
    assert "warning" not in result.stderr.lower(), result.stderr


def test_installed_plugin_runs_its_recipe(installed_ralsgan: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = _python(
        ["-m", "seqtk", "run", str(EXAMPLE / "recipe.yaml"), "--set", f"output.dir={run_dir}", "--quiet"],
        pythonpath=[installed_ralsgan],
        cwd=tmp_path,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    logs = sorted(run_dir.rglob("metrics.jsonl"))
    assert logs, f"no metrics.jsonl under {run_dir}: {sorted(p.name for p in run_dir.rglob('*'))}"
    records = [json.loads(line) for line in logs[0].read_text(encoding="utf-8").splitlines() if line.strip()]
    assert records, "metrics.jsonl is empty"


@pytest.fixture(scope="module")
def seqtk_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(REPO), cwd=out)
    (wheel,) = out.glob("seqtk-*.whl")
    return wheel


def test_wheel_maps_the_repository_onto_the_seqtk_package(seqtk_wheel: Path) -> None:
    with zipfile.ZipFile(seqtk_wheel) as archive:
        names = set(archive.namelist())
        (entry_points_txt,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = archive.read(entry_points_txt).decode()
    for required in ("seqtk/__init__.py", "seqtk/__main__.py", "seqtk/registry.yaml", "seqtk/core/registry.py", "seqtk/plugins/builtin.py"):
        assert required in names, f"{required} is missing from {seqtk_wheel.name}"
    top_level = {name.split("/", 1)[0] for name in names}
    assert not {"core", "plugins", "tests", "examples"} & top_level
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"seqtk"}
    # every module of the core and the built-in plugins ships (a new subpackage needs pyproject.toml)
    for folder in ("core", "plugins"):
        for path in (REPO / folder).rglob("*.py"):
            relative = path.relative_to(REPO).as_posix()
            assert f"seqtk/{relative}" in names, f"{relative} is not in the wheel: add its package to pyproject.toml"
    assert "[seqtk]" in entry_points and "builtin = seqtk.plugins.builtin" in entry_points


def test_wheel_runs_from_outside_the_repository(seqtk_wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    _pip("install", "--no-deps", "--no-index", "--target", str(site), str(seqtk_wheel), cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    where = _python(["-c", "import seqtk; print(seqtk.__file__)"], pythonpath=[site], cwd=elsewhere)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).resolve().is_relative_to(site.resolve()), where.stdout

    listed = _python(["-m", "seqtk", "list"], pythonpath=[site], cwd=elsewhere)
    assert listed.returncode == 0, listed.stderr
    for name in ("sines", "lstm", "gru", "minimax", "reparam"):
        assert name in listed.stdout, f"{name!r} missing from `seqtk list`:\n{listed.stdout}"
