"""Peak memory and time of decoding untrusted images: one image at the serving caps, hostile files, one request.

Each case runs in a fresh subprocess (so that its peak RSS is its own): TensorFlow is warmed up on a tiny PNG, then
the case's bytes go through one of

- `guarded`: `keras_vit.data.image_guards.guarded_decode_image` at the serving defaults (what `serving_default`
  does per image), to 224 x 224 x 3;
- `unguarded`: `keras_vit.data.decode_image` alone (what the decoder would cost without the guards);
- `request`: a request of `--batch` images mapped as `serving_default` maps them, with `parallel_decodes` images
  decoded at once (the export default, 2, and TensorFlow's graph default, 10), with 16 inter-op threads (as on
  a 16-core server; with TensorFlow's default of one per core, a 2-core machine never has more than 2 in flight).

Printed per case: the peak RSS growth (MiB), seconds, and the guard's message if it refused the bytes.

Example:

    python benchmarks/decode_memory.py
    python benchmarks/decode_memory.py --cases "gif of 400 frames" --modes unguarded
"""

import argparse
import io
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402

SIDE = 4096  # the side of an image at the default pixel cap (4096 x 4096)
INTER_OP_THREADS = 16  # as on a 16-core server: TensorFlow's default is the core count, which caps ops in flight


def _gradient(side=SIDE):
    """A smooth RGB image of `side` x `side` (compresses like a photo, so it fits the 16 MiB byte cap)."""
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    return np.stack([ramp[None, :].repeat(side, 0), ramp[:, None].repeat(side, 1),
                     (ramp[None, :] + ramp[:, None]) / 2], axis=-1).astype(np.uint8)


def _encoded(image, image_format, **options):
    buffer = io.BytesIO()
    (PIL.Image.fromarray(image) if isinstance(image, np.ndarray) else image).save(buffer, image_format, **options)
    return buffer.getvalue()


def _png_16_bit(side=SIDE):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(6 * side)
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _gif_parts(width, height):
    data = _encoded(PIL.Image.new("P", (width, height), 0), "GIF")
    start = 13 + 3 * 2 ** (data[10] % 8 + 1)
    return data[:start], data[start:-1]


def _jpeg_of_many_scans(scans):
    data = _encoded(_gradient(1024), "JPEG", progressive=True, subsampling=0)
    last_scan = data[data.rindex(b"\xff\xda"):-2]
    return data[:-2] + last_scan * (scans - data.count(b"\xff\xda")) + data[-2:]


def build_cases():
    """{name: encoded bytes}: images at the default caps, then hostile files."""
    image = _gradient()
    head, frame = _gif_parts(SIDE, SIDE)
    huge_head, huge_frame = _gif_parts(12000, 12000)
    return {
        "png 4096x4096": _encoded(image, "PNG"),
        "png 4096x4096 16-bit": _png_16_bit(),
        "jpeg 4096x4096 baseline": _encoded(image, "JPEG", quality=90),
        "jpeg 4096x4096 progressive 4:4:4": _encoded(image, "JPEG", quality=90, progressive=True, subsampling=0),
        "bmp 2048x2048": _encoded(image[:2048, :2048], "BMP"),
        "gif 4096x4096": head + frame + b";",
        "gif frame 12000x12000 in a 1x1 screen": huge_head[:6] + struct.pack("<HH", 1, 1) + huge_head[10:]
        + huge_frame + b";",
        "gif of 400 frames 4096x4096": head + frame * 400 + b";",
        "jpeg 1024x1024 of 2000 scans": _jpeg_of_many_scans(2000),
    }


def measure(path, mode, batch):
    """Runs in the subprocess: (peak RSS growth in MiB, seconds, refusal message or None) of one case."""
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(INTER_OP_THREADS)
    from keras_vit.data import decode_image
    from keras_vit.data.image_guards import guarded_decode_image

    size = (224, 224)
    decode = {
        "guarded": tf.function(lambda data: guarded_decode_image(data, size, 3), autograph=False),
        "unguarded": tf.function(lambda data: decode_image(data, size, 3), autograph=False),
    }
    decode.update({f"request, {parallel} at once": tf.function(lambda data, parallel=parallel: tf.map_fn(
        lambda one: guarded_decode_image(one, size, 3), tf.repeat(data[None], batch), parallel_iterations=parallel,
        fn_output_signature=tf.TensorSpec((*size, 3), tf.float32)), autograph=False) for parallel in (2, 10)})
    warm_up = tf.io.encode_png(tf.zeros((8, 8, 3), tf.uint8))
    data = tf.constant(open(path, "rb").read())
    decode[mode](warm_up)
    before, start, message = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter(), None
    try:
        decode[mode](data)
    except tf.errors.InvalidArgumentError as error:
        message = error.message.split("[", 1)[-1].split("]", 1)[0]
    seconds = time.perf_counter() - start
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, seconds, message


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", help="case names (default: all)")
    parser.add_argument("--modes", nargs="+", default=["guarded", "unguarded"],
                        choices=["guarded", "unguarded", "request, 2 at once", "request, 10 at once"])
    parser.add_argument("--batch", type=int, default=32, help="images in a request (the request modes)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a case may take")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(measure(arguments.child[0], arguments.child[1], int(arguments.child[2]))))
        return
    cases = build_cases()
    print(f"| case | bytes | {' | '.join(f'{mode}: MiB, s' for mode in arguments.modes)} | refused with |")
    print(f"|---|---:|{'---:|' * len(arguments.modes)}---|")
    with tempfile.TemporaryDirectory() as folder:
        for name in arguments.cases or cases:
            path = os.path.join(folder, "case")
            with open(path, "wb") as file:
                file.write(cases[name])
            cells, refused = [], ""
            for mode in arguments.modes:
                try:
                    child = subprocess.run([sys.executable, __file__, "--child", path, mode, str(arguments.batch)],
                                           capture_output=True, text=True, timeout=arguments.timeout)
                    growth, seconds, message = json.loads(child.stdout.strip().splitlines()[-1])
                    cells.append(f"{growth:,.0f}, {seconds:.2f}")
                    refused = refused or (message or "")
                except subprocess.TimeoutExpired:
                    cells.append(f"> {arguments.timeout:.0f} s")
                except (IndexError, json.JSONDecodeError):
                    cells.append(f"failed: {child.stderr.strip().splitlines()[-1][:80]}")
            print(f"| {name} | {len(cases[name]):,} | {' | '.join(cells)} | {refused} |", flush=True)


if __name__ == "__main__":
    main()
