"""Reading and writing `.safetensors` files with NumPy alone (no PyTorch, no `safetensors` package).

The format: 8 bytes, the little-endian length N of a JSON header; N bytes of JSON mapping each tensor name to
{"dtype", "shape", "data_offsets": [begin, end]} (plus an optional "__metadata__" of strings); then the raw
little-endian, row-major bytes of every tensor, the offsets counted from the end of the header.
"""

import json
import pathlib
import struct

import numpy as np

from keras_vit.errors import KerasViTError

# safetensors dtype name -> NumPy dtype of the stored bytes ("BF16" is read as raw 16-bit words).
_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8"}
_MAX_HEADER_BYTES = 100 * 1024 * 1024


def read_safetensors(path):
    """Reads every tensor of a `.safetensors` file into NumPy arrays.

    Floating-point tensors (F64, F32, F16, BF16) come back as float32, I64 tensors as int64.

    Args:
        path: the file.

    Returns:
        A dict from tensor name to `np.ndarray`, in the file's order.

    Raises:
        KerasViTError: the file is missing, truncated, or its header is malformed or names an unsupported dtype;
            the message names the file (and the tensor).

    Example:
        >>> tensors = read_safetensors("model.safetensors")
        >>> tensors["cls_token"].shape
        (1, 1, 192)
    """
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KerasViTError(f"Cannot read safetensors file {path}: {error.strerror or error}.") from None
    header, start = _parse_header(data, path)
    tensors = {}
    for name, entry in header.items():
        if name != "__metadata__":
            tensors[name] = _decode(name, entry, data, start, path)
    return tensors


def write_safetensors(path, tensors, dtypes=None, metadata=None):
    """Writes NumPy arrays to a `.safetensors` file, e.g. to build a checkpoint in a published layout.

    Args:
        path: the file to write.
        tensors: dict from name to array.
        dtypes: optional dict from name to a safetensors dtype ("F32", "F16", "BF16", "F64", "I64"); by default
            integer arrays are stored as I64 and the others as F32.
        metadata: optional dict of strings stored under "__metadata__".

    Example:
        >>> write_safetensors("tiny.safetensors", {"cls_token": np.zeros((1, 1, 16))}, dtypes={"cls_token": "BF16"})
        >>> read_safetensors("tiny.safetensors")["cls_token"].dtype
        dtype('float32')
    """
    dtypes = dtypes or {}
    header = {"__metadata__": dict(metadata)} if metadata else {}
    chunks, offset = [], 0
    for name, array in tensors.items():
        array = np.asarray(array)
        dtype = dtypes.get(name, "I64" if np.issubdtype(array.dtype, np.integer) else "F32")
        chunk = _encode(array, dtype, name)
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(chunk)]}
        chunks.append(chunk)
        offset += len(chunk)
    encoded = json.dumps(header).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # align the data, as the reference writer does
    pathlib.Path(path).write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))


def _parse_header(data, path):
    if len(data) < 8:
        raise KerasViTError(f"{path} is not a safetensors file: {len(data)} bytes, shorter than the 8-byte header "
                            "length.")
    (length,) = struct.unpack("<Q", data[:8])
    if length > min(len(data) - 8, _MAX_HEADER_BYTES):
        raise KerasViTError(f"{path} is not a safetensors file or is truncated: its header claims {length} bytes, "
                            f"the file has {len(data) - 8} after the length.")
    try:
        header = json.loads(data[8:8 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise KerasViTError(f"{path} has a malformed safetensors header (not JSON: {error}).") from None
    if not isinstance(header, dict):
        raise KerasViTError(f"{path} has a malformed safetensors header: a JSON object was expected.")
    return header, 8 + length


def _decode(name, entry, data, start, path):
    where = f"tensor '{name}' of {path}"
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
        raise KerasViTError(f"Malformed safetensors header entry for {where}: needs dtype, shape and data_offsets.")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in _DTYPES:
        raise KerasViTError(f"Unsupported dtype {dtype!r} of {where}: supported are {', '.join(_DTYPES)}.")
    if (not isinstance(shape, list) or not all(isinstance(side, int) and side >= 0 for side in shape)
            or not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(offset, int) for offset in offsets)):
        raise KerasViTError(f"Malformed shape {shape!r} or data_offsets {offsets!r} of {where}.")
    begin, end = start + offsets[0], start + offsets[1]
    item_size = np.dtype(_DTYPES[dtype]).itemsize
    expected = int(np.prod(shape, dtype=np.int64)) * item_size
    if not start <= begin <= end <= len(data) or end - begin != expected:
        raise KerasViTError(
            f"Data of {where} does not fit: offsets {offsets} ({end - begin} bytes) for shape {shape} of {dtype} "
            f"({expected} bytes) in a file of {len(data)} bytes.")
    array = np.frombuffer(data, dtype=_DTYPES[dtype], count=expected // item_size, offset=begin).reshape(shape)
    if dtype == "BF16":  # bfloat16 is the upper half of a float32
        return (array.astype("<u4") << 16).view("<f4").astype(np.float32)
    if dtype == "I64":
        return array.astype(np.int64)
    return array.astype(np.float32)


def _encode(array, dtype, name):
    if dtype not in _DTYPES:
        raise KerasViTError(f"Unsupported safetensors dtype {dtype!r} for tensor '{name}': use one of "
                            f"{', '.join(_DTYPES)}.")
    if dtype == "BF16":  # round to nearest even, then keep the upper 16 bits
        bits = np.ascontiguousarray(array, dtype="<f4").view("<u4").astype(np.uint64)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        return bits.astype("<u2").tobytes()
    return np.ascontiguousarray(array, dtype=_DTYPES[dtype]).tobytes()
