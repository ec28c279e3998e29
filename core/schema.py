"""The recipe schema, version 1: typed sections with defaults, limits and documentation.

Each field's ``doc`` metadata is the recipe reference; ``docs/recipes.md`` is checked
against it by the tests, so the reference cannot drift from the code. Validation turns a
plain YAML mapping into these dataclasses, reporting every problem with its key path.
"""

from __future__ import annotations

import functools
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from difflib import get_close_matches
from typing import Any, Literal

from seqtk.core import typecheck
from seqtk.core.errors import Problem

SCHEMA_VERSION = 1


#: Every integer of a recipe must fit a signed 64-bit integer: torch and numpy take seeds,
#: sizes and counts as int64, and fail deep inside a run (not in the recipe check) beyond it.
INT64_MAX = 2**63 - 1


def _f(
    default: Any = MISSING,
    *,
    doc: str,
    minimum: float | None = None,
    exclusive: bool = False,
    maximum: int | None = None,
    factory: Any = MISSING,
) -> Any:
    meta = {"doc": doc, "minimum": minimum, "exclusive": exclusive, "maximum": maximum}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Component:
    """A component named from the registry, with parameters for its constructor."""

    name: str | None = _f(None, doc="Registry name of the component (`seqtk list` shows them).")
    params: dict[str, Any] = _f(doc="Constructor parameters; override the registry defaults.", factory=dict)


@dataclass
class Optimizer:
    """Adam settings for one network."""

    lr: float = _f(1e-3, doc="Learning rate.", minimum=0.0, exclusive=True)
    betas: tuple[float, float] = _f((0.5, 0.999), doc="Adam's beta1 and beta2.")
    weight_decay: float = _f(0.0, doc="L2 weight decay.", minimum=0.0)
    grad_clip: float | None = _f(None, doc="Clip the gradient norm to this value; null for no clipping.", minimum=0.0, exclusive=True)


@dataclass
class Optimizers:
    generator: Optimizer = _f(doc="Optimizer of the generator.", factory=Optimizer)
    discriminator: Optimizer = _f(doc="Optimizer of the discriminator.", factory=Optimizer)


@dataclass
class DiscriminatorPools:
    """SeqGAN's discriminator schedule: epochs over a pool of fresh negatives beside as many real rows.

    One update per batch sees a batch of real rows and an equal batch of generated ones, but
    a pool's negatives are drawn once and revisited ``epochs`` times, as SeqGAN trains its
    discriminator (50 pools x 3 epochs before the adversarial phase, 5 x 3 after every
    generator step, each pool 10,000 negatives beside the 10,000 real sequences).
    """

    pools: int = _f(0, doc="Pools per phase step (adversarial) or in all (pretraining), each with freshly generated negatives; 0 turns the pool schedule off.", minimum=0)
    pool_size: int | None = _f(
        None,
        doc="Generated sequences in a pool, beside as many real training rows; per process under torchrun, like `train.batch_size`; null: as many as the training split holds.",
        minimum=1,
    )
    epochs: int = _f(1, doc="Passes over each pool, in shuffled batches of `train.batch_size` real and as many generated sequences.", minimum=1)

    def problems(self, path: str) -> list[Problem]:
        """Settings that would be silently ignored because no pool is trained."""
        if self.pools == 0 and (self.pool_size is not None or self.epochs != 1):
            return [Problem(_join(path, "pools"), "is 0, so pool_size and epochs have no effect; set pools to at least 1 (SeqGAN: 50 before, 5 per adversarial step)")]
        return []


@dataclass
class Pretrain:
    generator_steps: int = _f(0, doc="Maximum-likelihood (teacher-forced) updates of the generator before adversarial training.", minimum=0)
    discriminator_steps: int = _f(0, doc="Discriminator updates against the pretrained generator before adversarial training.", minimum=0)
    generator_lr: float | None = _f(
        None,
        doc="Learning rate of the generator's pretraining updates (RelGAN pretrains at 1e-2 and trains adversarially at 1e-4); null: `train.optimizer.generator.lr`, the rate of the adversarial phase.",
        minimum=0.0,
        exclusive=True,
    )
    generator_lr_final: float | None = _f(
        None,
        doc="Learning rate of the last `generator_lr_final_steps` pretraining updates: a short low-rate phase settles the model that the larger rate leaves jittering around its optimum (oracle, 25 epochs at 1e-2 then 3 at 1e-3: NLL-oracle 9.02 -> 8.99). null: one rate throughout.",
        minimum=0.0,
        exclusive=True,
    )
    generator_lr_final_steps: int = _f(0, doc="How many of the last pretraining updates use `generator_lr_final`.", minimum=0)
    fresh_generator_optimizer: bool = _f(
        False,
        doc="Start the adversarial phase with a fresh Adam state for the generator, as SeqGAN's and RelGAN's code do (one optimizer for pretraining, another for adversarial training); false carries the pretraining moments over.",
    )
    discriminator_pools: DiscriminatorPools = _f(
        doc="Pretrain the discriminator on pools of fresh negatives instead of `discriminator_steps` single batches: each pool is one step.",
        factory=DiscriminatorPools,
    )

    def problems(self, path: str) -> list[Problem]:
        problems = [_both_schedules(path)] if self.discriminator_steps and self.discriminator_pools.pools else []
        if (self.generator_lr_final is None) != (self.generator_lr_final_steps == 0):
            problems.append(
                Problem(
                    _join(path, "generator_lr_final_steps"),
                    "generator_lr_final and generator_lr_final_steps go together: set both (a rate and how many of the last pretraining steps use it) or neither",
                )
            )
        elif self.generator_lr_final_steps > self.generator_steps:
            problems.append(
                Problem(
                    _join(path, "generator_lr_final_steps"),
                    f"is {self.generator_lr_final_steps}, more than the {self.generator_steps} pretraining steps (generator_steps)",
                )
            )
        return problems

    @property
    def discriminator_phase_steps(self) -> int:
        """Steps of discriminator pretraining: one per pool, or one per single-batch update."""
        return self.discriminator_pools.pools or self.discriminator_steps


@dataclass
class InstanceNoise:
    """Instance noise (Sønderby et al. 2017; Arjovsky and Bottou 2017): blur real and generated values alike.

    Early in training the real and generated distributions barely overlap, so a
    discriminator can separate them perfectly and its gradients say little. Gaussian noise
    on both makes them overlap; annealing it to zero returns to the original game.
    """

    std: float = _f(0.0, doc="Standard deviation of the noise at the start of the adversarial phase (and throughout discriminator pretraining), in the domain's scaled units; 0 turns instance noise off.", minimum=0.0)
    anneal_steps: int = _f(0, doc="Adversarial steps over which the standard deviation falls linearly to 0; 0 keeps it constant.", minimum=0)

    def std_at(self, step: int) -> float:
        """The noise's standard deviation at adversarial step ``step`` (0 for the first)."""
        if not self.anneal_steps:
            return self.std
        return self.std * max(0.0, 1.0 - step / self.anneal_steps)


@dataclass
class Adversarial:
    steps: int = _f(500, doc="Adversarial iterations; each makes `discriminator_steps` D updates then `generator_steps` G updates.", minimum=0)
    discriminator_steps: int | None = _f(None, doc="D updates per iteration; null takes the objective's own `critic_steps` (e.g. 5 for WGAN-GP). Decided once, before training (seqtk.core.phases); `seqtk validate` prints the number and where it came from.", minimum=1)
    generator_steps: int = _f(1, doc="G updates per iteration.", minimum=1)
    supervised_weight: float = _f(
        0.0,
        doc="Weight of the generator's teacher-forced pretraining loss on a real batch, added to every adversarial generator update (TimeGAN's supervised loss); 0 turns it off.",
        minimum=0.0,
    )
    discriminator_pools: DiscriminatorPools = _f(
        doc="Train the discriminator on pools of fresh negatives in every iteration instead of `discriminator_steps` single batches.",
        factory=DiscriminatorPools,
    )
    instance_noise: InstanceNoise = _f(
        doc="Gaussian noise added to every value the discriminator reads, real and generated alike (continuous domains only; docs/timeseries.md, Stabilisers).",
        factory=InstanceNoise,
    )
    r1: float = _f(
        0.0,
        doc="Weight gamma of the R1 penalty on real data, gamma / 2 times the mean squared norm of the gradient of D's score with respect to its input (Mescheder et al. 2018), added to every discriminator update and logged as `d_r1`; continuous domains only; 0 turns it off.",
        minimum=0.0,
    )

    def problems(self, path: str) -> list[Problem]:
        if self.discriminator_steps is not None and self.discriminator_pools.pools:
            return [_both_schedules(path)]
        return []

    def continuous_only(self, path: str) -> list[Problem]:
        """The stabilisers that perturb or differentiate the discriminator's input values, set for a token domain."""
        why = "the domain's sequences are tokens, and this stabiliser needs real values (it perturbs or differentiates them); remove it"
        problems = []
        if self.instance_noise.std:
            problems.append(Problem(_join(path, "instance_noise.std"), why))
        if self.r1:
            problems.append(Problem(_join(path, "r1"), why))
        return problems


def _both_schedules(path: str) -> Problem:
    return Problem(
        _join(path, "discriminator_pools"),
        f"cannot be used with {_join(path, 'discriminator_steps')}: both say how the discriminator trains; "
        "keep discriminator_steps (one batch per update) or discriminator_pools (epochs over pools of fresh negatives), not both",
    )


@dataclass
class Ema:
    """An exponential moving average of the generator's weights (seqtk.core.ema), which evaluation and sampling then use."""

    decay: float | None = _f(
        None,
        doc="Weight of the old average in each generator update, in [0, 1): 0.999 averages over about the last 1,000 updates (over all of them alike while there are fewer); evaluations, samples/ and `seqtk sample` use the average (kept in checkpoints as `generator_ema`), `train.init_generator` the raw weights; null turns averaging off.",
        minimum=0.0,
    )
    start: int = _f(0, doc="Generator updates at steps up to this one copy the weights instead of averaging them (a warm-up the average leaves out).", minimum=0)

    def problems(self, path: str) -> list[Problem]:
        if self.decay is not None and self.decay >= 1.0:
            return [Problem(_join(path, "decay"), f"must be below 1 (1 would never move the average from the initial weights), got {self.decay!r}")]
        return []


@dataclass
class Train:
    batch_size: int = _f(64, doc="Sequences per batch, real and generated alike; per process under torchrun (the global batch is this times the number of processes).", minimum=1, maximum=2**20)
    device: Literal["auto", "cpu", "cuda"] = _f("auto", doc="`auto` uses CUDA when present, else the CPU.")
    pretrain: Pretrain = _f(doc="Optional pretraining before the adversarial phase.", factory=Pretrain)
    adversarial: Adversarial = _f(doc="The adversarial phase.", factory=Adversarial)
    optimizer: Optimizers = _f(doc="Adam settings per network.", factory=Optimizers)
    cpu_threads: int | None = _f(None, doc="Threads torch may use on the CPU; null keeps torch's default. Small recurrent models often run fastest with 1.", minimum=1, maximum=1024)
    log_every: int = _f(10, doc="Write losses to metrics.jsonl every this many steps.", minimum=1)
    init_generator: str | None = _f(
        None,
        doc="A run directory (its newest checkpoint; `RUN@best` its best, `RUN@STEP` the one of that step) or checkpoint file whose generator weights start this run, so that GAN variants share one pretrained generator; null starts from random weights.",
    )
    ema: Ema = _f(doc="Exponential moving average of the generator's weights.", factory=Ema)


@dataclass
class Eval:
    every: int = _f(100, doc="Evaluate the metrics every this many steps (and before the first and after the last), except during discriminator pretraining, when the generator does not change.", minimum=1)
    metrics: list[str] | None = _f(None, doc="Metric names from the registry; null uses the domain's defaults.")
    samples: int = _f(1000, doc="Generated sequences per evaluation (compared with as many held-out real ones).", minimum=1, maximum=10**6)


@dataclass
class KeepBest:
    """Which evaluated checkpoint to keep as the run's best, beside the newest ones."""

    metric: str | None = _f(
        None,
        doc="An evaluation metric of this recipe (one of `eval.metrics`, or the domain's defaults); whenever an evaluation improves on it, that step is checkpointed and kept as `checkpoints/best.json` names it, whatever `keep_checkpoints` says; null keeps no best.",
    )
    mode: Literal["min", "max"] | None = _f(None, doc="`min` when lower is better, `max` when higher is; null takes the metric's own direction.")


@dataclass
class Output:
    dir: str = _f("runs/{name}", doc="Run directory; `{name}` is replaced by the recipe's name. Relative paths are relative to the working directory.")
    checkpoint_every: int = _f(100, doc="Save a checkpoint every this many steps (and at the end).", minimum=1)
    keep_checkpoints: int = _f(2, doc="How many recent checkpoints to keep.", minimum=1)
    samples: int = _f(64, doc="Generated sequences written to samples/ at each evaluation.", minimum=0, maximum=10**6)
    keep_best: KeepBest = _f(doc="The best evaluated checkpoint, for `seqtk sample RUN --best` and `train.init_generator: RUN@best`.", factory=KeepBest)


@dataclass
class EarlyStopping:
    """The built-in ``early-stopping`` callback: end a run whose metric stopped improving (docs/plugins.md, "Callbacks")."""

    metric: str | None = _f(
        None,
        doc="An evaluation metric of this recipe (one of `eval.metrics`, or the domain's defaults); the run stops after an evaluation that ends `patience` evaluations in a row without improving on it (checkpointed; `summary.json` says why under `stopped_early`); null turns early stopping off.",
    )
    patience: int = _f(5, doc="Evaluations in a row without improvement that stop the run.", minimum=1)
    min_delta: float = _f(0.0, doc="How much an evaluation must beat the best so far by to count as an improvement.", minimum=0.0)
    mode: Literal["min", "max"] | None = _f(None, doc="`min` when lower is better, `max` when higher is; null takes the metric's own direction.")


@dataclass
class TensorBoard:
    """The built-in ``tensorboard`` callback: the run's losses, metrics, samples, pictures and recipe as TensorBoard event files (docs/runs.md, TensorBoard)."""

    enabled: bool = _f(
        False,
        doc="Write every logged loss and metric as scalars, text samples as text, the evaluations' pictures as images and the resolved recipe as hyperparameters; `--resume` appends to the same folder without repeating steps. Needs the `tensorboard` extra (`pip install 'seqtk[tensorboard]'`).",
    )
    log_dir: str | None = _f(None, doc="Folder of the event files; null puts them in the run directory's `tensorboard/`. Relative paths are relative to the working directory.")


@dataclass
class Callbacks:
    """What runs around the training steps: seqtk's own callbacks (`progress`, `metrics-log`, `samples`, `checkpoint`, `early-stopping`) and plugins' (`seqtk_callbacks`)."""

    disable: list[str] = _f(
        doc="Names of callbacks to leave out of the run, e.g. `[progress]`: seqtk's own are `progress`, `metrics-log`, `samples`, `checkpoint` and `early-stopping`, plus any a plugin offers (docs/plugins.md, Callbacks); may change on `--resume`.",
        factory=list,
    )
    early_stopping: EarlyStopping = _f(doc="Stop when a metric stops improving.", factory=EarlyStopping)
    tensorboard: TensorBoard = _f(doc="TensorBoard event files of the run (the `tensorboard` callback).", factory=TensorBoard)


@dataclass
class RecipeData:
    """A whole recipe. ``preset`` fills generator/discriminator/objective/estimator."""

    seqtk: int = _f(doc="Schema version of the recipe; this seqtk reads version 1.")
    name: str = _f(doc="Name of the experiment; used in the default run directory.")
    seed: int = _f(0, doc="Seed of every random number generator (torch, numpy, python).")
    preset: str | None = _f(None, doc="A registry preset that names generator, discriminator, objective and estimator; any of them may still be given to override it.")
    domain: Component = _f(doc="The data: a domain from the registry.", factory=Component)
    generator: Component = _f(doc="The generator.", factory=Component)
    discriminator: Component = _f(doc="The discriminator.", factory=Component)
    objective: Component = _f(doc="The GAN loss.", factory=Component)
    estimator: Component = _f(doc="How generator gradients cross the sampling step.", factory=Component)
    model: Component = _f(
        doc="A model that owns its networks, optimisers and phases (TimeGAN); it replaces generator, discriminator, objective, estimator and the train.pretrain/train.adversarial schedule.",
        factory=Component,
    )
    train: Train = _f(doc="Training schedule, optimizers and device.", factory=Train)
    eval: Eval = _f(doc="Metrics and how often to compute them.", factory=Eval)
    output: Output = _f(doc="Where the run directory goes and what it keeps.", factory=Output)
    callbacks: Callbacks = _f(doc="Callbacks around the training loop: which to leave out, early stopping.", factory=Callbacks)


def convert(cls: type, data: Any, path: str, problems: list[Problem]) -> Any:
    """Turn ``data`` into an instance of dataclass ``cls``, appending problems as found.

    Every problem is collected (not just the first), so a user fixes a recipe in one pass.
    Returns None where a section is unusable.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(Problem(path, typecheck.check(data, dict) or "expected a mapping"))
        return None
    hints = _hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            close = get_close_matches(str(key), list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(Problem(_join(path, key_text(key)), f"unknown key{hint}; valid: {', '.join(known)}"))
    values: dict[str, Any] = {}
    for name, spec in known.items():
        key_path = _join(path, name)
        hint = hints[name]
        if name not in data:
            if spec.default is MISSING and spec.default_factory is MISSING:
                problems.append(Problem(key_path, f"missing required key ({spec.metadata['doc']})"))
            continue
        value = data[name]
        if is_dataclass(hint):
            converted = convert(hint, value, key_path, problems)
            if converted is not None:
                values[name] = converted
            continue
        message = typecheck.check(value, hint)
        if message:
            problems.append(Problem(key_path, message))
            continue
        limit = _limit_problem(value, spec.metadata)
        if limit:
            problems.append(Problem(key_path, limit))
            continue
        values[name] = tuple(value) if typing.get_origin(hint) is tuple else value
    try:
        instance = cls(**values)
    except TypeError:  # a required key was missing: already reported
        return None
    # Rules across a section's keys (two settings that exclude each other) live with the section.
    check = getattr(instance, "problems", None)
    if callable(check):
        problems.extend(check(path))
    return instance


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    """The resolved type hints of a schema dataclass (resolving them compiles every annotation: do it once)."""
    return typing.get_type_hints(cls)


def _limit_problem(value: Any, meta: typing.Mapping[str, Any]) -> str | None:
    """The field's own bounds, and for integers the int64 range that torch and numpy accept."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    minimum, maximum = meta.get("minimum"), meta.get("maximum")
    if minimum is not None and meta.get("exclusive") and value <= minimum:
        return f"must be greater than {minimum:g}, got {value!r}"
    if minimum is not None and value < minimum:
        return f"must be at least {minimum:g}, got {value!r}"
    if maximum is not None and value > maximum:
        return f"must be at most {maximum}, got {value!r}: far more than any run needs"
    if isinstance(value, int) and not -INT64_MAX - 1 <= value <= INT64_MAX:
        return f"must fit in 64 bits (at most {INT64_MAX} in size), got {value!r}"
    return None


def key_text(key: Any) -> str:
    """A key as it appears in a key path: plain names as they are, anything else quoted.

    A key that is empty, not a string, or holds spaces at its ends or unprintable characters
    (a newline, a tab) is shown as its ``repr``, so every problem stays on one readable line.
    """
    if isinstance(key, str) and key and key.isprintable() and key.strip() == key:
        return key
    return repr(key)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def reference_rows(cls: type = RecipeData, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key path, default, doc) for every key of the schema: the recipe reference table."""
    rows: list[tuple[str, str, str]] = []
    hints = typing.get_type_hints(cls)
    for spec in fields(cls):
        path = _join(prefix, spec.name)
        hint = hints[spec.name]
        if is_dataclass(hint):
            rows.append((path, "", spec.metadata["doc"]))
            rows.extend(reference_rows(hint, path))
            continue
        if spec.default is not MISSING:
            default = "null" if spec.default is None else repr(spec.default)
        elif spec.default_factory is not MISSING:
            default = repr(spec.default_factory())
        else:
            default = "required"
        rows.append((path, default, spec.metadata["doc"]))
    return rows
