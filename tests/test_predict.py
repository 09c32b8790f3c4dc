"""`predict_images` and `keras-vit predict`: same pixels and probabilities as the model, class names, errors."""

import io
import re

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

import keras_vit
from keras_vit.data import decode_image
from keras_vit.errors import KerasViTError
from keras_vit.export import export_saved_model
from keras_vit_cli.main import main

CLASS_NAMES = ["cat", "dog", "bird", "hippopotamus"]


@pytest.fixture
def model_file(tmp_path, seeded):
    model = keras_vit.build_vit(image_size=8, patch_size=4, channels=3, num_classes=4, embed_dim=8, depth=1,
                                num_heads=2, mlp_dim=8)
    path = tmp_path / "model.keras"
    model.class_names = CLASS_NAMES
    model.save(path)
    return path


@pytest.fixture
def image_files(tmp_path, seeded):
    """A PNG and a JPEG of other sizes than the model's 8x8, so both get resized."""
    png, jpeg = tmp_path / "first.png", tmp_path / "second.jpg"
    png.write_bytes(tf.io.encode_png(seeded.integers(0, 256, (13, 10, 3), dtype="uint8")).numpy())
    jpeg.write_bytes(tf.io.encode_jpeg(seeded.integers(0, 256, (20, 24, 3), dtype="uint8")).numpy())
    return [png, jpeg]


def _expected_probabilities(model_path, image_files):
    model = keras_vit.models.load_classifier(model_path)[0]
    images = np.stack([decode_image(tf.io.read_file(str(path)), (8, 8), 3) for path in image_files])
    return tf.nn.softmax(model.predict(images, verbose=0)).numpy()


def test_predictions_are_the_models_softmax_on_decode_image_pixels(model_file, image_files):
    expected = _expected_probabilities(model_file, image_files)
    predictions = keras_vit.predict_images(model_file, image_files, top_k=4)
    assert len(predictions) == 2
    for row, predicted in zip(expected, predictions):
        assert [name for name, _ in predicted] == [CLASS_NAMES[index] for index in np.argsort(-row)]
        np.testing.assert_allclose([p for _, p in predicted], np.sort(row)[::-1], atol=1e-6)
    assert [len(p) for p in keras_vit.predict_images(model_file, image_files, top_k=2)] == [2, 2]
    assert len(keras_vit.predict_images(model_file, image_files[:1], top_k=10)[0]) == 4  # at most every class


def test_an_exported_saved_model_predicts_the_same(model_file, image_files, tmp_path):
    version_folder = export_saved_model(model_file, tmp_path / "serving", name="tiny")
    from_keras = keras_vit.predict_images(model_file, image_files, top_k=3)
    from_saved_model = keras_vit.predict_images(version_folder, image_files, top_k=3)
    for keras_row, saved_row in zip(from_keras, from_saved_model):
        assert [name for name, _ in saved_row] == [name for name, _ in keras_row]
        np.testing.assert_allclose([p for _, p in saved_row], [p for _, p in keras_row], atol=1e-5)
    with pytest.raises(KerasViTError, match="holds no saved_model.pb"):
        keras_vit.predict_images(tmp_path / "serving", image_files)


def test_predict_command_prints_each_path_then_aligned_classes(model_file, image_files, capsys):
    assert main(["predict", str(model_file), *map(str, image_files), "--top-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 8 and lines[0] == str(image_files[0]) and lines[4] == str(image_files[1])
    expected = keras_vit.predict_images(model_file, image_files, top_k=3)
    for block, predictions in zip((lines[1:4], lines[5:8]), expected):
        columns = {line.rindex(" ") for line in block}
        assert len(columns) == 1, f"probabilities not aligned: {block}"
        for line, (name, probability) in zip(block, predictions):
            assert re.fullmatch(rf"  {name} +{probability:.4f}", line)


@pytest.mark.parametrize("content, what", [(b"", "empty"), (b"not an image at all", "text"),
                                           (None, "truncated PNG")])
def test_unreadable_images_are_named_in_one_line(model_file, image_files, tmp_path, capsys, content, what):
    bad = tmp_path / "bad.png"
    bad.write_bytes(image_files[0].read_bytes()[:40] if content is None else content)
    with pytest.raises(KerasViTError, match=r"Image file '.*bad.png' could not be decoded") as error:
        keras_vit.predict_images(model_file, [image_files[0], bad])
    assert "\n" not in str(error.value) and "Traceback" not in str(error.value), what
    assert main(["predict", str(model_file), str(bad)]) == 2
    assert capsys.readouterr().err.startswith("keras-vit: error: Image file")


def test_a_decompression_bomb_is_refused_before_decoding_with_the_reason(model_file, tmp_path):
    buffer = io.BytesIO()
    PIL.Image.new("P", (600, 600)).save(buffer, "GIF")
    gif = buffer.getvalue()
    bomb = tmp_path / "bomb.gif"
    bomb.write_bytes(gif[:6] + b"\x01\x00\x01\x00" + gif[10:])  # a 1x1 logical screen: the frame reaches out
    with pytest.raises(KerasViTError, match=r"Image file '.*bomb.gif' could not be decoded as a JPEG, PNG, BMP or "
                                            r"GIF image: corrupt: frame 1 of the GIF reaches outside its 1x1"):
        keras_vit.predict_images(model_file, [bomb])


def test_bad_arguments_are_refused_with_their_names(model_file, image_files, tmp_path):
    with pytest.raises(KerasViTError, match=r"Image file '.*absent.png' does not exist"):
        keras_vit.predict_images(model_file, [tmp_path / "absent.png"])
    with pytest.raises(KerasViTError, match="top_k must be at least 1, got 0"):
        keras_vit.predict_images(model_file, image_files, top_k=0)
    with pytest.raises(KerasViTError, match="No image files"):
        keras_vit.predict_images(model_file, [])
    with pytest.raises(KerasViTError, match="absent.keras' does not exist"):
        keras_vit.predict_images(tmp_path / "absent.keras", image_files)
