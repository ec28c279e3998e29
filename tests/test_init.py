"""Initialisation schemes (seqtk.plugins.init) and the CNN discriminator's L2 penalty."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from seqtk.core.interfaces import DomainSpec
from seqtk.plugins.discriminators import CNNDiscriminator
from seqtk.plugins.init import SCHEMES, apply_init, check_init
from seqtk.plugins.tokens.generator import TokenLSTMGenerator

TOKENS = DomainSpec(kind="discrete", max_len=6, vocab_size=40, pad_id=0, bos_id=1, eos_id=2, unsampled_ids=(0, 1))
VALUES = DomainSpec(kind="continuous", max_len=6, features=3, value_range=(-1.0, 1.0))


def big_lstm() -> nn.LSTM:
    """Large enough (matrices of 256 x 64 = 16k draws) for a std to be pinned within a few percent."""
    return nn.LSTM(64, 64)


def within(actual: float, target: float, rel: float = 0.05) -> bool:
    return abs(actual - target) <= rel * target


# --------------------------------------------------------------------------- schemes


def test_normal_draws_every_parameter_with_the_given_std():
    lstm = big_lstm()
    apply_init(lstm, {"scheme": "normal", "std": 0.07}, "test")
    for name, p in lstm.named_parameters():
        assert within(p.std().item(), 0.07, rel=0.05 if p.numel() > 1000 else 0.25), name
        assert abs(p.mean().item()) < 0.07 * 4 / math.sqrt(p.numel()), name


def test_uniform_stays_inside_its_bound_with_the_uniform_std():
    lstm = big_lstm()
    apply_init(lstm, "uniform", "test")
    weight = lstm.weight_ih_l0
    assert weight.abs().max().item() <= 0.05
    assert within(weight.std().item(), 0.05 / math.sqrt(3))  # std of U(-a, a) is a / sqrt(3)


def test_fan_normal_uses_one_over_root_of_the_first_dimension():
    module = nn.Linear(64, 400)  # weight [400, 64], bias [400]: both have shape[0] = 400
    apply_init(module, "fan-normal", "test")
    assert within(module.weight.std().item(), 1 / math.sqrt(400))
    assert within(module.bias.std().item(), 1 / math.sqrt(400), rel=0.15)
    embedding = nn.Embedding(900, 32)
    apply_init(embedding, {"scheme": "fan-normal", "gain": 2.0}, "test")
    assert within(embedding.weight.std().item(), 2 / math.sqrt(900))


def test_truncated_normal_is_cut_at_two_standard_deviations():
    lstm = big_lstm()
    apply_init(lstm, "truncated-normal", "test")
    weight = lstm.weight_hh_l0
    assert weight.abs().max().item() <= 0.2
    # The std of N(0, 1) cut at +-2 is 0.8796 (Var = 1 - 2 * 2 * phi(2) / (2 * Phi(2) - 1)).
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    cut = 2 * (0.5 * (1 + math.erf(2 / math.sqrt(2)))) - 1
    assert within(weight.std().item(), 0.1 * math.sqrt(1 - 4 * phi2 / cut))


@pytest.mark.parametrize("scheme, bound_of_uniform", [("xavier-uniform", True), ("xavier-normal", False)])
def test_glorot_schemes_scale_matrices_by_their_fans_and_zero_biases(scheme: str, bound_of_uniform: bool):
    module = nn.Linear(300, 100)
    norm = nn.LayerNorm(100)
    apply_init(nn.ModuleList([module, norm]), scheme, "test")
    target = math.sqrt(2.0 / (300 + 100))
    assert within(module.weight.std().item(), target)
    if bound_of_uniform:
        assert module.weight.abs().max().item() <= target * math.sqrt(3)
    assert torch.count_nonzero(module.bias) == 0
    assert torch.equal(norm.weight, torch.ones(100)), "a layer norm's scale keeps its default, not zero"


def test_orthogonal_makes_each_recurrent_gate_block_orthogonal():
    lstm = nn.LSTM(16, 24)
    apply_init(lstm, "orthogonal", "test")
    for block in lstm.weight_hh_l0.detach().split(24, dim=0):
        torch.testing.assert_close(block @ block.T, torch.eye(24), atol=1e-5, rtol=0)
    assert within(lstm.weight_ih_l0.std().item(), math.sqrt(2.0 / (16 + 96)), rel=0.1)
    assert torch.count_nonzero(lstm.bias_ih_l0) == 0


@pytest.mark.parametrize("init", [None, "torch", {"scheme": "torch"}])
def test_torch_and_none_leave_the_default_untouched_bit_for_bit(init: Any):
    torch.manual_seed(3)
    plain = TokenLSTMGenerator(TOKENS)
    after_plain = torch.rand(1)
    torch.manual_seed(3)
    chosen = TokenLSTMGenerator(TOKENS, init=init)
    after_chosen = torch.rand(1)
    for (name, a), (_, b) in zip(plain.state_dict().items(), chosen.state_dict().items()):
        assert torch.equal(a, b), name
    assert torch.equal(after_plain, after_chosen), "the RNG must not advance either"


def test_seeded_draws_reproduce_and_frozen_parameters_and_padding_rows_stay():
    def build(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        frozen = nn.Linear(4, 4)
        frozen.requires_grad_(False)
        model = nn.ModuleDict({"frozen": frozen, "embed": nn.Embedding(10, 4, padding_idx=0), "out": nn.Linear(4, 4)})
        kept = frozen.weight.clone()
        apply_init(model, "normal", "test")
        assert torch.equal(model["frozen"].weight, kept)
        assert torch.count_nonzero(model["embed"].weight[0]) == 0
        return model

    a, b, c = build(1), build(1), build(2)
    assert torch.equal(a["out"].weight, b["out"].weight)
    assert not torch.equal(a["out"].weight, c["out"].weight)


def test_every_scheme_has_a_docstring_naming_its_source():
    for name, scheme in SCHEMES.items():
        if name != "torch":
            assert scheme.rule.__doc__ and len(scheme.rule.__doc__) > 40, name


# --------------------------------------------------------------------------- components


def _builtin(host, kind: str):
    return [e for e in host.registry.entries(kind) if e.target.startswith("seqtk.")]


def test_every_builtin_generator_and_discriminator_takes_init(host):
    entries = _builtin(host, "generators") + _builtin(host, "discriminators")
    assert {"lstm", "token-lstm", "gru", "cnn"} <= {e.name for e in entries}
    init = {"scheme": "normal", "std": 0.1}
    for entry in entries:
        spec = VALUES if "continuous" in entry.requires else TOKENS
        extra: dict = {}
        if "frame_shape" in entry.parameters():  # the video networks: flattened 16x16 grey frames
            spec, extra = DomainSpec(kind="continuous", max_len=3, features=256, value_range=(0.0, 1.0)), {"frame_shape": [1, 16, 16]}
        assert entry.check_params({"init": init, **extra}) == [], entry.label
        built = entry.build({"spec": spec}, {"init": init, **extra})
        drawn = torch.cat([p.detach().flatten() for p in built.parameters()])
        assert within(drawn.std().item(), 0.1), entry.label
        for name, p in built.named_parameters():
            if p.numel() >= 400:
                assert within(p.std().item(), 0.1, rel=0.15), f"{entry.label}: {name}"
        for name, buffer in built.named_buffers():
            fresh = entry.build({"spec": spec}, dict(extra))
            assert torch.equal(buffer, dict(fresh.named_buffers())[name]), f"{entry.label}: buffer {name} changed"


def test_token_generator_keeps_its_logit_mask():
    generator = TokenLSTMGenerator(TOKENS, init="normal")
    assert generator.logit_mask[0] == float("-inf") and generator.logit_mask[1] == float("-inf")
    assert torch.count_nonzero(generator.logit_mask[2:]) == 0


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "init, message",
    [
        ("nromal", "cnn discriminator: init: unknown scheme 'nromal' (did you mean 'normal'?; valid: torch, normal,"),
        ({"scheme": "xavier_uniform"}, "did you mean 'xavier-uniform'?"),
        ({"std": 0.1}, "cnn discriminator: init: a mapping needs 'scheme'"),
        ({"scheme": "normal", "sdt": 0.1}, "unknown key 'sdt' for scheme 'normal' (did you mean 'std'?; valid: std)"),
        ({"scheme": "torch", "std": 0.1}, "unknown key 'std' for scheme 'torch' (valid: none)"),
        ({"scheme": "uniform", "bound": 0}, "bound must be a finite number > 0, got 0"),
        ({"scheme": "normal", "std": "0.1"}, "std must be a finite number > 0"),
        ({"scheme": "normal", "std": True}, "std must be a finite number > 0"),
        ({"scheme": 3}, "scheme must be a string"),
        (0.1, "expected a scheme name or a mapping"),
    ],
)
def test_bad_init_fails_when_the_component_is_built(init: Any, message: str):
    with pytest.raises(ValueError) as caught:
        CNNDiscriminator(TOKENS, filter_sizes=[2], num_filters=[3], init=init)
    assert message in str(caught.value)


def test_check_init_fills_in_defaults():
    assert check_init("normal", "x") == ("normal", {"std": 0.1})
    assert check_init({"scheme": "uniform", "bound": 1}, "x") == ("uniform", {"bound": 1.0})
    assert check_init(None, "x") == ("torch", {})


# --------------------------------------------------------------------------- CNN L2 penalty


def test_cnn_regularization_is_seqgan_l2_on_the_scoring_layer_only():
    cnn = CNNDiscriminator(TOKENS, embed_dim=4, filter_sizes=[2], num_filters=[3], l2_penalty=0.2)
    with torch.no_grad():
        cnn.head.weight.copy_(torch.tensor([[1.0, -2.0, 0.5]]))
        cnn.head.bias.fill_(3.0)
    # tf.nn.l2_loss(t) = sum(t ** 2) / 2: (1 + 4 + 0.25) / 2 + 9 / 2 = 7.125, times 0.2.
    penalty = cnn.regularization()
    assert penalty is not None
    assert penalty.item() == pytest.approx(0.2 * 7.125)
    penalty.backward()
    assert torch.allclose(cnn.head.weight.grad, 0.2 * cnn.head.weight.detach())
    assert all(p.grad is None for name, p in cnn.named_parameters() if not name.startswith("head."))


def test_cnn_regularization_is_none_at_zero_and_bad_values_are_refused():
    assert CNNDiscriminator(TOKENS, filter_sizes=[2], num_filters=[3]).regularization() is None
    for bad in (-0.1, float("nan"), True, "0.2"):
        with pytest.raises(ValueError, match="cnn discriminator: l2_penalty must be a finite number >= 0"):
            CNNDiscriminator(TOKENS, filter_sizes=[2], num_filters=[3], l2_penalty=bad)
