"""Loading and saving network weights: one reader and one set of checks for every runtime.

Two formats:

- The project's own: ``NAME.safetensors`` (tensors under our module names) beside ``NAME.json``,
  the model card (id, model kind, data, config, metrics, licence).
- The official VirtualConductor ``.pt`` state_dicts, read by the restricted reader of
  :mod:`core.neural.checkpoint` (a checkpoint can never run code) and renamed by the explicit
  key map below.

:func:`load_weights` reads and checks a file without PyTorch and gives NumPy arrays under our
module names (what the torch-free runtimes run); :func:`load_model` puts the same arrays into a
PyTorch network (``torch.from_numpy``). Every problem becomes a :class:`~core.errors.ConductorError`
with one sentence naming the file, what is wrong (missing or unexpected keys by name, wrong
shapes, NaN) and what to do; nothing from the file is executed, nothing is written.

Where the project's weights are installed is :mod:`core.installed_weights`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConductorError

if TYPE_CHECKING:  # torch is imported where a PyTorch network is built, so the paths below cost nothing
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
class CheckedWeights:
    """A weights file read and checked, without PyTorch: ``state`` holds exactly the keys and
    shapes of the network of ``kind`` under our module names (floating-point arrays as float32,
    finite; counters such as ``num_batches_tracked`` as stored)."""

    state: dict[str, np.ndarray]
    kind: str
    weights_id: str
    path: Path
    card: dict[str, Any]


@dataclasses.dataclass
class LoadedWeights:
    """A PyTorch network ready for inference, with where its weights came from."""

    model: nn.Module
    weights_id: str
    path: Path
    card: dict[str, Any]


def model_kind_of(state: dict[str, Any]) -> str | None:
    """Which network a state_dict (either naming; arrays or tensors) belongs to, or None if none fits."""
    if "noise_convTranspose.0.weight" in state or "noise_upsampler.0.weight" in state:
        return GENERATOR
    if "fuse_layer.0.weight" in state or "fuse_head.0.weight" in state:
        return SYNCNET
    if "convs.0.weight" in state:
        return CRITIC
    return None


def rename_official_keys(state: dict[str, Any]) -> dict[str, Any]:
    """Map an official state_dict (arrays or tensors) onto our module names (identity for our
    own names); the doubly registered temporal-block layers are checked equal to their twins
    and dropped."""
    renamed: dict[str, Any] = {}
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
        if twin in renamed and not np.array_equal(np.asarray(renamed[twin]), np.asarray(renamed[key]), equal_nan=True):
            raise ConductorError(f"The checkpoint's '{key}' differs from its twin '{twin}'; the file is corrupt.")
        del renamed[key]
    return renamed


def build_model(kind: str) -> nn.Module:
    """A fresh PyTorch network of the given kind (GENERATOR, SYNCNET or CRITIC)."""
    from . import networks

    return {GENERATOR: networks.MotionGenerator, SYNCNET: networks.SyncNet, CRITIC: networks.Critic}[kind]()


def expected_shapes(kind: str) -> dict[str, tuple[int, ...]]:
    """The keys and shapes a weights file of ``kind`` must hold: the generator's from
    :func:`core.neural.architecture.generator_state_shapes` (no PyTorch needed), the other
    networks' from their PyTorch modules (training and evaluation, which have PyTorch)."""
    if kind == GENERATOR:
        from .architecture import generator_state_shapes

        return generator_state_shapes()
    return {key: tuple(tensor.shape) for key, tensor in build_model(kind).state_dict().items()}


def read_state_dict(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read arrays and model card from a .safetensors (+ .json) or an official .pt file, without
    PyTorch; ConductorError (one sentence) for a missing, empty, damaged or code-carrying file."""
    if not path.exists():
        raise ConductorError(f"Weights file '{path}' does not exist; check the path or pick another file.")
    if path.is_dir():
        raise ConductorError(f"'{path}' is a folder; choose a .safetensors or .pt weights file.")
    if path.stat().st_size == 0:
        raise ConductorError(f"Weights file '{path.name}' is empty; download or copy it again.")
    if path.suffix.lower() != ".safetensors":
        from .checkpoint import read_state_dict as read_torch_archive

        return read_torch_archive(path), {}
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, TypeError) as error:
        raise ConductorError(
            f"Weights file '{path.name}' is not a complete safetensors file ({error}); download it again."
        ) from error
    return state, read_model_card(path.with_suffix(".json"))


def read_model_card(card_path: Path) -> dict[str, Any]:
    """The model card beside a .safetensors file ({} where there is none)."""
    if not card_path.is_file():
        return {}
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
    return card


def describe_keys(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def load_weights(path: str | os.PathLike[str], kind: str) -> CheckedWeights:
    """Read and check weights of ``kind`` (GENERATOR, SYNCNET, CRITIC) from ``path``, without
    PyTorch for the generator.

    Raises
    ------
    ConductorError
        Missing, empty, truncated, code-carrying or NaN-containing files; a checkpoint of another
        network; missing or unexpected keys (named); wrong tensor shapes (named).
    """
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
    state = checked_state(rename_official_keys(raw), expected_shapes(kind), name=path.name, kind=kind)
    return CheckedWeights(state=state, kind=kind, weights_id=str(card.get("id") or path.stem), path=path, card=card)


def checked_state(
    state: dict[str, np.ndarray], expected: dict[str, tuple[int, ...]], *, name: str, kind: str
) -> dict[str, np.ndarray]:
    """``state`` in ``expected``'s key order, floats as float32; ConductorError naming missing or
    unexpected keys, a wrong shape or non-finite values (of the file ``name``)."""
    missing = [key for key in expected if key not in state]
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {describe_keys(sorted(missing))}")
        if unexpected:
            parts.append(f"unexpected {describe_keys(unexpected)}")
        raise ConductorError(
            f"'{name}' does not fit the {kind} network ({'; '.join(parts)}); it is damaged or for another model."
        )
    checked: dict[str, np.ndarray] = {}
    for key, shape in expected.items():
        array = state[key]
        if tuple(array.shape) != tuple(shape):
            raise ConductorError(
                f"'{name}' has '{key}' shaped {tuple(array.shape)} where {tuple(shape)} is needed; "
                "it is for another model."
            )
        if array.dtype.kind == "f":
            if not bool(np.isfinite(array).all()):
                raise ConductorError(
                    f"'{name}' contains NaN or infinite values in '{key}'; the file is corrupt or from a diverged "
                    "training run."
                )
            array = array.astype(np.float32, copy=False)
        checked[key] = array
    return checked


def load_model(path: str | os.PathLike[str], kind: str) -> LoadedWeights:
    """Load weights of ``kind`` (GENERATOR, SYNCNET, CRITIC) from ``path`` into a fresh PyTorch
    network in eval mode on the CPU: :func:`load_weights`'s arrays, read and checked without
    PyTorch, made tensors with ``torch.from_numpy`` (equal to ``torch.load`` bit for bit).

    Raises
    ------
    ConductorError
        As :func:`load_weights`.
    """
    import torch

    weights = load_weights(path, kind)
    model = build_model(kind)
    tensors = {
        key: torch.from_numpy(array if array.flags.writeable else array.copy()) for key, array in weights.state.items()
    }
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return LoadedWeights(model=model, weights_id=weights.weights_id, path=weights.path, card=weights.card)


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
