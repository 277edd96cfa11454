"""The GAN update every model, loss and regularizer plugs into: ``gan_update``, the default training step
(``training.step``), which ``Trainer.train_step`` runs with everything around it (schedules, EMA, step count).

``gan_update`` runs ``n_critic`` discriminator updates and one generator update. Everything random
(batch order, latents, augmentations, penalty interpolates) comes from state the checkpoint stores, so a
resumed run continues exactly where an uninterrupted one would be.

What D sees is ``pack(augment(x))``: DiffAugment or ADA (optional; ``training.augment``,
``training.ada``) on every real and fake batch, in D's and G's updates alike, then PacGAN packing
(optional) of ``pack`` consecutive samples into one D input.

Before each step the scheduled hyperparameters (``training.schedules``: learning rates, Adam's beta2,
regularizer weights, the EMA half-life, ADA's p) are set from the images seen so far.

Conditional runs give G and D the real batch's labels, and G's samples use those same labels.

The loss (``ganforge.losses``) and the regularizers (``ganforge.regularizers``) are registry entries:
the step asks the loss whether G's loss needs real scores and loops over the active regularizers of
each player, so adding either touches its own module only.

Speed and scale (docs/SPEED_AND_SCALE.md): mixed precision (``training.precision``), torch.compile,
channels-last and fused optimizers (``training.accel``), and data-parallel training under torchrun
(``training.distributed``), where every rank draws every random number for the global batch and keeps
its slice, so N processes compute what one process with the same ``--batch-size`` would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ganforge.config import TrainConfig
from ganforge.data import TensorDataset
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES
from ganforge.models import build_gan
from ganforge.regularizers import (
    ActiveRegularizer,
    PenaltyInputs,
    active_regularizers,
    apply_after_step,
    input_gradients,
    penalties_of,
    penalty_terms,
    shared_sides,
    with_weights,
)
from ganforge.training.accel import compile_enabled, maybe_compile, optimizer_options, to_channels_last
from ganforge.training.ada import AdaptiveP, ada_augment, parse_groups
from ganforge.training.augment import diff_augment
from ganforge.training.distributed import (
    SINGLE,
    DistInfo,
    convert_sync_batch_norm,
    local_batch_size,
    rank_slice,
    wrap_ddp,
)
from ganforge.training.ema import (
    STANDING_SEED_OFFSET,
    ema_beta,
    make_ema,
    ramped_beta,
    run_ema_beta,
    standing_latents,
    standing_statistics,
    update_ema,
)
from ganforge.training.feed import DataFeed, EpochSampler
from ganforge.training.grid import SAMPLE_GRID_SIZE, fixed_grid_inputs
from ganforge.training.model_spec import model_spec
from ganforge.training.precision import Precision, float32_spectral_norm, native_bf16
from ganforge.training.schedules import Schedules
from ganforge.training.step import STEP_SEED_OFFSET, StepContext, TrainStep, checked_scalars, resolve_step


def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """PacGAN packing: (N, C, ...) -> (N/pack, pack*C, ...), consecutive samples side by side in channels."""
    if pack == 1:
        return x
    return x.reshape(x.shape[0] // pack, pack * x.shape[1], *x.shape[2:])


def make_optimizer(config: TrainConfig, params: Iterable[nn.Parameter], lr: float,
                   device: torch.device | None = None) -> torch.optim.Optimizer:
    params = list(params)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, **optimizer_options(torch.optim.RMSprop, device, params))
    return torch.optim.Adam(params, lr=lr, betas=config.betas, **optimizer_options(torch.optim.Adam, device, params))


def set_hyper(optimizer: torch.optim.Optimizer, key: str, value: Any) -> None:
    for group in optimizer.param_groups:
        group[key] = value


class Trainer:
    """Holds the networks, optimizers and data on one device and runs GAN updates.

    In a multi-process run (``dist``) each rank holds an identical copy of everything and trains on its
    slice of every global batch; G and D are wrapped in DDP for the updates (see ``train_step``).
    """

    def __init__(self, config: TrainConfig, dataset: TensorDataset, device: torch.device,
                 dist: DistInfo = SINGLE, update: TrainStep | None = None) -> None:
        self.config = config
        self.device = device
        self.dataset = dataset
        self.dist = dist
        self.loss = LOSSES.get(config.loss).bind(config.loss_options)
        self.schedules = Schedules(config)
        self.base_regularizers = active_regularizers(config, scheduled=self.schedules)
        self.regularizers: list[ActiveRegularizer] = self.base_regularizers  # this step's weights
        self.hyper: dict[str, float] = {}  # the scheduled values the last step used (logged)
        self.spec = model_spec(config, dataset)
        self.local_batch = local_batch_size(config.batch_size, dist, config.pack)
        self.share = (dist.rank, dist.world_size)  # this rank's slice of every global-batch draw
        self.precision = Precision(config.precision, device)
        self.channels_last = config.channels_last and dataset.is_image
        torch.manual_seed(config.seed)
        generator, discriminator = build_gan(self.spec)
        self.generator: nn.Module = self._prepare(generator, double_backward=self.penalizes("g"))
        self.discriminator: nn.Module = self._prepare(discriminator, double_backward=self.penalizes("d"))
        # Samples, the saved generator and metrics use the EMA copy when there is one.
        self.ema_beta = run_ema_beta(config.batch_size, config.ema_kimg, config.ema)  # before ramp-up
        ema_on = bool(self.ema_beta) or "ema_kimg" in self.schedules
        self.generator_ema: nn.Module | None = make_ema(self.generator) if ema_on else None
        self._ema_standing_step: int | None = None  # the step the EMA's standing statistics are for
        self.opt_g = make_optimizer(config, self.generator.parameters(), config.lr_g, device)
        self.opt_d = make_optimizer(config, self.discriminator.parameters(), config.lr_d, device)
        self.feed = DataFeed(dataset, config.batch_size, config.seed, device, on_host=config.data_on_host,
                             channels_last=self.channels_last, dist=dist, mode=config.data_mode,
                             workers=config.data_workers)
        self.noise_rng = torch.Generator(device=device).manual_seed(config.seed + 1)
        # A second stream for augmentations and penalty interpolates, so turning them on leaves the
        # latents (and the batches) of a run unchanged.
        self.aux_rng = torch.Generator(device=device).manual_seed(config.seed + 3)
        # The training step (training.step): ganforge's gan_update unless config.train_step names another
        # (``update``: that step's object, when it came from Python), with a stream of its own.
        self.update: TrainStep = update if update is not None else resolve_step(config.train_step)
        self.builtin_update = self.update is gan_update
        if not self.builtin_update and dist.enabled:
            raise GanforgeError(f"a training step of your own ({config.train_step}) runs in one process; "
                                "start it without torchrun")
        self.step_rng = torch.Generator(device=device).manual_seed(config.seed + STEP_SEED_OFFSET)
        self.scalar_keys: dict[str, None] = {}  # the names the step has returned (in order): the loss curves'
        self.ada = (AdaptiveP(config.augment_p, target=0.0 if "augment_p" in self.schedules else config.ada_target,
                              interval=config.ada_interval, kimg=config.ada_kimg, batch_size=config.batch_size,
                              device=device, dist=dist) if config.augment == "ada" else None)
        self.ada_groups = parse_groups(config.ada_groups)
        self.step = 0
        fixed_rng = torch.Generator().manual_seed(config.seed + 2)
        fixed_z = torch.randn(SAMPLE_GRID_SIZE, config.z_dim, generator=fixed_rng)
        num_classes = dataset.num_classes if config.conditional else 0
        fixed_z, fixed_labels = fixed_grid_inputs(fixed_z, num_classes, dataset.is_image)
        self.fixed_z = fixed_z.to(device)
        self.fixed_labels = fixed_labels.to(device) if fixed_labels is not None else None
        self._build_step_networks()

    def _prepare(self, module: nn.Module, double_backward: bool) -> nn.Module:
        """A freshly built network, adapted to the run's precision, process group, device and layout."""
        if self.precision.enabled:
            float32_spectral_norm(module)
        if self.config.sync_bn and self.dist.enabled:
            module = convert_sync_batch_norm(module, self.device, double_backward=double_backward)
        module = module.to(self.device)
        return to_channels_last(module) if self.channels_last else module

    def _build_step_networks(self) -> None:
        """What ``train_step`` calls: G and D, wrapped in DDP (several processes) and compiled (--compile).

        D's update calls ``d_net`` (DDP: D's gradients averaged once per D step). G's update calls
        ``d_net_for_g``: in a multi-process run the unwrapped D, whose parameters are frozen during G's
        update, so no D gradient exists that a DDP reducer would wait for; the gradient penalties always
        use the unwrapped, uncompiled D (double backward; see ``d_scores``).
        """
        compiled = compile_enabled(self.config.compile, self.device)
        G, D, device, dist = self.generator, self.discriminator, self.device, self.dist
        self.g_net = maybe_compile(wrap_ddp(G, device, dist), "the generator", enabled=compiled)
        self.d_net = maybe_compile(wrap_ddp(D, device, dist), "the discriminator", enabled=compiled)
        self.d_net_for_g = (maybe_compile(D, "the discriminator (G step)", enabled=compiled)
                            if dist.enabled else self.d_net)
        # R1/R2 from the loss's own D forward: where D is the plain module (double backward through it),
        # in fp32 or native bf16. fp16's input gradients underflow, and emulated bf16 (CPUs without
        # AVX512-BF16/AMX) makes the double backward slower than the float32 re-run
        # (BENCHMARKS.md, "Penalties from the loss's forward"): those keep the separate float32 forward.
        precision = self.precision.name
        self.shared_penalty_forward = self.d_net is D and (
            precision == "fp32" or (precision == "bf16" and native_bf16(device)))

    @property
    def sampling_generator(self) -> nn.Module:
        """The generator to sample from: the EMA copy when ``--ema``/``--ema-kimg`` is on, else G itself.

        With ``--ema-bn standing`` the copy's BatchNorm statistics are recomputed for its weights first
        (once per step): a pure function of those weights, so checkpoints and resumes stay exact.
        """
        if self.generator_ema is None:
            return self.generator
        if self.config.ema_bn == "standing" and self._ema_standing_step != self.step:
            labels = self.dataset.labels if self.config.conditional else None
            batch = self.config.batch_size if self.config.sync_bn else self.local_batch
            latents = standing_latents(self.config.z_dim, batch, self.config.seed + STANDING_SEED_OFFSET,
                                       self.device, labels)
            standing_statistics(self.generator_ema, latents)
            self._ema_standing_step = self.step
        return self.generator_ema

    @property
    def sampler(self) -> EpochSampler:
        return self.feed.sampler

    @property
    def data_on_host(self) -> bool:
        return self.feed.on_host

    def penalizes(self, player: str) -> bool:
        """Whether an active regularizer adds a penalty to ``player``'s ("d" or "g") loss."""
        return any(r.entry.player == player and r.entry.penalty is not None for r in self.regularizers)

    @property
    def columns(self) -> tuple[str, ...]:
        """The scalars ``train_step`` reports beyond the losses and D's outputs, from the options in use:
        each penalty's term (``penalty_r1``, ...) and ADA's p."""
        penalties = [f"penalty_{reg.entry.name}" for player in ("d", "g") for reg in penalties_of(self.regularizers, player)]
        return (*penalties, *(("augment_p",) if self.ada is not None else ()))

    def apply_schedules(self) -> None:
        """Set every scheduled hyperparameter for the coming step from the images seen (a pure function of
        the step: a resumed run sets what an uninterrupted one does)."""
        values = self.schedules.values(self.step)
        for key, optimizer in (("lr_g", self.opt_g), ("lr_d", self.opt_d)):
            if key in values:
                set_hyper(optimizer, "lr", values[key])
        if "beta2" in values:
            for optimizer in (self.opt_g, self.opt_d):
                set_hyper(optimizer, "betas", (self.config.betas[0], values["beta2"]))
        if "ema_kimg" in values:
            self.ema_beta = ema_beta(self.config.batch_size, values["ema_kimg"]) if values["ema_kimg"] > 0 else 0.0
        if "augment_p" in values and self.ada is not None:
            self.ada.set(values["augment_p"])
        self.regularizers = with_weights(self.base_regularizers, values)
        self.hyper = values

    # -- one update ---------------------------------------------------------------------------------
    def next_real(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's slice of the next global batch, in [-1, 1] on the training device."""
        return self.feed.next_batch()

    def noise(self) -> torch.Tensor:
        """This rank's latents: its slice of a draw for the whole global batch (a few KB per rank)."""
        z = torch.randn(self.config.batch_size, self.config.z_dim, generator=self.noise_rng, device=self.device)
        return rank_slice(z, self.dist)

    def d_input(self, x: torch.Tensor) -> torch.Tensor:
        """What D judges: the batch augmented (DiffAugment, when on) and packed (PacGAN, when on)."""
        if self.config.augment == "diffaug":
            # keyword only when sharing, so single-process calls keep diff_augment's plain signature
            x = (diff_augment(x, self.aux_rng, share=self.share) if self.dist.enabled
                 else diff_augment(x, self.aux_rng))
        elif self.ada is not None:
            x = ada_augment(x, self.ada.p, self.aux_rng, self.ada_groups, share=self.share)
        return pack_samples(x, self.config.pack)

    def _penalty_inputs(self, real: torch.Tensor, fake: torch.Tensor,
                        labels: torch.Tensor | None) -> PenaltyInputs:
        return PenaltyInputs(self.discriminator, self.generator, real, fake, labels, self.aux_rng, self.share)

    def d_scores(self, real_in: torch.Tensor, fake_in: torch.Tensor, cond: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """D's scores of its real and fake inputs and its penalty terms by name (float32, outside autocast).

        R1/R2 due at this step take their input gradient from these very forwards when
        ``shared_penalty_forward`` (the inputs are made to require grad); the rest run D again.
        """
        sides = shared_sides(self.regularizers, "d", self.step) if self.shared_penalty_forward else ()
        inputs = {"real": real_in, "fake": fake_in}
        for side in sides:
            inputs[side] = inputs[side].detach().requires_grad_(True)
        with self.precision.autocast():
            scores = {side: self.d_net(x, cond) for side, x in inputs.items()}
        gradients = input_gradients(scores, {side: inputs[side] for side in sides}) if sides else None
        terms = penalty_terms(self.regularizers, "d", self._penalty_inputs(real_in, fake_in, cond), self.step,
                              gradients)
        return scores["real"], scores["fake"], terms

    def g_backward(self, fake: torch.Tensor, real_in: torch.Tensor,
                   cond: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """G's loss on ``fake`` as D now scores it (and its penalties), back-propagated into G only.

        ``real_in`` is D's input of the real batch; D scores it here only for a loss that compares fakes
        with reals (``g_needs_real``), so the other losses compute and draw exactly what they always did.
        Returns (G's loss, G's penalty terms by name).
        """
        D, amp = self.discriminator, self.precision
        D.requires_grad_(False)  # gradients through D, not for D's weights
        with amp.autocast():
            fake_in = self.d_input(fake)
            scores = self.d_net_for_g(fake_in, cond)
            real_scores = self.d_net_for_g(real_in, cond) if self.loss.g_needs_real else None
        loss_g = self.loss.g_loss(None if real_scores is None else amp.scores(real_scores), amp.scores(scores))
        terms = penalty_terms(self.regularizers, "g", self._penalty_inputs(real_in, fake_in, cond), self.step)
        self.opt_g.zero_grad(set_to_none=True)
        amp.backward(loss_g + sum(terms.values()) if terms else loss_g, amp.scaler_g)
        D.requires_grad_(True)
        return loss_g, terms

    def train_step(self) -> dict[str, torch.Tensor]:
        """One step of the run's training step (``training.step``: ganforge's ``gan_update`` or yours),
        with everything around it: the scheduled hyperparameters before, the EMA update and the step
        count after. Returns the step's scalars as detached tensors (no host sync for ganforge's own).
        """
        cfg = self.config
        self.apply_schedules()
        real, labels = self.next_real()
        context = StepContext(self, self.generator, self.discriminator, self.generator_ema, self.opt_g, self.opt_d,
                              real, labels, labels if cfg.conditional else None, self.step, self.step_rng,
                              self.device, cfg)
        scalars = checked_scalars(self.update(context), cfg.train_step, self.step, finite=not self.builtin_update)
        self.scalar_keys.update(dict.fromkeys(scalars))
        if self.generator_ema is not None:
            beta = ramped_beta(self.ema_beta, cfg.batch_size, self.step * cfg.batch_size, cfg.ema_rampup)
            update_ema(self.generator_ema, self.generator, beta, bn=cfg.ema_bn)
        self.step += 1
        if self.ada is not None:
            self.ada.end_step(self.step)
            scalars["augment_p"] = self.ada.p.clone()
        return scalars

    # -- sampling ----------------------------------------------------------------------------------
    @torch.no_grad()
    def fixed_samples(self) -> torch.Tensor:
        """The sample grid's fixed latents (and, when conditional, one class per row) through G or its EMA."""
        generator = self.sampling_generator
        was_training = generator.training
        generator.eval()
        samples = generator(self.fixed_z, self.fixed_labels)
        generator.train(was_training)
        return samples.cpu()

    # -- state ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "batches_drawn": self.sampler.batches_drawn,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "noise_rng": self.noise_rng.get_state(),
            "aux_rng": self.aux_rng.get_state(),
            "step_rng": self.step_rng.get_state(),
            **({"step_state": self.update.state_dict()} if hasattr(self.update, "state_dict") else {}),
            "torch_rng": torch.get_rng_state(),
            "spec": self.spec.to_dict(),
            **({"generator_ema": self.sampling_generator.state_dict()} if self.generator_ema is not None else {}),
            **({"scalers": scalers} if (scalers := self.precision.state_dict()) else {}),
            **({"ada": self.ada.state_dict()} if self.ada is not None else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.noise_rng.set_state(state["noise_rng"])
        if "aux_rng" in state:  # checkpoints written before augmentation/penalties existed lack it
            self.aux_rng.set_state(state["aux_rng"])
        if "step_rng" in state:  # and before training steps of one's own
            self.step_rng.set_state(state["step_rng"])
        if hasattr(self.update, "load_state_dict") and "step_state" in state:
            self.update.load_state_dict(state["step_state"])
        if self.generator_ema is not None:
            self.generator_ema.load_state_dict(state["generator_ema"])
            self._ema_standing_step = None  # recomputed before use, whatever the checkpoint's version held
        self.precision.load_state_dict(state.get("scalers", {}))
        if self.ada is not None and "ada" in state:
            self.ada.load_state_dict(state["ada"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        self.sampler.batches_drawn = int(state["batches_drawn"])


def gan_update(ctx: StepContext) -> dict[str, torch.Tensor]:
    """ganforge's own training step: ``n_critic`` D updates, then one G update, as the config says (loss,
    regularizers, augmentation, packing, precision, ``updates``). Returns detached scalars (no host sync).

    ``updates: simultaneous`` (one D step) takes G's gradient from the same D that scored the batch,
    before D's update, as the ALI/PacGAN code does (one gradient step on both players at once);
    the default alternating order takes it from the updated D.

    Conditional runs generate fakes with the real batch's labels rather than uniformly drawn ones:
    every D step then compares real and fake batches with identical class counts (no class-frequency
    signal, lower variance), fakes follow the data's class prior even when it is not uniform, and no
    extra random numbers are consumed.
    """
    trainer, cfg = ctx.trainer, ctx.config
    amp, loss = trainer.precision, trainer.loss
    real, cond = ctx.real, ctx.cond
    for critic_step in range(cfg.n_critic):
        if critic_step:
            real, labels = ctx.next_batch()
            cond = labels if cfg.conditional else None
        last = critic_step == cfg.n_critic - 1
        # The last critic step's fakes keep their graph so the G update reuses them (one G
        # forward per step, as in the reference DCGAN loop).
        with torch.set_grad_enabled(last), amp.autocast():
            fake = trainer.g_net(trainer.noise(), cond)
        real_in, fake_in = trainer.d_input(real), trainer.d_input(fake.detach())
        # the penalties' gradients join the loss's in the same backward, so DDP averages each D
        # parameter's (loss + penalty) gradient once
        real_scores, fake_scores, terms = trainer.d_scores(real_in, fake_in, cond)
        if trainer.ada is not None:
            trainer.ada.observe(real_scores)
        loss_d = loss.d_loss(amp.scores(real_scores), amp.scores(fake_scores))
        if last and cfg.updates == "simultaneous":
            loss_g, terms_g = trainer.g_backward(fake, real_in, cond)
        ctx.opt_d.zero_grad(set_to_none=True)
        amp.backward_and_step(loss_d + sum(terms.values()) if terms else loss_d, ctx.opt_d, amp.scaler_d)
        apply_after_step(trainer.regularizers, "d", ctx.discriminator, ctx.step)
    if cfg.updates == "alternating":
        loss_g, terms_g = trainer.g_backward(fake, real_in, cond)
    amp.step(ctx.opt_g, amp.scaler_g)
    apply_after_step(trainer.regularizers, "g", ctx.generator, ctx.step)
    scalars = {
        "loss_d": loss_d.detach(),
        "loss_g": loss_g.detach(),
        "d_real": loss.d_output(amp.scores(real_scores.detach())).mean(),
        "d_fake": loss.d_output(amp.scores(fake_scores.detach())).mean(),
    }
    scalars.update({f"penalty_{name}": term.detach() for name, term in {**terms, **terms_g}.items()})
    return scalars
