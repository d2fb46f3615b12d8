"""Reading PyTorch checkpoints without torch: both file formats, and refusal of code."""

import io
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from models.torchfile import LEGACY_MAGIC, CheckpointError, load_tensors


class _Storage:
    def __init__(self, key, data):
        self.key, self.data = key, data


class _Tensor:
    """Pickles the way a torch tensor does: _rebuild_tensor_v2 over a persistent storage."""

    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        args = (self.storage, self.offset, self.shape, self.stride, False, OrderedDict())
        return (rebuild, args)


@pytest.fixture
def fake_torch(monkeypatch):
    """Just enough of a ``torch`` module for pickle to write the globals a checkpoint names."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    float_storage = type("FloatStorage", (), {"__module__": "torch"})
    torch.FloatStorage = float_storage
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return float_storage


def _checkpoint(fake_torch):
    shared = _Storage("0", np.arange(12, dtype=np.float32))
    state = OrderedDict(
        weight=_Tensor(shared, 2, (2, 3), (3, 1)),  # rows of 3 from element 2
        weight_t=_Tensor(shared, 0, (3, 2), (1, 3)),  # a transposed view
        bias=_Tensor(_Storage("1", np.array([7.0, 8.0], dtype=np.float32)), 0, (2,), (1,)),
    )
    return {"model_state": state, "step": 5, "optimizer_state": {"lr": 0.1}}


class _Writer(pickle.Pickler):
    def __init__(self, file, fake_torch, location):
        super().__init__(file, protocol=2)
        self.fake_torch, self.location, self.storages = fake_torch, location, {}

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            self.storages[obj.key] = obj.data
            return ("storage", self.fake_torch, obj.key, self.location, obj.data.size)
        return None


def write_legacy(path, obj, fake_torch):
    buf = io.BytesIO()
    writer = _Writer(buf, fake_torch, "cuda:0")
    writer.dump(obj)
    with open(path, "wb") as f:
        for head in (LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(head, f, protocol=2)
        f.write(buf.getvalue())
        pickle.dump(sorted(writer.storages), f, protocol=2)
        for key in sorted(writer.storages):
            data = writer.storages[key]
            f.write(struct.pack("<q", data.size) + data.tobytes())


def write_zip(path, obj, fake_torch):
    buf = io.BytesIO()
    writer = _Writer(buf, fake_torch, "cpu")
    writer.dump(obj)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        for key, data in writer.storages.items():
            z.writestr(f"archive/data/{key}", data.tobytes())


@pytest.mark.parametrize("write", [write_legacy, write_zip])
def test_state_dict_comes_back_as_numpy(tmp_path, fake_torch, write):
    path = tmp_path / "ckpt.pt"
    write(path, _checkpoint(fake_torch), fake_torch)
    state = load_tensors(path, "model_state")
    assert list(state) == ["weight", "weight_t", "bias"]
    np.testing.assert_array_equal(state["weight"], [[2, 3, 4], [5, 6, 7]])
    np.testing.assert_array_equal(state["weight_t"], np.arange(6).reshape(2, 3).T)
    np.testing.assert_array_equal(state["bias"], [7, 8])
    assert state["weight"].dtype == np.float32 and state["weight"].flags.owndata
    assert load_tensors(path)["step"] == 5


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(CheckpointError, match="os.system"):
        load_tensors(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError):
        load_tensors(path)
    with pytest.raises(CheckpointError, match="No such"):
        load_tensors(tmp_path / "missing.pt")


def test_missing_key(tmp_path, fake_torch):
    path = tmp_path / "ckpt.pt"
    write_legacy(path, _checkpoint(fake_torch), fake_torch)
    with pytest.raises(CheckpointError, match="no 'nope'"):
        load_tensors(path, "nope")
