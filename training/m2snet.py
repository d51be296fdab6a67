"""Stage 1: train M2S-Net to tell synchronised music-motion pairs from shifted or foreign ones.

    python -m training.m2snet --data DIR --negatives hard
    torchrun --nproc_per_node=4 -m training.m2snet --data DIR --negatives super_hard
    python -m training.m2snet --data DIR --resume auto          # continue out_dir/ckpt.pt

Recipe (``docs/parity.md``): 30-s windows, two 10-s clips per window, four
pairs per item ((music1, motion1), (music2, motion2) positive; (music1, motion2), (music2,
motion1) negative), loss = the sum of four BCEs on the time-mean sync probability, Adam 1e-3,
batch 10, 400 epochs, the first epoch with easy negatives. Validation reports the frame accuracy
for each negative kind, as in the published table (0.733 / 0.673 / 0.620).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time

import torch
from torch import nn
from torch.nn import functional as F

from core.neural.networks import SyncNet
from core.neural.weights import SYNCNET, save_weights
from training import distributed
from training.config import (
    M2SNetConfig,
    build_config,
    load_checkpoint,
    parse,
    rng_state,
    run_command,
    save_checkpoint,
    set_rng_state,
)
from training.data import ClipPairDataset, ConductorMotionSplit, PairSpec, epoch_batches, make_loader, rank_chunks
from training.run_outputs import log_validation, open_run_outputs

KINDS = ClipPairDataset.KINDS
LABELS = (1.0, 1.0, 0.0, 0.0)  # (music1, motion1), (music2, motion2), (music1, motion2), (music2, motion1)


class PairScorer(nn.Module):
    """Scores the four music-motion pairs of a batch with one SyncNet, encoding each clip once.

    forward: ``mel1``, ``mel2`` (N, T90, 128), ``motion1``, ``motion2`` (N, T30, 13, 2)
    -> sync probabilities (4, N, T30) in the order of ``LABELS``. With ``easy`` the second clip
    is ignored and replaced by another item of the batch: the batch reversed (the recipe), or,
    for an odd batch whose middle item would meet itself, the batch rotated by one.
    """

    def __init__(self, net: SyncNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, mel1, motion1, mel2, motion2, easy: bool = False) -> torch.Tensor:
        music1 = self.net.music_encoder(mel1).transpose(1, 2)  # (N, 64, T30)
        moves1 = self.net.motion_encoder(motion1)  # (N, 64, T30)
        if easy:
            other = (lambda x: x.flip(0)) if music1.shape[0] % 2 == 0 else (lambda x: x.roll(1, 0))
            music2, moves2 = other(music1), other(moves1)
        else:
            music2 = self.net.music_encoder(mel2).transpose(1, 2)
            moves2 = self.net.motion_encoder(motion2)
        pairs = [(music1, moves1), (music2, moves2), (music1, moves2), (music2, moves1)]
        probs = [self.net.fuse_head(torch.cat(pair, dim=1))[:, 0] for pair in pairs]  # 4 x (N, T30)
        return torch.stack(probs)  # (4, N, T30)


def pair_loss(probs: torch.Tensor) -> torch.Tensor:
    """Sum over the four pairs of the BCE of the time-mean probability (mean over the batch)."""
    means = probs.float().mean(dim=2).clamp(1e-7, 1 - 1e-7)  # (4, N)
    labels = torch.tensor(LABELS, device=probs.device)[:, None].expand_as(means)
    return F.binary_cross_entropy(means, labels, reduction="none").mean(dim=1).sum()


def frame_accuracy(probs: torch.Tensor) -> torch.Tensor:
    """Fraction of frames with p > 0.5 on the positive pairs and p < 0.5 on the negative ones."""
    positive = probs[:2] > 0.5
    negative = probs[2:] < 0.5
    return torch.cat([positive.flatten(), negative.flatten()]).float().mean()


def kaiming_init(net: nn.Module) -> None:
    """The recipe's init: kaiming-normal (fan_out, relu) on conv and linear weights, zero bias."""
    for module in net.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def autocast(config, device: torch.device):
    """bfloat16 autocast on CUDA when asked for (no loss scaling needed); otherwise nothing."""
    if config.amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {name: tensor.to(device, non_blocking=True) for name, tensor in batch.items()}


@torch.no_grad()
def validate(
    scorer: PairScorer, split: ConductorMotionSplit, config: M2SNetConfig, device: torch.device
) -> tuple[dict, torch.Tensor | None]:
    """Loss and frame accuracy on the validation windows for each negative kind (fixed clips)."""
    dataset = ClipPairDataset(split, pair_spec(config))
    count = len(dataset) if not config.val_limit else min(config.val_limit, len(dataset))
    size = max(2, config.batch_size)
    was_training = scorer.training
    scorer.eval()
    results, example = {}, None
    for kind_index, kind in enumerate(KINDS):
        if not dataset.fits(kind):  # e.g. hard negatives need windows longer than two clips
            continue
        if kind == "easy" and count < 2:  # the only item would be its own negative
            continue
        chunks = [
            [(i, kind_index, config.seed, -1) for i in range(s, min(s + size, count))] for s in range(0, count, size)
        ]
        if len(chunks) > 1 and len(chunks[-1]) == 1:  # easy negatives need two items in a batch
            chunks[-2] += chunks.pop()
        losses, correct, frames = [], 0.0, 0
        for batch in make_loader(dataset, chunks, workers=0):
            batch = to_device(batch, device)
            with autocast(config, device):
                probs = scorer(batch["mel1"], batch["motion1"], batch["mel2"], batch["motion2"], easy=kind == "easy")
            probs = probs.float()
            losses.append(float(pair_loss(probs)))
            correct += float(frame_accuracy(probs)) * probs.numel()
            frames += probs.numel()
            if example is None and kind == config.negatives:
                example = probs[:, 0].cpu()
        results[f"val/acc_{kind}"] = correct / frames
        results[f"val/loss_{kind}"] = sum(losses) / len(losses)
    scorer.train(was_training)
    return results, example


def plot_sync(probs: torch.Tensor, kind: str):
    """Figure of the per-frame sync probability of one validation item's four pairs (4, T30)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3))
    seconds = torch.arange(probs.shape[1]) / 30
    for curve, name in zip(
        probs, ("music1-motion1 (+)", "music2-motion2 (+)", "music1-motion2 (-)", "music2-motion1 (-)")
    ):
        axis.plot(seconds, curve, label=name, linestyle="-" if "+" in name else "--")
    axis.set(xlabel="time (s)", ylabel="sync probability", ylim=(0, 1), title=f"{kind} negatives")
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    return figure


def pair_spec(config: M2SNetConfig) -> PairSpec:
    return PairSpec(config.clip_s, config.hard_gap_s, config.shift_min_s, config.shift_max_s)


def main(argv: list[str] | None = None) -> dict:
    given = parse(M2SNetConfig, argv)
    checkpoint = None
    if given.get("resume"):
        checkpoint = load_checkpoint(given["resume"], given.get("out_dir", M2SNetConfig.out_dir))
    config = build_config(M2SNetConfig, given, checkpoint["config"] if checkpoint else None)
    context = distributed.setup(config.device)
    device = context.device
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True

    # ---------------------------------------------------------------- data
    train_split = ConductorMotionSplit(config.data, "train", window_s=config.sample_s)
    val_split = ConductorMotionSplit(config.data, "val", window_s=config.sample_s)
    train_set = ClipPairDataset(train_split, pair_spec(config))
    steps_per_epoch = len(train_set) // config.batch_size
    if steps_per_epoch == 0:
        raise SystemExit(f"{len(train_set)} training windows are fewer than one batch of {config.batch_size}.")
    total_steps = config.max_steps or config.epochs * steps_per_epoch
    eval_every = config.eval_every or config.eval_every_epochs * steps_per_epoch

    # ---------------------------------------------------------------- model and optimiser
    torch.manual_seed(config.seed)
    net = SyncNet()
    if config.kaiming_init:
        kaiming_init(net)
    net.to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    step = 0
    if checkpoint is not None:
        net.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        set_rng_state(checkpoint["rng"])
        step = checkpoint["step"]
    scorer = PairScorer(net)
    model: torch.nn.Module = (
        torch.nn.parallel.DistributedDataParallel(scorer, device_ids=[device.index] if device.type == "cuda" else None)
        if context.distributed
        else scorer
    )

    # ---------------------------------------------------------------- rank-0 side effects
    writer = progress = None
    if context.main:
        writer, progress = open_run_outputs(config, step=step, total_steps=total_steps, name="m2snet")
    # restored on resume, so resuming a finished run rewrites its card with the same figures
    metrics: dict = dict(checkpoint.get("metrics", {})) if checkpoint else {}
    loss_value = float(checkpoint.get("loss", float("nan"))) if checkpoint else float("nan")
    history: list[float] = []  # every step's loss (mean over ranks), returned to the caller

    def write_checkpoint() -> None:
        save_checkpoint(
            os.path.join(config.out_dir, "ckpt.pt"),
            {
                "kind": SYNCNET,
                "model": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "config": dataclasses.asdict(config),
                "step": step,
                "rng": rng_state(),
                "loss": loss_value,
                "metrics": metrics,
            },
        )

    # ---------------------------------------------------------------- training loop
    started = time.perf_counter()
    first_step = step
    while step < total_steps:
        epoch, position = divmod(step, steps_per_epoch)
        kind = "easy" if epoch < config.easy_epochs else config.negatives
        key = lambda i: (i, KINDS.index(kind), config.seed, epoch)  # noqa: E731 - the item's whole randomness
        batches = epoch_batches(len(train_set), config.batch_size, seed=config.seed, epoch=epoch)[position:]
        batches = batches[: total_steps - step]
        chunks = [
            [key(i) for i in chunk]
            for batch in batches
            for chunk in rank_chunks(batch, rank=context.rank, world=context.world, micro_batches=config.micro_batches)
        ]
        loader = iter(make_loader(train_set, chunks, workers=config.workers))
        for _ in batches:
            # forward, backward (accumulating micro-batches; DDP averages over ranks on the last)
            loss_sum = torch.zeros((), device=device)
            accuracy_sum = torch.zeros((), device=device)
            for micro in range(config.micro_batches):
                batch = to_device(next(loader), device)  # mel* (n, 90 C, 128), motion* (n, 30 C, 13, 2)
                last = micro == config.micro_batches - 1
                with distributed.gradient_sync(model, last_micro_batch=last):
                    with autocast(config, device):
                        probs = model(
                            batch["mel1"], batch["motion1"], batch["mel2"], batch["motion2"], easy=kind == "easy"
                        )
                    loss = pair_loss(probs)  # (4, n, T30) -> scalar, float32
                    (loss / config.micro_batches).backward()
                loss_sum += loss.detach() / config.micro_batches
                accuracy_sum += frame_accuracy(probs.detach()) / config.micro_batches
            # update
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss_value = distributed.mean_over_ranks(loss_sum, context)
            history.append(loss_value)

            # logging
            if step % config.log_every == 0 or step == total_steps:
                accuracy = distributed.mean_over_ranks(accuracy_sum, context)
                if writer is not None:
                    writer.add_scalar("train/loss", loss_value, step)
                    writer.add_scalar("train/acc", accuracy, step)
                    writer.add_scalar("train/epoch", epoch, step)
                    writer.add_scalar("train/steps_per_s", (step - first_step) / (time.perf_counter() - started), step)
            if progress is not None:
                progress.set_postfix(loss=f"{loss_value:.4f}", epoch=epoch, neg=kind)
                progress.update(1)

            # validation (rank 0, on the unwrapped model; the others wait)
            if step % eval_every == 0 or step == total_steps:
                if context.main:
                    metrics, example = validate(scorer, val_split, config, device)
                    log_validation(writer, progress, metrics, step)
                    if writer is not None and example is not None:
                        writer.add_figure("val/sync_curves", plot_sync(example, config.negatives), step)
                distributed.barrier(context)

            # checkpoint
            if context.main and (step % config.checkpoint_every == 0 or step == total_steps):
                write_checkpoint()

    # ---------------------------------------------------------------- final weights
    if context.main:
        if progress is not None:
            progress.close()
        card = {
            "id": f"m2snet-{os.path.basename(os.path.normpath(config.out_dir))}",
            "model": SYNCNET,
            "data": config.data,
            "config": dataclasses.asdict(config),
            "metrics": metrics,
            "steps": step,
            "licence": "trained by the user on their data",
        }
        save_weights(net, os.path.join(config.out_dir, "m2snet.safetensors"), card)
        if writer is not None:
            writer.close()
    distributed.teardown(context)
    return {"step": step, "loss": loss_value, "metrics": metrics, "history": history}


if __name__ == "__main__":
    run_command(main)
