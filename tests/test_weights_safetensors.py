"""The NumPy safetensors reader and writer, and checkpoint-file detection."""

import json
import struct

import numpy as np
import pytest

from keras_vit import KerasViTError
from keras_vit.weights import read_checkpoint, read_safetensors, write_safetensors
from keras_vit.weights.checkpoint_files import detect_layout


def test_every_dtype_reads_back(tmp_path, seeded):
    values = seeded.standard_normal((3, 4)).astype(np.float32)
    tensors = {"f32": values, "f16": values, "bf16": values, "f64": values, "i64": np.arange(6).reshape(2, 3),
               "scalar": np.float32(2.5), "empty": np.zeros((0, 4), np.float32)}
    dtypes = {"f16": "F16", "bf16": "BF16", "f64": "F64"}
    path = tmp_path / "all.safetensors"
    write_safetensors(path, tensors, dtypes, metadata={"format": "pt"})
    read = read_safetensors(path)
    assert list(read) == list(tensors)
    np.testing.assert_array_equal(read["f32"], values)
    np.testing.assert_array_equal(read["f16"], values.astype(np.float16).astype(np.float32))
    np.testing.assert_allclose(read["bf16"], values, rtol=2 ** -8)
    np.testing.assert_array_equal(read["f64"], values)
    assert read["i64"].dtype == np.int64 and read["i64"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert read["scalar"].shape == () and read["scalar"] == 2.5 and read["empty"].shape == (0, 4)
    assert all(read[name].dtype == np.float32 for name in ("f16", "bf16", "f64"))


def test_the_file_has_the_published_layout(tmp_path):
    path = tmp_path / "one.safetensors"
    write_safetensors(path, {"w": np.array([1.0, -2.0], np.float32)}, {"w": "BF16"})
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    assert header == {"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}
    assert data[8 + length:] == bytes([0x80, 0x3F, 0x00, 0xC0])  # 1.0 and -2.0 as little-endian bfloat16


def _file(tmp_path, header, payload=b"", length=None):
    encoded = json.dumps(header).encode() if isinstance(header, dict) else header
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(encoded) if length is None else length) + encoded + payload)
    return path


@pytest.mark.parametrize("header, payload, length, message", [
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, None, "Data of tensor 'w'"),
    ({"w": {"dtype": "I8", "shape": [2], "data_offsets": [0, 2]}}, b"\0" * 2, None, "Unsupported dtype 'I8'"),
    ({"w": {"dtype": "F32", "shape": [2]}}, b"", None, "needs dtype, shape and data_offsets"),
    ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, None, "Malformed shape"),
    (b"{not json", b"", None, "not JSON"),
    ({"w": 1}, b"", 10 ** 6, "header claims 1000000 bytes"),
])
def test_malformed_files_name_the_file(tmp_path, header, payload, length, message):
    path = _file(tmp_path, header, payload, length)
    with pytest.raises(KerasViTError, match=message) as error:
        read_safetensors(path)
    assert str(path) in str(error.value)


def test_short_and_missing_files(tmp_path):
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"\1\2")
    with pytest.raises(KerasViTError, match="shorter than the 8-byte header"):
        read_safetensors(short)
    with pytest.raises(KerasViTError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.safetensors")


def test_npz_checkpoints_and_unknown_layouts(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, **{"embedding/kernel": np.ones((2, 2, 3, 4), np.float64)})
    tensors = read_checkpoint(path)
    assert tensors["embedding/kernel"].dtype == np.float32
    assert detect_layout(tensors)[0] == "vit_jax-vit"
    with pytest.raises(KerasViTError, match="is not a ViT, Swin or PVT checkpoint .*conv1.weight"):
        detect_layout({"conv1.weight": np.zeros(1)}, "resnet.safetensors")
    fake = tmp_path / "fake.npz"
    fake.write_bytes(b"not a zip")
    with pytest.raises(KerasViTError, match="not an .npz archive"):
        read_checkpoint(fake)
