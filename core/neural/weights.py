"""Loading and saving network weights.

Two formats:

- The project's own: ``NAME.safetensors`` (tensors under our module names) beside ``NAME.json``,
  the model card (id, model kind, data, config, metrics, licence).
- The official VirtualConductor ``.pt`` state_dicts, loaded with ``weights_only=True`` (a
  checkpoint must never run code) and renamed by the explicit key map below.

Every problem becomes a :class:`~core.errors.ConductorError` with one sentence naming the file,
what is wrong (missing or unexpected keys by name, wrong shapes, NaN) and what to do.

Where the project's weights are installed is :mod:`core.installed_weights` (no torch).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConductorError

if TYPE_CHECKING:  # torch is imported where weights are read, so the paths below cost nothing
    import torch
    from torch import nn

GENERATOR = "m2sgan-generator"
SYNCNET = "m2snet"
CRITIC = "m2sgan-critic"

# Official key prefix -> our prefix, longest first. Keys that match none keep their name.
OFFICIAL_PREFIXES: tuple[tuple[str, str], ...] = (
    ("tcn.TCN.tcn.tcn.network.", "temporal.blocks."),
    ("tcn.TCN.tcn.linear.", "temporal.linear."),
    ("tcn.fc.", "head."),
    ("noise_convTranspose.", "noise_upsampler."),
    ("noise_BN.", "noise_bn."),
    ("motion_encoder.st_gcn.st_gcn_networks.", "motion_encoder.blocks."),
    ("motion_encoder.st_gcn.edge_importance.", "motion_encoder.edge_importance."),
    ("motion_encoder.st_gcn.data_bn.", "motion_encoder.data_bn."),
    ("motion_encoder.st_gcn.A", "motion_encoder.adjacency"),
    ("motion_encoder.fc.", "motion_encoder.projection."),
    ("fuse_layer.", "fuse_head."),
)
# The official temporal block registers its layers twice (as attributes and inside `net`);
# these `net` indices alias conv1, bn1, conv2, bn2 and are dropped after checking equality.
OFFICIAL_ALIASES = {"0": "conv1", "2": "bn1", "5": "conv2", "7": "bn2"}
# The official ST-GCN declares a 1x1 conv `fcn` it never calls.
OFFICIAL_UNUSED_PREFIXES = ("motion_encoder.st_gcn.fcn.",)


@dataclasses.dataclass
class LoadedWeights:
    """A network ready for inference, with where its weights came from."""

    model: nn.Module
    weights_id: str
    path: Path
    card: dict[str, Any]


def model_kind_of(state: dict[str, torch.Tensor]) -> str | None:
    """Which network a state_dict (either naming) belongs to, or None if none fits."""
    if "noise_convTranspose.0.weight" in state or "noise_upsampler.0.weight" in state:
        return GENERATOR
    if "fuse_layer.0.weight" in state or "fuse_head.0.weight" in state:
        return SYNCNET
    if "convs.0.weight" in state:
        return CRITIC
    return None


def rename_official_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map an official state_dict onto our module names (identity for our own names)."""
    import torch

    renamed: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if key.startswith(OFFICIAL_UNUSED_PREFIXES):
            continue
        new_key = key
        for official, ours in OFFICIAL_PREFIXES:
            if key.startswith(official):
                new_key = ours + key[len(official) :]
                break
        renamed[new_key] = tensor
    for key in [k for k in renamed if ".net." in k]:
        match = re.fullmatch(r"(temporal\.blocks\.\d+)\.net\.(\d+)\.(.+)", key)
        if match is None or match.group(2) not in OFFICIAL_ALIASES:
            continue
        twin = f"{match.group(1)}.{OFFICIAL_ALIASES[match.group(2)]}.{match.group(3)}"
        if twin in renamed and not torch.equal(renamed[twin], renamed[key]):
            raise ConductorError(f"The checkpoint's '{key}' differs from its twin '{twin}'; the file is corrupt.")
        del renamed[key]
    return renamed


def build_model(kind: str) -> nn.Module:
    """A fresh network of the given kind (GENERATOR, SYNCNET or CRITIC)."""
    from . import networks

    return {GENERATOR: networks.MotionGenerator, SYNCNET: networks.SyncNet, CRITIC: networks.Critic}[kind]()


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read tensors and model card from a .safetensors (+ .json) or an official .pt file."""
    import torch

    if not path.exists():
        raise ConductorError(f"Weights file '{path}' does not exist; check the path or pick another file.")
    if path.is_dir():
        raise ConductorError(f"'{path}' is a folder; choose a .safetensors or .pt weights file.")
    if path.stat().st_size == 0:
        raise ConductorError(f"Weights file '{path.name}' is empty; download or copy it again.")
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as error:
            raise ConductorError(
                f"Weights file '{path.name}' is not a complete safetensors file ({error}); download it again."
            ) from error
        card_path = path.with_suffix(".json")
        card: Any = {}
        if card_path.is_file():
            try:
                card = json.loads(card_path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as error:
                raise ConductorError(
                    f"Model card '{card_path.name}' is not valid JSON; delete it or download the weights again."
                ) from error
            if not isinstance(card, dict):
                raise ConductorError(
                    f"Model card '{card_path.name}' is not a JSON object; delete it or download the weights again."
                )
        return state, card
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ConductorError(
            f"'{path.name}' contains code or objects, not just weights, so it was not loaded; "
            "use a plain state_dict .pt or a .safetensors file."
        ) from error
    except Exception as error:  # noqa: BLE001 - garbage bytes raise anything from IndexError to KeyError
        raise ConductorError(
            f"Weights file '{path.name}' is truncated or not a PyTorch checkpoint; download it again."
        ) from error
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # a training checkpoint dict: take its weights
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConductorError(f"'{path.name}' does not hold a state_dict of tensors; choose a weights file.")
    return state, {}


def describe_keys(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def load_model(path: str | os.PathLike[str], kind: str) -> LoadedWeights:
    """Load weights of ``kind`` (GENERATOR, SYNCNET, CRITIC) from ``path`` into a fresh network in
    eval mode on the CPU.

    Raises
    ------
    ConductorError
        Missing, empty, truncated, code-carrying or NaN-containing files; a checkpoint of another
        network; missing or unexpected keys (named); wrong tensor shapes (named).
    """
    import torch

    path = Path(path).expanduser()
    raw, card = read_state_dict(path)
    found_kind = model_kind_of(raw)
    if found_kind is None:
        raise ConductorError(
            f"'{path.name}' is not a VirtualConductor checkpoint (keys such as {describe_keys(sorted(raw), 3)}); "
            "choose an M2S-GAN generator or M2S-Net weights file."
        )
    if found_kind != kind:
        raise ConductorError(
            f"'{path.name}' holds {found_kind} weights, but {kind} weights are needed here; choose the right file."
        )
    state = rename_official_keys(raw)
    model = build_model(kind)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {describe_keys(missing)}")
        if unexpected:
            parts.append(f"unexpected {describe_keys(unexpected)}")
        raise ConductorError(
            f"'{path.name}' does not fit the {kind} network ({'; '.join(parts)}); it is damaged or for another model."
        )
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise ConductorError(
                f"'{path.name}' has '{key}' shaped {tuple(tensor.shape)} where {tuple(expected[key].shape)} is needed; "
                "it is for another model."
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ConductorError(
                f"'{path.name}' contains NaN or infinite values in '{key}'; the file is corrupt or from a diverged training run."
            )
    model.load_state_dict(state, strict=True)
    model.eval()
    weights_id = str(card.get("id") or path.stem)
    return LoadedWeights(model=model, weights_id=weights_id, path=path, card=card)


def save_weights(model: nn.Module, path: str | os.PathLike[str], card: dict[str, Any]) -> Path:
    """Write ``model``'s weights as ``path`` (.safetensors) and its model card as the same name
    with .json. ``card`` should give id, model, data, config, metrics and licence."""
    from safetensors.torch import save

    from ..outputs import write_atomically

    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise ConductorError(f"Save weights as a .safetensors file, not '{path.name}'.")
    state = {key: tensor.detach().cpu().contiguous() for key, tensor in model.state_dict().items()}
    card = dict(card)
    card.setdefault("id", path.stem)
    card.setdefault("model", model_kind_of(state))
    write_atomically(path, lambda handle: handle.write(save(state)), binary=True)
    write_atomically(path.with_suffix(".json"), lambda handle: json.dump(card, handle, indent=2), binary=False)
    return path
