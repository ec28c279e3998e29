"""Every recipe mistake a user can make gets one clear line, never a traceback.

Each test writes a small recipe (one mistake in an otherwise valid one) and checks the
outcome the user sees: ``seqtk validate`` exits with 2 and prints
``<recipe file>: <key.path>: <what is wrong> (line N)`` on stderr, and/or
``load_recipe`` raises ``RecipeError`` whose ``problems`` name the key path.

Nothing here trains: the one test that goes through ``seqtk.core.api.run`` fails while
the domain is being built, before any step.
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from seqtk.core.cli import main
from seqtk.core.errors import Problem, RecipeError
from seqtk.core.hookspecs import hookimpl
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import load_recipe

#: A valid recipe, as small as it gets: every test below breaks exactly one thing in it.
MINIMAL: dict[str, Any] = {
    "seqtk": 1,
    "name": "tiny",
    "seed": 0,
    "domain": {"name": "sines", "params": {"samples": 16, "length": 6, "features": 2}},
    "preset": "rgan",
    "generator": {"params": {"hidden_dim": 4, "noise_dim": 2}},
    "discriminator": {"params": {"hidden_dim": 4}},
    "train": {"batch_size": 4, "device": "cpu", "adversarial": {"steps": 2}},
    "eval": {"every": 1, "samples": 4},
    "output": {"checkpoint_every": 1},
}


def recipe(**changes: Any) -> dict[str, Any]:
    """MINIMAL with ``changes`` applied; keys are dotted paths, a value of DELETE removes."""
    data = copy.deepcopy(MINIMAL)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return data


DELETE = object()


def write(tmp_path: Path, data: Any = None, *, text: str | None = None, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    if text is None:
        data = MINIMAL if data is None else data
        data = {**data, "output": {**data.get("output", {}), "dir": str(tmp_path / "run")}} if isinstance(data, dict) else data
        text = yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def cli_error(capsys: pytest.CaptureFixture[str], path: Path, *options: str) -> str:
    """Run ``seqtk validate``; check the common shape of a recipe error; return stderr."""
    code = main(["validate", str(path), *options])
    out, err = capsys.readouterr()
    assert code == 2, f"expected exit code 2, got {code}; stderr: {err!r}"
    assert out == "", out
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert lines, "nothing on stderr"
    for line in lines:
        assert line.startswith(f"{path}: "), f"line does not start with the recipe's path: {line!r}"
    return err


def load_error(source: Any, overrides: tuple[str, ...] = (), *, host: PluginHost) -> RecipeError:
    with pytest.raises(RecipeError) as caught:
        load_recipe(source, overrides, host=host)
    return caught.value


def paths(error: RecipeError) -> list[str]:
    return [p.path for p in error.problems]


def only(error: RecipeError, path: str) -> Problem:
    found = [p for p in error.problems if p.path == path]
    assert found, f"no problem at {path!r}; problems: {error.problems}"
    return found[0]


# --------------------------------------------------------------------------- the baseline


def test_the_minimal_recipe_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path)
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{path}: valid") and err == ""
    loaded = load_recipe(path, host=host)
    assert (loaded.data.generator.name, loaded.data.estimator.name) == ("lstm", "reparam")


# --------------------------------------------------------------------------- reading the file


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.yaml"
    err = cli_error(capsys, path)
    assert "no such recipe file" in err


def test_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = cli_error(capsys, write(tmp_path, text=""))
    assert "empty" in err


def test_file_of_comments_only_is_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = cli_error(capsys, write(tmp_path, text="# nothing here yet\n"))
    assert "empty" in err


def test_non_utf8_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"seqtk: 1\nname: \xff\xfe\x00\x01\n")
    err = cli_error(capsys, path)
    assert "not UTF-8" in err


def test_a_directory_is_not_a_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    err = cli_error(capsys, folder)
    assert "cannot read" in err


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "seqtk: 1\nname: broken\ntrain: {batch_size: 4\neval: {every: 1}\n"
    err = cli_error(capsys, write(tmp_path, text=text))
    assert "invalid YAML" in err
    assert re.search(r"line 4, column \d+", err), err


def test_python_object_tags_are_refused_and_never_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "HACKED"
    text = f'seqtk: 1\nname: !!python/object/apply:os.system ["echo hacked > {marker}"]\n'
    path = write(tmp_path, text=text)
    err = cli_error(capsys, path)
    assert "refused" in err and "line 2" in err
    assert not marker.exists(), "a YAML tag ran a shell command"


def test_top_level_list_instead_of_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = cli_error(capsys, write(tmp_path, text="- seqtk: 1\n- name: tiny\n"))
    assert "must be a mapping" in err and "list" in err


# --------------------------------------------------------------------------- the version


def test_missing_version(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path, recipe(seqtk=DELETE))
    err = cli_error(capsys, path)
    assert f"{path}: seqtk: " in err and "seqtk: 1" in err
    assert set(paths(load_error(path, host=host))) == {"seqtk"}


def test_missing_version_is_reported_once(tmp_path: Path, host: PluginHost) -> None:
    assert paths(load_error(write(tmp_path, recipe(seqtk=DELETE)), host=host)) == ["seqtk"]


def test_newer_version_asks_to_upgrade(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path, text="seqtk: 2\nname: future\nsomething_new: {a: 1}\n")
    err = cli_error(capsys, path)
    assert f"{path}: seqtk: " in err and "upgrade seqtk" in err and "(line 1)" in err
    # a newer recipe is not picked apart key by key: this seqtk cannot know its keys
    assert paths(load_error(path, host=host)) == ["seqtk"]


@pytest.mark.parametrize("version", ['"1"', "0", "true", "1.0"])
def test_odd_versions(tmp_path: Path, host: PluginHost, version: str) -> None:
    error = load_error(write(tmp_path, text=f"seqtk: {version}\nname: odd\n"), host=host)
    assert "seqtk" in paths(error)


# --------------------------------------------------------------------------- keys and types


def test_unknown_top_level_key_suggests(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    data = recipe()
    data["trian"] = data.pop("train")
    path = write(tmp_path, data)
    err = cli_error(capsys, path)
    assert f"{path}: trian: unknown key (did you mean 'train'?)" in err
    assert only(load_error(path, host=host), "trian").line is not None


def test_unknown_nested_key_suggests(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path, recipe(train__batch_sise=4))
    err = cli_error(capsys, path)
    assert f"{path}: train.batch_sise: unknown key (did you mean 'batch_size'?)" in err
    assert paths(load_error(path, host=host)) == ["train.batch_sise"]


def reported_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost, changes: dict[str, Any], key: str, words: list[str]
) -> list[str]:
    """Check the CLI's message for one mistake; return the key paths load_recipe reports."""
    path = write(tmp_path, recipe(**changes))
    err = cli_error(capsys, path)
    assert f"{path}: {key}: " in err
    for word in words:
        assert word in err
    return paths(load_error(path, host=host))


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"train__batch_size": "64"}, "train.batch_size", ["expected an integer", "string '64'"]),
        ({"train__adversarial__steps": 1.5}, "train.adversarial.steps", ["expected an integer", "1.5"]),
        ({"seed": True}, "seed", ["expected an integer", "boolean"]),
        ({"name": None}, "name", ["expected a string", "null"]),
        ({"eval__metrics": "mmd"}, "eval.metrics", ["expected a list"]),
        ({"train__optimizer": {"generator": {"betas": [0.5]}}}, "train.optimizer.generator.betas", ["2 items"]),
        ({"domain__params": "x"}, "domain.params", ["expected a mapping"]),
    ],
    ids=["batch_size-string", "steps-float", "seed-bool", "name-null", "metrics-string", "betas-length", "params-scalar"],
)
def test_wrong_types(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost, changes: dict[str, Any], key: str, words: list[str]
) -> None:
    assert key in reported_paths(tmp_path, capsys, host, changes, key, words)


def test_section_that_is_not_a_mapping(tmp_path: Path, host: PluginHost) -> None:
    error = load_error(write(tmp_path, recipe(train=5)), host=host)
    assert "expected a mapping" in only(error, "train").message


def test_section_that_is_not_a_mapping_reads_well(host: PluginHost) -> None:
    error = load_error(recipe(train=5), host=host)
    assert only(error, "train").message.count("expected") == 1


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"train__batch_size": 0}, "train.batch_size", ["at least 1", "got 0"]),
        ({"train__optimizer": {"generator": {"lr": -0.1}}}, "train.optimizer.generator.lr", ["greater than 0", "-0.1"]),
        ({"train__optimizer": {"discriminator": {"lr": 0}}}, "train.optimizer.discriminator.lr", ["greater than 0", "got 0"]),
        ({"train__optimizer": {"generator": {"grad_clip": 0}}}, "train.optimizer.generator.grad_clip", ["greater than 0"]),
        ({"train__adversarial__generator_steps": 0}, "train.adversarial.generator_steps", ["at least 1"]),
        ({"output__keep_checkpoints": 0}, "output.keep_checkpoints", ["at least 1"]),
        ({"train__device": "tpu"}, "train.device", ["'auto'", "'cpu'", "'cuda'", "'tpu'"]),
    ],
    ids=["batch_size-0", "lr-negative", "lr-0", "grad_clip-0", "generator_steps-0", "keep-0", "device-tpu"],
)
def test_bad_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost, changes: dict[str, Any], key: str, words: list[str]
) -> None:
    assert reported_paths(tmp_path, capsys, host, changes, key, words) == [key]


# --------------------------------------------------------------------------- names from the registry


def test_unknown_component_suggests(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path, recipe(generator={"name": "lstn"}))
    err = cli_error(capsys, path)
    assert f"{path}: generator.name: unknown generator 'lstn' (did you mean 'lstm'?)" in err
    assert "generator.name" in paths(load_error(path, host=host))


def test_unknown_domain_lists_the_valid_ones(tmp_path: Path, host: PluginHost) -> None:
    error = load_error(write(tmp_path, recipe(domain={"name": "sine"})), host=host)
    message = only(error, "domain.name").message
    assert "unknown domain 'sine'" in message and "did you mean 'sines'" in message and "valid: " in message


def test_unknown_preset_suggests(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path, recipe(preset="rgam"))
    err = cli_error(capsys, path)
    assert f"{path}: preset: unknown preset 'rgam' (did you mean 'rgan'" in err
    assert paths(load_error(path, host=host))[0] == "preset"


def test_unknown_metric_suggests(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path, recipe(eval__metrics=["mmd", "acff"]))
    err = cli_error(capsys, path)
    assert f"{path}: eval.metrics.1: unknown metric 'acff' (did you mean 'acf'?)" in err
    assert paths(load_error(path, host=host)) == ["eval.metrics.1"]


def test_unknown_param_suggests(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path, recipe(generator__params={"hiden_dim": 4}))
    err = cli_error(capsys, path)
    assert f"{path}: generator.params.hiden_dim: unknown parameter for generator 'lstm' (did you mean 'hidden_dim'?)" in err
    assert paths(load_error(path, host=host)) == ["generator.params.hiden_dim"]


def test_wrong_param_type(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path, recipe(generator__params={"hidden_dim": "big"}))
    err = cli_error(capsys, path)
    assert f"{path}: generator.params.hidden_dim: expected an integer, got a string 'big'" in err
    assert paths(load_error(path, host=host)) == ["generator.params.hidden_dim"]


def test_injected_argument_in_params(tmp_path: Path, host: PluginHost) -> None:
    error = load_error(write(tmp_path, recipe(generator__params={"spec": 1})), host=host)
    assert "set by seqtk itself" in only(error, "generator.params.spec").message


def test_preset_params_are_checked_after_merging(tmp_path: Path, host: PluginHost) -> None:
    """A wrong param next to a preset's own params is still pinned to its key."""
    error = load_error(write(tmp_path, recipe(discriminator__params={"per_step": "yes"})), host=host)
    assert paths(error) == ["discriminator.params.per_step"]


# --------------------------------------------------------------------------- capabilities


class FakeTokens:
    """A plugin object: a token domain (reusing the sines class) that provides 'discrete'."""

    @hookimpl
    def seqtk_register(self, registry: Any) -> None:
        registry.add(
            "domains", "fake-tokens", "seqtk.plugins.timeseries.sines:SinesDomain", plugin="FakeTokens", provides=["discrete"]
        )


class DiscreteMetric:
    """A plugin object: a metric that only makes sense for token sequences."""

    @hookimpl
    def seqtk_register(self, registry: Any) -> None:
        registry.add("metrics", "fake-bleu", "seqtk.plugins.timeseries.metrics:MMD", plugin="DiscreteMetric", requires=["discrete"])


def test_generator_needs_a_capability_the_domain_lacks(tmp_path: Path) -> None:
    host = PluginHost(plugins=[FakeTokens()])
    path = write(tmp_path, recipe(domain__name="fake-tokens"))
    error = load_error(path, host=host)
    message = only(error, "generator.name").message
    assert "generator 'lstm' requires continuous" in message
    assert "provided by: domain 'music' with representation: events, domain 'sines', domain 'timeseries'" in message
    assert error.problems[paths(error).index("generator.name")].line is not None


def test_metric_requires_a_capability_nobody_provides(tmp_path: Path) -> None:
    host = PluginHost(plugins=[DiscreteMetric()])
    path = write(tmp_path, recipe(eval__metrics=["mmd", "fake-bleu"]))
    error = load_error(path, host=host)
    assert paths(error) == ["eval.metrics.1"]
    message = error.problems[0].message
    assert "metric 'fake-bleu' requires discrete" in message
    # where to find the capability, with the parameter value that gives it
    assert "provided by: domain 'cond-oracle', domain 'music' with representation: tokens, domain 'oracle', domain 'text'" in message
    assert str(error).startswith(f"{path}: eval.metrics.1: ")


# --------------------------------------------------------------------------- several at once, lines


def test_several_problems_are_reported_together(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path, recipe(train__batch_size=0, generator__params={"hidden_dim": "big"}))
    err = cli_error(capsys, path)
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert any(": train.batch_size: " in line for line in lines)
    assert any(": generator.params.hidden_dim: " in line for line in lines)
    assert sorted(paths(load_error(path, host=host))) == ["generator.params.hidden_dim", "train.batch_size"]


LINED = """\
seqtk: 1
name: lines
preset: rgan
domain:
  name: sines
  params: {samples: 16, length: 6, features: 2}
train:
  batch_size: 0
  device: tpu
eval:
  every: 1
  metrics: [mmd, nope]
output:
  checkpoint_evry: 5
"""


def test_line_numbers_match_the_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path, text=LINED)
    err = cli_error(capsys, path)
    expected = {"train.batch_size": 8, "train.device": 9, "eval.metrics.1": 12, "output.checkpoint_evry": 14}
    for key, line in expected.items():
        assert re.search(rf"^{re.escape(str(path))}: {re.escape(key)}: .*\(line {line}\)$", err, re.MULTILINE), (key, err)
    error = load_error(path, host=host)
    assert {p.path: p.line for p in error.problems} == expected
    for key, line in expected.items():
        written = LINED.splitlines()[line - 1].strip()
        assert written.startswith(key.split(".")[-1] + ":") or key.startswith("eval.metrics"), (key, written)


def test_mappings_have_no_line(host: PluginHost) -> None:
    error = load_error(recipe(train__batch_size=0), host=host)
    assert error.problems[0].line is None
    assert str(error) == "<recipe>: train.batch_size: must be at least 1, got 0"


# --------------------------------------------------------------------------- --set overrides


def test_override_is_applied(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path)
    loaded = load_recipe(path, ["train.batch_size=8", "eval.metrics=[mmd, acf]", "train.pretrain.generator_steps=3"], host=host)
    assert loaded.data.train.batch_size == 8
    assert loaded.data.eval.metrics == ["mmd", "acf"]  # values are parsed as YAML
    assert loaded.data.train.pretrain.generator_steps == 3  # missing sections are created
    assert loaded.overrides == ("train.batch_size=8", "eval.metrics=[mmd, acf]", "train.pretrain.generator_steps=3")
    assert main(["validate", str(path), "--set", "train.batch_size=8"]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: valid")


def test_override_fixes_a_bad_value(tmp_path: Path, host: PluginHost) -> None:
    path = write(tmp_path, recipe(train__batch_size=0))
    assert load_recipe(path, ["train.batch_size=2"], host=host).data.train.batch_size == 2


def test_override_without_equals(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path)
    err = cli_error(capsys, path, "--set", "nonsense")
    assert f"{path}: --set: expected KEY.PATH=VALUE, got 'nonsense'" in err
    assert paths(load_error(path, ("nonsense",), host=host)) == ["--set"]


@pytest.mark.parametrize("override", ["=3", "train..batch_size=3", ".x=1"])
def test_override_with_an_empty_key(tmp_path: Path, host: PluginHost, override: str) -> None:
    assert paths(load_error(write(tmp_path), (override,), host=host)) == ["--set"]


def test_override_value_that_is_not_yaml(tmp_path: Path, host: PluginHost) -> None:
    error = load_error(write(tmp_path), ("eval.metrics=[mmd",), host=host)
    assert paths(error) == ["--set"] and "not valid YAML" in error.problems[0].message


def test_override_with_an_unknown_key(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path)
    err = cli_error(capsys, path, "--set", "train.batch_sise=8")
    assert f"{path}: train.batch_sise: unknown key (did you mean 'batch_size'?)" in err
    assert err.rstrip().endswith("(set by --set)")
    problem = only(load_error(path, ("train.batch_sise=8",), host=host), "train.batch_sise")
    assert problem.line is None and problem.message.endswith("(set by --set)")


def test_override_with_a_bad_value_is_marked(tmp_path: Path, host: PluginHost) -> None:
    problem = only(load_error(write(tmp_path), ("train.device=tpu",), host=host), "train.device")
    assert problem.message.endswith("(set by --set)") and problem.line is None


def test_override_through_a_non_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str], host: PluginHost) -> None:
    path = write(tmp_path)
    err = cli_error(capsys, path, "--set", "name.first=x")
    assert f"{path}: name: is not a mapping, cannot set name.first (set by --set)" in err
    assert paths(load_error(path, ("name.first=x",), host=host)) == ["name"]


def test_overrides_and_file_problems_together(tmp_path: Path, host: PluginHost) -> None:
    error = load_error(write(tmp_path, recipe(seed="x")), ("train.batch_size=0",), host=host)
    by_path = {p.path: p for p in error.problems}
    assert set(by_path) == {"seed", "train.batch_size"}
    assert by_path["seed"].line is not None and "(set by --set)" not in by_path["seed"].message
    assert by_path["train.batch_size"].message.endswith("(set by --set)")


# --------------------------------------------------------------------------- plugins' own checks


class EvenBatches:
    """A plugin object whose seqtk_validate_recipe hook adds a problem of its own."""

    @hookimpl
    def seqtk_validate_recipe(self, recipe: Any) -> list[Any] | None:
        if recipe.data.train.batch_size % 2:
            return [Problem("train.batch_size", "must be even for the even-batches plugin")]
        return None


class TextProblems:
    """The same check, returning a plain 'key.path: message' string."""

    @hookimpl
    def seqtk_validate_recipe(self, recipe: Any) -> list[str]:
        return ["eval.samples: the text plugin wants at least 8"] if recipe.data.eval.samples < 8 else []


def test_validate_hook_problem_is_reported(tmp_path: Path) -> None:
    host = PluginHost(plugins=[EvenBatches(), TextProblems()])
    assert load_recipe(write(tmp_path, recipe(eval__samples=8)), host=host).data.train.batch_size == 4
    path = write(tmp_path, recipe(train__batch_size=3))
    error = load_error(path, host=host)
    by_path = {p.path: p for p in error.problems}
    assert set(by_path) == {"train.batch_size", "eval.samples"}
    assert by_path["train.batch_size"].message == "must be even for the even-batches plugin"
    assert by_path["train.batch_size"].line is not None  # located like the core's own problems
    assert by_path["eval.samples"].message == "the text plugin wants at least 8"
    assert f"{path}: train.batch_size: must be even for the even-batches plugin (line " in str(error)


def test_validate_hook_through_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = "seqtk_test_even_batches_plugin"
    (tmp_path / f"{module}.py").write_text(
        "from seqtk import hookimpl\n\n"
        "@hookimpl\n"
        "def seqtk_validate_recipe(recipe):\n"
        "    if recipe.data.train.batch_size % 2:\n"
        "        return ['train.batch_size: must be even for this plugin']\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SEQTK_PLUGINS", module)
    monkeypatch.delitem(sys.modules, module, raising=False)
    path = write(tmp_path, recipe(train__batch_size=3))
    err = cli_error(capsys, path)
    assert re.search(rf"^{re.escape(str(path))}: train.batch_size: must be even for this plugin \(line \d+\)$", err, re.MULTILINE)
    monkeypatch.delitem(sys.modules, module, raising=False)


# --------------------------------------------------------------------------- errors found while building


def test_constructor_value_error_becomes_a_recipe_error(tmp_path: Path, host: PluginHost) -> None:
    from seqtk.core.api import run

    # a rule between two parameters, which no type hint states: validation passes
    path = write(tmp_path, recipe(domain={"name": "music", "params": {"source": "builtin", "path": "somewhere"}}))
    load_recipe(path, host=host)
    with pytest.raises(RecipeError) as caught:
        run(path, host=host)
    error = caught.value
    assert paths(error) == ["domain.params"]
    assert "path is only read with source 'folder'" in error.problems[0].message
    assert str(error).startswith(f"{path}: domain.params: domain 'music' rejected its parameters: ")
    assert not (tmp_path / "run").exists(), "a recipe that fails to build must not create its run directory"


def test_constructor_value_error_through_seqtk_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, recipe(domain__params={"samples": 16, "length": 1, "features": 2}))
    code = main(["run", str(path), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"{path}: domain.params.length: must be an integer >= 2, got 1")  # declared: refused before building
    assert not (tmp_path / "run").exists()
