"""Fixtures for pz-ptmz's tests, made by real PyTorch. Run by the tests through $PZ_PYTHON:

    fixtures.py state_dicts OUT      checkpoints of many dtypes and views + expected.safetensors
    fixtures.py hostile OUT MARKER   checkpoints whose pickle would run `touch MARKER`
    fixtures.py forged OUT           containers torch never writes (short, absurd, truncated, ...)
    fixtures.py check CKPT EXPECTED  torch.load(weights_only=True) CKPT equals EXPECTED bit for bit
    fixtures.py potency CKPT         torch.load(weights_only=False) CKPT (proves a hostile file is hostile)
"""

import collections
import io
import os
import pickle
import subprocess
import sys
import zipfile

import torch
from safetensors.torch import load_file, save_file


def state_dict():
    """Every dtype pz-ptmz supports, views sharing one storage, a parameter and a real module's
    state dict (with its `_metadata` and int64 `num_batches_tracked`)."""
    g = torch.Generator().manual_seed(0)
    sd = collections.OrderedDict()
    base = torch.randn(4, 6, generator=g)
    sd["base"] = base
    sd["base_t"] = base.t()  # transposed: strides (1, 6)
    sd["base_slice"] = base[1:3, ::2]  # offset 6, strides (6, 2)
    sd["base_row"] = base[2]  # offset 12
    sd["base_col"] = base[:, 5]  # offset 5, stride 6
    sd["f64"] = torch.randn(3, 2, generator=g, dtype=torch.float64)
    sd["f16"] = torch.randn(5, generator=g).half()
    sd["bf16"] = torch.randn(2, 3, generator=g).bfloat16()
    sd["bf16_t"] = sd["bf16"].t()
    sd["i64"] = torch.tensor([-(2**62), -1, 0, 2**62])
    sd["i32"] = torch.tensor([[-(2**31), 7], [3, 2**31 - 1]], dtype=torch.int32)
    sd["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
    sd["u8"] = torch.arange(10, dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["u16"] = torch.tensor([1, 65535], dtype=torch.uint16)  # _rebuild_tensor_v3
    sd["f8"] = torch.tensor([0.5, -2.0, 448.0]).to(torch.float8_e4m3fn)  # _rebuild_tensor_v3
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["param"] = torch.nn.Parameter(torch.randn(2, generator=g))
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2))
    for k, v in net.state_dict().items():
        sd["net." + k] = v
    return sd


def expected(sd):
    # Contiguous, unshared copies: what the reader must produce, in PyTorch's own bytes.
    return {k: v.detach().contiguous().clone() for k, v in sd.items()}


def state_dicts(out):
    sd = state_dict()
    save_file(expected(sd), os.path.join(out, "expected.safetensors"))
    torch.save(sd, os.path.join(out, "zip.pt"))
    os.makedirs(os.path.join(out, "checkpoint_000001"))
    # The PTMZ name: folder `checkpoints/` inside the zip, keys with nn.DataParallel's prefix.
    torch.save(collections.OrderedDict(("module." + k, v) for k, v in sd.items()),
               os.path.join(out, "checkpoint_000001", "checkpoints"))
    torch.save(sd, os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)
    buffer = io.BytesIO()  # folder `archive/` inside the zip
    torch.save(sd, buffer)
    with open(os.path.join(out, "buffer.pt"), "wb") as f:
        f.write(buffer.getvalue())


class System:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


class Eval(System):
    def __reduce__(self):
        return (eval, ("__import__('os').system('touch " + self.marker + "')",))


class Popen(System):
    def __reduce__(self):
        return (subprocess.Popen, (["touch", self.marker],))


def hostile(out, marker):
    def sd(payload):
        return collections.OrderedDict([("w", torch.ones(2)), ("evil", payload)])

    torch.save(sd(System(marker)), os.path.join(out, "system.pt"))
    torch.save(sd(Eval(marker)), os.path.join(out, "eval.pt"))
    torch.save(sd(Popen(marker)), os.path.join(out, "popen.pt"))
    torch.save(sd(System(marker)), os.path.join(out, "system_legacy.pt"), _use_new_zipfile_serialization=False)
    # A protocol-4 pickle reaches globals through STACK_GLOBAL instead of GLOBAL.
    with zipfile.ZipFile(os.path.join(out, "system_proto4.pt"), "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"evil": System(marker)}, protocol=4))
        z.writestr("archive/version", "3\n")


class FakeStorage:
    def __init__(self, cls, key, numel):
        self.cls, self.key, self.numel = cls, key, numel


class FakeTensor:
    """Pickles as torch does (`_rebuild_tensor_v2` over a persistent storage) with any numbers."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class ForgingPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", obj.cls, obj.key, "cpu", obj.numel)
        return None


def forge(path, tensors, records):
    buffer = io.BytesIO()
    ForgingPickler(buffer, protocol=2).dump(collections.OrderedDict(tensors))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buffer.getvalue())
        z.writestr("archive/byteorder", "little")
        for key, data in records.items():
            z.writestr("archive/data/" + key, data)
        z.writestr("archive/version", "3\n")


def forged(out):
    twelve = torch.arange(12, dtype=torch.float32).numpy().tobytes()
    s = FakeStorage(torch.FloatStorage, "0", 12)
    p = lambda name: os.path.join(out, name)  # noqa: E731
    # The control: the forging path itself makes readable files.
    forge(p("ok.pt"), [("w", FakeTensor(s, 2, (2, 3), (1, 2)))], {"0": twelve})
    forge(p("storage_shorter_than_declared.pt"), [("w", FakeTensor(s, 0, (12,), (1,)))], {"0": twelve[:20]})
    huge = FakeStorage(torch.FloatStorage, "0", 2**40)  # a 4 TiB storage declared over 48 bytes
    forge(p("storage_declared_huge.pt"), [("w", FakeTensor(huge, 0, (2**40,), (1,)))], {"0": twelve})
    forge(p("shape_overflows.pt"), [("w", FakeTensor(s, 0, (2**40, 2**40), (1, 1)))], {"0": twelve})
    forge(p("shape_beyond_storage.pt"), [("w", FakeTensor(s, 0, (2**20, 2**20), (2**20, 1)))], {"0": twelve})
    forge(p("view_past_storage.pt"), [("w", FakeTensor(s, 10, (3,), (1,)))], {"0": twelve})
    forge(p("negative_stride.pt"), [("w", FakeTensor(s, 11, (3,), (-1,)))], {"0": twelve})
    forge(p("missing_storage.pt"), [("w", FakeTensor(s, 0, (12,), (1,)))], {})
    q = FakeStorage(torch.QInt8Storage, "0", 12)
    forge(p("quantized_dtype.pt"), [("w", FakeTensor(q, 0, (12,), (1,)))], {"0": twelve})
    torch.save({"w": torch.ones(3, dtype=torch.complex64)}, p("complex_dtype.pt"))
    torch.save({"w": torch.arange(1000.0)}, p("whole.pt"))
    with open(p("whole.pt"), "rb") as f:
        data = f.read()
    with open(p("truncated.pt"), "wb") as f:
        f.write(data[: len(data) // 2])
    with open(p("truncated_tail.pt"), "wb") as f:
        f.write(data[:-10])  # only the end-of-central-directory record is cut


def check(ckpt, expected_path):
    got = torch.load(ckpt, weights_only=True)
    want = load_file(expected_path)
    assert isinstance(got, collections.OrderedDict), type(got)
    assert sorted(got) == sorted(want), (list(got), list(want))
    for k, w in want.items():
        g = got[k]
        assert g.dtype == w.dtype and g.shape == w.shape, (k, g.dtype, w.dtype, g.shape, w.shape)
        as_bytes = lambda t: t.contiguous().reshape(-1).view(torch.uint8)  # noqa: E731
        assert as_bytes(g).equal(as_bytes(w)), k
    print("loaded", len(got), "tensors")


def potency(ckpt):
    try:
        torch.load(ckpt, weights_only=False)
    except Exception as e:  # Popen's object is not a tensor; the side effect already happened
        print("load raised", type(e).__name__)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"state_dicts": state_dicts, "hostile": hostile, "forged": forged, "check": check, "potency": potency}[command](*args)
