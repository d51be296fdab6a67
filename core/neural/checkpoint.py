"""Reading PyTorch checkpoints (``.pt`` files written by ``torch.save``) into NumPy arrays, without
PyTorch and without ever running code from the file: the one reader of ``.pt`` files, on every
path (the torch path makes tensors of its arrays with ``torch.from_numpy``).

A ``.pt`` file of PyTorch 1.6 or newer is a zip archive (stored, uncompressed)::

    <folder>/data.pkl      the pickled object: a dict of tensors, each pickled as a call of
                           torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)
                           whose storage is a persistent id ('storage', torch.FloatStorage,
                           key, location, numel)
    <folder>/data/<key>    the raw bytes of each storage (little-endian unless byteorder says)
    <folder>/byteorder     'little' or 'big' (absent in files older than PyTorch 1.10)
    <folder>/version       the archive's format version

The official VirtualConductor checkpoints are such archives (format version 3, saved on CUDA).
The pickle is read by an unpickler whose ``find_class`` admits only the few names that rebuild
tensors and ordered dicts (:data:`ALLOWED_GLOBALS`, :data:`STORAGE_DTYPES`); any other global
(``os.system``, ``builtins.eval``, a class of some package ...) stops the read with a
:class:`~core.errors.ConductorError` before anything is called. The rebuilt objects are inert
records and NumPy arrays copied out of the archive, their offsets, sizes and strides checked
against the storage length first. What it gives equals ``torch.load(path, weights_only=True)``
bit for bit (tested).

Files in the legacy format (PyTorch < 1.6: several pickles one after another) and plain pickles
are refused without unpickling anything. Every error is one sentence that names the file and
says what to do.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConductorError

# torch's storage classes as pickled ('torch', '<Name>Storage') -> NumPy dtype of their elements.
# bfloat16 has no NumPy dtype: it is read as uint16 and widened to float32 (exactly).
STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}

# The only globals a state_dict's pickle names besides the storage classes.
ALLOWED_GLOBALS = frozenset(
    {
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"),
    }
)

# The legacy format (torch < 1.6) starts with a pickled magic number: protocol 2, LONG1 of 10 bytes.
_LEGACY_MAGIC_PREFIX = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
_MAX_PICKLE_BYTES = 64 * 1024 * 1024  # data.pkl of a state dict holds names and shapes only


@dataclass(frozen=True)
class _StorageType:
    """What a pickled ``torch.<Name>Storage`` stands for: the element dtype only."""

    name: str
    dtype: np.dtype

    def __reduce__(self) -> Any:  # never pickled again
        raise TypeError("not picklable")


@dataclass(frozen=True)
class _Storage:
    """A persistent id resolved: which archive record holds the bytes, and its element type."""

    key: str
    storage_type: _StorageType
    numel: int


@dataclass(frozen=True)
class _TensorRecord:
    """A tensor as the pickle describes it; turned into an array once the pickle is read."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def __setstate__(self, state: Any) -> None:  # BUILD on a tensor: nothing to set
        raise pickle.UnpicklingError("a tensor carries no state")


class _OrderedDict(dict):
    """What ``collections.OrderedDict`` rebuilds to: a plain dict (insertion-ordered) that accepts
    and drops the ``_metadata`` attribute a module's state_dict pickles, and nothing else."""

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, dict) and set(state) <= {"_metadata"}):
            raise pickle.UnpicklingError("unexpected state on an OrderedDict")


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> _TensorRecord:
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: checks the types, records the layout."""
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor without a storage")
    if not _is_int(storage_offset) or not _int_tuple(size) or not _int_tuple(stride) or len(size) != len(stride):
        raise pickle.UnpicklingError("a tensor with a malformed offset, size or stride")
    if backward_hooks:  # a non-empty hook dict would mean code to run in torch
        raise pickle.UnpicklingError("a tensor with backward hooks")
    return _TensorRecord(storage, int(storage_offset), tuple(int(v) for v in size), tuple(int(v) for v in stride))


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None) -> _TensorRecord:
    """Stand-in for ``torch._utils._rebuild_parameter``: a parameter is its tensor."""
    if not isinstance(data, _TensorRecord) or backward_hooks:
        raise pickle.UnpicklingError("a parameter without a plain tensor")
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and all(_is_int(v) for v in value)


_STAND_INS: dict[tuple[str, str], Callable[..., Any] | type] = {
    ("collections", "OrderedDict"): _OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualified_name = f"{module}.{name}"


class _RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds only dicts, lists, tuples, numbers, strings and tensors; every global outside
    the allow-list raises :class:`_RefusedGlobal` before it is looked up, let alone called."""

    def __init__(self, data: bytes, storage_sizes: dict[str, int]) -> None:
        super().__init__(io.BytesIO(data))
        self._storage_sizes = storage_sizes

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name, STORAGE_DTYPES[name])
        if (module, name) in ALLOWED_GLOBALS:
            return _STAND_INS[(module, name)]
        raise _RefusedGlobal(module, name)

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError("an unknown persistent id")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str) or not _is_int(numel):
            raise pickle.UnpicklingError("a malformed storage reference")
        if key not in self._storage_sizes:
            raise pickle.UnpicklingError(f"storage {key} is missing from the archive")
        return _Storage(key, storage_type, int(numel))


def read_checkpoint(path: str | os.PathLike[str]) -> Any:
    """The object a ``torch.save`` zip archive holds, tensors as NumPy arrays.

    Parameters
    ----------
    path : path of a ``.pt`` / ``.pth`` / ``.ckpt`` file written by ``torch.save`` (PyTorch 1.6+).

    Returns
    -------
    The pickled structure (dicts, lists, tuples, numbers, strings) with every tensor replaced by
    a C-contiguous ``np.ndarray`` of its dtype (float32 for float and bfloat16 tensors, int64
    for long ones ...), owning its memory. Tensors that shared a storage share nothing now.

    Raises
    ------
    ConductorError
        The file is missing, empty, truncated or damaged, not a PyTorch archive, in the legacy
        format, or its pickle names anything besides tensors and dicts (it would run code).
    """
    path = Path(path)
    name = path.name
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(_LEGACY_MAGIC_PREFIX))
    except FileNotFoundError:
        raise ConductorError(f"Weights file '{path}' does not exist; check the path or pick another file.") from None
    except IsADirectoryError:
        raise ConductorError(f"'{path}' is a folder; choose a .safetensors or .pt weights file.") from None
    except OSError as error:
        raise ConductorError(
            f"Weights file '{name}' cannot be read ({error.strerror}); check its permissions."
        ) from None
    if not head:
        raise ConductorError(f"Weights file '{name}' is empty; download or copy it again.")
    if head == _LEGACY_MAGIC_PREFIX:
        raise ConductorError(
            f"'{name}' was saved by PyTorch before 1.6 (the legacy format), which is not read; re-save it with "
            "torch.save from PyTorch 1.6 or newer, or convert it to .safetensors."
        )
    try:
        archive = zipfile.ZipFile(path)
    except Exception:  # noqa: BLE001 - BadZipFile, OSError, struct errors ... of a damaged file
        raise _not_a_checkpoint(name) from None
    with archive:
        try:
            return _read_archive(archive, name)
        except ConductorError:
            raise
        except _RefusedGlobal as refused:
            raise ConductorError(
                f"'{name}' contains code or objects, not just weights (it names {refused.qualified_name}), "
                "so it was not loaded; use a plain state_dict .pt or a .safetensors file."
            ) from None
        except Exception:  # noqa: BLE001 - garbage raises anything from zipfile's or pickle's parsers;
            # nothing from the file has been called, so every such failure means a damaged file.
            raise _not_a_checkpoint(name) from None


def _not_a_checkpoint(name: str) -> ConductorError:
    return ConductorError(f"Weights file '{name}' is truncated or not a PyTorch checkpoint; download it again.")


def _read_archive(archive: zipfile.ZipFile, name: str) -> Any:
    records = archive.namelist()
    pickles = [record for record in records if record.endswith("/data.pkl") and record.count("/") == 1]
    if len(pickles) != 1:
        raise _not_a_checkpoint(name)
    folder = pickles[0][: -len("data.pkl")]  # "<folder>/"
    info = archive.getinfo(pickles[0])
    if info.file_size > _MAX_PICKLE_BYTES:
        raise _not_a_checkpoint(name)
    byteorder = "little"
    if folder + "byteorder" in records:
        byteorder = archive.read(folder + "byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise _not_a_checkpoint(name)
    data_prefix = folder + "data/"
    storage_sizes = {
        record[len(data_prefix) :]: archive.getinfo(record).file_size
        for record in records
        if record.startswith(data_prefix) and "/" not in record[len(data_prefix) :]
    }
    unpickler = _RestrictedUnpickler(archive.read(pickles[0]), storage_sizes)
    structure = unpickler.load()
    storages: dict[str, bytes] = {}

    def to_array(record: _TensorRecord) -> np.ndarray:
        key = record.storage.key
        if key not in storages:
            storages[key] = archive.read(data_prefix + key)  # zipfile checks the CRC
        return _tensor_array(record, storages[key], byteorder)

    return _map_tensors(structure, to_array)


def _map_tensors(value: Any, to_array: Callable[[_TensorRecord], np.ndarray]) -> Any:
    """``value`` with every tensor record replaced by its array (dicts, lists, tuples walked)."""
    if isinstance(value, _TensorRecord):
        return to_array(value)
    if isinstance(value, dict):
        return {key: _map_tensors(item, to_array) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_tensors(item, to_array) for item in value]
    if isinstance(value, tuple):
        return tuple(_map_tensors(item, to_array) for item in value)
    if isinstance(value, (_Storage, _StorageType)):
        raise pickle.UnpicklingError("a bare storage")
    return value


def _tensor_array(record: _TensorRecord, raw: bytes, byteorder: str) -> np.ndarray:
    """The tensor's elements, gathered from its storage's bytes by offset, size and stride."""
    dtype = record.storage.storage_type.dtype
    if byteorder == "big":
        dtype = dtype.newbyteorder(">")
    if len(raw) < record.storage.numel * dtype.itemsize:
        raise pickle.UnpicklingError("a storage shorter than its element count")
    elements = np.frombuffer(raw, dtype=dtype, count=len(raw) // dtype.itemsize)
    size, stride = record.size, record.stride
    if any(v < 0 for v in size) or any(v < 0 for v in stride) or record.offset < 0:
        raise pickle.UnpicklingError("a negative size, stride or offset")
    if 0 in size:
        array = np.zeros(size, dtype=dtype)
    else:
        last = record.offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= elements.size:
            raise pickle.UnpicklingError("a tensor reaching past its storage")
        view = np.lib.stride_tricks.as_strided(
            elements[record.offset :], shape=size, strides=tuple(s * dtype.itemsize for s in stride), writeable=False
        )
        array = np.array(view, dtype=dtype.newbyteorder("="), order="C")  # a copy that owns its memory
    if record.storage.storage_type.name == "BFloat16Storage":  # bfloat16 = the high half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """A flat ``{parameter name: array}`` from a ``torch.save`` zip archive.

    A training checkpoint ``{"model": {...}, ...}`` gives its ``"model"`` entry (the other
    entries are read too, so they are checked the same way, and dropped).

    Raises
    ------
    ConductorError
        As :func:`read_checkpoint`; also when the archive holds no flat dict of tensors.
    """
    state = read_checkpoint(path)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not (
        isinstance(state, dict)
        and state
        and all(isinstance(key, str) and isinstance(value, np.ndarray) for key, value in state.items())
    ):
        raise ConductorError(f"'{Path(path).name}' does not hold a state_dict of tensors; choose a weights file.")
    return state
