"""A folder of random JPEGs that compress like photos, one sub-folder per class, for the input-pipeline benchmarks.

Every image is smooth noise: uniform noise at 1/8 of the size, resized bilinearly to the full size, encoded at
quality 90, so that decoding costs what a photo of the same size costs (pure noise would compress far worse,
a flat image far better). The same arguments write the same files. `benchmarks/pipeline.py` and the timm
baseline (`benchmarks/timm_loader.py`) read such folders.

Example (the issue's comparison: 2,000 JPEGs of 500x375):

    python benchmarks/jpeg_folder.py --output /tmp/jpegs --images 2000 --width 500 --height 375
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def write_jpeg_folder(directory, images_per_class, width, height=None, classes=2, seed=0):
    """Writes `images_per_class` random RGB JPEGs of `width` x `height` into `directory/class_<k>/<index>.jpg`.

    Args:
        directory: the folder to write into; it may exist, its `class_<k>` sub-folders must not.
        images_per_class: JPEGs in each class sub-folder.
        width: image width in pixels.
        height: image height in pixels (default: `width`, square images).
        classes: number of class sub-folders.
        seed: seed of the noise; the same arguments write the same files.

    Example:
        >>> write_jpeg_folder("/tmp/jpegs", images_per_class=1000, width=500, height=375, classes=2)
    """
    height = width if height is None else height
    rng = np.random.default_rng(seed)
    for label in range(classes):
        class_dir = os.path.join(directory, f"class_{label}")
        os.makedirs(class_dir)
        for index in range(images_per_class):
            coarse = rng.uniform(0, 255, (1, height // 8, width // 8, 3)).astype("float32")
            image = tf.cast(tf.image.resize(coarse, (height, width))[0], tf.uint8)
            tf.io.write_file(os.path.join(class_dir, f"{index}.jpg"), tf.io.encode_jpeg(image, quality=90))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="folder to write (its class sub-folders must not exist)")
    parser.add_argument("--images", type=int, default=2000, help="JPEGs in all, split evenly over the classes")
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    if arguments.images % arguments.classes:
        parser.error(f"--images {arguments.images} is not a multiple of --classes {arguments.classes}")
    write_jpeg_folder(arguments.output, arguments.images // arguments.classes, arguments.width, arguments.height,
                      arguments.classes, arguments.seed)
    print(f"Wrote {arguments.images} JPEGs of {arguments.width}x{arguments.height} in {arguments.classes} class "
          f"folders under {arguments.output}")


if __name__ == "__main__":
    main()
