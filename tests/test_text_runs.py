"""Discrete domains end to end: runs on the oracle and on text, sampling, and `seqtk score`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from seqtk.core import checkpoint as ckpt
from seqtk.core.api import run, sample
from seqtk.core.cli import main
from seqtk.core.errors import SeqtkError
from seqtk.core.scoring import parse_params, score

SENTENCES = [f"the {c} {t} is {a} ." for c in ("red", "green", "blue") for t in ("car", "kite", "boat") for a in ("big", "small")]


def oracle_recipe(tmp_path: Path, **train: Any) -> dict[str, Any]:
    return {
        "seqtk": 1,
        "name": "oracle-tiny",
        "seed": 1,
        "domain": {"name": "oracle", "params": {"vocab_size": 40, "max_len": 8, "train_samples": 512, "test_samples": 256, "seed": 5}},
        "generator": {"name": "token-lstm", "params": {"embed_dim": 16, "hidden_dim": 32}},
        "discriminator": {"name": "cnn", "params": {"embed_dim": 8, "filter_sizes": [2, 3], "num_filters": [8, 8]}},
        "objective": "minimax",
        "estimator": {"name": "reinforce", "params": {"rollouts": 2}},
        "train": {
            "batch_size": 32,
            "pretrain": {"generator_steps": 150},
            "adversarial": {"steps": 0},
            "optimizer": {"generator": {"lr": 0.01, "betas": [0.9, 0.999], "grad_clip": 5.0}},
            **train,
        },
        "eval": {"every": 75, "metrics": ["nll-oracle", "nll-test"], "samples": 256},
        "output": {"dir": str(tmp_path / "oracle"), "checkpoint_every": 75, "samples": 8},
    }


def test_mle_on_the_oracle_lowers_nll_oracle_and_nll_test(tmp_path: Path) -> None:
    result = run(oracle_recipe(tmp_path))
    start, end = result.initial_metrics, result.metrics
    assert end["nll-oracle"] < start["nll-oracle"] - 0.3
    assert end["nll-test"] < start["nll-test"] - 0.3
    lines = (result.run_dir / "samples" / "step-00000150.txt").read_text().splitlines()
    assert len(lines) == 8 and all(len(line.split()) == 8 for line in lines)


@pytest.mark.parametrize("estimator", ["reinforce", "gumbel"])
def test_adversarial_phase_runs_and_resumes_identically(tmp_path: Path, estimator: str) -> None:
    """Both discrete estimators train and an interrupted run resumes to the same state."""
    base = oracle_recipe(tmp_path, pretrain={"generator_steps": 20, "discriminator_steps": 4}, adversarial={"steps": 6})
    base["estimator"] = {"name": estimator, "params": {"rollouts": 2} if estimator == "reinforce" else {"anneal_steps": 6}}
    base["objective"] = "rsgan" if estimator == "gumbel" else "minimax"
    base["eval"]["every"] = 10
    base["output"]["checkpoint_every"] = 5
    whole = run(base)
    assert all(value == value for value in whole.metrics.values())  # finite, not NaN
    part = json.loads(json.dumps(base))
    part["output"]["dir"] = str(tmp_path / "part")
    run(part, ["train.adversarial.steps=2"])
    resumed = run(part, resume=True)
    assert resumed.metrics == whole.metrics
    final = [ckpt.load_checkpoint(ckpt.list_checkpoints(d / "checkpoints")[-1][1]) for d in (whole.run_dir, resumed.run_dir)]
    for net in ("generator", "discriminator", "estimator"):
        ours, theirs = (_tensors(state[net]) for state in final)
        assert len(ours) == len(theirs) and all(torch.equal(a, b) for a, b in zip(ours, theirs)), f"{net} differs after resuming"


def _tensors(state: Any) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state.reshape(-1)]
    if isinstance(state, dict):
        return [t for key in sorted(state) for t in _tensors(state[key])]
    if isinstance(state, (list, tuple)):
        return [t for item in state for t in _tensors(item)]
    return []


def write_corpus(tmp_path: Path) -> tuple[Path, Path]:
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    train.write_text("\n".join(SENTENCES * 3) + "\n", encoding="utf-8")
    test.write_text("\n".join(SENTENCES[::2]) + "\n", encoding="utf-8")
    return train, test


def test_text_run_then_sample_without_the_data_files(tmp_path: Path) -> None:
    train, test = write_corpus(tmp_path)
    recipe = oracle_recipe(tmp_path)
    recipe["domain"] = {"name": "text", "params": {"train": str(train), "test": str(test)}}
    recipe["eval"]["metrics"] = ["bleu-2", "self-bleu-2", "distinct-2", "unique", "nll-test"]
    recipe["output"]["dir"] = str(tmp_path / "text")
    result = run(recipe)
    assert result.metrics["nll-test"] < result.initial_metrics["nll-test"] - 0.5
    assert result.metrics["bleu-2"] > result.initial_metrics["bleu-2"]
    train.unlink()
    test.unlink()
    (written,) = sample(result.run_dir, 20, seed=3)
    lines = written.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 20
    words = {word for sentence in SENTENCES for word in sentence.split()}
    assert all(set(line.split()) <= words for line in lines)


def test_score_text_files(tmp_path: Path) -> None:
    _, test = write_corpus(tmp_path)
    samples = tmp_path / "samples.txt"
    samples.write_text("the red car is big .\nthe red car is big .\na totally new sentence\n", encoding="utf-8")
    report = score("text", test, samples, ["bleu-2", "unique", "distinct-1"])
    metrics = report["metrics"]
    assert metrics["unique"] == pytest.approx(2 / 3)
    # distinct unigrams: the red car is big . a totally new sentence = 10 of 16 tokens
    assert metrics["distinct-1"] == pytest.approx(10 / 16)
    assert 0.0 < metrics["bleu-2"] < 1.0
    assert report["protocol"]["real_sequences"] == 9 and report["protocol"]["sample_sequences"] == 3
    assert score("text", test, test, ["bleu-4"])["metrics"]["bleu-4"] == 1.0


def test_score_cli_prints_json_and_writes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, test = write_corpus(tmp_path)
    out = tmp_path / "score.json"
    code = main(["score", "text", "--real", str(test), "--samples", str(test), "--metric", "bleu-3", "--param", "lowercase=true", "--out", str(out)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["metrics"] == {"bleu-3": 1.0}
    assert printed["protocol"]["params"] == {"lowercase": True}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--metric", "bleu-9"], "bleu-2"),  # unknown metric: suggestions
        (["--metric", "nll-test"], "needs the run's generator"),
        (["--metric", "mmd"], "requires continuous"),
        (["--param", "tokenizer=wordz"], "word"),
    ],
)
def test_score_cli_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    _, test = write_corpus(tmp_path)
    code = main(["score", "text", "--real", str(test), "--samples", str(test), *argv])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_score_refuses_missing_files_and_domains_that_cannot_read_samples(tmp_path: Path) -> None:
    _, test = write_corpus(tmp_path)
    with pytest.raises(SeqtkError, match="--samples .*no such file"):
        score("text", test, tmp_path / "missing.txt")
    with pytest.raises(SeqtkError, match="cannot read sample files"):
        score("sines", test, test, ["mmd"])
    with pytest.raises(SeqtkError, match="expected KEY=VALUE"):
        parse_params(["tokenizer"])
