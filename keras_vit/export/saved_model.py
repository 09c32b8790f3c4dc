"""Exporting a classifier as a SavedModel for TF Serving: encoded image bytes in, probabilities and class names out."""

import keras
import tensorflow as tf

from keras_vit.errors import KerasViTError
from keras_vit.data.image_guards import (DEFAULT_MAX_BYTES, DEFAULT_MAX_FRAMES, DEFAULT_MAX_JPEG_SCANS,
                                        DEFAULT_MAX_PIXELS, guarded_decode_image)
from keras_vit.export.serving_layout import publish, version_directory
from keras_vit.models.float32_copy import in_float32
from keras_vit.models.saving import load_classifier


DEFAULT_MAX_BATCH = 64
DEFAULT_PARALLEL_DECODES = 2


def export_saved_model(model_path_or_model, base_dir, name=None, version=None, class_names=None, top_k=5,
                       max_bytes=DEFAULT_MAX_BYTES, max_pixels=DEFAULT_MAX_PIXELS, max_frames=DEFAULT_MAX_FRAMES,
                       max_jpeg_scans=DEFAULT_MAX_JPEG_SCANS, max_batch=DEFAULT_MAX_BATCH,
                       parallel_decodes=DEFAULT_PARALLEL_DECODES):
    """Writes a classifier as a SavedModel in TF Serving's layout `base_dir/name/version/`.

    The SavedModel loads with TensorFlow alone (no keras_vit) and has two signatures:

    - `serving_default`: `image_bytes` (string [-1]: JPEG, PNG, BMP or GIF) -> `probabilities` (float32
      [-1, classes]), `top_k_classes` (string [-1, k]) and `top_k_scores` (float32 [-1, k]). Each image is checked
      (bytes, headers, declared width x height, GIF frames, JPEG scans: see `keras_vit.data.image_guards`) before
      it is decoded and resized by the same `decode_image` as in training; `parallel_decodes` images at a time.
    - `serving_pixels`: `images` (float32 [-1, height, width, channels] in [0, 255]) -> the same outputs.

    Both refuse a request of more than `max_batch` images ("too many images: ..."). One request then costs at most
    `parallel_decodes` decodes of an image at the caps at once, plus `max_batch` model inputs and activations.

    The class names are constants of the graph, and also written to `assets/class_names.txt`, one a line.

    Args:
        model_path_or_model: a `keras.Model` (pixels in [0, 255] -> logits) or the path of a `.keras` file (loaded
            with `load_classifier`, in safe mode, with the class names it carries).
            A model trained in mixed precision is exported in float32 (`keras_vit.models.float32_copy`).
        base_dir: the folder holding one folder per model name.
        name: model name; default the Keras model's name.
        version: positive integer; default one more than the largest existing version (1 if none). An existing
            version is never overwritten.
        class_names: one per output; default those the model carries (`model_metadata`), else "0", "1", ...
        top_k: classes in `top_k_classes` / `top_k_scores` (capped at the number of classes).
        max_bytes: largest encoded image accepted by `serving_default`.
        max_pixels: largest width x height, read from the image header, accepted by `serving_default`; also the
            largest number of pixels of all frames of a GIF together.
        max_frames: largest number of frames of a GIF accepted by `serving_default`.
        max_jpeg_scans: largest number of scans of a JPEG accepted by `serving_default` (a progressive JPEG has ~10).
        max_batch: largest number of images in one request, in either signature.
        parallel_decodes: images of one request decoded at the same time.

    Returns:
        pathlib.Path of the version folder written.

    Raises:
        KerasViTError: unreadable model file, Lambda layer, bad arguments, or the version exists.

    Example:
        >>> export_saved_model("runs/digits/model.keras", "serving", name="digits")
        PosixPath('serving/digits/1')
    """
    model, saved_class_names = load_classifier(model_path_or_model)
    model = in_float32(model)  # mixed precision serves in float32, on any CPU
    class_names = saved_class_names if class_names is None else list(class_names)
    limits = {"max_bytes": max_bytes, "max_pixels": max_pixels, "max_frames": max_frames,
              "max_jpeg_scans": max_jpeg_scans}
    image_shape = _validated(model, class_names, top_k, max_batch, parallel_decodes, limits)
    target = version_directory(base_dir, name or model.name, version)
    archive = serving_archive(model, image_shape, class_names, min(top_k, len(class_names)), limits, max_batch,
                              parallel_decodes)

    def write(folder):
        archive.write_out(str(folder), verbose=False)
        (folder / "assets").mkdir(exist_ok=True)
        (folder / "assets" / "class_names.txt").write_text("".join(f"{class_name}\n" for class_name in class_names))

    publish(write, target)
    return target


def serving_archive(model, image_shape, class_names, top_k, limits, max_batch=DEFAULT_MAX_BATCH,
                    parallel_decodes=DEFAULT_PARALLEL_DECODES):
    """A `keras.export.ExportArchive` holding `model` with the `serving_default` and `serving_pixels` signatures.

    Args:
        limits: keyword arguments of `keras_vit.data.image_guards.guarded_decode_image` (`max_bytes`,
            `max_pixels`, `max_frames`, `max_jpeg_scans`).

    Example:
        >>> serving_archive(model, (32, 32, 3), ["cat", "dog"], 2, {"max_pixels": 2**24}).write_out("serving/pets/1")
    """
    height, width, channels = image_shape
    names = tf.constant(class_names)

    def at_most_max_batch(request, count):
        problem = tf.strings.format("too many images: the request holds {} images, the limit is {}",
                                    (count, max_batch))
        with tf.control_dependencies([tf.debugging.Assert(count <= max_batch, [problem], name="batch_guard")]):
            return tf.identity(request)

    def answer(images):
        probabilities = tf.nn.softmax(tf.cast(model(images, training=False), tf.float32), axis=-1)
        top_k_scores, top_k_indices = tf.math.top_k(probabilities, k=top_k)
        return {"probabilities": probabilities, "top_k_classes": tf.gather(names, top_k_indices),
                "top_k_scores": top_k_scores}

    def serve_pixels(images):
        return answer(at_most_max_batch(images, tf.shape(images)[0]))

    def serve_image_bytes(image_bytes):
        images = tf.map_fn(
            lambda one: guarded_decode_image(one, (height, width), channels, **limits),
            at_most_max_batch(image_bytes, tf.size(image_bytes)),
            fn_output_signature=tf.TensorSpec((height, width, channels), tf.float32),
            parallel_iterations=parallel_decodes)
        return answer(images)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve_image_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")])
    archive.add_endpoint("serving_pixels", serve_pixels,
                         [tf.TensorSpec([None, height, width, channels], tf.float32, name="images")])
    return archive


def _validated(model, class_names, top_k, max_batch, parallel_decodes, limits):
    """(height, width, channels) of the model's input, after checking the arguments."""
    if len(model.inputs) != 1 or len(model.input_shape) != 4 or None in model.input_shape[1:]:
        raise KerasViTError(f"Model '{model.name}' takes {model.input_shape}; a SavedModel for serving needs one "
                            f"image input of fixed size (batch, height, width, channels).")
    num_classes = model.output_shape[-1]
    if len(class_names) != num_classes:
        raise KerasViTError(f"{len(class_names)} class names for a model with {num_classes} outputs.")
    if any(not isinstance(name, str) or not name or "\n" in name for name in class_names):
        raise KerasViTError("Class names must be non-empty strings without line breaks.")
    for argument, value in {"top_k": top_k, "max_batch": max_batch, "parallel_decodes": parallel_decodes,
                            **limits}.items():
        largest = 2**31 - 1 if argument == "max_bytes" else None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (largest and value > largest):
            raise KerasViTError(f"{argument}={value!r} must be a positive integer"
                                f"{f' of at most {largest}' if largest else ''}.")
    return tuple(model.input_shape[1:])

