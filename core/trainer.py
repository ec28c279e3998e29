"""One training loop for every domain: the steps of each phase, evaluation, and the state a checkpoint holds.

The loop is a sequence of numbered steps cut into phases (``seqtk.core.phases``). Steps
``[0, P_G)`` pretrain the generator by maximum likelihood, ``[P_G, P_G + P_D)`` pretrain the
discriminator, and the rest are adversarial iterations (``discriminator_steps`` D updates,
then ``generator_steps`` G updates). With ``discriminator_pools`` (SeqGAN's schedule) a
discriminator pretraining step is one whole pool (fresh negatives beside as many real rows,
``epochs`` passes), and an adversarial iteration trains ``pools`` such pools before its G
updates: still one step, so the invariant below holds unchanged and a kill loses at most
one pool.

What happens around the steps is done by callbacks (``seqtk.core.callbacks``), seqtk's own
included, all offered through the ``seqtk_callbacks`` hook: after a step they see its
losses (``on_step``: progress bar, metrics log), then any evaluation (``on_eval``: the log,
samples, early stopping, keep_best), then ``on_step_end``, where the ``checkpoint`` callback
decides to save and asks the trainer for the state (``checkpoint_state``). So a checkpoint
taken at step ``s`` holds everything the uninterrupted run had at ``s``: network and
optimiser states, every RNG, the data order, the log's length and the loss accumulators.
Resuming from it therefore replays the rest bit for bit (on the same device). Evaluation runs under its own fixed seed (``torch.random.fork_rng``), so it
neither perturbs training nor varies its noise from one evaluation to the next.

Under torchrun (``seqtk.core.distributed``) every rank runs this same loop on its share
of each batch; every update's loss is computed inside DDP, so the backward pass averages
gradients over ranks and all ranks hold the same parameters after each step. The per-step
losses are averaged over ranks before they are logged, and rank 0 alone evaluates and
writes the run directory. Each rank draws its own noise; a checkpoint keeps every rank's
random states, so a resumed data-parallel run continues as the uninterrupted one would.
The objective's and the estimator's own state is rank 0's, handed to every rank after each
step (docs/plugins.md, "Components with state").
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import random
import shlex
import signal
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from seqtk.core import checkpoint as ckpt
from seqtk.core.assemble import Parts, assemble, resolve_device
from seqtk.core.batches import BatchStream
from seqtk.core.callbacks import Evaluation, warn_unknown_methods
from seqtk.core.cpu_memory import keep_freed_memory
from seqtk.core.discrimination import separation, sequence_scores
from seqtk.core.distributed import Distributed, SyncedUpdates
from seqtk.core.ema import WeightAverage
from seqtk.core.errors import CheckpointError, Problem, RecipeError, SeqtkError, TrainingError
from seqtk.core.conditioning import cycled, draw
from seqtk.core.interfaces import Batch, Condition, Estimator, MetricWarning, Model, Objective, Scores
from seqtk.core.phases import Phase, Schedule, back_to_back, discriminator_steps
from seqtk.core.recipe import Recipe
from seqtk.core.registry import Registry
from seqtk.core import schema
from seqtk.core.schema import DiscriminatorPools
from seqtk.core.stabilisers import add_instance_noise, r1_penalty

#: Recipe keys that may change between a run and its resumption without breaking it.
RESUMABLE_CHANGES = ("output", "eval", "train.adversarial.steps", "train.log_every", "train.cpu_threads", "callbacks.disable", "callbacks.tensorboard")
EVAL_SEED_OFFSET = 7919
#: Rank r > 0 reseeds with ``seed + r * RANK_SEED_STRIDE`` after the networks are built
#: (identically on every rank), so ranks draw different noise; rank 0 keeps the plain seed.
RANK_SEED_STRIDE = 1_000_003


class Interrupted(SeqtkError):
    """Ctrl-C or SIGTERM: the run saved a checkpoint and stopped; ``--resume`` continues."""

    exit_code = 130
    reported_by_rank_zero = True


@dataclass
class TrainState:
    step: int = 0
    initial_metrics: dict[str, float] = field(default_factory=dict)
    last_metrics: dict[str, float] = field(default_factory=dict)
    #: Set when a callback stopped the run early: {"by", "reason", "step"} (kept in checkpoints, in summary.json).
    stopped: dict[str, Any] | None = None


#: Recipe keys added after runs already existed: left out of the fingerprint while they
#: hold their defaults, so that a checkpoint written before they existed still resumes.
LATER_KEYS = ("train.ema", "train.adversarial.instance_noise", "train.adversarial.r1", "callbacks.early_stopping")


def _default_at(key: str) -> Any:
    node: Any = schema.RecipeData(seqtk=schema.SCHEMA_VERSION, name="")
    for part in key.split("."):
        node = getattr(node, part)
    return json.loads(json.dumps(dataclasses.asdict(node) if dataclasses.is_dataclass(node) else node))


def recipe_fingerprint(recipe: Recipe) -> str:
    """A hash of what a checkpoint depends on; keys in RESUMABLE_CHANGES may differ."""
    data = recipe.to_dict()
    for key in RESUMABLE_CHANGES + LATER_KEYS:
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        if key in RESUMABLE_CHANGES or json.loads(json.dumps(node.get(leaf))) == _default_at(key):
            node.pop(leaf, None)
            if parents == ["callbacks"] and not node:  # a section added later, all of it left out: as before it existed
                data.pop("callbacks")
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """Runs one recipe into one run directory.

    ``callbacks`` is the run's whole list, seqtk's own included: pass
    ``PluginHost.callbacks(recipe)`` (as ``seqtk.core.api.run`` does). Without them the
    trainer trains and evaluates but writes nothing: no log, samples or checkpoints.
    """

    def __init__(
        self,
        recipe: Recipe,
        registry: Registry,
        run_dir: Path,
        *,
        callbacks: Iterable[Any] = (),
        progress: bool = True,
        dist: Distributed | None = None,
    ) -> None:
        self.recipe = recipe
        self.config = recipe.data
        self.run_dir = run_dir
        self.dist = dist or Distributed()
        # Rank 0 runs every callback; other ranks only those that take part in collective work (checkpointing).
        self.callbacks = [c for c in callbacks if self.dist.is_main or getattr(c, "all_ranks", False)]
        warn_unknown_methods(self.callbacks)
        self.show_progress = progress and self.dist.is_main
        self.device = self.dist.device(resolve_device(self.config.train.device, recipe.source))
        seed_everything(self.config.seed)
        self.parts: Parts = assemble(recipe, registry, self.device)
        if self.config.train.init_generator is not None:
            self._init_generator(self.config.train.init_generator)
        ema = self.config.train.ema
        # The average of the generator's weights (train.ema), which evaluation samples from; built after init_generator, so it starts there.
        self.ema = WeightAverage(self.parts.generator, ema.decay, ema.start) if ema.decay is not None else None
        self.train_data = self.parts.domain.load("train")
        self.test_data = self.parts.domain.load("test")
        train = self.config.train
        self.stream = BatchStream(self.train_data, train.batch_size, self.config.seed, rank=self.dist.rank, world_size=self.dist.world_size)
        self.model = self.parts.model
        if self.model is None:
            self.g_opt = self._adam(self.parts.generator, train.optimizer.generator)
            self.d_opt = self._adam(self.parts.discriminator, train.optimizer.discriminator)
            self.g_sync = self.dist.synced(self.parts.generator, self.device)
            self.d_sync = self.dist.synced(self.parts.discriminator, self.device)
        else:
            self.model_optimizers = self._model_optimizers(self.model)
        if self.dist.rank:
            seed_everything(self.config.seed + RANK_SEED_STRIDE * self.dist.rank)
        if self.model is None:
            self.schedule = self._gan_schedule(recipe)
        else:
            model, updates = self.model, _ModelUpdates(self)
            self.schedule = Schedule(
                back_to_back([(p.name, p.steps, _model_step(model, p.name, updates), True) for p in model.phases()])
            )
            self.trains_discriminator = self.parts.discriminator is not None
        self.total_steps = self.schedule.total_steps
        self.state = TrainState()
        self.checkpoint_dir = run_dir / "checkpoints"
        self.fingerprint = recipe_fingerprint(recipe)
        self._stop_signal: str | None = None
        self._stop_request: dict[str, Any] | None = None
        self._saved_step: int | None = None
        self._stopping: str | None = None
        self._resuming = False
        self._evaluation: Evaluation | None = None

    def _gan_schedule(self, recipe: Recipe) -> Schedule:
        """The five-part GAN's phases: generator pretraining, discriminator pretraining, adversarial iterations."""
        train = self.config.train
        assert self.parts.objective is not None
        self.discriminator_steps = discriminator_steps(train.adversarial.discriminator_steps, self.parts.objective, self.config.objective.name)
        pg, pd = train.pretrain.generator_steps, train.pretrain.discriminator_phase_steps
        adversarial = Phase("adversarial", pg + pd, pg + pd + train.adversarial.steps, self._adversarial_step)
        schedule = Schedule(
            [
                Phase("pretrain_generator", 0, pg, self._pretrain_generator_step),
                Phase("pretrain_discriminator", pg, pg + pd, self._pretrain_discriminator_step, changes_generator=False),
                adversarial,
            ],
            adversarial=adversarial,
        )
        self.trains_discriminator = pd > 0 or train.adversarial.steps > 0
        self.supervised_weight = train.adversarial.supervised_weight
        for key, wanted in (("train.pretrain.generator_steps", pg), ("train.adversarial.supervised_weight", self.supervised_weight)):
            problem = self.parts.generator.pretraining_problem() if wanted else None
            if problem:
                raise RecipeError(recipe.source, [Problem(key, f"cannot use the teacher-forced loss: {problem}")])
        return schedule

    def _model_optimizers(self, model: Model) -> dict[str, tuple[torch.optim.Optimizer, SyncedUpdates, nn.Module, Any]]:
        """One Adam per optimiser the model names, with the recipe's settings of its kind.

        Optimisers over the same module share one DDP wrapper: two wrappers over the
        same parameters would both reduce their gradients.
        """
        syncs: dict[int, SyncedUpdates] = {}
        built = {}
        for name, (module, kind) in model.optimizers().items():
            settings = getattr(self.config.train.optimizer, kind)
            sync = syncs.setdefault(id(module), self.dist.synced(module, self.device))
            built[name] = (self._adam(module, settings), sync, module, settings)
        return built

    def higher_is_better(self, name: str) -> bool:
        """The direction of metric ``name`` (what keep_best and early stopping compare by)."""
        metric = self.parts.metrics.get(name)
        if metric is None:  # the recipe check names it first; a guard against a silent no-op
            raise SeqtkError(f"metric {name!r} is not evaluated by this recipe; valid: {', '.join(self.parts.metrics)}")
        return bool(metric.higher_is_better)

    def _init_generator(self, spec: str) -> None:
        """Start from another run's generator weights (for example an MLE-pretrained one): RUN, RUN@best, RUN@STEP or a file."""
        source, which = ckpt.split_selector(spec)
        if source.is_dir():
            try:
                source = ckpt.find_checkpoint(source, which)
            except CheckpointError as exc:
                raise RecipeError(self.recipe.source, [Problem("train.init_generator", str(exc))]) from None
        elif which != "last":
            raise RecipeError(self.recipe.source, [Problem("train.init_generator", f"{source}: no such run directory (RUN@{which} names a run directory)")])
        state = ckpt.load_checkpoint(source)
        weights = state.get("generator")
        if not isinstance(weights, dict):
            raise CheckpointError(f"{source}: holds no generator weights")
        try:
            self.parts.generator.load_state_dict(weights)
        except RuntimeError as exc:
            first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
            raise RecipeError(
                self.recipe.source,
                [Problem("train.init_generator", f"{source}: its generator does not fit this recipe's generator ({first})")],
            ) from None

    @staticmethod
    def _adam(module: nn.Module, settings: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(module.parameters(), lr=settings.lr, betas=tuple(settings.betas), weight_decay=settings.weight_decay)

    # ----------------------------------------------------------- public

    def fit(self, *, resume: bool = False) -> dict[str, float]:
        """Train to the end (or resume there, or until a callback stops the run); return the final metrics."""
        threads_before = torch.get_num_threads()
        if self.config.train.cpu_threads is not None:
            torch.set_num_threads(self.config.train.cpu_threads)
        if self.device.type == "cpu":
            keep_freed_memory()  # a third of a CPU step's time was re-faulting freed tensors (core/cpu_memory.py)
        self._resuming = resume
        run = _RunView(self)
        try:
            self._emit("setup", run)
            self._emit("on_run_start", self.run_dir, self.recipe)
            if resume:
                self._resume()
            else:
                self.state.initial_metrics = self._evaluate()
                if self._stop_request is not None:
                    self._stopping = f"stop requested by {self._stop_request['by']}"
                self._emit("on_step_end", 0)  # a best evaluation at step 0 is checkpointed
                self.state.stopped = self._stop_request
            with self._signals_caught():
                while self.state.step < self.total_steps and self.state.stopped is None:
                    logs = self._train_step(self.schedule.phase_at(self.state.step))
                    self.state.step += 1
                    self._after_step(logs)
            final = self.state.last_metrics
            self._emit("on_run_end", self.run_dir, final)
            return final
        finally:
            torch.set_num_threads(threads_before)
            self._teardown(failing=sys.exc_info()[0] is not None)

    # ----------------------------------------------------------- steps

    def _train_step(self, phase: Phase) -> dict[str, float]:
        return phase.train(phase.index(self.state.step))

    def _pretrain_generator_step(self, index: int) -> dict[str, float]:
        """Maximum likelihood on the next real batch (teacher forcing)."""
        parts = self.parts
        self._train_mode()
        self._set_generator_lr(True)
        batch = self.stream.next().to(self.device)

        def pretrain_loss() -> tuple[Tensor, dict[str, float]]:
            loss = parts.generator.pretrain_loss(batch)
            return loss, {"g_pretrain_loss": loss.item()}

        g_clip = self.config.train.optimizer.generator.grad_clip
        return self._update(pretrain_loss, self.g_sync, parts.generator, self.g_opt, g_clip, "generator pretraining")

    def _pretrain_discriminator_step(self, index: int) -> dict[str, float]:
        """One D update against the pretrained generator, or one whole pool (``train.pretrain.discriminator_pools``)."""
        self._train_mode()
        self._set_generator_lr(False)
        if self.config.train.pretrain.discriminator_pools.pools:
            return self._discriminator_pool(self.config.train.pretrain.discriminator_pools)
        return self._discriminator_update()

    def _adversarial_step(self, index: int) -> dict[str, float]:
        """``discriminator_steps`` D updates (or ``pools`` pools), then ``generator_steps`` G updates; ``index`` is the adversarial step."""
        parts = self.parts
        self._train_mode()
        self._set_generator_lr(False)
        if index == 0 and self.config.train.pretrain.fresh_generator_optimizer:
            # The pretraining moments would scale the first policy-gradient steps down (its
            # gradients are larger); SeqGAN's adversarial Adam starts from nothing.
            self.g_opt.state.clear()
        logs: dict[str, float] = {}
        pools = self.config.train.adversarial.discriminator_pools
        if pools.pools:
            logs = _means([self._discriminator_pool(pools) for _ in range(pools.pools)])
        else:
            for _ in range(self.discriminator_steps.count):
                logs = self._discriminator_update()
        g_clip = self.config.train.optimizer.generator.grad_clip
        total = self.schedule.adversarial_steps
        for _ in range(self.config.train.adversarial.generator_steps):
            real = self.stream.next().to(self.device)

            def generator_loss() -> tuple[Tensor, dict[str, float]]:
                result = parts.estimator.generator_step(parts.generator, parts.discriminator, parts.objective, real, step=index, total_steps=total)
                loss, step_logs = result.loss, {"g_loss": result.loss.item(), **result.logs}
                if self.supervised_weight:
                    # The adversarial loss alone says nothing about step-to-step dynamics; the
                    # teacher-forced loss on the same real batch keeps them close to the data.
                    supervised = parts.generator.pretrain_loss(real)
                    loss = loss + self.supervised_weight * supervised
                    step_logs["g_supervised"] = supervised.item()
                return loss, step_logs

            logs = {**logs, **self._update(generator_loss, self.g_sync, parts.generator, self.g_opt, g_clip, "generator")}
            parts.estimator.after_generator_step(parts.generator, step=index)
        return logs

    def _train_mode(self) -> None:
        self.parts.generator.train()
        self.parts.discriminator.train()

    def _set_generator_lr(self, pretraining: bool) -> None:
        """The phase's learning rate: pretraining may use its own, larger one (set every step, so resuming needs nothing)."""
        pretrain = self.config.train.pretrain
        lr = pretrain.generator_lr if pretraining and pretrain.generator_lr is not None else self.config.train.optimizer.generator.lr
        if pretraining and pretrain.generator_lr_final is not None and self.state.step >= pretrain.generator_steps - pretrain.generator_lr_final_steps:
            lr = pretrain.generator_lr_final
        for group in self.g_opt.param_groups:
            group["lr"] = lr

    def _discriminator_update(self) -> dict[str, float]:
        """One D update on the next real batch and as many fresh negatives."""
        real = self.stream.next().to(self.device)
        return self._train_discriminator(real, self._negatives(real.size, real.condition))

    def _discriminator_pool(self, pools: DiscriminatorPools) -> dict[str, float]:
        """SeqGAN's unit of D training: ``pool_size`` fresh negatives beside as many real rows, ``epochs`` passes.

        Real and generated rows are shuffled apart, so every update still sees a real batch
        and an equal generated one (what every objective's loss takes). Returns the mean
        of the updates' logs.
        """
        batch_size = self.config.train.batch_size
        size = pools.pool_size or len(self.train_data)
        # This rank's share of the data stream, as the per-batch path draws it.
        rows = torch.cat([self.stream.next_indices() for _ in range(-(-size // batch_size))])[:size]
        real = self.train_data.rows(rows).to(self.device)
        fake = join_rows(
            [self._negatives(min(batch_size, size - done), _rows_condition(real, done, batch_size)) for done in range(0, size, batch_size)]
        )
        logs = []
        for _ in range(pools.epochs):
            real_order, fake_order = torch.randperm(size).to(self.device), torch.randperm(size).to(self.device)
            for start in range(0, size, batch_size):
                logs.append(
                    self._train_discriminator(real.index(real_order[start : start + batch_size]), fake.index(fake_order[start : start + batch_size]))
                )
        return _means(logs)

    def _negatives(self, n: int, condition: Condition | None = None) -> Batch:
        """``n`` generated sequences as the discriminator trains on them (relaxed ones for Gumbel-softmax), for the real rows' conditions."""
        step, total = self.schedule.adversarial_step(self.state.step), self.schedule.adversarial_steps
        conditioned = {} if condition is None else {"condition": condition}  # unconditional estimators never see the keyword
        with torch.no_grad():
            return self.parts.estimator.discriminator_samples(self.parts.generator, n, step=step, total_steps=total, **conditioned).detach()

    def _train_discriminator(self, real: Batch, fake: Batch) -> dict[str, float]:
        """One D optimiser step on a real and a generated batch: the objective's loss, its penalty, the D's own regularization.

        With ``train.adversarial.instance_noise`` both batches are blurred first (everything
        below reads the blurred ones); ``train.adversarial.r1`` adds the R1 penalty
        (seqtk.core.stabilisers).
        """
        parts = self.parts
        stabilisers = self.config.train.adversarial
        noise_std = stabilisers.instance_noise.std_at(self.schedule.adversarial_step(self.state.step))
        real, fake = add_instance_noise(real, noise_std), add_instance_noise(fake, noise_std)

        def discriminator_loss() -> tuple[Tensor, dict[str, float]]:
            real_scores = Scores.of(parts.discriminator(real), real)
            fake_scores = Scores.of(parts.discriminator(fake), fake)
            loss = parts.objective.discriminator_loss(real_scores, fake_scores)
            logs = {"d_loss": loss.item()}
            penalty = parts.objective.penalty(parts.discriminator, real, fake)
            if penalty is not None:
                logs["d_penalty"] = penalty.item()
                loss = loss + penalty
            regularization = parts.discriminator.regularization()
            if regularization is not None:
                logs["d_regularization"] = regularization.item()
                loss = loss + regularization
            if stabilisers.r1:
                r1 = r1_penalty(parts.discriminator, real, stabilisers.r1)
                logs["d_r1"] = r1.item()
                loss = loss + r1
            if stabilisers.instance_noise.std:
                logs["d_instance_noise"] = noise_std
            return loss, logs

        clip = self.config.train.optimizer.discriminator.grad_clip
        logs = self._update(discriminator_loss, self.d_sync, parts.discriminator, self.d_opt, clip, "discriminator")
        parts.objective.after_discriminator_step(parts.discriminator)
        return logs

    def _update(
        self,
        compute_loss: Callable[[], tuple[Tensor, dict[str, float]]],
        sync: SyncedUpdates,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        clip: float | None,
        what: str,
    ) -> dict[str, float]:
        """One optimiser step on ``compute_loss``'s loss; under DDP its gradients are averaged over ranks."""
        loss, logs = sync(compute_loss)
        if not torch.isfinite(loss):
            raise TrainingError(self._diverged(f"the {what} loss is {loss.item()}"))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            norm = nn.utils.clip_grad_norm_(module.parameters(), clip)
            if not torch.isfinite(norm):
                raise TrainingError(self._diverged(f"the {what} gradient norm is {norm.item()}"))
        optimizer.step()
        if self.ema is not None and self._updates_generator(module):
            self.ema.update(self.parts.generator, self.state.step + 1)
        return logs

    def _updates_generator(self, module: nn.Module) -> bool:
        """Whether an update of ``module`` changes the generator's weights (a model's optimiser may cover part of it)."""
        if module is self.parts.generator:
            return True
        generator = {id(p) for p in self.parts.generator.parameters()}
        return any(id(p) in generator for p in module.parameters())

    def _diverged(self, what: str) -> str:
        saved = ckpt.list_checkpoints(self.checkpoint_dir)
        where = f"the last good checkpoint, {saved[-1][1]}, is intact" if saved else "no checkpoint had been written yet"
        return (
            f"training diverged at step {self.state.step + 1}: {what}. Stopped; {where}. "
            "Lower the learning rate or set train.optimizer.*.grad_clip, then start again or --resume."
        )

    # ----------------------------------------------------------- after a step

    def _after_step(self, logs: dict[str, float]) -> None:
        """What follows a step: the callbacks see its losses, an evaluation if one is due, then ``on_step_end`` (checkpointing)."""
        step = self.state.step
        agreed_signal: bool | None = None
        if self.dist.active:
            # One collective per step: the losses averaged over ranks (so every rank keeps
            # the same accumulators, and rank 0's checkpoint holds them all), and whether a
            # stop signal reached any rank. Every rank acts on this agreed answer alone: a
            # signal that lands after it waits for the next step, or the ranks would part
            # ways (one checkpointing, the others training on).
            logs, agreed_signal = self.dist.mean_and_any(logs, self._stop_signal is not None, self.device)
            self._share_component_state()
        self._emit("on_step", step, logs)
        done = step == self.total_steps
        # The generator does not change while the discriminator pretrains: evaluating it
        # again would cost time (10,000 samples on the oracle) and repeat the same numbers.
        if (step % self.config.eval.every == 0 and self.schedule.phase_at(step - 1).changes_generator) or done:
            self._evaluate()
        # Read once: a signal arriving between checkpointing and stopping must not stop an
        # unsaved step.
        signalled = agreed_signal if agreed_signal is not None else self._stop_signal is not None
        self._stopping = (self._stop_signal or "another rank's stop signal") if signalled else None
        if self._stop_request is not None and not signalled:
            self._stopping = f"stop requested by {self._stop_request['by']}"
        self._emit("on_step_end", step)
        if signalled:
            saved = (
                f"saved a checkpoint at step {step} of {self.total_steps} in {self.checkpoint_dir}"
                if self._saved_step == step
                else f"stopped at step {step} of {self.total_steps} without a checkpoint (no checkpoint callback saved one)"
            )
            raise Interrupted(f"{self._stopping} received: {saved}; continue with: {self._resume_command()}")
        if self._stop_request is not None:
            self.state.stopped = self._stop_request

    @torch.no_grad()
    def _evaluate(self) -> dict[str, float]:
        """Score fresh samples against held-out data under a fixed, private seed (rank 0 only); then ``on_eval``.

        A stop request made in ``on_eval`` (early stopping) is rank 0's; every rank takes it.
        """
        step = self.state.step
        metrics = self._score() if self.dist.is_main else {}
        self._emit("on_eval", step, metrics)
        if self.dist.active:
            self._stop_request = self.dist.from_main(lambda: self._stop_request)
        if self._stop_request is not None:
            self._stop_request.setdefault("step", step)
        return metrics

    def _score(self) -> dict[str, float]:
        parts, step = self.parts, self.state.step
        n = self.config.eval.samples
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.config.seed + EVAL_SEED_OFFSET)
            parts.generator.eval()
            try:
                sampler = self.ema.module if self.ema is not None else parts.generator  # the average, when train.ema keeps one
                fake = sample_in_chunks(sampler, n, self.config.train.batch_size * 16, cycled(self.test_data.batch.condition, n))
                real = self.test_data.batch.index(torch.arange(min(n, len(self.test_data))))
                metrics = {
                    name: float(metric(self.test_data.batch if metric.uses_whole_test_set else real, fake))
                    for name, metric in parts.metrics.items()
                }
                discrimination: dict[str, float] = {}
                if self.trains_discriminator and parts.discriminator is not None:  # an untrained discriminator's view would be noise in the log
                    parts.discriminator.eval()
                    chunk = self.config.train.batch_size * 16
                    discrimination = separation(
                        sequence_scores(parts.discriminator, real, chunk, self.device), sequence_scores(parts.discriminator, fake, chunk, self.device)
                    )
            finally:
                parts.generator.train()
                if parts.discriminator is not None:
                    parts.discriminator.train()
        # The discriminator's view goes to the log (Evaluation.record), not to the run's metrics: it
        # judges the training, not the samples, and has no place in comparisons of final metrics.
        self._evaluation = Evaluation(step, metrics, discrimination, self._metric_warnings(step, metrics), fake)
        self.state.last_metrics = metrics
        return metrics

    def _metric_warnings(self, step: int, metrics: Mapping[str, float]) -> list[str]:
        """Each metric's ``warning`` about its value, shown on stderr now (the log and summary.json keep them too).

        Not at step 0: that evaluation judges an untrained generator, which is expected to
        have learnt nothing yet.
        """
        if step == 0:
            return []
        warned = [f"{name}: {text}" for name, metric in self.parts.metrics.items() if (text := metric.warning(metrics[name]))]
        for text in warned:
            warnings.warn(f"step {step}: {text}", MetricWarning, stacklevel=2)
        return warned

    def checkpoint_state(self) -> dict[str, Any] | None:
        """Everything a checkpoint of this step holds, callbacks' entries included (``on_save_checkpoint``).

        Called by every rank (it gathers their RNG states); rank 0 gets the dict, other ranks None.
        """
        rng_states = self.dist.gather(ckpt.capture_rng_state())
        if not self.dist.is_main:
            return None
        parts = self.parts
        state = {
            "step": self.state.step,
            "fingerprint": self.fingerprint,
            "recipe": self.recipe.to_dict(),
            **self._network_state(),
            **({"generator_ema": self.ema.state_dict()} if self.ema is not None else {}),
            "domain": ckpt.plain_state(parts.domain.state_dict(), f"domain {self.config.domain.name!r}"),
            "components": ckpt.capture_component_states(self._components()),
            "stream": self.stream.state_dict(),
            "rng": rng_states[0],
            "world_size": self.dist.world_size,
            "rng_other_ranks": rng_states[1:],
            "initial_metrics": self.state.initial_metrics,
            "last_metrics": self.state.last_metrics,
            **({"stopped": self._stop_request} if self._stop_request is not None else {}),
        }
        self._emit("on_save_checkpoint", state)
        return state

    def _network_state(self) -> dict[str, Any]:
        """Weights and optimiser states: the GAN's parts, or a model's networks and named optimisers.

        Both hold ``generator`` (the sampling path), which is all ``seqtk sample`` and
        ``train.init_generator`` read.
        """
        parts = self.parts
        if self.model is None:
            assert parts.discriminator is not None and parts.estimator is not None
            return {
                "generator": parts.generator.state_dict(),
                "discriminator": parts.discriminator.state_dict(),
                "g_optimizer": self.g_opt.state_dict(),
                "d_optimizer": self.d_opt.state_dict(),
                "estimator": ckpt.plain_state(parts.estimator.state_dict(), _label("estimator", self.config.estimator.name, parts.estimator)),
            }
        return {
            "generator": parts.generator.state_dict(),
            "model": self.model.state_dict(),
            "optimizers": {name: optimizer.state_dict() for name, (optimizer, *_) in self.model_optimizers.items()},
            "model_state": ckpt.plain_state(self.model.training_state(), _label("model", self.config.model.name, self.model)),
        }

    def _components(self) -> dict[str, tuple[str, Any]]:
        """The objective and each metric, by their key in a checkpoint's ``components`` (the estimator keeps its older key)."""
        objective = self.parts.objective
        found = {} if objective is None else {"objective": (_label("objective", self.config.objective.name, objective), objective)}
        found.update({f"metrics.{name}": (_label("metric", name, metric), metric) for name, metric in self.parts.metrics.items()})
        return found

    def _share_component_state(self) -> None:
        """Every rank takes rank 0's objective and estimator state (one broadcast, only if their classes keep state that may differ between ranks).

        The torchrun policy of docs/plugins.md, "Components with state": rank 0 owns it; other
        ranks may move their copies on their own rows within a step, and start the next from
        rank 0's, which is also what its checkpoints hold, so a resumed run stays bit-identical.
        """
        parts = self.parts
        shared = {
            key: (_label(key, self.recipe.component(key).name, component), component)
            for key, component in (("objective", parts.objective), ("estimator", parts.estimator))
            if component is not None
            and type(component).state_dict not in (Objective.state_dict, Estimator.state_dict)
            and not component.replicated_state
        }
        if shared:
            state = self.dist.from_main(lambda: ckpt.capture_component_states(shared))
            if not self.dist.is_main:
                ckpt.restore_component_states(shared, state, "rank 0")

    def _load_network_state(self, state: Mapping[str, Any]) -> None:
        parts = self.parts
        if self.model is None:
            assert parts.discriminator is not None and parts.estimator is not None
            parts.generator.load_state_dict(state["generator"])
            parts.discriminator.load_state_dict(state["discriminator"])
            self.g_opt.load_state_dict(state["g_optimizer"])
            self.d_opt.load_state_dict(state["d_optimizer"])
            parts.estimator.load_state_dict(state["estimator"])
            return
        self.model.load_state_dict(state["model"])
        for name, (optimizer, *_) in self.model_optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        self.model.load_training_state(state["model_state"])

    def _read_checkpoint_to_resume(self) -> tuple[dict[str, Any], Path]:
        found = ckpt.list_checkpoints(self.checkpoint_dir)
        if not found:
            raise CheckpointError(
                f"{self.checkpoint_dir}: nothing to resume: no checkpoint in this run directory "
                "(the run stopped before its first one); start it again with --overwrite"
            )
        state, path = self._newest_readable_checkpoint(found)
        if state.get("fingerprint") != self.fingerprint:
            changed = ckpt.recipe_differences(state.get("recipe"), self.recipe.to_dict(), RESUMABLE_CHANGES)
            what = f" ({'; '.join(changed)})" if changed else " (components, parameters, seed or schedule differ)"
            raise CheckpointError(
                f"{path}: this checkpoint belongs to a different recipe{what}; "
                f"only {', '.join(RESUMABLE_CHANGES)} may change on --resume"
            )
        if int(state["step"]) > self.total_steps:
            raise CheckpointError(f"{path}: checkpoint is at step {state['step']}, past this recipe's {self.total_steps} steps")
        return state, path

    def _resume(self) -> None:
        # Rank 0 reads the run directory (another node may not see it) and hands the state to all.
        state, path = self.dist.from_main(self._read_checkpoint_to_resume)
        parts = self.parts
        try:
            self._load_network_state(state)
            if self.ema is not None:
                self.ema.load_state_dict(state["generator_ema"])
            parts.domain.load_state_dict(state["domain"])
            ckpt.restore_component_states(self._components(), state.get("components"), str(path))  # absent before components kept state
            self.stream.load_state_dict(state["stream"])
            self._restore_rng(state)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{path}: does not fit this recipe's networks: {str(exc).splitlines()[0]}") from None
        stopped = state.get("stopped")  # absent unless a callback stopped the run early
        self.state = TrainState(
            step=int(state["step"]),
            initial_metrics=dict(state["initial_metrics"]),
            last_metrics=dict(state["last_metrics"]),
            stopped=dict(stopped) if stopped is not None else None,
        )
        self._stop_request = self.state.stopped
        # Callbacks take their part of the checkpoint (the log its size, checkpointing its best): rank 0's
        # inside from_main, so that a refusal (a log shorter than recorded) stops every rank.
        self.dist.from_main(lambda: self._emit("on_resume", state))
        if not self.dist.is_main:
            self._emit("on_resume", state)

    def _restore_rng(self, state: dict[str, Any]) -> None:
        """This rank's random states; a rank the checkpoint did not have starts from a fresh seed."""
        saved_world = int(state.get("world_size", 1))
        rank = self.dist.rank
        if saved_world != self.dist.world_size and self.dist.is_main:
            warnings.warn(
                f"resuming a run checkpointed with {saved_world} process(es) on {self.dist.world_size}: training continues "
                "correctly, but is no longer bit-identical to an uninterrupted run (ranks draw other noise and data)",
                stacklevel=3,
            )
        if rank == 0:
            ckpt.restore_rng_state(state["rng"])
        elif rank < saved_world:
            ckpt.restore_rng_state(state["rng_other_ranks"][rank - 1])
        else:
            seed_everything(self.config.seed + RANK_SEED_STRIDE * rank + int(state["step"]))

    @staticmethod
    def _newest_readable_checkpoint(found: list[tuple[int, Path]]) -> tuple[dict[str, Any], Path]:
        """The newest checkpoint that loads; an unreadable one is skipped with a warning."""
        error: CheckpointError | None = None
        for _, path in reversed(found):
            try:
                return ckpt.load_checkpoint(path), path
            except CheckpointError as exc:
                warnings.warn(f"skipping checkpoint: {exc}", stacklevel=3)
                error = exc
        assert error is not None
        raise error

    def _resume_command(self) -> str:
        sets = "".join(f" --set {shlex.quote(o)}" for o in self.recipe.overrides)
        command = f"seqtk run {shlex.quote(self.recipe.source)}{sets} --resume"
        if self.dist.launched:
            return f"torchrun <the same options> -m {command} (any number of processes; the same number resumes bit for bit)"
        return command

    # ----------------------------------------------------------- plumbing

    def _emit(self, method: str, *args: Any) -> None:
        """Call ``method`` on every callback of this rank that defines it, in the order the callbacks came."""
        for callback in self.callbacks:
            handler = getattr(callback, method, None)
            if handler is not None:
                handler(*args)

    def _teardown(self, *, failing: bool) -> None:
        """Every callback's ``teardown``; while an error ends the run, theirs must not replace it."""
        error: Exception | None = None
        for callback in self.callbacks:
            close = getattr(callback, "teardown", None)
            try:
                if close is not None:
                    close()
            except Exception as exc:
                error = error or exc
        if error is not None and not failing:
            raise error

    @contextlib.contextmanager
    def _signals_caught(self) -> Iterator[None]:
        """First Ctrl-C (or SIGTERM) finishes the step and checkpoints; a second one aborts."""

        def handle(signum: int, _frame: Any) -> None:
            if self._stop_signal:
                raise KeyboardInterrupt
            self._stop_signal = signal.Signals(signum).name

        previous = {}
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, handle)
        except ValueError:  # not the main thread: leave signals alone
            pass
        try:
            yield
        except Interrupted:
            if self.dist.launched and signal.SIGTERM in previous:
                # Saved and stopping: when one rank exits, torchrun sends SIGTERM to the
                # others, which must not cut rank 0's report short.
                previous[signal.SIGTERM] = signal.SIG_IGN
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _ModelUpdates:
    """The trainer's side of a model's step (``seqtk.core.interfaces.ModelUpdates``)."""

    def __init__(self, trainer: Trainer) -> None:
        self._trainer = trainer

    def next_batch(self) -> Batch:
        return self._trainer.stream.next().to(self._trainer.device)

    def update(self, optimizer: str, compute_loss: Callable[[], tuple[Tensor, dict[str, float]]]) -> dict[str, float]:
        trainer = self._trainer
        try:
            torch_optimizer, sync, module, settings = trainer.model_optimizers[optimizer]
        except KeyError:
            raise SeqtkError(
                f"model {trainer.recipe.data.model.name!r} asked for optimiser {optimizer!r}, which its optimizers() does not name "
                f"(it names: {', '.join(trainer.model_optimizers)})"
            ) from None
        return trainer._update(compute_loss, sync, module, torch_optimizer, settings.grad_clip, f"{optimizer} ({trainer.recipe.data.model.name})")


class _RunView:
    """What callbacks see of the trainer (``seqtk.core.callbacks.Run``): read-only facts and the few requests they may make."""

    def __init__(self, trainer: Trainer) -> None:
        self._trainer = trainer
        self.run_dir, self.checkpoint_dir, self.recipe = trainer.run_dir, trainer.checkpoint_dir, trainer.recipe
        self.total_steps, self.resuming, self.show_progress = trainer.total_steps, trainer._resuming, trainer.show_progress
        self.is_main = trainer.dist.is_main

    @property
    def step(self) -> int:
        return self._trainer.state.step

    @property
    def phase(self) -> Phase:
        return self._trainer.schedule.phase_at(max(0, self.step - 1))

    @property
    def evaluation(self) -> Evaluation | None:
        return self._trainer._evaluation

    @property
    def stopping(self) -> str | None:
        return self._trainer._stopping

    def request_stop(self, by: str, reason: str) -> None:
        if self._trainer._stop_request is None:
            self._trainer._stop_request = {"by": by, "reason": reason}

    def checkpoint_state(self) -> dict[str, Any] | None:
        return self._trainer.checkpoint_state()

    def checkpoint_written(self, step: int, path: Path) -> None:
        self._trainer._saved_step = step
        if self.is_main:
            self._trainer._emit("on_checkpoint", step, path)

    def higher_is_better(self, metric: str) -> bool:
        return self._trainer.higher_is_better(metric)

    def barrier(self) -> None:
        self._trainer.dist.barrier()

    def from_main(self, compute: Callable[[], Any]) -> Any:
        return self._trainer.dist.from_main(compute)

    def write_samples(self, batch: Batch, stem: str) -> list[Path]:
        return self._trainer.parts.domain.write_samples(batch, self.run_dir / "samples", stem)


def _model_step(model: Model, phase: str, updates: "_ModelUpdates") -> Callable[[int], dict[str, float]]:
    """A model's phase as the schedule calls it: ``train(index)``."""

    def train(index: int) -> dict[str, float]:
        model.train()
        return model.training_step(phase, index, updates)

    return train


def _label(kind: str, name: str | None, component: Any) -> str:
    """``"objective 'fisher' (pkg.module.Fisher)"``: how errors about a component's state name it."""
    return f"{kind} {name!r} ({type(component).__module__}.{type(component).__qualname__})"


def _means(logs: list[dict[str, float]]) -> dict[str, float]:
    """Each key's mean over the dicts that hold it."""
    keys = dict.fromkeys(key for entry in logs for key in entry)
    return {key: sum(e[key] for e in logs if key in e) / sum(key in e for e in logs) for key in keys}


def join_rows(batches: list[Batch]) -> Batch:
    """Join generated batches row-wise keeping every field (log-probs, relaxed one-hots, extras).

    ``Batch.concat`` keeps values and lengths alone (what metrics use); a pool of negatives
    must keep what the discriminator reads, such as Gumbel-softmax's relaxed one-hots.
    Shorter batches are padded with zeros to the longest along the step axis.
    """
    if len(batches) == 1:
        return batches[0]
    width = max(b.steps for b in batches)

    def padded(t: Tensor, steps: int) -> Tensor:
        if t.dim() < 2 or t.shape[1] != steps or steps == width:
            return t
        return torch.nn.functional.pad(t, [0, 0] * (t.dim() - 2) + [0, width - steps])

    def joined(tensors: list[Tensor | None]) -> Tensor | None:
        if any(t is None for t in tensors):
            return None
        return torch.cat([padded(t, b.steps) for t, b in zip(tensors, batches)])  # type: ignore[arg-type]

    extras = {key: joined([b.extras.get(key) for b in batches]) for key in batches[0].extras}
    return Batch(
        values=torch.cat([padded(b.values, b.steps) for b in batches]),
        lengths=torch.cat([b.lengths for b in batches]),
        log_probs=joined([b.log_probs for b in batches]),
        relaxed=joined([b.relaxed for b in batches]),
        extras={key: value for key, value in extras.items() if value is not None},
        condition=None if any(b.condition is None for b in batches) else Condition.concat([b.condition for b in batches]),  # type: ignore[misc]
    )


def sample_in_chunks(generator: Any, count: int, chunk: int, condition: Condition | None = None) -> Batch:
    """``count`` samples drawn ``chunk`` at a time (bounded memory), joined into one CPU batch; row ``i`` for ``condition``'s row ``i``."""
    return Batch.concat(
        [
            draw(generator, min(chunk, count - done), None if condition is None else condition.index(torch.arange(done, min(count, done + chunk)))).to("cpu")
            for done in range(0, count, chunk)
        ]
    )


def _rows_condition(real: Batch, start: int, size: int) -> Condition | None:
    """The conditions of ``real``'s rows ``start .. start + size``, or None for unconditional data."""
    if real.condition is None:
        return None
    return real.condition.index(torch.arange(start, min(real.size, start + size), device=real.lengths.device))
