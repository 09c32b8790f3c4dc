"""`evaluate_model` and `keras-vit evaluate`: every figure against scikit-learn, the PNG, the report, errors."""

import re

import keras
import numpy as np
import pytest
from sklearn import metrics as sk

import keras_vit
from keras_vit.errors import KerasViTError
from keras_vit.inference.metrics import classification_metrics
from keras_vit_cli.main import main

DIGITS = [str(index) for index in range(10)]


def _tiny_vit(num_classes=10, image_size=8):
    return keras_vit.build_vit(image_size=image_size, patch_size=4, channels=1, num_classes=num_classes,
                               embed_dim=8, depth=1, num_heads=2, mlp_dim=8)


def _arrays(split):
    data = keras_vit.load_dataset("digits")
    parts = ("train", "validation", "test") if split == "all" else (split,)
    images, labels = zip(*(pair for part in parts
                           for pair in keras_vit.data.split_images(getattr(data, part)).as_numpy_iterator()))
    return np.stack(images), np.array(labels)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A tiny ViT fitted briefly on digits, so that its predictions spread over several classes."""
    keras.utils.set_random_seed(0)
    model = _tiny_vit()
    images, labels = _arrays("train")
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, labels, epochs=3, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.class_names = DIGITS
    model.save(path)
    return path


@pytest.mark.parametrize("split", ["test", "validation", "all"])
def test_every_figure_matches_scikit_learn(model_file, split):
    result = keras_vit.evaluate_model(model_file, dataset="digits", split=split, batch_size=50)
    images, labels = _arrays(split)
    logits = keras_vit.models.load_classifier(model_file)[0].predict(images, verbose=0)
    predicted = np.argmax(logits, axis=-1)
    assert len(set(predicted)) > 2  # the figures below are not those of a constant prediction

    np.testing.assert_array_equal(result.confusion_matrix, sk.confusion_matrix(labels, predicted, labels=range(10)))
    assert result.accuracy == pytest.approx(sk.accuracy_score(labels, predicted))
    assert result.top5_accuracy == pytest.approx(sk.top_k_accuracy_score(labels, logits, k=5, labels=range(10)))
    precision, recall, f1, support = sk.precision_recall_fscore_support(
        labels, predicted, labels=range(10), zero_division=0)
    assert [row.name for row in result.per_class] == result.class_names == DIGITS
    np.testing.assert_allclose([row.precision for row in result.per_class], precision)
    np.testing.assert_allclose([row.recall for row in result.per_class], recall)
    np.testing.assert_allclose([row.f1 for row in result.per_class], f1)
    assert [row.support for row in result.per_class] == support.tolist()
    assert result.size == len(labels) and result.split == split
    assert result.confusion_path == model_file.with_name(f"model.confusion_{split}.png")
    assert result.confusion_path.read_bytes().startswith(b"\x89PNG")


def test_top5_with_fewer_than_five_classes_is_every_class():
    logits = np.array([[0.0, 1.0, 2.0], [3.0, 2.0, 1.0], [0.0, 5.0, 1.0]])
    figures = classification_metrics(np.array([0, 0, 2]), logits, ["a", "b", "c"])
    assert figures.top5_accuracy == 1.0
    assert figures.accuracy == pytest.approx(1 / 3)
    assert [row.precision for row in figures.per_class] == [1.0, 0.0, 0.0]  # "b" predicted, never right
    assert [row.f1 for row in figures.per_class] == [pytest.approx(2 / 3), 0.0, 0.0]


def test_cli_prints_the_report_and_saves_the_png(model_file, tmp_path, capsys):
    output = tmp_path / "confusion.png"
    assert main(["evaluate", str(model_file), "--dataset", "digits", "--output", str(output)]) == 0
    lines = capsys.readouterr().out.splitlines()
    result = keras_vit.evaluate_model(model_file, output=tmp_path / "again.png")
    correct = int(np.trace(result.confusion_matrix))
    assert lines[0] == f"Accuracy: {100 * result.accuracy:.2f}% ({correct}/360)"
    assert re.fullmatch(r"Top-5 accuracy: \d+\.\d\d% \(\d+/360\)", lines[1])
    assert lines[2].split() == ["class", "precision", "recall", "f1", "support"]
    rows = [line.split() for line in lines[4:14]]
    assert [row[0] for row in rows] == DIGITS
    assert [int(row[4]) for row in rows] == [row.support for row in result.per_class]
    assert len({len(line) for line in lines[2:14]}) == 1  # aligned columns
    assert lines[14] == f"Saved {output}"
    assert output.read_bytes().startswith(b"\x89PNG")


def test_test_time_flip_averages_the_probabilities_of_each_image_and_its_mirror(model_file, tmp_path, capsys):
    result = keras_vit.evaluate_model(model_file, dataset="digits", tta="flip", batch_size=100)
    images, labels = _arrays("test")
    model = keras_vit.models.load_classifier(model_file)[0]
    probabilities = (keras.ops.softmax(model.predict(images, verbose=0)) +
                     keras.ops.softmax(model.predict(images[:, :, ::-1], verbose=0))) / 2
    predicted = np.argmax(probabilities, axis=-1)
    np.testing.assert_array_equal(result.confusion_matrix, sk.confusion_matrix(labels, predicted, labels=range(10)))
    assert result.top5_accuracy == pytest.approx(sk.top_k_accuracy_score(labels, probabilities, k=5,
                                                                          labels=range(10)))
    plain = keras_vit.evaluate_model(model_file, dataset="digits", output=tmp_path / "plain.png")
    assert result.tta == "flip" and plain.tta is None and result.accuracy != plain.accuracy
    assert result.confusion_path == model_file.with_name("model.confusion_test_tta-flip.png")
    assert main(["evaluate", str(model_file), "--tta", "flip", "--output", str(tmp_path / "flip.png")]) == 0
    assert capsys.readouterr().out.startswith("Test-time augmentation: flip (each image and its mirror")
    with pytest.raises(KerasViTError, match="Unknown tta='crop'"):
        keras_vit.evaluate_model(model_file, tta="crop")


def _cli_error(argv, capsys):
    assert main(argv) == 2
    return capsys.readouterr().err


def test_class_names_that_differ_from_the_models_are_named(tmp_path, capsys):
    path = tmp_path / "letters.keras"
    model = _tiny_vit()
    model.class_names = [*DIGITS[:8], "eight", "nine"]
    model.save(path)
    message = _cli_error(["evaluate", str(path)], capsys)
    assert "only in the data: ['8', '9']; only in the model: ['eight', 'nine']" in message
    model.class_names = DIGITS[::-1]
    model.save(path)
    with pytest.raises(KerasViTError, match="same names in another order"):
        keras_vit.evaluate_model(path)


def test_class_count_and_image_size_mismatches(tmp_path):
    with pytest.raises(KerasViTError, match="The data has 10 classes, the model 4"):
        keras_vit.evaluate_model(_tiny_vit(num_classes=4), output=tmp_path / "c.png")
    with pytest.raises(KerasViTError, match=r"images are \(8, 8, 1\), the model takes \(16, 16, 1\)"):
        keras_vit.evaluate_model(_tiny_vit(image_size=16), output=tmp_path / "c.png")


def test_unknown_split_and_model_in_memory_without_output(model_file, tmp_path, capsys):
    assert "Unknown split 'tset'. Known: test, validation, train, all." in _cli_error(
        ["evaluate", str(model_file), "--split", "tset"], capsys)
    with pytest.raises(KerasViTError, match="needs output="):
        keras_vit.evaluate_model(_tiny_vit())
