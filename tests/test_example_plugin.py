"""The example third-party plugin (examples/seqtk-lsgan) and the plugin machinery around it.

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

from seqtk.core.plugins import PluginHost, PluginInfo

from conftest import PLUGIN_ENV

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "seqtk-lsgan"


@pytest.fixture
def example_on_path(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    return EXAMPLE


# =========================================================================== 1. the loss


@pytest.fixture
def lsgan(example_on_path: Path):  # type: ignore[no-untyped-def]
    from seqtk_lsgan import objective

    return objective


def test_pure_functions_match_hand_computed_values(lsgan) -> None:  # type: ignore[no-untyped-def]
    real = torch.tensor([0.5, 1.0, 2.0])
    fake = torch.tensor([0.0, 0.5, -1.0])
    real_term, fake_term = lsgan.least_squares_discriminator_loss(real, fake)
    # 0.5 * (D(x) - 1)^2 and 0.5 * (D(G(z)) - 0)^2, elementwise
    assert torch.allclose(real_term, torch.tensor([0.125, 0.0, 0.5]))
    assert torch.allclose(fake_term, torch.tensor([0.0, 0.125, 0.5]))
    # 0.5 * (D(G(z)) - 1)^2
    assert torch.allclose(lsgan.least_squares_generator_loss(fake), torch.tensor([0.5, 0.125, 2.0]))
    # the -1/1/0 coding of the paper's section 3.2.2
    real_term, fake_term = lsgan.least_squares_discriminator_loss(real, fake, a=-1.0, b=1.0)
    assert torch.allclose(fake_term, torch.tensor([0.5, 1.125, 0.0]))
    assert torch.allclose(lsgan.least_squares_generator_loss(fake, c=0.0), torch.tensor([0.0, 0.125, 0.5]))


def test_objective_reduces_with_scores_mean(lsgan) -> None:  # type: ignore[no-untyped-def]
    from seqtk.core.interfaces import Objective, Scores

    objective = lsgan.LeastSquares()
    assert isinstance(objective, Objective)
    real = Scores(torch.tensor([0.5, 1.0, 2.0]))
    fake = Scores(torch.tensor([0.0, 0.5, -1.0]))
    # (0.125 + 0 + 0.5) / 3 + (0 + 0.125 + 0.5) / 3 = 5/12
    assert objective.discriminator_loss(real, fake).item() == pytest.approx(5 / 12)
    # (0.5 + 0.125 + 2) / 3 = 0.875
    assert objective.generator_loss(fake).item() == pytest.approx(0.875)

    other = lsgan.LeastSquares(a=-1.0, b=1.0, c=0.0)
    # real: 0.625 / 3; fake: (0.5 + 1.125 + 0) / 3
    assert other.discriminator_loss(real, fake).item() == pytest.approx(0.625 / 3 + 1.625 / 3)
    assert other.generator_loss(fake).item() == pytest.approx(0.625 / 3)


def test_objective_ignores_padding_of_per_step_scores(lsgan) -> None:  # type: ignore[no-untyped-def]
    from seqtk.core.interfaces import Scores

    values = torch.tensor([[1.0, 3.0], [0.0, 9.0]])
    fake = Scores(values, weight=torch.tensor([[1.0, 1.0], [1.0, 0.0]]))
    # 0.5 * (v - 1)^2 = [[0, 2], [0.5, (padding)]] -> 2.5 / 3 real steps
    assert lsgan.LeastSquares().generator_loss(fake).item() == pytest.approx(2.5 / 3)


def test_generator_gradient_and_reward(lsgan) -> None:  # type: ignore[no-untyped-def]
    from seqtk.core.interfaces import Scores

    objective = lsgan.LeastSquares()
    scores = torch.tensor([0.0, 0.5, -1.0], requires_grad=True)
    objective.generator_loss(Scores(scores)).backward()
    # d/ds mean(0.5 * (s - 1)^2) = (s - 1) / 3
    assert torch.allclose(scores.grad, torch.tensor([-1.0, -0.5, -2.0]) / 3)

    reward = objective.reward(scores)
    assert torch.equal(reward, scores.detach()) and not reward.requires_grad
    # with the real target below the fake one, a lower score is the more realistic one
    assert torch.equal(lsgan.LeastSquares(a=1.0, b=-1.0).reward(scores), -scores.detach())


def test_objective_refuses_equal_targets(lsgan) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="must differ"):
        lsgan.LeastSquares(a=1.0, b=1.0)


def test_constructor_hints_let_the_registry_check_recipe_values(example_on_path: Path) -> None:
    host = PluginHost(entry_points=[*_builtin_entry_points(), _lsgan_entry_point()])
    entry = host.registry.get("objectives", "lsgan")
    assert entry.check_params({"a": -1, "b": 1.0, "c": 0}) == []
    problems = dict(entry.check_params({"a": "zero", "d": 1.0}))
    assert "expected a number" in problems["a"]
    assert "unknown parameter" in problems["d"]
    built = entry.build({"spec": object()}, {"c": 0.5})
    assert (built.a, built.b, built.c) == (0.0, 1.0, 0.5)


def test_plugin_module_imports_no_torch() -> None:
    """`seqtk list` loads every plugin module: this one must not pull in torch."""
    code = textwrap.dedent(
        """
        import sys
        import seqtk_lsgan.plugin as plugin
        from seqtk.core.plugins import PluginHost
        host = PluginHost(plugins=[plugin])
        assert host.registry.get("objectives", "lsgan").plugin == "lsgan", host.infos
        assert not host.failures, host.failures
        assert "torch" not in sys.modules, "importing the plugin imported torch"
        assert "seqtk_lsgan.objective" not in sys.modules
        print("ok")
        """
    )
    result = _python(["-c", code], pythonpath=[EXAMPLE], cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_fragment_is_a_valid_registry_fragment() -> None:
    import yaml

    from seqtk.core.registry import parse_fragment

    path = EXAMPLE / "seqtk_lsgan" / "registry.yaml"
    entries, presets = parse_fragment(yaml.safe_load(path.read_text()), plugin="lsgan", where=str(path))
    assert [(e.kind, e.name, e.target) for e in entries] == [("objectives", "lsgan", "seqtk_lsgan.objective:LeastSquares")]
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


def _lsgan_entry_point(tmp: Path | None = None) -> metadata.EntryPoint:
    if tmp is None:
        return metadata.EntryPoint(name="lsgan", value="seqtk_lsgan.plugin", group="seqtk")
    (ep,) = _entry_points(_fake_distribution(tmp, "seqtk-lsgan", {"lsgan": "seqtk_lsgan.plugin"}))
    return ep


def _write_module(directory: Path, name: str, source: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")


def _info(host: PluginHost, name: str) -> PluginInfo:
    (info,) = [info for info in host.infos if info.name == name]
    return info


def test_entry_point_registers_lsgan_under_its_plugin_name(example_on_path: Path, tmp_path: Path) -> None:
    host = PluginHost(entry_points=[*_builtin_entry_points(), _lsgan_entry_point(tmp_path)])
    assert host.failures == []
    entry = host.registry.get("objectives", "lsgan")
    assert entry.plugin == "lsgan"
    assert entry.target == "seqtk_lsgan.objective:LeastSquares"
    info = _info(host, "lsgan")
    assert (info.status, info.module, info.distribution, info.version) == ("loaded", "seqtk_lsgan.plugin", "seqtk-lsgan", "0.1.0")
    assert info.hooks == ["seqtk_register"]
    # the built-ins are untouched
    assert host.registry.get("objectives", "minimax").plugin == "builtin"
    assert {"lsgan", "minimax", "wgan-gp"} <= set(host.registry.names("objectives"))


def test_discovery_finds_an_installed_distribution(example_on_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``entry_points=``: the host finds the fake dist-info on sys.path by itself."""
    _fake_distribution(tmp_path / "site", "seqtk-lsgan", {"lsgan": "seqtk_lsgan.plugin"})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    host = PluginHost()
    names = [info.name for info in host.infos]
    assert names.index("builtin") < names.index("lsgan"), "seqtk's own plugins must load first"
    assert _info(host, "lsgan").distribution == "seqtk-lsgan"
    assert host.registry.get("objectives", "lsgan").plugin == "lsgan"


def test_clashing_name_fails_naming_both_plugins(example_on_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
        host = PluginHost(entry_points=[*_builtin_entry_points(), clash, _lsgan_entry_point()])

    info = _info(host, "clash")
    assert info.status == "failed"
    assert "'builtin'" in info.error and "'clash'" in info.error and "minimax" in info.error
    assert host.failures == [info]
    # all or nothing: none of the clashing fragment's entries went in
    assert "clash-only" not in host.registry.names("objectives")
    assert host.registry.get("objectives", "minimax").plugin == "builtin"
    # the plugins around it keep working
    assert _info(host, "builtin").status == "loaded"
    assert host.registry.get("objectives", "lsgan").plugin == "lsgan"
    assert host.pm.get_plugin("clash") is None


def test_plugin_that_raises_on_import_is_reported_and_skipped(example_on_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_module(tmp_path, "seqtk_test_broken_plugin", 'raise RuntimeError("boom at import")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    broken = metadata.EntryPoint(name="broken", value="seqtk_test_broken_plugin", group="seqtk")
    with pytest.warns(UserWarning, match="'broken'"):
        host = PluginHost(entry_points=[*_builtin_entry_points(), broken, _lsgan_entry_point()])

    info = _info(host, "broken")
    assert info.status == "failed"
    assert "RuntimeError" in info.error and "boom at import" in info.error
    assert [i.name for i in host.failures] == ["broken"]
    assert _info(host, "builtin").status == "loaded"
    assert {"sines", "lstm", "gru", "minimax", "reparam"} <= {
        name for kind in ("domains", "generators", "discriminators", "objectives", "estimators") for name in host.registry.names(kind)
    }
    assert host.registry.get("objectives", "lsgan").plugin == "lsgan"


def test_blocking_by_name(example_on_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry_points = [*_builtin_entry_points(), _lsgan_entry_point()]

    host = PluginHost(blocked=["lsgan"], entry_points=entry_points)
    assert _info(host, "lsgan").status == "blocked"
    assert "lsgan" not in host.registry.names("objectives")
    assert host.failures == []
    assert _info(host, "builtin").status == "loaded"

    monkeypatch.setenv("SEQTK_BLOCK_PLUGINS", "no-such-plugin, lsgan")
    host = PluginHost(entry_points=entry_points)
    assert _info(host, "lsgan").status == "blocked"
    assert "lsgan" not in host.registry.names("objectives")
    assert "minimax" in host.registry.names("objectives")


def test_disabled_autoload_keeps_only_seqtks_own_plugins(example_on_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry_points = [*_builtin_entry_points(), _lsgan_entry_point(tmp_path)]
    monkeypatch.setenv("SEQTK_DISABLE_PLUGIN_AUTOLOAD", "1")
    host = PluginHost(entry_points=entry_points)
    assert _info(host, "builtin").status == "loaded"
    assert _info(host, "lsgan").status == "not autoloaded"
    assert "lsgan" not in host.registry.names("objectives")
    assert "minimax" in host.registry.names("objectives")

    # ... and SEQTK_PLUGINS still loads a module named explicitly
    monkeypatch.setenv("SEQTK_PLUGINS", "seqtk_lsgan.plugin")
    host = PluginHost(entry_points=entry_points)
    assert _info(host, "seqtk_lsgan.plugin").status == "loaded"
    assert host.registry.get("objectives", "lsgan").plugin == "lsgan"

    # the constructor argument overrides the environment variable
    monkeypatch.delenv("SEQTK_PLUGINS")
    host = PluginHost(entry_points=entry_points, autoload=True)
    assert _info(host, "lsgan").status == "loaded"


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
        host = PluginHost(entry_points=[*_builtin_entry_points(), typo, _lsgan_entry_point()])

    info = _info(host, "typo")
    assert info.status == "failed"
    assert "seqtk_registr" in info.error
    assert host.pm.get_plugin("typo") is None
    assert _info(host, "builtin").status == "loaded"
    assert host.registry.get("objectives", "lsgan").plugin == "lsgan"


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
def installed_lsgan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """seqtk-lsgan installed offline into a directory of its own (a stand-in site-packages).

    pip builds from a copy, so no build/ or *.egg-info lands in the source tree.
    """
    root = tmp_path_factory.mktemp("lsgan")
    source = root / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "runs"))
    site = root / "site"
    _pip("install", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(site), str(source), cwd=root)
    return site


def test_installed_package_layout(installed_lsgan: Path) -> None:
    assert (installed_lsgan / "seqtk_lsgan" / "registry.yaml").is_file()
    (dist,) = metadata.distributions(path=[str(installed_lsgan)])
    assert (dist.metadata["Name"], dist.version) == ("seqtk-lsgan", "0.1.0")
    assert [(ep.name, ep.value) for ep in dist.entry_points.select(group="seqtk")] == [("lsgan", "seqtk_lsgan.plugin")]
    assert dist.requires == ["seqtk"]


def test_installed_plugin_is_listed(installed_lsgan: Path, tmp_path: Path) -> None:
    result = _python(["-m", "seqtk", "list", "objectives"], pythonpath=[installed_lsgan], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "lsgan" in result.stdout
    (line,) = [line for line in result.stdout.splitlines() if line.split()[:1] == ["lsgan"]]
    assert "plugin lsgan" in line, "seqtk list should say which plugin a component comes from"
    assert "minimax" in result.stdout
    assert "warning" not in result.stderr.lower(), result.stderr


def test_installed_plugin_runs_its_recipe(installed_lsgan: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = _python(
        ["-m", "seqtk", "run", str(EXAMPLE / "recipe.yaml"), "--set", f"output.dir={run_dir}", "--quiet"],
        pythonpath=[installed_lsgan],
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
