"""Conditional text: the two-column reader, the conditional text metrics, AC-GAN, and runs that honour their labels.

BLEU figures are checked against nltk (the reference implementation, used only here);
label fidelity against a classifier whose answer is obvious by construction.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from seqtk.core.api import run, sample
from seqtk.core.errors import DataError, RecipeError
from seqtk.core.interfaces import Batch, Condition, ConditionSpec, DomainSpec
from seqtk.core.metrics_log import read_metrics
from seqtk.core.plugins import PluginHost
from seqtk.core.recipe import load_recipe
from seqtk.plugins.discriminators import CNNDiscriminator, GRUDiscriminator
from seqtk.plugins.objectives import AuxiliaryClassifierGAN
from seqtk.plugins.text.conditional_metrics import LabelFidelity, PerClassBLEU, ResponseRelevance, cross_validated_accuracy
from seqtk.plugins.text.domain import TextDomain

from docblocks import REPO

torch.set_num_threads(1)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the reader


def test_label_lines_give_sorted_class_names_labels_and_label_tab_sentence_samples(tmp_path: Path) -> None:
    train = write(tmp_path / "train.tsv", "dogs\tthe dog runs\ncats\ta cat sleeps .\n\n dogs \tthe dog sleeps\n")
    test = write(tmp_path / "test.tsv", "cats\tthe cat runs\n")
    domain = TextDomain(train=str(train), test=str(test), conditions="label")
    assert domain.class_names == ("cats", "dogs")
    assert domain.spec.conditions == ConditionSpec(num_classes=2, class_names=("cats", "dogs"))
    batch = domain.load("train").batch
    assert batch.condition.labels.tolist() == [1, 0, 1]
    assert domain.decode(batch) == [["the", "dog", "runs"], ["a", "cat", "sleeps", "."], ["the", "dog", "sleeps"]]
    assert domain.load("test").batch.condition.labels.tolist() == [0]
    (path,) = domain.write_samples(batch, tmp_path, "out")
    assert path.read_text() == "dogs\tthe dog runs\ncats\ta cat sleeps .\ndogs\tthe dog sleeps\n"
    # The class names travel with the run: a domain restored from its state decodes without the files.
    restored = TextDomain(train=str(tmp_path / "gone.tsv"), test=str(tmp_path / "gone.tsv"), conditions="label")
    restored.load_state_dict(domain.state_dict())
    assert restored.spec.conditions.class_names == ("cats", "dogs")


def test_context_lines_share_the_vocabulary_and_are_written_back_beside_their_responses(tmp_path: Path) -> None:
    train = write(tmp_path / "train.tsv", "how are you ?\tfine thanks\nwhere is it\tover there\n")
    domain = TextDomain(train=str(train), test=str(train), conditions="context")
    spec = domain.spec
    assert spec.conditions.context == replace(spec, conditions=None)  # same vocabulary and max_len
    assert "where" in domain.vocabulary.tokens and spec.max_len == 5  # the longest line is a context: 4 tokens + EOS
    batch = domain.load("train").batch
    assert domain.decode(batch.condition.context) == [["how", "are", "you", "?"], ["where", "is", "it"]]
    assert domain.decode(batch) == [["fine", "thanks"], ["over", "there"]]
    (path,) = domain.write_samples(batch, tmp_path, "out")
    assert path.read_text() == "how are you ?\tfine thanks\nwhere is it\tover there\n"


@pytest.mark.parametrize(
    "conditions, text, message",
    [
        ("label", "a\tone two\nno tab here\n", r"line 2: expected label<TAB>sentence \(one tab\), found no tab"),
        ("label", "a\tone\tt two\n", r"line 1: expected label<TAB>sentence \(one tab\), found 2 tabs"),
        ("label", "a\tone\n \ttwo\n", r"line 2: the label \(before the tab\) is empty"),
        ("context", "hi there\tyes\nhello\t  \n", r"line 2: the response \(after the tab\) is empty"),
        ("label", "a\tone\na\ttwo\n", r"conditions: label needs at least 2 classes, found 1 \(a\)"),
    ],
)
def test_malformed_lines_are_data_errors_naming_the_file_and_line(tmp_path: Path, conditions: str, text: str, message: str) -> None:
    path = write(tmp_path / "bad.tsv", text)
    domain = TextDomain(train=str(path), test=str(path), conditions=conditions)
    with pytest.raises(DataError, match=f"{path}: {message}" if "classes" not in message else message) as caught:
        domain.load("train")
    assert str(path) in str(caught.value)


def test_a_test_label_the_training_file_lacks_is_named_with_its_line(tmp_path: Path) -> None:
    train = write(tmp_path / "train.tsv", "cats\ta\ndogs\tb\n")
    test = write(tmp_path / "test.tsv", "cats\ta\ndgos\tb\n")
    domain = TextDomain(train=str(train), test=str(test), conditions="label")
    with pytest.raises(DataError, match=rf"test file {test}: line 2: unknown label 'dgos' \(did you mean 'dogs'\?\); the training file's classes are cats, dogs"):
        domain.load("test")


def test_shuffled_training_conditions_keep_their_counts_and_the_test_split_keeps_its_own(tmp_path: Path) -> None:
    lines = "".join(f"{'ab'[i % 2]}\tword{i}\n" for i in range(40))
    path = write(tmp_path / "data.tsv", lines)
    plain = TextDomain(train=str(path), test=str(path), conditions="label")
    shuffled = TextDomain(train=str(path), test=str(path), conditions="label", shuffle_train_conditions=True)
    original, permuted = plain.load("train").batch.condition.labels, shuffled.load("train").batch.condition.labels
    assert sorted(permuted.tolist()) == sorted(original.tolist()) and not torch.equal(permuted, original)
    assert torch.equal(shuffled.load("test").batch.condition.labels, original)
    with pytest.raises(ValueError, match="shuffle_train_conditions needs conditions: label or context"):
        TextDomain(train=str(path), test=str(path), shuffle_train_conditions=True)


def test_the_recipe_check_sees_the_condition_the_chosen_value_provides(tmp_path: Path) -> None:
    recipe = {
        "seqtk": 1, "name": "t", "domain": {"name": "text", "params": {"train": "x.tsv", "test": "x.tsv", "conditions": "context"}},
        "generator": "token-lstm", "discriminator": "plain-cnn", "objective": "rsgan", "estimator": "gumbel",
    }
    host = PluginHost()  # a third party's discriminator written before conditioning: it declares no accepts
    host.registry.add("discriminators", "plain-cnn", "seqtk.plugins.discriminators:CNNDiscriminator", plugin="old")
    with pytest.raises(RecipeError, match=r"discriminator 'plain-cnn' cannot use the domain's context condition"):
        load_recipe(recipe, host=host)
    # label-fidelity needs labels, which a context domain does not give.
    recipe.update(discriminator="cnn", eval={"metrics": ["label-fidelity"]})
    with pytest.raises(RecipeError, match=r"metric 'label-fidelity' requires label"):
        load_recipe(recipe, host=PluginHost())


# --------------------------------------------------------------------------- metrics

LABEL_SPEC = DomainSpec(kind="discrete", max_len=6, vocab_size=20, bos_id=1, eos_id=2, conditions=ConditionSpec(num_classes=2))


def rows_batch(rows: list[list[int]], labels: list[int] | None = None, context: Batch | None = None) -> Batch:
    width = max(len(r) for r in rows) + 1
    values = torch.tensor([r + [2] + [0] * (width - len(r) - 1) for r in rows])
    condition = Condition(labels=None if labels is None else torch.tensor(labels), context=context)
    return Batch(values=values, lengths=torch.tensor([len(r) + 1 for r in rows]), condition=condition)


def test_label_fidelity_is_the_share_of_samples_a_real_data_classifier_puts_in_their_asked_class() -> None:
    # Class 0 sentences use words 5-7, class 1 words 8-10: any sensible classifier separates them.
    real = rows_batch([[5, 6], [6, 7], [5, 7, 6], [8, 9], [9, 10], [8, 10, 9]] * 3, [0, 0, 0, 1, 1, 1] * 3)
    fake = rows_batch([[5, 6, 7], [9, 8], [6, 5], [10, 8]], [0, 1, 1, 0])
    metric = LabelFidelity(LABEL_SPEC)
    state = torch.get_rng_state()
    assert metric(real, fake) == 0.5  # rows 0 and 1 ask for what they say; rows 2 and 3 do not
    assert torch.equal(torch.get_rng_state(), state)  # the run's random stream is untouched
    assert metric.ceiling(real) == 1.0 == cross_validated_accuracy(((5, 6), (8, 9)) * 5, torch.tensor([0, 1] * 5), 2)
    with pytest.raises(ValueError, match="label-fidelity: the samples carry no labels"):
        metric(real, rows_batch([[5]]))


def nltk_mean(references: list[list[int]], hypotheses: list[list[int]], n: int) -> float:
    """nltk's sentence BLEU-n (smoothing method 1) averaged over ``hypotheses``: the reference implementation."""
    nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")  # skips only the tests that compare with nltk
    method1 = nltk_bleu.SmoothingFunction().method1
    return sum(nltk_bleu.sentence_bleu(references, h, (1.0 / n,) * n, smoothing_function=method1) for h in hypotheses) / len(hypotheses)


def test_per_class_bleu_is_the_mean_over_classes_of_nltk_bleu_against_that_class_alone() -> None:
    real_rows = [[5, 6, 7, 8], [5, 6, 9], [10, 11, 12], [10, 12, 11, 13]]
    fake_rows = [[5, 6, 7], [10, 11, 12, 13], [5, 6, 9, 9], [12, 11]]
    real, fake = rows_batch(real_rows, [0, 0, 1, 1]), rows_batch(fake_rows, [0, 1, 0, 1])
    expected = (nltk_mean(real_rows[:2], [fake_rows[0], fake_rows[2]], 2) + nltk_mean(real_rows[2:], [fake_rows[1], fake_rows[3]], 2)) / 2
    assert PerClassBLEU(LABEL_SPEC, n=2)(real, fake) == pytest.approx(expected, abs=1e-12)
    swapped = rows_batch(fake_rows, [1, 0, 1, 0])  # the same sentences asked for the other class
    assert PerClassBLEU(LABEL_SPEC, n=2)(real, swapped) < expected


def test_response_relevance_scores_each_response_against_its_own_contexts_responses_and_the_shuffled_against_another() -> None:
    spec = replace(LABEL_SPEC, conditions=ConditionSpec(context=replace(LABEL_SPEC, conditions=None)))
    contexts = rows_batch([[3, 4], [3, 4], [13, 14]])
    real_rows = [[5, 6, 7], [5, 6, 8], [10, 11, 12]]
    real = rows_batch(real_rows, context=contexts)
    fake_rows = [[5, 6, 7, 8], [10, 11]]
    fake = rows_batch(fake_rows, context=contexts.index(torch.tensor([0, 2])))
    own = (nltk_mean(real_rows[:2], [fake_rows[0]], 2) + nltk_mean(real_rows[2:], [fake_rows[1]], 2)) / 2
    shuffled = (nltk_mean(real_rows[2:], [fake_rows[0]], 2) + nltk_mean(real_rows[:2], [fake_rows[1]], 2)) / 2
    assert ResponseRelevance(spec, n=2)(real, fake) == pytest.approx(own, abs=1e-12)
    assert ResponseRelevance(spec, n=2, shuffled=True)(real, fake) == pytest.approx(shuffled, abs=1e-12)
    assert own > shuffled
    with pytest.raises(ValueError, match="not among the held-out contexts"):
        ResponseRelevance(spec)(real, rows_batch([[5]], context=rows_batch([[9, 9, 9]])))


# --------------------------------------------------------------------------- AC-GAN

AC_SPEC = DomainSpec(kind="discrete", max_len=6, vocab_size=12, conditions=ConditionSpec(num_classes=3))


@pytest.mark.parametrize("make", [
    lambda: CNNDiscriminator(AC_SPEC, embed_dim=8, filter_sizes=[2], num_filters=[8], auxiliary_classifier=True),
    lambda: GRUDiscriminator(AC_SPEC, hidden_dim=8, embed_dim=8, auxiliary_classifier=True),
])
def test_the_auxiliary_classifier_replaces_the_label_projection_and_learns_the_labels(make: Any) -> None:
    torch.manual_seed(0)
    discriminator = make()
    assert discriminator.projection is None  # AC-GAN's realness score is not told the label
    labels = torch.arange(30) % 3
    real = Batch.full_length(labels.unsqueeze(1).repeat(1, 6) + 3 * (torch.arange(30) % 2).unsqueeze(1), condition=Condition(labels=labels))
    assert discriminator.classify(real).shape == (30, 3)
    objective = AuxiliaryClassifierGAN(ac_weight=1.0, classify_fakes=False)
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=0.05)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = objective.penalty(discriminator, real, real)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[0] == pytest.approx(torch.log(torch.tensor(3.0)).item(), abs=0.3) and losses[-1] < 0.15
    discriminator.eval()
    assert float(objective.auxiliary_reward(discriminator, real).mean().detach()) > -0.1  # log p(own label) near 0 once learnt


def test_acgan_is_refused_without_a_classifying_discriminator() -> None:
    recipe = {
        "seqtk": 1, "name": "t", "domain": {"name": "cond-oracle", "params": {"vocab_size": 10, "train_samples": 4, "test_samples": 4}},
        "generator": "token-lstm", "discriminator": "cnn", "objective": "acgan", "estimator": "gumbel",
    }
    with pytest.raises(RecipeError, match=r"objective 'acgan' requires classifies.*auxiliary_classifier: True"):
        load_recipe(recipe, host=PluginHost())
    recipe["discriminator"] = {"name": "cnn", "params": {"auxiliary_classifier": True}}
    load_recipe(recipe, host=PluginHost())


def test_an_acgan_run_learns_its_classifier_and_raises_label_fidelity(tmp_path: Path) -> None:
    """No pretraining: only the auxiliary classifier tells the generator what a label means."""
    recipe = {
        "seqtk": 1, "name": "ac", "seed": 0,
        "domain": {"name": "cond-oracle", "params": {"classes": 2, "vocab_size": 20, "max_len": 8, "train_samples": 512, "test_samples": 256, "embed_dim": 8, "hidden_dim": 8}},
        "generator": {"name": "token-lstm", "params": {"embed_dim": 16, "hidden_dim": 16}},
        "discriminator": {"name": "cnn", "params": {"embed_dim": 8, "filter_sizes": [2, 3], "num_filters": [16, 16], "auxiliary_classifier": True}},
        "objective": {"name": "acgan", "params": {"ac_weight": 1.0}},
        "estimator": {"name": "gumbel", "params": {"max_inverse_temperature": 1.0, "schedule": "constant"}},
        "train": {"batch_size": 64, "device": "cpu", "cpu_threads": 1, "adversarial": {"steps": 25}, "optimizer": {"generator": {"lr": 0.01}, "discriminator": {"lr": 0.01}}, "log_every": 1},
        "eval": {"every": 25, "samples": 256, "metrics": ["oracle-label-accuracy", "label-fidelity"]},
        "output": {"dir": str(tmp_path / "ac"), "checkpoint_every": 25, "samples": 4},
    }
    result = run(recipe)
    assert result.initial_metrics["oracle-label-accuracy"] < 0.6 and result.initial_metrics["label-fidelity"] < 0.6
    assert result.metrics["oracle-label-accuracy"] > 0.8 and result.metrics["label-fidelity"] > 0.8
    logs = [r for r in read_metrics(result.run_dir / "metrics.jsonl") if r["phase"] != "eval"]
    classifier_loss = [r["d_penalty"] for r in logs if "d_penalty" in r]
    assert sum(classifier_loss[:3]) / 3 > 1.2 and sum(classifier_loss[-3:]) / 3 < 0.6  # from ln 4 (two CEs at ln 2) downwards
    assert logs[-1]["g_auxiliary"] > logs[0]["g_auxiliary"]


# --------------------------------------------------------------------------- a text run


def test_class_conditional_mle_on_text_learns_its_labels_and_samples_with_label(tmp_path: Path) -> None:
    words = {"sea": "boat wave sail fish shore tide", "sky": "cloud bird star moon wind sun"}
    lines = []
    for i in range(120):
        label = "sea" if i % 2 else "sky"
        vocab = words[label].split()
        lines.append(f"{label}\tthe {vocab[i % 6]} and the {vocab[(i // 2 + 1) % 6]} .")
    write(tmp_path / "data.tsv", "\n".join(lines) + "\n")
    recipe = {
        "seqtk": 1, "name": "text", "seed": 0,
        "domain": {"name": "text", "params": {"train": str(tmp_path / "data.tsv"), "test": str(tmp_path / "data.tsv"), "conditions": "label"}},
        "generator": {"name": "token-lstm", "params": {"embed_dim": 16, "hidden_dim": 32}},
        "discriminator": "cnn", "objective": "minimax", "estimator": "gumbel",
        "train": {"batch_size": 32, "device": "cpu", "cpu_threads": 1, "pretrain": {"generator_steps": 80}, "adversarial": {"steps": 0}, "optimizer": {"generator": {"lr": 0.02}}},
        "eval": {"every": 80, "samples": 120, "metrics": ["label-fidelity", "class-bleu-2"]},
        "output": {"dir": str(tmp_path / "run"), "checkpoint_every": 80, "samples": 4},
    }
    result = run(recipe)
    assert abs(result.initial_metrics["label-fidelity"] - 0.5) < 0.15
    assert result.metrics["label-fidelity"] > 0.9 and result.metrics["class-bleu-2"] > result.initial_metrics["class-bleu-2"] + 0.3
    (path,) = sample(result.run_dir, 6, out_dir=tmp_path / "gen", label="sea")  # what `seqtk sample --label sea` runs
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    assert len(rows) == 6 and {label for label, _ in rows} == {"sea"}
    sea = set(words["sea"].split())
    assert sum(bool(sea & set(sentence.split())) for _, sentence in rows) >= 5
    # seqtk sample --conditions FILE: one label per line, --count samples for each, in the file's order.
    from seqtk.core.cli import main

    write(tmp_path / "wanted.txt", "sky\nsea\n")
    assert main(["sample", str(result.run_dir), "--conditions", str(tmp_path / "wanted.txt"), "-n", "3", "--out", str(tmp_path / "asked")]) == 0
    (asked,) = (tmp_path / "asked").glob("*.txt")
    assert [line.split("\t")[0] for line in asked.read_text().splitlines()] == ["sky"] * 3 + ["sea"] * 3
    write(tmp_path / "bad.txt", "sky\nsae\n")
    with pytest.raises(DataError, match=r"conditions file .*bad.txt: line 2: unknown label 'sae' \(did you mean 'sea'\?\)"):
        sample(result.run_dir, 1, out_dir=tmp_path / "never", conditions=tmp_path / "bad.txt")


def test_the_shipped_conditional_data_is_what_the_derivation_script_writes() -> None:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from derive_conditional_text import derived
    finally:
        sys.path.remove(str(REPO / "bench"))
    for name, text in derived(REPO / "data").items():
        assert (REPO / "data" / name).read_text(encoding="utf-8") == text, f"data/{name} differs from bench/derive_conditional_text.py's output"


def test_seqtk_score_reads_two_column_files_with_their_conditions(tmp_path: Path) -> None:
    real = write(tmp_path / "real.tsv", "".join(f"{'ab'[i % 2]}\t{'x y' if i % 2 else 'p q'} {i}\n" for i in range(20)))
    samples = write(tmp_path / "samples.tsv", "a\tp q\nb\tp q\nb\tx y z\n")
    domain, real_batch, fake = TextDomain.scoring_data(real, samples, {"conditions": "label"})
    assert domain.class_names == ("a", "b") and fake.condition.labels.tolist() == [0, 1, 1]
    assert LabelFidelity(domain.spec)(real_batch, fake) == pytest.approx(2 / 3)
    write(tmp_path / "bad.tsv", "c\tp q\n")
    with pytest.raises(DataError, match=r"samples file .*bad.tsv: line 1: unknown label 'c'"):
        TextDomain.scoring_data(real, tmp_path / "bad.tsv", {"conditions": "label"})
