"""The registry: fragments, lazy targets, duplicates, suggestions, parameter checks, presets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from seqtk.core.errors import RegistryError, UnknownNameError
from seqtk.core.registry import Registry, parse_fragment

REPO = Path(__file__).resolve().parents[1]


def fragment(tmp_path: Path, text: str, name: str = "fragment.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def target_for(obj: object) -> str:
    return f"{__name__}:{obj.__name__}"  # type: ignore[attr-defined]


class Widget:
    """A component with every kind of parameter the signature check understands."""

    def __init__(self, spec: object, size: int, rate: float = 0.5, mode: str = "a", flag: bool = False) -> None:
        self.spec, self.size, self.rate, self.mode, self.flag = spec, size, rate, mode, flag


def test_the_builtin_catalogue_parses_and_every_target_imports() -> None:
    import yaml

    entries, presets = parse_fragment(yaml.safe_load((REPO / "registry.yaml").read_text()), plugin="builtin", where="registry.yaml")
    assert {e.name for e in entries} >= {"sines", "lstm", "gru", "minimax", "wgan-gp", "reparam", "mmd"}
    for entry in entries:
        assert callable(entry.load()), entry.name
        problems = entry.check_params({})
        if entry.name == "text":  # the user's own files: nothing to default to
            assert problems == [("train", "domain 'text' needs this parameter"), ("test", "domain 'text' needs this parameter")]
        elif entry.name == "timeseries":
            assert problems == [("path", "domain 'timeseries' needs this parameter")]
        else:
            assert problems == [], entry.name  # defaults alone build every other built-in
    assert {p.name for p in presets} == {"rgan", "rwgan-gp", "seqgan", "relgan", "relgan-lstm", "maligan", "c-rnn-gan"}


def test_targets_are_imported_only_when_loaded(tmp_path: Path) -> None:
    registry = Registry()
    path = fragment(tmp_path, "generators:\n  later: {target: 'not_imported_yet_module:Thing', extra: 'pip install later'}\n")
    registry.load_fragment(path, plugin="p")
    assert "not_imported_yet_module" not in sys.modules
    with pytest.raises(RegistryError, match=r"cannot be imported.*install it with: pip install later"):
        registry.get("generators", "later").load()


def test_unknown_names_suggest_the_closest_valid_ones() -> None:
    registry = Registry()
    for name in ("minimax", "wgan-gp", "hinge"):
        registry.add("objectives", name, "x:y", plugin="p")
    with pytest.raises(UnknownNameError) as caught:
        registry.get("objectives", "minmax")
    message = str(caught.value)
    assert "unknown objective 'minmax' (did you mean 'minimax'?)" in message
    assert message.endswith("valid: hinge, minimax, wgan-gp")
    with pytest.raises(UnknownNameError, match="unknown preset 'rgn'"):
        registry.preset("rgn")


def test_a_duplicate_name_is_a_clash_naming_both_plugins_and_the_rest_stays(tmp_path: Path) -> None:
    """The clash policy (tests/test_plugin_clashes.py has the rest): neither plugin wins the name."""
    registry = Registry()
    registry.add("objectives", "minimax", "a:b", plugin="builtin")
    path = fragment(tmp_path, "objectives:\n  fresh: {target: 'c:d'}\n  minimax: {target: 'e:f'}\n")
    registry.load_fragment(path, plugin="other")
    assert registry.names("objectives") == ["fresh"]  # the fragment's other entries went in
    with pytest.raises(UnknownNameError, match="registered by plugin 'builtin' and plugin 'other'"):
        registry.get("objectives", "minimax")
    with pytest.raises(RegistryError, match="registered twice by plugin 'other'"):  # one plugin, one name twice: its own bug
        registry.add("objectives", "fresh", "g:h", plugin="other")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "must be a mapping"),
        ("generatorz: {}\n", r"unknown section\(s\) generatorz"),
        ("generators:\n  g: {target: 'nocolon'}\n", "target must be 'module:attribute'"),
        ("generators:\n  g: {target: 'a:b', colour: red}\n", r"generators\.g: unknown key\(s\) colour"),
        ("generators:\n  g: {target: 'a:b', defaults: [1]}\n", "defaults must be a mapping"),
        ("generators:\n  g: {target: 'a:b', provides: reparam}\n", "provides must be a list of strings"),
        ("domains:\n  d: {target: 'a:b', provides_by_param: [mode]}\n", "provides_by_param must map a parameter"),
        ("domains:\n  d: {target: 'a:b', provides_by_param: {mode: {}}}\n", r"provides_by_param\.mode must map each value"),
        ("domains:\n  d: {target: 'a:b', provides_by_param: {mode: {a: x}}}\n", r"provides_by_param\.mode\.a must be a list of strings"),
        ("seqtk-registry: 2\n", "fragment format 2 is not supported"),
        ("presets:\n  p: {generator: {params: {}}}\n", r"presets\.p\.generator: expected a component name"),
        ("generators: [\n", "invalid YAML"),
    ],
)
def test_broken_fragments_are_refused_with_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = fragment(tmp_path, text)
    with pytest.raises(RegistryError, match=message) as caught:
        Registry().load_fragment(path, plugin="p")
    assert str(path) in str(caught.value)


def test_parameters_are_checked_against_the_signature_and_type_hints() -> None:
    registry = Registry()
    entry = registry.add("generators", "widget", target_for(Widget), plugin="p", defaults={"rate": 0.1})
    assert entry.check_params({"size": 3}) == []
    problems = dict(entry.check_params({"szie": 3, "rate": "fast", "mode": 1, "flag": "yes", "spec": 1}))
    assert problems["szie"].startswith("unknown parameter for generator 'widget' (did you mean 'size'?)")
    assert problems["size"] == "generator 'widget' needs this parameter"
    assert problems["rate"] == "expected a number, got a string 'fast'"
    assert problems["mode"] == "expected a string, got an integer 1"
    assert problems["flag"] == "expected true or false, got a string 'yes'"
    assert "set by seqtk itself" in problems["spec"]


def test_build_injects_only_what_the_constructor_accepts_and_applies_defaults() -> None:
    registry = Registry()
    entry = registry.add("generators", "widget", target_for(Widget), plugin="p", defaults={"rate": 0.1, "size": 2})
    built = entry.build({"spec": "SPEC", "domain": "ignored"}, {"size": 5})
    assert (built.spec, built.size, built.rate) == ("SPEC", 5, 0.1)


def test_presets_list_their_parts(tmp_path: Path) -> None:
    registry = Registry()
    path = fragment(
        tmp_path,
        "presets:\n  combo:\n    summary: s\n    generator: lstm\n    objective: {name: minimax, params: {non_saturating: false}}\n",
    )
    registry.load_fragment(path, plugin="p")
    preset = registry.preset("combo")
    assert preset.parts == {"generator": {"name": "lstm", "params": {}}, "objective": {"name": "minimax", "params": {"non_saturating": False}}}


def test_remove_plugin_forgets_everything_it_registered() -> None:
    registry = Registry()
    registry.add("objectives", "mine", "a:b", plugin="gone")
    registry.add("objectives", "kept", "a:b", plugin="stays")
    registry.remove_plugin("gone")
    assert registry.names("objectives") == ["kept"]


def test_every_builtin_component_and_preset_is_documented() -> None:
    import yaml

    guide = (REPO / "docs" / "components.md").read_text()
    entries, presets = parse_fragment(yaml.safe_load((REPO / "registry.yaml").read_text()), plugin="builtin", where="registry.yaml")
    headings = [line for line in guide.splitlines() if line.startswith("### ")]
    for entry in entries:
        assert any(f"`{entry.name}`" in heading for heading in headings), f"{entry.kind} {entry.name!r} has no section in docs/components.md"
        for parameter in entry.parameters():
            assert f"`{parameter}`" in guide, f"parameter {parameter!r} of {entry.name!r} is not documented"
    for preset in presets:
        assert f"| `{preset.name}` |" in guide, f"preset {preset.name!r} is missing from docs/components.md"


def test_provides_by_param_adds_the_words_of_the_chosen_value_or_the_default(tmp_path: Path) -> None:
    """A domain whose ``mode`` decides its kind: the check sees the kind the recipe chose."""
    path = fragment(
        tmp_path,
        f"domains:\n  d:\n    target: '{target_for(Widget)}'\n    provides: [always]\n"
        "    provides_by_param: {mode: {a: [continuous], b: [discrete]}}\n",
    )
    registry = Registry()
    registry.load_fragment(path, plugin="p")
    entry = registry.get("domains", "d")
    assert entry.provides_for({}) == {"always", "continuous"}  # Widget's default mode is "a"
    assert entry.provides_for({"mode": "b"}) == {"always", "discrete"}
    assert entry.all_provides() == {"always", "continuous", "discrete"}
    assert ("mode", "must be one of 'a', 'b', got 'c'") in entry.check_params({"size": 1, "mode": "c"})
    assert entry.check_params({"size": 1, "mode": "b"}) == []
