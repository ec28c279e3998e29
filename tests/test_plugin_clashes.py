"""Two plugins, one name: the clash policy, blocking by name, and `seqtk plugins --check`.

The policy under test: a name two plugins register resolves to neither, whatever the
plugins are called and whichever loads first; every other name of both plugins stays
usable; a recipe that names the clashed component is refused at `seqtk validate` and at
`seqtk run`, naming both plugins and packages and the exact `SEQTK_BLOCK_PLUGINS` /
`--no-plugin` value that keeps each one. Test plugins are small modules written to a
temporary folder and announced through fake ``*.dist-info`` entry points (as pip writes
them) or ``SEQTK_PLUGINS``.
"""

from __future__ import annotations

import re
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Iterator

import pytest

from seqtk.core.cli import main
from seqtk.core.errors import ClashedNameError, RecipeError
from seqtk.core.plugins import PluginHost, PluginInfo
from seqtk.core.recipe import load_recipe

PREFIX = "seqtk_clashtest_"
MINIMAX = "seqtk.plugins.objectives:Minimax"
LSGAN = "seqtk.plugins.objectives:LSGAN"


@pytest.fixture(autouse=True)
def _forget_test_modules() -> Iterator[None]:
    """Each test writes its own plugin modules under the same names: never reuse an imported one."""
    yield
    for name in [n for n in sys.modules if n.startswith(PREFIX)]:
        del sys.modules[name]


def write_plugin(folder: Path, module: str, fragment: str, *, label: str | None = None, body: str = "") -> str:
    """A plugin module that loads ``fragment`` under ``label`` (its own choice of name), plus ``body``."""
    module = PREFIX + module
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.yaml").write_text(textwrap.dedent(fragment), encoding="utf-8")
    source = f"""
        from pathlib import Path
        from seqtk import hookimpl

        @hookimpl
        def seqtk_register(registry):
            registry.load_fragment(Path(__file__).with_name("{module}.yaml"), plugin={(label or module)!r})
        """
    (folder / f"{module}.py").write_text(textwrap.dedent(source) + textwrap.dedent(body), encoding="utf-8")
    return module


def fake_dist(site: Path, package: str, entry_points: dict[str, str]) -> list[metadata.EntryPoint]:
    """A ``*.dist-info`` folder in ``site``; its entry points carry ``.dist`` (name and version)."""
    info = site / f"{package.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1.0\n", encoding="utf-8")
    lines = ["[seqtk]", *(f"{name} = {PREFIX}{value}" for name, value in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return list(metadata.PathDistribution(info).entry_points.select(group="seqtk"))


def builtin_entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.distribution("seqtk").entry_points.select(group="seqtk"))


def info_of(host: PluginHost, name: str) -> PluginInfo:
    (info,) = [i for i in host.infos if i.name == name]
    return info


FRAGMENT_A = f"""
    objectives:
      shared: {{target: '{MINIMAX}'}}
      only-a: {{target: '{MINIMAX}'}}
    presets:
      shared-preset: {{generator: lstm, discriminator: gru, objective: minimax, estimator: reparam}}
    """
FRAGMENT_B = f"""
    objectives:
      shared: {{target: '{LSGAN}'}}
      only-b: {{target: '{LSGAN}'}}
    presets:
      shared-preset: {{generator: lstm, discriminator: gru, objective: lsgan, estimator: reparam}}
    """


@pytest.fixture
def two_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Modules ``seqtk_clashtest_a`` and ``seqtk_clashtest_b`` on sys.path, both registering ``shared``."""
    modules = tmp_path / "modules"
    write_plugin(modules, "a", FRAGMENT_A, label="label-a")
    write_plugin(modules, "b", FRAGMENT_B, label="label-b")
    monkeypatch.syspath_prepend(str(modules))
    return tmp_path


def clash_state(host: PluginHost) -> list[tuple[str, str, list[str]]]:
    """What the clashes are, independent of plugin names: kind, name and the claimants' targets."""
    return [
        (c.kind, c.name, sorted(getattr(e, "target", None) or e.parts["objective"]["name"] for e in c.claimants))
        for c in host.registry.clashes()
    ]


# =========================================================================== the policy


@pytest.mark.parametrize(("name_a", "name_b"), [("alpha", "beta"), ("zeta", "alpha")])
@pytest.mark.parametrize("a_first", [True, False])
def test_outcome_is_independent_of_plugin_names_and_load_order(two_plugins: Path, name_a: str, name_b: str, a_first: bool) -> None:
    a = fake_dist(two_plugins / "site", "seqtk-pkg-a", {name_a: "a"})
    b = fake_dist(two_plugins / "site", "seqtk-pkg-b", {name_b: "b"})
    order = [*a, *b] if a_first else [*b, *a]
    with pytest.warns(UserWarning, match="registered by plugin"):
        host = PluginHost(entry_points=[*builtin_entry_points(), *order])

    assert host.failures == [] and info_of(host, name_a).status == info_of(host, name_b).status == "loaded"
    # the non-clashing entries of both plugins stay available
    assert {"only-a", "only-b", "minimax"} <= set(host.registry.names("objectives"))
    assert host.registry.get("objectives", "only-a").target == MINIMAX
    assert host.registry.get("objectives", "only-b").target == LSGAN
    # the clashed names resolve to neither, the same clashes whatever the order and names
    assert "shared" not in host.registry.names("objectives")
    assert clash_state(host) == [("objectives", "shared", sorted([LSGAN, MINIMAX])), ("presets", "shared-preset", ["lsgan", "minimax"])]
    with pytest.raises(ClashedNameError) as caught:
        host.registry.get("objectives", "shared")
    message = str(caught.value)
    first, second = sorted([(name_a, "seqtk-pkg-a"), (name_b, "seqtk-pkg-b")])  # listed by plugin name, never by load order
    assert f"objective 'shared' is registered by plugin {first[0]!r} (package {first[1]} 0.1.0) and plugin {second[0]!r} (package {second[1]} 0.1.0)" in message
    with pytest.raises(ClashedNameError, match="preset 'shared-preset' is registered by"):
        host.registry.preset("shared-preset")


def test_the_clash_message_quotes_exactly_the_name_blocking_takes(two_plugins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugins from SEQTK_PLUGINS are blocked by module name, not by the label their fragment uses."""
    monkeypatch.setenv("SEQTK_PLUGINS", f"{PREFIX}a,{PREFIX}b")
    with pytest.warns(UserWarning):
        host = PluginHost(entry_points=builtin_entry_points())
    with pytest.raises(ClashedNameError) as caught:
        host.registry.get("objectives", "shared")
    message = str(caught.value)
    assert "label-a" not in message and "label-b" not in message  # labels are not what blocking takes
    # follow each instruction of the message literally: it keeps exactly the plugin it promises
    for keep, target in ((f"{PREFIX}a", MINIMAX), (f"{PREFIX}b", LSGAN)):
        match = re.search(rf"to use the one from '{keep}', block '[^']+' with SEQTK_BLOCK_PLUGINS=(\S+) or seqtk --no-plugin (\S+?)[;\s]", message + " ")
        assert match, message
        env_value, flag_value = match.groups()
        monkeypatch.setenv("SEQTK_BLOCK_PLUGINS", env_value)
        assert PluginHost(entry_points=builtin_entry_points()).registry.get("objectives", "shared").target == target
        monkeypatch.delenv("SEQTK_BLOCK_PLUGINS")
        assert PluginHost(blocked=[flag_value], entry_points=builtin_entry_points()).registry.get("objectives", "shared").target == target


def test_a_clash_with_seqtks_own_name_never_offers_to_block_the_builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_plugin(tmp_path, "mine", f"objectives:\n  minimax: {{target: '{LSGAN}'}}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    (mine,) = fake_dist(tmp_path / "site", "seqtk-mine", {"mine": "mine"})
    with pytest.warns(UserWarning, match="objective 'minimax' is registered by plugin 'builtin'"):
        host = PluginHost(entry_points=[*builtin_entry_points(), mine])
    with pytest.raises(ClashedNameError) as caught:
        host.registry.get("objectives", "minimax")
    message = str(caught.value)
    assert "to use the one from 'builtin', block 'mine' with SEQTK_BLOCK_PLUGINS=mine or seqtk --no-plugin mine" in message
    assert "SEQTK_BLOCK_PLUGINS=builtin" not in message and "--no-plugin builtin" not in message
    assert "blocking seqtk's own plugin 'builtin' removes every built-in" in message
    assert PluginHost(blocked=["mine"], entry_points=[*builtin_entry_points(), mine]).registry.get("objectives", "minimax").target == MINIMAX


def test_a_plugin_that_fails_midway_leaves_no_clash_behind(two_plugins: Path) -> None:
    """B registers its fragment, then raises: it is removed whole and A's `shared` resolves, whatever the order."""
    (two_plugins / "modules" / f"{PREFIX}b.yaml").rename(two_plugins / "modules" / "b.yaml")
    (two_plugins / "modules" / f"{PREFIX}raising.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path
            from seqtk import hookimpl

            @hookimpl
            def seqtk_register(registry):
                registry.load_fragment(Path(__file__).with_name("b.yaml"), plugin="raising")
                raise RuntimeError("late failure")
            """
        ),
        encoding="utf-8",
    )
    a = fake_dist(two_plugins / "site", "seqtk-pkg-a", {"alpha": "a"})
    bad = fake_dist(two_plugins / "site", "seqtk-pkg-raising", {"raising": "raising"})
    for order in ([*a, *bad], [*bad, *a]):
        with pytest.warns(UserWarning, match="late failure"):
            host = PluginHost(entry_points=[*builtin_entry_points(), *order])
        assert [i.name for i in host.failures] == ["raising"]
        assert host.registry.clashes() == []
        assert host.registry.get("objectives", "shared").target == MINIMAX
        assert "only-b" not in host.registry.names("objectives")


def test_two_packages_with_one_plugin_name_both_fail_in_either_order(two_plugins: Path) -> None:
    a = fake_dist(two_plugins / "site-a", "seqtk-pkg-a", {"same": "a"})
    b = fake_dist(two_plugins / "site-b", "seqtk-pkg-b", {"same": "b"})
    for order in ([*a, *b], [*b, *a]):
        with pytest.warns(UserWarning, match="blocking cannot tell them apart"):
            host = PluginHost(entry_points=[*builtin_entry_points(), *order])
        assert [(i.name, i.status) for i in host.failures] == [("same", "failed"), ("same", "failed")]
        assert "seqtk-pkg-a" in host.failures[0].error and "seqtk-pkg-b" in host.failures[0].error
        assert "only-a" not in host.registry.names("objectives") and "only-b" not in host.registry.names("objectives")


# =========================================================================== recipes


RECIPE = """\
seqtk: 1
name: clash
domain: {{name: sines, params: {{samples: 32, length: 6, features: 1}}}}
preset: rgan
generator: {{params: {{hidden_dim: 4}}}}
discriminator: {{params: {{hidden_dim: 4}}}}
objective: {objective}
train: {{batch_size: 8, adversarial: {{steps: 2}}}}
eval: {{every: 2, samples: 8, metrics: [mmd]}}
output: {{dir: {out}}}
"""


@pytest.fixture
def installed_pair(two_plugins: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Both plugins installed (found by discovery, as `seqtk` finds them) as `alpha` and `beta`."""
    fake_dist(two_plugins / "site", "seqtk-pkg-a", {"alpha": "a"})
    fake_dist(two_plugins / "site", "seqtk-pkg-b", {"beta": "b"})
    monkeypatch.syspath_prepend(str(two_plugins / "site"))
    return two_plugins


def write_recipe(folder: Path, objective: str) -> Path:
    path = folder / "recipe.yaml"
    path.write_text(RECIPE.format(objective=objective, out=folder / "run"), encoding="utf-8")
    return path


def test_a_recipe_naming_a_clashed_component_is_refused_at_validate_and_run(installed_pair: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = write_recipe(installed_pair, "shared")
    for verb in ("validate", "run"):
        assert main([verb, str(recipe)]) == 2
        err = capsys.readouterr().err
        if verb == "validate":  # said at load time too (once per process, as Python shows a warning)
            assert "seqtk: warning: objective 'shared' is registered by plugin 'alpha'" in err
        (line,) = [line for line in err.splitlines() if line.startswith(f"{recipe}: objective.name:")]
        assert "objective 'shared' is registered by plugin 'alpha' (package seqtk-pkg-a 0.1.0) and plugin 'beta' (package seqtk-pkg-b 0.1.0)" in line
        assert "SEQTK_BLOCK_PLUGINS=beta or seqtk --no-plugin beta" in line and "SEQTK_BLOCK_PLUGINS=alpha or seqtk --no-plugin alpha" in line
        assert line.endswith("(line 7)")  # the `objective:` line of RECIPE
    assert not (installed_pair / "run").exists()
    # the non-clashing names of both plugins work in a recipe
    assert main(["validate", str(write_recipe(installed_pair, "only-b"))]) == 0
    assert "valid" in capsys.readouterr().out


def test_blocking_one_plugin_resolves_the_recipe(installed_pair: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = write_recipe(installed_pair, "shared")
    assert main(["--no-plugin", "beta", "validate", str(recipe)]) == 0
    captured = capsys.readouterr()
    assert "objective shared" in captured.out and "warning" not in captured.err
    monkeypatch.setenv("SEQTK_BLOCK_PLUGINS", "alpha")
    host = PluginHost()
    assert load_recipe(recipe, host=host).data.objective.name == "shared"
    assert host.registry.get("objectives", "shared").target == LSGAN


def test_a_preset_named_by_two_plugins_is_refused(installed_pair: Path) -> None:
    recipe = write_recipe(installed_pair, "minimax")
    recipe.write_text(recipe.read_text().replace("preset: rgan", "preset: shared-preset"), encoding="utf-8")
    with pytest.warns(UserWarning):
        host = PluginHost()
    with pytest.raises(RecipeError, match=r"recipe.yaml: preset: preset 'shared-preset' is registered by plugin 'alpha' .*\(line 4\)"):
        load_recipe(recipe, host=host)


# =========================================================================== blocking names


def test_blocking_an_unknown_name_warns_with_a_suggestion(installed_pair: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SEQTK_BLOCK_PLUGINS", "alpah")
    assert main(["--no-plugin", "seqtk-pkg-b", "list", "objectives"]) == 0
    err = capsys.readouterr().err
    assert (
        "seqtk: warning: SEQTK_BLOCK_PLUGINS names 'alpah', but no plugin has that name, so nothing was blocked "
        "(did you mean 'alpha'?); plugin names: alpha, beta, builtin"
    ) in err
    assert "seqtk: warning: --no-plugin names 'seqtk-pkg-b', but no plugin has that name, so nothing was blocked ('seqtk-pkg-b' is the package of plugin 'beta')" in err
    monkeypatch.delenv("SEQTK_BLOCK_PLUGINS")
    with pytest.warns(UserWarning) as caught:
        PluginHost(blocked=["label-a", "beta"])
    assert [str(w.message) for w in caught if "names" in str(w.message)] == [
        "--no-plugin names 'label-a', but no plugin has that name, so nothing was blocked "
        "('label-a' is the label plugin 'alpha' gives its components); plugin names: alpha, beta, builtin"
    ]


# =========================================================================== hooks


@pytest.mark.parametrize(
    ("hook", "suggestion"),
    [("seqtk_registr", "seqtk_register"), ("seqtk_callback", "seqtk_callbacks"), ("seqtk_validate", "seqtk_validate_recipe")],
)
def test_a_misspelled_hook_gets_a_did_you_mean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: str, suggestion: str) -> None:
    """The plugin fails whole: what a correct `seqtk_register` of it added is removed again."""
    register = "" if hook == "seqtk_registr" else (
        "@hookimpl\ndef seqtk_register(registry):\n"
        f"    registry.add('objectives', 'typo-entry', '{MINIMAX}', plugin='typo')\n\n"
    )
    (tmp_path / f"{PREFIX}typo.py").write_text(
        f"from seqtk import hookimpl\n\n{register}@hookimpl\ndef {hook}(registry):\n    pass\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SEQTK_PLUGINS", f"{PREFIX}typo")
    with pytest.warns(UserWarning, match=f"was not loaded: unknown hook '{hook}' \\(did you mean '{suggestion}'\\?\\)"):
        host = PluginHost(entry_points=builtin_entry_points())
    info = info_of(host, f"{PREFIX}typo")
    assert info.status == "failed"
    assert info.error == (
        f"unknown hook '{hook}' (did you mean '{suggestion}'?); "
        "valid: seqtk_callbacks, seqtk_commands, seqtk_register, seqtk_validate_recipe"
    )
    assert info.error.count("unknown hook") == 1
    assert "typo-entry" not in host.registry.names("objectives")


# =========================================================================== seqtk plugins --check


def test_plugins_check_passes_on_seqtk_alone(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--check"]) == 0
    out = capsys.readouterr().out
    assert "builtin: seqtk" in out and "[loaded]" in out
    assert re.search(r"check passed: 1 plugin\(s\) loaded, \d+ target\(s\) imported", out)


def test_a_missing_target_attribute_shows_as_failed_and_fails_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    write_plugin(tmp_path / "modules", "holey", f"objectives:\n  fine: {{target: '{MINIMAX}'}}\n  holey: {{target: '{PREFIX}holey:Missing'}}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    fake_dist(tmp_path / "site", "seqtk-holey", {"holey": "holey"})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    assert main(["plugins"]) == 0  # listing is not a check: exit 0, but the truth about the plugin
    out = capsys.readouterr().out
    assert "holey: seqtk-holey 0.1.0 [failed]" in out and "[loaded]" in out.split("holey:")[0]
    assert f"  error: objective 'holey' (plugin 'holey'): '{PREFIX}holey' has no attribute 'Missing'" in out

    assert main(["plugins", "--check"]) == 1
    captured = capsys.readouterr()
    assert "seqtk plugins --check: 1 plugin(s) failed (holey); 1 target(s) cannot be imported" in captured.err
    assert "check passed" not in captured.out
    assert main(["--no-plugin", "holey", "plugins", "--check"]) == 0


@pytest.mark.parametrize(
    ("fragment", "body", "expected"),
    [
        ("objectives:\n  gone: {target: 'seqtk_clashtest_no_such_module:X'}\n", "", "cannot be imported from 'seqtk_clashtest_no_such_module:X'"),
        ("objectives:\n  bad: {target: 'seqtk_clashtest_raises:X'}\n", "", "importing 'seqtk_clashtest_raises:X' raised RuntimeError: at import"),
        ("objectives: {}\n", "raise ImportError('no such thing')\n", "import raised ImportError: no such thing"),
    ],
)
def test_plugins_check_fails_on_every_kind_of_broken_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fragment: str, body: str, expected: str
) -> None:
    write_plugin(tmp_path, "broken", fragment, body=body)
    (tmp_path / f"{PREFIX}raises.py").write_text("raise RuntimeError('at import')\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SEQTK_PLUGINS", f"{PREFIX}broken")
    assert main(["plugins", "--check"]) == 1
    captured = capsys.readouterr()
    assert f"{PREFIX}broken: {PREFIX}broken [failed]" in captured.out
    assert expected in captured.out
    assert "seqtk plugins --check: 1 plugin(s) failed" in captured.err


def test_plugins_check_fails_on_a_clash(installed_pair: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--check"]) == 1
    captured = capsys.readouterr()
    assert "clash: objective 'shared' is registered by plugin 'alpha'" in captured.out
    assert "clash: preset 'shared-preset' is registered by plugin 'alpha'" in captured.out
    assert "seqtk plugins --check: 2 name(s) registered by two plugins" in captured.err
    assert main(["--no-plugin", "beta", "plugins", "--check"]) == 0
