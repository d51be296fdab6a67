"""Stage 2: train the M2S-GAN generator (WGAN-GP) with M2S-Net's motion features as a sync loss.

    python -m training.m2sgan --data DIR --m2snet runs/m2snet/m2snet.safetensors \
        --m2snet-test M2SNet_test_official_pretrained.pt
    torchrun --nproc_per_node=4 -m training.m2sgan --data DIR --m2snet CKPT
    python -m training.m2sgan --data DIR --m2snet CKPT --resume auto

Recipe (``docs/parity.md``): the generator's music encoder is copied from the
given M2S-Net and frozen; generator and critic use RMSprop 5e-4, batch 20 of 30-s windows,
noise (N, 30, 8); every step updates the critic (-D(real) + D(fake) + 10 GP, GP the squared norm
of the gradient at one random interpolation per sample, centred on 0) and every 5th step also the
generator (-D(fake) + 0.05 L1 between M2S-Net motion features of fake and real).
``--train-music-encoder`` trains the copied encoder too (our CPU configuration);
``--init-generator W`` starts the whole generator from finished weights (continuing on more
data). Validation: MPE (with ``--m2snet-test``), RDE, SCE, SDP. The generator is written as ``m2sgan_generator
.safetensors`` with its model card, which ``core.neural.weights.load_model`` and the add-on read.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import cast

import numpy as np
import torch
from torch.nn import functional as F

from core.neural.networks import NOISE_PER_SECOND, Critic, MotionGenerator, SyncNet
from core.neural.weights import CRITIC, GENERATOR, SYNCNET, load_model, save_weights
from training import distributed, metrics
from training.config import (
    M2SGANConfig,
    build_config,
    load_checkpoint,
    parse,
    rng_state,
    run_command,
    save_checkpoint,
    set_rng_state,
)
from training.data import ConductorMotionSplit, WindowDataset, epoch_batches, make_loader, rank_chunks
from training.m2snet import autocast, to_device
from training.run_outputs import log_validation, open_run_outputs


def set_modes(generator: MotionGenerator, config: M2SGANConfig, training: bool) -> None:
    """Train or eval mode; the frozen music encoder stays in eval unless its batch-norm
    statistics are meant to keep updating (``encoder_bn_updates``, the official behaviour) or
    it is trained itself (``train_music_encoder``)."""
    generator.train(training)
    if training and not (config.encoder_bn_updates or config.train_music_encoder):
        generator.music_encoder.eval()


def step_noise(config: M2SGANConfig, step: int, batch: int, seconds: int) -> dict[str, torch.Tensor]:
    """The step's random numbers for the whole global batch, drawn from (seed, step) alone so
    that any split over ranks and micro-batches, and any resume, sees the same values."""
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    return {
        "critic_noise": torch.randn(batch, seconds, NOISE_PER_SECOND, generator=generator),  # (B, S, 8)
        "alpha": torch.rand(batch, 1, 1, 1, generator=generator),  # (B, 1, 1, 1)
        "generator_noise": torch.randn(batch, seconds, NOISE_PER_SECOND, generator=generator),
    }


def gradient_penalty(
    critic: torch.nn.Module, interpolated: torch.Tensor, scores: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """Zero-centred penalty: the squared norm of the critic's gradient over the whole global
    batch, i.e. ``batch_size`` x the mean per-sample squared norm of this micro-batch, so the
    value does not depend on how the batch is split."""
    (grad,) = torch.autograd.grad(scores.sum(), interpolated, create_graph=True)  # (n, T30, 13, 2)
    return batch_size * grad.pow(2).flatten(1).sum(dim=1).mean()


@torch.no_grad()
def generate(
    generator: MotionGenerator, mel: torch.Tensor, seed: int, config: M2SGANConfig, device: torch.device
) -> torch.Tensor:
    """Eval-mode motion for mel (N, T90, 128) with noise from ``seed`` -> (N, T30, 13, 2) on the CPU."""
    seconds = mel.shape[1] // 90
    noise = torch.randn(mel.shape[0], seconds, NOISE_PER_SECOND, generator=torch.Generator().manual_seed(seed))
    outputs = []
    for start in range(0, mel.shape[0], 4):
        with autocast(config, device):
            outputs.append(
                generator(mel[start : start + 4].to(device), noise[start : start + 4].to(device)).float().cpu()
            )
    return torch.cat(outputs)


def validate(
    generator: MotionGenerator,
    split: ConductorMotionSplit,
    config: M2SGANConfig,
    device: torch.device,
    sync_encoder: torch.nn.Module,
    test_encoder: torch.nn.Module | None,
) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """MPE (when the test M2S-Net is given), RDE, SCE, SDP and the sync loss on validation windows."""
    dataset = WindowDataset(split)
    count = len(dataset) if not config.val_limit else min(config.val_limit, len(dataset))
    items = [dataset[i] for i in range(count)]
    mel = torch.from_numpy(np.stack([item["mel"] for item in items]))  # (N, T90, 128)
    real = torch.from_numpy(np.stack([item["motion"] for item in items]))  # (N, T30, 13, 2)
    set_modes(generator, config, training=False)
    fake = generate(generator, mel, config.seed, config, device)
    set_modes(generator, config, training=True)
    results = {
        "val/rde": metrics.rde(real, fake),
        "val/sce": metrics.sce(real, fake),
        "val/sdp": metrics.sdp(real, fake),
        "val/sync_l1": metrics.mpe(real, fake, sync_encoder),
    }
    if test_encoder is not None:
        results["val/mpe"] = metrics.mpe(real, fake, test_encoder)
    return results, real[0], fake[0]


def plot_motion(real: torch.Tensor, fake: torch.Tensor, seconds: int):
    """Figure of both wrists' x and y over the first ``seconds`` of one validation window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = min(real.shape[0], seconds * 30)
    time_s = np.arange(frames) / 30
    figure, axes = plt.subplots(2, 1, figsize=(8, 4), sharex=True)
    for axis, coordinate in zip(axes, ("x", "y")):
        for joint, name in ((9, "left wrist"), (10, "right wrist")):
            index = 0 if coordinate == "x" else 1
            axis.plot(time_s, real[:frames, joint, index], label=f"{name} real")
            axis.plot(time_s, fake[:frames, joint, index], "--", label=f"{name} generated")
        axis.set_ylabel(coordinate)
    axes[1].set_xlabel("time (s)")
    axes[0].legend(fontsize=7, ncol=2)
    figure.tight_layout()
    return figure


def main(argv: list[str] | None = None) -> dict:
    given = parse(M2SGANConfig, argv)
    checkpoint = None
    if given.get("resume"):
        checkpoint = load_checkpoint(given["resume"], given.get("out_dir", M2SGANConfig.out_dir))
    config = build_config(M2SGANConfig, given, checkpoint["config"] if checkpoint else None)
    if not config.m2snet:
        raise SystemExit("--m2snet is required: the trained M2S-Net gives the music encoder and the sync loss.")
    context = distributed.setup(config.device)
    device = context.device
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True

    # ---------------------------------------------------------------- data
    train_set = WindowDataset(ConductorMotionSplit(config.data, "train", window_s=config.sample_s))
    val_split = ConductorMotionSplit(config.data, "val", window_s=config.sample_s)
    steps_per_epoch = len(train_set) // config.batch_size
    if steps_per_epoch == 0:
        raise SystemExit(f"{len(train_set)} training windows are fewer than one batch of {config.batch_size}.")
    total_steps = config.max_steps or config.epochs * steps_per_epoch
    eval_every = config.eval_every or config.eval_every_epochs * steps_per_epoch
    chunk_size = config.batch_size // (context.world * config.micro_batches)

    # ---------------------------------------------------------------- networks
    sync_net = cast(SyncNet, load_model(config.m2snet, SYNCNET).model).to(device)  # frozen, for the sync loss
    sync_net.requires_grad_(False)
    sync_net.train(not config.sync_net_eval)
    test_encoder = None
    if config.m2snet_test:
        test_encoder = (
            cast(SyncNet, load_model(config.m2snet_test, SYNCNET).model).motion_encoder.to(device).requires_grad_(False)
        )
    elif context.main:
        print("no --m2snet-test given: validation skips MPE", file=sys.stderr)
    torch.manual_seed(config.seed)
    generator, critic = MotionGenerator(), Critic()
    if config.init_generator and checkpoint is None:  # a resumed run has its own weights below
        generator.load_state_dict(load_model(config.init_generator, GENERATOR).model.state_dict())  # warm start
    else:
        generator.music_encoder.load_state_dict(sync_net.music_encoder.state_dict())  # transferred (recipe)
    generator.music_encoder.requires_grad_(config.train_music_encoder)  # frozen unless asked
    generator.to(device)
    critic.to(device).train()
    set_modes(generator, config, training=True)
    optimizer_g = torch.optim.RMSprop([p for p in generator.parameters() if p.requires_grad], lr=config.lr)
    optimizer_d = torch.optim.RMSprop(critic.parameters(), lr=config.lr)
    step = 0
    losses = {"critic": float("nan"), "generator": float("nan")}  # the latest of each, mean over ranks
    if checkpoint is not None:
        generator.load_state_dict(checkpoint["model"])
        critic.load_state_dict(checkpoint["critic"])
        optimizer_g.load_state_dict(checkpoint["optimizer_g"])
        optimizer_d.load_state_dict(checkpoint["optimizer_d"])
        set_rng_state(checkpoint["rng"])
        step = checkpoint["step"]
        losses.update(checkpoint["loss"])
    generator_model: torch.nn.Module
    critic_model: torch.nn.Module
    if context.distributed:
        ids = [device.index] if device.type == "cuda" else None
        generator_model = torch.nn.parallel.DistributedDataParallel(generator, device_ids=ids)
        critic_model = torch.nn.parallel.DistributedDataParallel(critic, device_ids=ids)
    else:
        generator_model, critic_model = generator, critic

    # ---------------------------------------------------------------- rank-0 side effects
    writer = progress = None
    if context.main:
        writer, progress = open_run_outputs(config, step=step, total_steps=total_steps, name="m2sgan")
    results: dict = dict(checkpoint.get("metrics", {})) if checkpoint else {}  # kept on resume, like the losses
    history: list[dict[str, float]] = []  # every step's losses (mean over ranks), returned to the caller

    def write_checkpoint() -> None:
        save_checkpoint(
            os.path.join(config.out_dir, "ckpt.pt"),
            {
                "kind": GENERATOR,
                "model": generator.state_dict(),
                "critic": critic.state_dict(),
                "optimizer_g": optimizer_g.state_dict(),
                "optimizer_d": optimizer_d.state_dict(),
                "config": dataclasses.asdict(config),
                "step": step,
                "rng": rng_state(),
                "loss": dict(losses),
                "metrics": results,
            },
        )

    def micro_contexts(model):
        for micro in range(config.micro_batches):
            yield micro, distributed.gradient_sync(model, last_micro_batch=micro == config.micro_batches - 1)

    # ---------------------------------------------------------------- training loop
    started, first_step = time.perf_counter(), step
    while step < total_steps:
        epoch, position = divmod(step, steps_per_epoch)
        batches = epoch_batches(len(train_set), config.batch_size, seed=config.seed, epoch=epoch)[position:]
        batches = batches[: total_steps - step]
        chunks = [
            chunk
            for batch in batches
            for chunk in rank_chunks(batch, rank=context.rank, world=context.world, micro_batches=config.micro_batches)
        ]
        loader = iter(make_loader(train_set, chunks, workers=config.workers))
        for _ in batches:
            micro_batches = [
                to_device(next(loader), device) for _ in range(config.micro_batches)
            ]  # mel (n, T90, 128), motion (n, T30, 13, 2)
            random = step_noise(config, step, config.batch_size, config.sample_s)
            first = context.rank * config.micro_batches * chunk_size  # this rank's slice of the global batch

            def mine(name: str, micro: int) -> torch.Tensor:  # this micro-batch's share of the step's noise
                return random[name][first + micro * chunk_size : first + (micro + 1) * chunk_size].to(device)

            logged = {
                name: torch.zeros((), device=device) for name in ("critic", "wasserstein", "gp", "generator", "sync")
            }

            # critic: -D(real) + D(fake) + gp_weight * GP
            for micro, sync in micro_contexts(critic_model):
                real, mel = micro_batches[micro]["motion"], micro_batches[micro]["mel"]
                with torch.no_grad(), autocast(config, device):
                    fake = generator_model(mel, mine("critic_noise", micro)).float()
                alpha = mine("alpha", micro)
                interpolated = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
                with sync:
                    scores = critic_model(torch.cat([real, fake, interpolated])).float()  # (3n, 1)
                    n = real.shape[0]
                    penalty = gradient_penalty(critic_model, interpolated, scores[2 * n :], config.batch_size)
                    wasserstein = scores[:n].mean() - scores[n : 2 * n].mean()
                    loss_d = -wasserstein + config.gp_weight * penalty
                    (loss_d / config.micro_batches).backward()
                for name, value in (("critic", loss_d), ("wasserstein", wasserstein), ("gp", penalty)):
                    logged[name] += value.detach() / config.micro_batches
            optimizer_d.step()
            optimizer_d.zero_grad(set_to_none=True)

            # generator, every critic_steps-th step: -D(fake) + sync_weight * L1(features) + mse_weight * MSE
            generator_step = (step + 1) % config.critic_steps == 0
            if generator_step:
                critic.requires_grad_(False)
                for micro, sync in micro_contexts(generator_model):
                    real, mel = micro_batches[micro]["motion"], micro_batches[micro]["mel"]
                    with sync:
                        with autocast(config, device):
                            fake = generator_model(mel, mine("generator_noise", micro)).float()  # (n, T30, 13, 2)
                        adversarial = -critic(fake).mean()  # the plain module: no DDP hooks on the critic here
                        sync_loss = F.l1_loss(sync_net.motion_encoder(fake), sync_net.motion_encoder(real))
                        loss_g = config.adversarial_weight * adversarial + config.sync_weight * sync_loss
                        if config.mse_weight:
                            loss_g = loss_g + config.mse_weight * F.mse_loss(fake, real)
                        (loss_g / config.micro_batches).backward()
                    logged["generator"] += loss_g.detach() / config.micro_batches
                    logged["sync"] += sync_loss.detach() / config.micro_batches
                critic.requires_grad_(True)
                optimizer_g.step()
                optimizer_g.zero_grad(set_to_none=True)
            step += 1
            losses["critic"] = distributed.mean_over_ranks(logged["critic"], context)
            if generator_step:
                losses["generator"] = distributed.mean_over_ranks(logged["generator"], context)
            history.append(dict(losses, generator_step=generator_step))

            # logging
            if step % config.log_every == 0 or step == total_steps:
                values = {
                    name: distributed.mean_over_ranks(value, context)
                    for name, value in logged.items()
                    if generator_step or name not in ("generator", "sync")
                }
                if writer is not None:
                    for name, value in values.items():
                        writer.add_scalar(f"train/{name}", value, step)
                    writer.add_scalar("train/epoch", epoch, step)
                    writer.add_scalar("train/steps_per_s", (step - first_step) / (time.perf_counter() - started), step)
            if progress is not None:
                progress.set_postfix(d=f"{losses['critic']:.3f}", g=f"{losses['generator']:.3f}", epoch=epoch)
                progress.update(1)

            # validation (rank 0 on the unwrapped generator; the others wait)
            if step % eval_every == 0 or step == total_steps:
                if context.main:
                    results, real_clip, fake_clip = validate(
                        generator, val_split, config, device, sync_net.motion_encoder, test_encoder
                    )
                    log_validation(writer, progress, results, step)
                    if writer is not None:
                        writer.add_figure("val/wrists", plot_motion(real_clip, fake_clip, config.plot_seconds), step)
                distributed.barrier(context)

            # checkpoint
            if context.main and (step % config.checkpoint_every == 0 or step == total_steps):
                write_checkpoint()

    # ---------------------------------------------------------------- final weights
    if context.main:
        if progress is not None:
            progress.close()
        card = {
            "id": f"m2sgan-{os.path.basename(os.path.normpath(config.out_dir))}",
            "model": GENERATOR,
            "data": config.data,
            "config": dataclasses.asdict(config),
            "metrics": results,
            "steps": step,
            "music_encoder_from": config.init_generator or config.m2snet,
            "licence": "trained by the user on their data",
        }
        save_weights(generator, os.path.join(config.out_dir, "m2sgan_generator.safetensors"), card)
        save_weights(
            critic,
            os.path.join(config.out_dir, "m2sgan_critic.safetensors"),
            {"id": card["id"] + "-critic", "model": CRITIC, "data": config.data, "steps": step},
        )
        if writer is not None:
            writer.close()
    distributed.teardown(context)
    return {"step": step, "loss": losses, "metrics": results, "history": history}


if __name__ == "__main__":
    run_command(main)
