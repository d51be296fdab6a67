"""Training configuration: one dataclass per stage, defaults = the published recipe.

Every field is a command-line option (``lr`` -> ``--lr``, ``critic_steps`` -> ``--critic-steps``,
booleans as ``--flag`` / ``--no-flag``). The whole config is saved in every checkpoint; ``--resume``
rebuilds it from there and applies only the options given again on the command line (e.g. a larger
``--max-steps``).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Callable

NEGATIVE_KINDS = ("easy", "hard", "super_hard")


@dataclasses.dataclass
class CommonConfig:
    data: str = ""  # ConductorMotion100 root holding train/ val/ test/
    out_dir: str = "runs/train"  # checkpoints, TensorBoard logs and final weights
    seed: int = 1337
    device: str = "auto"  # auto, cpu, cuda, cuda:1, ...
    amp: bool = False  # bfloat16 autocast on CUDA (ignored elsewhere)
    batch_size: int = 10  # global batch: summed over ranks and micro-batches
    micro_batches: int = 1  # gradient accumulation steps per rank
    epochs: int = 400
    max_steps: int = 0  # stop after this many optimiser steps (0 = run all epochs)
    sample_s: int = 30  # training samples are non-overlapping windows of this length
    eval_every: int = 0  # steps between validations (0 = every eval_every_epochs)
    eval_every_epochs: int = 10
    val_limit: int = 0  # validate on at most this many windows (0 = all)
    checkpoint_every: int = 1000  # steps between checkpoints (one is always written at the end)
    log_every: int = 10  # steps between TensorBoard scalars
    workers: int = 0  # DataLoader worker processes
    tensorboard: bool = True
    progress: bool = True  # tqdm progress bar on rank 0
    resume: str = ""  # checkpoint to continue from ("auto" = out_dir/ckpt.pt)


@dataclasses.dataclass
class M2SNetConfig(CommonConfig):
    """Stage 1: M2S-Net, self-supervised music-motion synchronisation."""

    out_dir: str = "runs/m2snet"
    lr: float = 1e-3  # Adam
    clip_s: int = 10  # each step compares two clips of this length per sample
    negatives: str = "hard"  # easy | hard | super_hard, after the first epoch
    easy_epochs: int = 1  # the first epochs always use easy negatives
    hard_gap_s: float = 10.0  # hard negatives start at least this far apart
    shift_min_s: float = 0.5  # super-hard negatives are shifted by this ...
    shift_max_s: float = 5.0  # ... to this many seconds
    kaiming_init: bool = True  # kaiming-normal (fan_out, relu) on conv and linear weights


@dataclasses.dataclass
class M2SGANConfig(CommonConfig):
    """Stage 2: M2S-GAN, a WGAN-GP generator with M2S-Net's sync loss."""

    out_dir: str = "runs/m2sgan"
    batch_size: int = 20
    epochs: int = 200
    lr: float = 5e-4  # RMSprop, generator and critic
    critic_steps: int = 5  # critic updates per generator update
    gp_weight: float = 10.0  # zero-centred gradient penalty
    adversarial_weight: float = 1.0
    sync_weight: float = 0.05  # L1 between M2S-Net motion features of fake and real
    mse_weight: float = 0.0
    m2snet: str = ""  # trained M2S-Net: music encoder init + sync-loss features
    m2snet_test: str = ""  # test-split M2S-Net for MPE (skipped when empty)
    # Warm start: the whole generator (music encoder included) from these weights (.safetensors
    # or an official .pt) instead of M2S-Net's encoder and a fresh rest; the critic starts fresh.
    # For continuing a finished run on more data; --resume continues an unfinished one exactly.
    init_generator: str = ""
    # The official freeze only stops gradients, so in train mode the batch-norm running
    # statistics of the copied music encoder kept drifting towards the GAN's batches. We keep
    # the frozen encoder in eval mode by default: its features stay exactly those M2S-Net was
    # trained with. --encoder-bn-updates reproduces the official behaviour.
    encoder_bn_updates: bool = False
    # Off in the recipe. On, the copied music encoder is trained with the rest of the generator:
    # the CPU configuration's stage 1 is too short for its features to carry the beat.
    train_music_encoder: bool = False
    sync_net_eval: bool = True  # the frozen M2S-Net of the sync loss runs in eval mode
    eval_every_epochs: int = 10
    plot_seconds: int = 10  # length of the motion plot in TensorBoard


@dataclasses.dataclass
class BeatTrackerConfig(CommonConfig):
    """The learned beat tracker: a TCN over log-mel frames, on renders with exact labels.

    The defaults are the CPU configuration (about two hours on two cores); the GPU one is in
    training/README.md."""

    out_dir: str = "runs/beats"
    batch_size: int = 8
    sample_s: int = 20  # crops of this many seconds (the network sees about 6 s either side)
    epochs: int = 100
    max_steps: int = 3200
    lr: float = 2e-3  # Adam; linear warm-up, then cosine decay to lr_floor * lr
    lr_floor: float = 0.05
    warmup_steps: int = 200
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    channels: int = 32  # of the time blocks
    frontend_channels: int = 16
    blocks: int = 8  # dilations 1 ... 2 ** (blocks - 1): about 6 s of context either side
    dropout: float = 0.15
    downbeat_weight: float = 1.0  # loss weights of the heads beside the beat's 1
    division_weight: float = 0.5
    augment: bool = True  # training.beat_augment on every training crop
    beatless: float = 0.15  # probability that an augmented crop has a stretch of noise, hum or silence, no beats
    level_ramps: float = 0.0  # probability that an augmented crop has a stretch 10-40 dB quieter, beats kept
    meter_splice: float = 0.0  # probability that a training render is re-cut into bars of another meter
    init_weights: str = ""  # start from these weights (.safetensors); blocks they lack start as identities
    pseudo_labels: str = ""  # training.beat_pseudo_labels folders of recordings mixed in (self-training)
    pseudo_share: float = 0.25  # about this share of each epoch's crops from them (repeated as needed)
    max_minutes: float = 0.0  # stop after this many minutes, validated and checkpointed (0: no limit)
    eval_every: int = 500
    val_limit: int = 48  # validation crops for the loss (0 = one per val render)
    val_pieces: int = 24  # whole val renders tracked (decoded) for beat F at each validation
    checkpoint_every: int = 250
    workers: int = 1


def add_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """One option per field; every default is SUPPRESS so that only given options are seen."""
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        text = f"(default: {field.default!r})"
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text)
        elif field.name == "negatives":
            parser.add_argument(flag, choices=NEGATIVE_KINDS, default=argparse.SUPPRESS, help=text)
        else:
            parser.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=text)


def build_config(config_class: type, given: dict[str, Any], saved: dict[str, Any] | None = None) -> Any:
    """Defaults, then a saved config (when resuming), then the options given."""
    values = {f.name: f.default for f in dataclasses.fields(config_class)}
    values.update({k: v for k, v in (saved or {}).items() if k in values})
    values.update(given)
    config = config_class(**values)
    validate(config)
    return config


def validate(config: CommonConfig) -> None:
    if config.batch_size < 1 or config.micro_batches < 1:
        raise ValueError("--batch-size and --micro-batches must be positive")
    if config.batch_size % config.micro_batches:
        raise ValueError(
            f"--batch-size {config.batch_size} does not split into {config.micro_batches} micro-batches; "
            "choose a multiple"
        )
    if isinstance(config, M2SNetConfig):
        if config.negatives not in NEGATIVE_KINDS:
            raise ValueError(f"negatives must be one of {NEGATIVE_KINDS}, not {config.negatives!r}")
        if config.clip_s > config.sample_s:
            raise ValueError("clip_s must not exceed sample_s")
    if isinstance(config, M2SGANConfig) and config.critic_steps < 1:
        raise ValueError("critic_steps must be at least 1")


def run_command(main: Callable[[], Any]) -> None:
    """Run a training command's ``main``: bad data or options end with one sentence and exit
    status 1 instead of a traceback."""
    from core.errors import ConductorError

    try:
        main()
    except (ConductorError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None


def parse(config_class: type, argv: list[str] | None = None) -> dict[str, Any]:
    """The options given on the command line, as a dict of field values."""
    parser = argparse.ArgumentParser(description=(config_class.__doc__ or "").strip())
    add_arguments(parser, config_class)
    return vars(parser.parse_args(argv))


# --------------------------------------------------------------------------- checkpoints
def rng_state() -> dict[str, Any]:
    """Torch's global RNG states (CPU and every CUDA device)."""
    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str, checkpoint: dict[str, Any]) -> None:
    """Write the checkpoint dict atomically (a crash never leaves half a file)."""
    import os

    import torch

    temporary = f"{path}.partial"
    torch.save(checkpoint, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: str, out_dir: str) -> dict[str, Any]:
    """Read a training checkpoint (``auto`` = ``out_dir/ckpt.pt``) with ``weights_only=True``."""
    import os

    import torch

    from core.errors import ConductorError

    path = os.path.join(out_dir, "ckpt.pt") if path == "auto" else path
    if not os.path.isfile(path):
        raise ConductorError(f"Cannot resume: checkpoint '{path}' does not exist.")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "config" not in checkpoint or "step" not in checkpoint:
        raise ConductorError(f"'{path}' is not a training checkpoint of this project (no config/step); cannot resume.")
    return checkpoint
