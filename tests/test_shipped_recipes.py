"""Every shipped recipe runs from a fresh clone, and relative paths mean what users expect.

- A copy of the files git would ship (tracked, plus new files not ignored), with nothing
  beside it, validates every recipe in recipes/ from another working directory, and every
  path parameter a recipe names exists inside that copy: no recipe reaches outside the
  clone (``../shared/data`` did).
- A relative path written in a recipe file is relative to the file's folder; one given
  with ``--set`` or in a mapping is relative to the working directory; a plugin's
  registry fragment opts its parameters in with ``path_params``.
- data/README.md's sizes and sha256 checksums match the files.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from seqtk import hookimpl
from seqtk.core.errors import RecipeError, RegistryError
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import SECTION_KINDS, Recipe, load_recipe
from seqtk.core.registry import parse_fragment
from seqtk.core.trainer import recipe_fingerprint

from docblocks import REPO

DATA = REPO / "data"
_CHECKSUM_ROW = re.compile(r"^\| `([^`]+)` \| (\d+) \| `([0-9a-f]{64})` \|$", re.MULTILINE)


def shipped_files() -> list[str]:
    """Paths git would put in a commit: tracked files still present plus new, not ignored ones."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the shipped file list is unknown")
    return sorted({name for name in listing.decode().split("\0") if name and (REPO / name).is_file()})


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped files alone in an empty folder, as a user's fresh clone."""
    root = tmp_path_factory.mktemp("fresh") / "seqtk"
    for name in shipped_files():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, target)
    return root


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory that is neither the clone nor its parent."""
    folder = tmp_path / "somewhere" / "else"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    return folder


def path_values(recipe: Recipe, host: PluginHost) -> dict[str, str]:
    """``section.params.key`` -> value for every path parameter the recipe sets."""
    found = {}
    for section, kind in SECTION_KINDS.items():
        component = recipe.component(section)
        if component.name is None:  # a model recipe names no generator, ...; a GAN recipe no model
            continue
        for key in host.registry.get(kind, component.name).path_params:
            if component.params.get(key) is not None:
                found[f"{section}.params.{key}"] = component.params[key]
    return found


# --------------------------------------------------------------------------- the fresh clone


def test_every_shipped_recipe_validates_from_a_fresh_clone(clone: Path, elsewhere: Path, host: PluginHost) -> None:
    recipes = sorted((clone / "recipes").glob("*.yaml"))
    assert {p.name for p in recipes} == {p.name for p in (REPO / "recipes").glob("*.yaml")}, "a recipe is not shipped (untracked and ignored?)"
    data_paths = 0
    for path in recipes:
        recipe = load_recipe(path, host=host)
        for key, value in path_values(recipe, host).items():
            resolved = Path(value)
            assert resolved.is_absolute(), f"{path.name}: {key} was not resolved: {value}"
            assert resolved.exists(), f"{path.name}: {key}: {value} does not exist in a fresh clone"
            assert resolved.is_relative_to(clone.resolve()), f"{path.name}: {key} reads {value}, outside the clone"
            data_paths += 1
    assert data_paths >= 8, "the COCO, oracle and stocks recipes name data files; were their path_params lost?"


def test_the_command_line_validates_a_clone_recipe_from_elsewhere(clone: Path, elsewhere: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "seqtk", "validate", str(clone / "recipes" / "coco-seqgan.yaml")],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_data_files_are_shipped_not_ignored() -> None:
    shipped = set(shipped_files())
    listed = [name for name, _, _ in checksum_rows()]
    assert listed, "data/README.md lists no files"
    missing = [name for name in listed if f"data/{name}" not in shipped]
    assert not missing, f"git would not ship {missing} (check .gitignore)"


# --------------------------------------------------------------------------- what a relative path means


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """project/recipes/r.yaml naming ../corpus/{train,test}.txt; the corpus exists only there."""
    project = tmp_path / "project"
    (project / "recipes").mkdir(parents=True)
    (project / "corpus").mkdir()
    for name in ("train.txt", "test.txt"):
        (project / "corpus" / name).write_text("a b c\nb c d\n", encoding="utf-8")
    (project / "recipes" / "r.yaml").write_text(
        "seqtk: 1\n"
        "name: paths\n"
        "domain: {name: text, params: {train: ../corpus/train.txt, test: ../corpus/test.txt}}\n"
        "generator: token-lstm\n"
        "discriminator: cnn\n"
        "objective: minimax\n"
        "estimator: reinforce\n"
        "train: {init_generator: ../runs/pretrained, adversarial: {steps: 1}}\n",
        encoding="utf-8",
    )
    return project


def test_a_path_in_the_file_is_relative_to_the_recipe_and_a_set_one_to_the_cwd(layout: Path, elsewhere: Path, host: PluginHost) -> None:
    recipe = load_recipe(layout / "recipes" / "r.yaml", ["domain.params.test=mine/test.txt"], host=host)
    params = recipe.component("domain").params
    assert params["train"] == str((layout / "corpus" / "train.txt").resolve())
    assert params["test"] == str((elsewhere / "mine" / "test.txt").resolve())
    assert recipe.data.train.init_generator == str((layout / "runs" / "pretrained").resolve())
    assert recipe.data.output.dir == "runs/{name}"  # run directories stay relative to the cwd
    assert recipe.to_dict()["domain"]["params"]["train"] == params["train"]  # what recipe.yaml records


def test_a_whole_mapping_set_on_the_command_line_is_relative_to_the_cwd(layout: Path, elsewhere: Path, host: PluginHost) -> None:
    recipe = load_recipe(layout / "recipes" / "r.yaml", ["domain.params={train: a.txt, test: /abs/b.txt}"], host=host)
    assert recipe.component("domain").params == {"train": str(elsewhere.resolve() / "a.txt"), "test": "/abs/b.txt"}


def test_a_mapping_recipe_is_relative_to_the_cwd(layout: Path, host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(layout)
    document = {
        "seqtk": 1,
        "name": "mapping",
        "domain": {"name": "text", "params": {"train": "corpus/train.txt", "test": "corpus/test.txt"}},
        "generator": "token-lstm",
        "discriminator": "cnn",
        "objective": "minimax",
        "estimator": "reinforce",
    }
    recipe = load_recipe(document, host=host)
    assert recipe.component("domain").params["train"] == str((layout / "corpus" / "train.txt").resolve())
    assert load_recipe(recipe.to_dict(), host=host).to_dict() == recipe.to_dict()  # a stored recipe reloads unchanged


def test_the_fingerprint_does_not_depend_on_the_working_directory(layout: Path, host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(layout)
    here = load_recipe("recipes/r.yaml", host=host)
    monkeypatch.chdir(layout / "corpus")
    there = load_recipe("../recipes/r.yaml", host=host)
    assert recipe_fingerprint(here) == recipe_fingerprint(there)
    assert here.to_dict() == there.to_dict()


def test_a_path_no_file_system_accepts_is_a_recipe_problem(layout: Path, host: PluginHost) -> None:
    with pytest.raises(RecipeError, match=r"domain.params.train: is not a usable path .*\(set by --set\)"):
        load_recipe(layout / "recipes" / "r.yaml", ['domain.params.train="bad\\0name"'], host=host)


class _LinesPlugin:
    """A third-party plugin whose fragment declares only ``train`` a path parameter."""

    def __init__(self, fragment: Path) -> None:
        self.fragment = fragment

    @hookimpl
    def seqtk_register(self, registry) -> None:  # type: ignore[no-untyped-def]
        registry.load_fragment(self.fragment, plugin="lines")


def test_a_plugin_fragment_opts_its_parameters_in(layout: Path, elsewhere: Path, tmp_path: Path) -> None:
    fragment = tmp_path / "registry.yaml"
    fragment.write_text(
        "domains:\n"
        "  lines:\n"
        "    target: seqtk.plugins.text.domain:TextDomain\n"
        "    provides: [discrete]\n"
        "    path_params: [train]\n",
        encoding="utf-8",
    )
    plugin_host = PluginHost(plugins=[_LinesPlugin(fragment)])
    recipe = load_recipe(layout / "recipes" / "r.yaml", ["domain.name=lines"], host=plugin_host)
    params = recipe.component("domain").params
    assert params["train"] == str((layout / "corpus" / "train.txt").resolve())
    assert params["test"] == "../corpus/test.txt"  # not declared: passed on as written


def test_path_params_must_be_parameters_of_the_target(host: PluginHost) -> None:
    with pytest.raises(RegistryError, match="path_params must be a list of strings"):
        parse_fragment({"domains": {"x": {"target": "a:b", "path_params": "train"}}}, plugin="p", where="f.yaml")
    (entry,), _ = parse_fragment(
        {"domains": {"x": {"target": "seqtk.plugins.text.domain:TextDomain", "path_params": ["train", "trian"]}}}, plugin="p", where="f.yaml"
    )
    with pytest.raises(RegistryError, match="'trian', which seqtk.plugins.text.domain:TextDomain does not take"):
        entry.check_params({"train": "a", "test": "b"})


# --------------------------------------------------------------------------- data/README.md


def checksum_rows() -> list[tuple[str, int, str]]:
    return [(name, int(size), digest) for name, size, digest in _CHECKSUM_ROW.findall((DATA / "README.md").read_text(encoding="utf-8"))]


def data_files() -> Iterator[str]:
    for path in sorted(DATA.rglob("*")):
        if path.is_file() and path.name != "README.md":
            yield path.relative_to(DATA).as_posix()


def test_data_readme_checksums_match_the_files() -> None:
    rows = checksum_rows()
    assert sorted(name for name, _, _ in rows) == list(data_files()), "data/README.md must list every data file once"
    for name, size, digest in rows:
        content = (DATA / name).read_bytes()
        assert len(content) == size, f"data/{name}: {len(content)} bytes, README says {size}"
        assert hashlib.sha256(content).hexdigest() == digest, f"data/{name}: sha256 differs from data/README.md"
