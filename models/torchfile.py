"""Read the tensors of a PyTorch ``.pt`` checkpoint as numpy arrays, without torch.

A checkpoint is a pickle whose tensors point at raw storages kept beside it:
in the zip format (torch >= 1.6) ``archive/data.pkl`` plus one
``archive/data/<key>`` file per storage; in the legacy format a run of pickles
(magic number, protocol, system info, the object, the storage keys) followed by
each storage as an 8-byte little-endian element count and its bytes.
:func:`load_tensors` unpickles with a restricted unpickler that knows only the
few globals a state dict needs (``OrderedDict``, ``_rebuild_tensor_v2``, the
typed storages) and refuses everything else, so a checkpoint cannot run code.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class CheckpointError(Exception):
    """A file that is not a checkpoint this reader understands; the message says why."""


@dataclass(frozen=True, slots=True)
class _StorageType:
    dtype: Any  # numpy scalar type


@dataclass(frozen=True, slots=True)
class _StorageRef:
    key: str
    dtype: Any
    numel: int  # elements


@dataclass(frozen=True, slots=True)
class _TensorRef:
    storage: _StorageRef
    offset: int  # elements into the storage
    shape: tuple[int, ...]
    stride: tuple[int, ...]  # elements


def _rebuild_tensor_v2(storage, offset, shape, stride, *_rest):  # type: ignore[no-untyped-def]
    return _TensorRef(storage, int(offset), tuple(shape), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self.storages: dict[str, _StorageRef] = {}  # every storage met, by key

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        raise CheckpointError(f"checkpoint refers to {module}.{name}, which is not allowed")

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise CheckpointError(f"unknown persistent id {pid!r}")
        _, kind, key, _location, numel = pid[:5]
        if not isinstance(kind, _StorageType):
            raise CheckpointError(f"unknown storage type {kind!r}")
        ref = self.storages[str(key)] = _StorageRef(str(key), kind.dtype, int(numel))
        return ref


def _materialise(obj: Any, storages: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, _TensorRef):
        data = storages[obj.storage.key]
        item = data.itemsize
        reach = sum((n - 1) * s for n, s in zip(obj.shape, obj.stride, strict=True))
        if obj.shape and obj.offset + reach >= data.size:
            raise CheckpointError(f"tensor runs past its storage {obj.storage.key}")
        view = np.lib.stride_tricks.as_strided(
            data[obj.offset :],
            shape=obj.shape,
            strides=tuple(s * item for s in obj.stride),
            writeable=False,
        )
        return np.array(view)  # a compact copy that owns its memory
    if isinstance(obj, dict):
        return {k: _materialise(v, storages) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v, storages) for v in obj)
    return obj


def _refs(obj: Any, out: dict[str, _StorageRef]) -> None:
    if isinstance(obj, _TensorRef):
        out[obj.storage.key] = obj.storage
    elif isinstance(obj, dict):
        for v in obj.values():
            _refs(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _refs(v, out)


def _pick(obj: Any, key: str | None) -> Any:
    if key is None:
        return obj
    if not isinstance(obj, dict) or key not in obj:
        raise CheckpointError(f"checkpoint has no {key!r}")
    return obj[key]


def load_tensors(path: str | Path, key: str | None = None) -> dict[str, np.ndarray]:
    """The state dict at ``key`` of the checkpoint (the whole object when None)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"{path}: {err}") from err
    try:
        if zipfile.is_zipfile(io.BytesIO(data)):
            obj = _load_zip(data, key)
        else:
            obj = _load_legacy(data, key)
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, struct.error) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint ({err})") from err
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return obj


def _load_zip(data: bytes, key: str | None) -> Any:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise CheckpointError("zip checkpoint without data.pkl")
        root = pkl[: -len("data.pkl")]
        obj = _pick(_Unpickler(io.BytesIO(z.read(pkl))).load(), key)
        refs: dict[str, _StorageRef] = {}
        _refs(obj, refs)
        storages = {
            k: np.frombuffer(z.read(f"{root}data/{k}"), dtype=r.dtype, count=r.numel)
            for k, r in refs.items()
        }
    return _materialise(obj, storages)


def _load_legacy(data: bytes, key: str | None) -> Any:
    f = io.BytesIO(data)
    if pickle.load(f) != LEGACY_MAGIC:  # plain ints only: safe with the default unpickler
        raise CheckpointError("not a PyTorch checkpoint (bad magic number)")
    pickle.load(f)  # protocol version
    info = _Unpickler(f).load()
    if isinstance(info, dict) and not info.get("little_endian", True):
        raise CheckpointError("big-endian checkpoints are not supported")
    unpickler = _Unpickler(f)
    obj = unpickler.load()
    seen = unpickler.storages
    keys = _Unpickler(f).load()
    wanted: dict[str, _StorageRef] = {}
    _refs(_pick(obj, key), wanted)
    storages: dict[str, np.ndarray] = {}
    for k in keys:
        ref = seen[k]
        (numel,) = struct.unpack("<q", f.read(8))
        nbytes = numel * np.dtype(ref.dtype).itemsize
        if k in wanted:
            storages[k] = np.frombuffer(data, dtype=ref.dtype, count=numel, offset=f.tell())
        f.seek(nbytes, io.SEEK_CUR)
    return _materialise(_pick(obj, key), storages)
