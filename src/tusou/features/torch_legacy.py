"""Read a state dict saved in torch's legacy (pre-zip) ``.pth`` format, without torch.

The legacy format is a concatenation of pickles followed by raw storages:

1. magic number, 2. protocol version, 3. system info (endianness, C type sizes),
4. the state dict, whose tensors refer to storages through persistent ids,
5. the list of storage keys in the order they follow,
6. per storage: an int64 element count, then ``count * element_size`` raw bytes.

Unpickling runs code named by the file, so ``find_class`` only hands out the handful of
callables a plain state dict needs; anything else is refused.
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch storage class name -> numpy dtype of one element as torch writes it (always
# little-endian and fixed width, whatever the "type_sizes" of the saving machine said).
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsupportedCheckpoint(ValueError):
    """The file is not a legacy torch state dict this reader accepts."""


@dataclass(frozen=True)
class _StorageType:
    name: str
    dtype: np.dtype


@dataclass
class _Storage:
    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    """A tensor whose storage bytes come later in the file."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def materialise(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise UnsupportedCheckpoint(f"storage {self.storage.key} was never read")
        if not self.shape:
            return data[self.offset].copy()
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.shape,
            strides=tuple(s * item for s in self.stride),
            writeable=False,
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor_v2(
    storage: _Storage,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> _TensorRef:
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data: _TensorRef, requires_grad: bool = False, backward_hooks: Any = None) -> _TensorRef:
    return data


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes]) -> None:
        super().__init__(file, encoding="latin1")
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        raise UnsupportedCheckpoint(f"refusing to load {module}.{name} from a checkpoint")

    def persistent_load(self, pid: Any) -> _Storage:
        # ('storage', storage_type, key, location, numel, view_metadata)
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise UnsupportedCheckpoint(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        view_metadata = pid[5] if len(pid) > 5 else None
        if not isinstance(storage_type, _StorageType):
            raise UnsupportedCheckpoint(f"unexpected storage type {storage_type!r}")
        if view_metadata is not None:
            # Storage views vanished from torch before 1.0; no state dict we ship uses them.
            raise UnsupportedCheckpoint("storage views are not supported")
        storage = self.storages.get(key)
        if storage is None:
            storage = _Storage(str(key), storage_type.dtype, int(numel))
            self.storages[key] = storage
        return storage


class _PlainUnpickler(pickle.Unpickler):
    """For the header pickles, which hold only ints, strings, bools and dicts."""

    def find_class(self, module: str, name: str) -> Any:
        raise UnsupportedCheckpoint(f"refusing to load {module}.{name} from a checkpoint header")


def read_state_dict(path: Path | str) -> dict[str, np.ndarray]:
    """Every tensor of a legacy-format torch state dict, as contiguous numpy arrays."""
    with open(path, "rb") as f:
        try:
            return _read(f)
        except (pickle.UnpicklingError, EOFError, struct.error, TypeError, IndexError) as exc:
            raise UnsupportedCheckpoint(f"not a readable legacy torch state dict: {exc}") from exc


def _read(f: IO[bytes]) -> dict[str, np.ndarray]:
    magic = _PlainUnpickler(f).load()
    if magic != MAGIC_NUMBER:
        raise UnsupportedCheckpoint("not a legacy torch file (zip-format files are not supported)")
    version = _PlainUnpickler(f).load()
    if version != PROTOCOL_VERSION:
        raise UnsupportedCheckpoint(f"unsupported legacy protocol version {version!r}")
    sys_info = _PlainUnpickler(f).load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
        raise UnsupportedCheckpoint("only little-endian checkpoints are supported")

    unpickler = _StateDictUnpickler(f)
    state = unpickler.load()
    if not isinstance(state, dict):
        raise UnsupportedCheckpoint(f"expected a state dict, found {type(state).__name__}")
    keys = _PlainUnpickler(f).load()
    if not isinstance(keys, list):
        raise UnsupportedCheckpoint("missing storage key list")

    for key in keys:
        storage = unpickler.storages.get(key)
        if storage is None:
            raise UnsupportedCheckpoint(f"storage {key!r} is not referenced by the state dict")
        (numel,) = struct.unpack("<q", _read_exact(f, 8))
        if numel != storage.numel:
            raise UnsupportedCheckpoint(f"storage {key!r}: {numel} elements, expected {storage.numel}")
        raw = _read_exact(f, numel * storage.dtype.itemsize)
        storage.data = np.frombuffer(raw, dtype=storage.dtype)

    out: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if not isinstance(value, _TensorRef):
            raise UnsupportedCheckpoint(f"{name}: not a tensor")
        out[str(name)] = value.materialise()
    return out


def _read_exact(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise UnsupportedCheckpoint("truncated checkpoint")
    return data
