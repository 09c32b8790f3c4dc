"""Image folders: corrupt files found before training, --skip-corrupt, a separate validation folder, bad layouts."""

import io
import logging
import struct

import numpy as np
import pytest
from PIL import Image

from keras_vit.data import (find_corrupt_images, load_dataset, load_image_folder, make_batches, named_image_errors,
                            split_images)
from keras_vit.errors import KerasViTError


def _write(root, counts, mode="RGB", size=(6, 7), suffix="png"):
    rng = np.random.default_rng(0)
    for class_name, count in counts.items():
        (root / class_name).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            pixels = rng.integers(0, 256, size=(*size, 4), dtype=np.uint8)
            Image.fromarray(pixels, "RGBA").convert(mode).save(root / class_name / f"{mode}{index}.{suffix}")
    return root


def _corrupt(root):
    bad_text = root / "cat" / "notes.jpg"
    bad_text.write_bytes(b"this is not a jpeg")
    good = next((root / "dog").glob("*.png")).read_bytes()
    truncated = root / "dog" / "truncated.png"
    truncated.write_bytes(good[: len(good) // 2])
    return [bad_text, truncated]


def test_bad_headers_are_named_before_training_and_broken_image_data_while_streaming(tmp_path):
    root = _write(tmp_path / "images", {"cat": 5, "dog": 5})
    bad_header, broken_data = _corrupt(root)
    assert set(find_corrupt_images(sorted(root.rglob("*.*")))) == {str(bad_header), str(broken_data)}
    assert set(find_corrupt_images(sorted(root.rglob("*.*")), decode=False)) == {str(bad_header)}
    with pytest.raises(KerasViTError, match="1 unreadable or corrupt file") as error:
        load_image_folder(root, image_size=(4, 4))
    message = str(error.value)
    assert str(bad_header) in message and "skip_corrupt=True" in message
    assert "notes.jpg (unknown format: the bytes are not a JPEG" in message, "the header check's reason is given"
    bad_header.unlink()
    data = load_image_folder(root, image_size=(4, 4))
    split = next(split for split in (data.train, data.validation, data.test) if str(broken_data) in split.paths)
    with pytest.raises(KerasViTError, match=rf"1 image\(s\) cannot be decoded: {broken_data} \(Invalid PNG.*"
                                            r"skip_corrupt=True"):
        with named_image_errors(split):
            list(make_batches(split, 2, 4, training=True, seed=0))
    skipped = list(make_batches(split, 2, 4, training=True, seed=0, skip_corrupt=True).unbatch())
    assert len(skipped) == len(split) - 1, "skip_corrupt drops the broken image and keeps the others"


def test_the_header_scan_shows_its_progress_at_verbose_1_and_prints_nothing_at_0(tmp_path, capsys):
    root = _write(tmp_path / "images", {"cat": 6, "dog": 6})
    load_image_folder(root, image_size=(4, 4), verbose=1)
    shown = capsys.readouterr().out
    assert f"Scanning the images of '{root}': 12 files, headers only\n" in shown and "12/12" in shown
    paths = [*sorted(root.rglob("*.png"))[:2], tmp_path / "missing.png"]
    assert list(find_corrupt_images(paths, decode=False, verbose=1)) == [str(tmp_path / "missing.png")]
    shown = capsys.readouterr().out
    assert "Scanning images: 3 files, headers only\n" in shown and "3/3" in shown, "the unreadable file counts too"
    load_image_folder(root, image_size=(4, 4), verbose=0)
    load_dataset(data_dir=root, image_size=(4, 4))  # library callers: silent by default
    assert capsys.readouterr().out == ""


def _gif_bomb(path):
    """A GIF whose 1x1 logical screen passes any pixel cap, holding one 4000x4000 frame (the decoder allocates it)."""
    buffer = io.BytesIO()
    Image.new("P", (4000, 4000), 0).save(buffer, "GIF")
    data = buffer.getvalue()
    path.write_bytes(data[:6] + struct.pack("<HH", 1, 1) + data[10:])
    return path


def test_a_decompression_bomb_in_a_folder_is_named_without_being_decoded_or_skipped(tmp_path, caplog):
    root = _write(tmp_path / "images", {"cat": 3, "dog": 3})
    bomb = _gif_bomb(root / "cat" / "bomb.gif")
    assert find_corrupt_images([bomb]) == {
        str(bomb): "corrupt: frame 1 of the GIF reaches outside its 1x1 logical screen"}
    with pytest.raises(KerasViTError, match=r"1 unreadable or corrupt file.*bomb.gif \(corrupt: frame 1 of the GIF"):
        load_image_folder(root, image_size=(4, 4))
    with caplog.at_level(logging.WARNING, logger="keras_vit"):
        data = load_image_folder(root, image_size=(4, 4), skip_corrupt=True)
    assert "bomb.gif" in caplog.text and sum(data.sizes.values()) == 6


def test_skip_corrupt_skips_and_counts_them_in_the_log(tmp_path, caplog):
    root = _write(tmp_path / "images", {"cat": 5, "dog": 5})
    _corrupt(root)
    with caplog.at_level(logging.WARNING, logger="keras_vit"):
        data = load_dataset(data_dir=root, image_size=(4, 4), skip_corrupt=True)
    assert "Skipped 1 corrupt or unreadable file(s)" in caplog.text and "notes.jpg" in caplog.text
    assert sum(data.sizes.values()) == 11, "the file with a sound header stays, to be skipped as it streams"


def test_class_left_empty_by_skipping_is_an_error(tmp_path):
    root = _write(tmp_path / "images", {"cat": 3, "dog": 3})
    (root / "bird").mkdir()
    (root / "bird" / "x.png").write_bytes(b"broken")
    with pytest.raises(KerasViTError, match="bird hold no readable image"):
        load_image_folder(root, image_size=(4, 4), skip_corrupt=True)


def test_single_class_is_an_error(tmp_path):
    root = _write(tmp_path / "images", {"cat": 6})
    with pytest.raises(KerasViTError, match="single class \\('cat'\\).*at least two"):
        load_image_folder(root, image_size=(4, 4))


def test_empty_class_folder_is_an_error(tmp_path):
    root = _write(tmp_path / "images", {"cat": 3, "dog": 3})
    (root / "emu").mkdir()
    with pytest.raises(KerasViTError, match="emu' holds no image"):
        load_image_folder(root, image_size=(4, 4))


def test_separate_validation_folder(tmp_path):
    root = _write(tmp_path / "train", {"cat": 10, "dog": 10})
    validation = _write(tmp_path / "val", {"dog": 4})
    data = load_dataset(data_dir=root, validation_dir=validation, image_size=(4, 4))
    assert data.sizes == {"train": 18, "validation": 4, "test": 2}
    assert [int(label) for _, label in split_images(data.validation)] == [1] * 4, "labels follow the training class names"
    _write(tmp_path / "val", {"emu": 1})
    with pytest.raises(KerasViTError, match="class folder\\(s\\) emu that"):
        load_dataset(data_dir=root, validation_dir=validation, image_size=(4, 4))
    with pytest.raises(KerasViTError, match="validation_dir= goes with data_dir="):
        load_dataset("digits", validation_dir=validation)


def test_separate_test_folder_alone_or_with_a_validation_folder(tmp_path):
    root = _write(tmp_path / "train", {"cat": 10, "dog": 10})
    test = _write(tmp_path / "test", {"cat": 3, "dog": 5})
    data = load_dataset(data_dir=root, test_dir=test, image_size=(4, 4))
    assert data.sizes == {"train": 18, "validation": 2, "test": 8}, "the folder splits 90 / 10 into train / validation"
    assert sorted(int(label) for _, label in split_images(data.test)) == [0] * 3 + [1] * 5
    assert str(test) in data.test.description
    validation = _write(tmp_path / "val", {"dog": 4})
    both = load_dataset(data_dir=root, validation_dir=validation, test_dir=test, image_size=(4, 4))
    assert both.sizes == {"train": 20, "validation": 4, "test": 8}, "all of the folder trains"
    _write(tmp_path / "test", {"emu": 1})
    with pytest.raises(KerasViTError, match="Test folder '.*test' has class folder\\(s\\) emu that"):
        load_dataset(data_dir=root, test_dir=test, image_size=(4, 4))
    with pytest.raises(KerasViTError, match="test_dir= goes with data_dir="):
        load_dataset("digits", test_dir=test)


def test_validation_folder_is_scanned_too(tmp_path):
    root = _write(tmp_path / "train", {"cat": 4, "dog": 4})
    validation = _write(tmp_path / "val", {"cat": 2})
    (validation / "cat" / "bad.gif").write_bytes(b"GIF89a broken")
    with pytest.raises(KerasViTError, match="bad.gif"):
        load_image_folder(root, (4, 4), validation_dir=validation)


@pytest.mark.parametrize("channels", [1, 3])
def test_mixed_channel_counts_are_reconciled(tmp_path, channels):
    root = tmp_path / "images"
    for mode, suffix in (("L", "png"), ("LA", "png"), ("RGB", "jpg"), ("RGBA", "png"), ("RGB", "bmp"),
                         ("P", "gif")):
        _write(root, {"a": 2, "b": 2}, mode=mode, suffix=suffix)
    data = load_image_folder(root, (5, 5), channels=channels)
    images = np.stack([image for image, _ in split_images(data.train).as_numpy_iterator()])
    assert images.shape == (data.sizes["train"], 5, 5, channels) and images.dtype == np.uint8


def test_channel_counts_that_cannot_be_reconciled(tmp_path):
    root = _write(tmp_path / "images", {"a": 3, "b": 3})
    with pytest.raises(KerasViTError, match="cannot be reconciled to channels=4"):
        load_image_folder(root, (4, 4), channels=4)
