"""Top-k predictions of a trained classifier (a `.keras` file or an exported SavedModel) on image files."""

import pathlib

import numpy as np
import tensorflow as tf

from keras_vit.data.decode import decode_image
from keras_vit.data.image_guards import file_image_problem
from keras_vit.errors import KerasViTError
from keras_vit.models.saving import load_classifier


def load_image(path, image_size, channels):
    """Reads an image file, checks its headers and decodes it exactly as training does (`decode_image`).

    The checks are those of training folders (`keras_vit.data.image_guards.FILE_LIMITS`), made before decoding.

    Args:
        path: a JPEG, PNG, BMP or GIF file.
        image_size: (height, width) the model takes.
        channels: 1 or 3, as the model takes.

    Returns:
        float32 array of shape (height, width, channels), pixels in [0, 255].

    Raises:
        KerasViTError: the file is missing, fails a check (the problem is named), or is not an image TensorFlow
            can decode.

    Example:
        >>> load_image("cat.jpg", (224, 224), 3).shape
        (224, 224, 3)
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise KerasViTError(f"Image file '{path}' does not exist.")
    image_bytes = tf.constant(path.read_bytes())
    reason = file_image_problem(image_bytes).numpy().decode()  # refused before the decoder sees the bytes
    if not reason:
        try:
            return decode_image(image_bytes, image_size, channels).numpy()
        except tf.errors.InvalidArgumentError as error:  # TensorFlow's multi-line message, reduced to its first line
            reason = error.message.strip().splitlines()[0]
    raise KerasViTError(f"Image file '{path}' could not be decoded as a JPEG, PNG, BMP or GIF image: {reason}")


def predict_images(model_path, image_paths, top_k=5):
    """The `top_k` most probable classes of each image, with their probabilities (softmax of the logits).

    Args:
        model_path: a `.keras` file (loaded with `load_classifier`, in safe mode, with the class names it
            carries), or a SavedModel folder written by `keras-vit export --format saved_model`.
        image_paths: JPEG, PNG, BMP or GIF files; each is decoded and resized as in training.
        top_k: how many classes to return per image (all of them if the model has fewer).

    Returns:
        One list per image, in order, of (class name, probability) pairs, most probable first.

    Raises:
        KerasViTError: `top_k` < 1, no images, a missing model or image file, or a file that is not a decodable
            image; the message names the file.

    Example:
        >>> predict_images("runs/digits/model.keras", ["seven.png"], top_k=2)
        [[('7', 0.93), ('1', 0.03)]]
    """
    if top_k < 1:
        raise KerasViTError(f"top_k must be at least 1, got {top_k}.")
    if not image_paths:
        raise KerasViTError("No image files given.")
    image_shape, class_names, probabilities_of = _load_predictor(model_path)
    images = np.stack([load_image(path, image_shape[:2], image_shape[2]) for path in image_paths])
    probabilities = probabilities_of(images)
    order = np.argsort(-probabilities, axis=-1, kind="stable")[:, :top_k]
    return [[(class_names[index], float(row[index])) for index in indices]
            for row, indices in zip(probabilities, order)]


def _load_predictor(model_path):
    """(height, width, channels) the model takes, its class names, and a function from pixels to probabilities."""
    if not pathlib.Path(model_path).is_dir():
        model, class_names = load_classifier(model_path)
        return (tuple(model.input_shape[1:]), class_names,
                lambda images: tf.nn.softmax(model.predict(images, verbose=0), axis=-1).numpy())
    return _load_saved_model(pathlib.Path(model_path))


def _load_saved_model(folder):
    """The `serving_pixels` signature of an export by `export_saved_model`, fed by the same `load_image` as a
    `.keras` model; class names from its `assets/class_names.txt`."""
    if not (folder / "saved_model.pb").is_file():
        raise KerasViTError(f"Folder '{folder}' holds no saved_model.pb; give a SavedModel version folder such as "
                            f"serving/digits/1, or a .keras file.")
    signature = tf.saved_model.load(str(folder)).signatures.get("serving_pixels")
    if signature is None:
        raise KerasViTError(f"SavedModel '{folder}' has no 'serving_pixels' signature; export it with "
                            f"`keras-vit export MODEL --format saved_model`.")
    image_shape = tuple(signature.structured_input_signature[1]["images"].shape[1:])
    names_file = folder / "assets" / "class_names.txt"
    num_classes = signature.structured_outputs["probabilities"].shape[-1]
    class_names = (names_file.read_text().splitlines() if names_file.is_file()
                   else [str(index) for index in range(num_classes)])
    return image_shape, class_names, lambda images: signature(images=tf.constant(images))["probabilities"].numpy()

