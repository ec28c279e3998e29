"""Parameters declared once on the constructor (``seqtk.core.params``), checked at ``seqtk validate``.

A bound (``Annotated[int, Range(1)]``) or a choice (``Literal[...]``) is read from the
signature by the registry, so a bad value is a recipe error naming the file, the key
path, the bound or the choices and the line, before anything is built; the same
declaration guards construction from Python (``@checked``), for built-in and
third-party components alike.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

from seqtk.core.cli import main
from seqtk.core.hookspecs import hookimpl
from seqtk.core.interfaces import DomainSpec
from seqtk.core.params import PositiveInt, Range, checked
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import load_recipe
from seqtk.core.registry import Registry
from seqtk.core.typecheck import check, describe
from test_recipe_errors import cli_error, load_error, only, recipe, write

# --------------------------------------------------------------------------- the markers


def test_range_in_words_and_in_checks() -> None:
    dropout = Annotated[float, Range(0, 1, max_open=True)]
    assert describe(dropout) == "a number in [0, 1)"
    assert check(0.0, dropout) is None and check(0.99, dropout) is None
    assert check(1.0, dropout) == "must be a number in [0, 1), got 1.0"
    assert check(0, PositiveInt) == "must be an integer >= 1, got 0"
    assert check(True, PositiveInt) == "expected an integer, got a boolean"  # a wrong type reads as before
    assert "NaN and infinity are not accepted" in check(float("nan"), Annotated[float, Range(0)])
    assert check(0, Annotated[float, Range(0, min_open=True)]) == "must be a finite number > 0, got 0"
    assert check(None, PositiveInt | None) is None
    assert check(0, PositiveInt | None) == "must be an integer >= 1, got 0"
    assert check([2, 0], list[PositiveInt]) == "every item must be an integer >= 1, got 0"
    assert check(1, Annotated[int, Range(2, note="why")]) == "must be an integer >= 2 (why), got 1"


def test_a_literal_suggests_the_closest_choice() -> None:
    message = check("lnear", Literal["constant", "linear"])
    assert message == "expected one of 'constant', 'linear', got a string 'lnear' (did you mean 'linear'?)"


# --------------------------------------------------------------------------- built-ins at seqtk validate


def line_of(err: str) -> int:
    found = re.search(r"\(line (\d+)\)$", err.strip())
    assert found, err
    return int(found.group(1))


def test_an_out_of_range_value_is_refused_at_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, recipe(discriminator__params={"hidden_dim": 4, "dropout": 1.5}))
    err = cli_error(capsys, path)
    assert err.startswith(f"{path}: discriminator.params.dropout: must be a number in [0, 1), got 1.5 (line ")
    text = path.read_text().splitlines()
    assert "dropout: 1.5" in text[line_of(err) - 1]


def test_a_value_outside_the_choices_is_refused_with_a_suggestion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, recipe(domain__params={"samples": 16, "length": 6, "features": 2, "variant": "papr"}))
    err = cli_error(capsys, path)
    assert f"{path}: domain.params.variant: expected one of 'code', 'paper', got a string 'papr' (did you mean 'paper'?) (line " in err


def test_a_bound_with_a_reason_is_refused_at_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, recipe(generator__params={"hidden_dim": 0, "noise_dim": 2}))
    err = cli_error(capsys, path)
    assert f"{path}: generator.params.hidden_dim: must be an integer >= 1, got 0 (line " in err


def test_good_values_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, recipe(discriminator__params={"hidden_dim": 4, "dropout": 0.5, "num_layers": 2}))
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().err == ""


def test_every_bad_value_is_reported_at_once(tmp_path: Path, host: PluginHost) -> None:
    error = load_error(write(tmp_path, recipe(discriminator__params={"hidden_dim": 0, "dropout": -0.1})), host=host)
    assert only(error, "discriminator.params.hidden_dim").message == "must be an integer >= 1, got 0"
    assert only(error, "discriminator.params.dropout").message == "must be a number in [0, 1), got -0.1"
    assert all(p.line is not None for p in error.problems)


# --------------------------------------------------------------------------- from Python: the same words


@pytest.mark.parametrize(
    ("target", "params", "expected"),
    [
        ("seqtk.plugins.discriminators:GRUDiscriminator", {"hidden_dim": 0}, "gru discriminator: hidden_dim must be an integer >= 1, got 0"),
        ("seqtk.plugins.discriminators:LSTMDiscriminator", {"dropout": 1.0}, "lstm discriminator: dropout must be a number in [0, 1), got 1.0"),
        ("seqtk.plugins.discriminators:CNNDiscriminator", {"per_step": 1}, "cnn discriminator: per_step must be true or false, got 1"),
        ("seqtk.plugins.generators:LSTMGenerator", {"latent_dim": -1}, "lstm generator: latent_dim must be an integer >= 0, got -1"),
    ],
)
def test_converted_builtins_keep_their_messages(target: str, params: dict[str, Any], expected: str) -> None:
    module, name = target.split(":")
    cls = getattr(__import__(module, fromlist=[name]), name)
    spec = DomainSpec(kind="continuous", max_len=4, features=2, value_range=(0.0, 1.0))
    with pytest.raises(ValueError) as caught:
        cls(spec, **params)
    assert str(caught.value) == expected


def test_python_construction_names_the_choices() -> None:
    from seqtk.plugins.estimators import GumbelSoftmax, Reinforce

    with pytest.raises(ValueError, match=r"^gumbel: schedule must be one of 'constant', .*got 'lnear' \(did you mean 'linear'\?\)$"):
        GumbelSoftmax(schedule="lnear")
    with pytest.raises(ValueError, match=r"^reinforce: update_rate must be a number in \[0, 1\], got 2$"):
        Reinforce(update_rate=2)
    assert GumbelSoftmax(schedule="linear", anneal_steps=3).anneal_steps == 3


# --------------------------------------------------------------------------- third-party plugins


BUILT: list[dict[str, Any]] = []


@checked("sharp critic")
class SharpCritic:
    """A third-party component: declarations only, no hand-written check; records every build."""

    def __init__(
        self,
        spec: DomainSpec,
        width: Annotated[int, Range(1, 512)] = 8,
        mode: Literal["soft", "hard"] = "soft",
        margin: Annotated[float, Range(0, min_open=True)] = 1.0,
    ) -> None:
        BUILT.append({"width": width, "mode": mode, "margin": margin})


class ThirdParty:
    @hookimpl
    def seqtk_register(self, registry: Any) -> None:
        registry.add("discriminators", "sharp", f"{__name__}:SharpCritic", plugin="ThirdParty")


def test_a_third_party_declaration_is_enforced_at_validate(tmp_path: Path) -> None:
    host = PluginHost(plugins=[ThirdParty()])
    bad = recipe(discriminator={"name": "sharp", "params": {"width": 1000, "mode": "hrad", "margin": 0}})
    error = load_error(write(tmp_path, bad), host=host)
    assert only(error, "discriminator.params.width").message == "must be an integer in [1, 512], got 1000"
    assert "(did you mean 'hard'?)" in only(error, "discriminator.params.mode").message
    assert only(error, "discriminator.params.margin").message == "must be a finite number > 0, got 0"
    assert BUILT == []  # refused before anything was built
    good = recipe(discriminator={"name": "sharp", "params": {"width": 512, "mode": "hard", "margin": 0.5}})
    loaded = load_recipe(write(tmp_path, good, name="good.yaml"), host=host)
    assert loaded.data.discriminator.name == "sharp"


def test_a_third_party_declaration_guards_python_construction() -> None:
    spec = DomainSpec(kind="continuous", max_len=4, features=2)
    with pytest.raises(ValueError, match=r"^sharp critic: width must be an integer in \[1, 512\], got 0$"):
        SharpCritic(spec, width=0)
    SharpCritic(spec, 4, "hard")
    assert BUILT[-1] == {"width": 4, "mode": "hard", "margin": 1.0}


def test_the_registry_reads_declarations_from_the_signature() -> None:
    entry = Registry().add("discriminators", "sharp", f"{__name__}:SharpCritic", plugin="p")
    assert dict(entry.check_params({"width": 0})) == {"width": "must be an integer in [1, 512], got 0"}
    assert entry.check_params({"width": 3, "mode": "soft"}) == []
