"""keras_vit.data.rand_augment and random_erasing: each operation against PIL, timm's level mappings, seeding.

Tolerances: the lookup-table and integer operations (AutoContrast, Equalize, Invert, Posterize, Solarize,
SolarizeAdd) and Sharpness's integer smoothing must match PIL exactly. The blends (Color, Contrast, Brightness,
Sharpness) use PIL's float32 formula and truncation and match exactly here; they are allowed 1 level in case a
CPU fuses the multiply-add. TranslateXRel and TranslateYRel compute PIL's float64 weights and blends and must
match exactly. Rotate takes PIL's matrix and float64 sample points but blends in float32, so a value within
about 1e-5 of an integer can truncate to either side: 1 level on at most 1% of the values (none here). The
shears use one weight per row (column) where PIL rounds x + 0.5 + offset per pixel, which decides a truncation
when a weighted difference of neighbours lands within 1e-14 of an integer, frequent only for factors whose
fractions are round (0.1, 0.2, 0.3): 1 level on at most 2% of the values (0.1% here).
"""

import math

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageEnhance, ImageOps

from keras_vit.data import rand_augment as ra
from keras_vit.data.random_erasing import random_erasing
from keras_vit.errors import KerasViTError

SIZE = 32
TIMM_RAND_TRANSFORMS = ["AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd",
                        "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel",
                        "TranslateYRel"]


@pytest.fixture(scope="module", params=[3, 1], ids=["rgb", "grey"])
def image(request):
    """A random 32x32 uint8 image; values 20-229 so that AutoContrast and Equalize have work to do."""
    return np.random.default_rng(request.param).integers(20, 230, (SIZE, SIZE, request.param), dtype=np.uint8)


def _pil(image):
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def _array(pil_image):
    array = np.asarray(pil_image)
    return array[..., None] if array.ndim == 2 else array


def _fill(pil_image):
    return 128 if pil_image.mode == "L" else (128, 128, 128)


def _affine(pil_image, coefficients):
    return pil_image.transform(pil_image.size, Image.AFFINE, coefficients, resample=Image.BILINEAR,
                               fillcolor=_fill(pil_image))


def _rotate(pil_image, degrees):
    return pil_image.rotate(degrees, resample=Image.BILINEAR, fillcolor=_fill(pil_image))


def _solarize_add(pil_image, addition, threshold=128):
    lut = [min(255, value + addition) if value < threshold else value for value in range(256)]
    return pil_image.point(lut * len(pil_image.getbands()))


EXACT_CASES = {  # name: (our function of the image, PIL's)
    "AutoContrast": (ra.auto_contrast, ImageOps.autocontrast),
    "Equalize": (ra.equalize, ImageOps.equalize),
    "Invert": (ra.invert, ImageOps.invert),
    "Posterize 1": (lambda x: ra.posterize(x, 1), lambda p: ImageOps.posterize(p, 1)),
    "Posterize 3": (lambda x: ra.posterize(x, 3), lambda p: ImageOps.posterize(p, 3)),
    "Solarize 0": (lambda x: ra.solarize(x, 0), lambda p: ImageOps.solarize(p, 0)),
    "Solarize 128": (lambda x: ra.solarize(x, 128), lambda p: ImageOps.solarize(p, 128)),
    "Solarize 256": (lambda x: ra.solarize(x, 256), lambda p: ImageOps.solarize(p, 256)),
    "SolarizeAdd 99": (lambda x: ra.solarize_add(x, 99), lambda p: _solarize_add(p, 99)),
}
BLEND_CASES = {
    f"{name} {factor}": (lambda x, op=op, factor=factor: op(x, factor),
                         lambda p, enhancer=enhancer, factor=factor: enhancer(p).enhance(factor))
    for name, op, enhancer in [("Color", ra.color, ImageEnhance.Color),
                               ("Contrast", ra.contrast, ImageEnhance.Contrast),
                               ("Brightness", ra.brightness, ImageEnhance.Brightness),
                               ("Sharpness", ra.sharpness, ImageEnhance.Sharpness)]
    for factor in (0.28, 1.72)
}
GEOMETRIC_CASES = {
    "Rotate 27": (lambda x: ra.rotate(x, 27.0), lambda p: _rotate(p, 27.0)),
    "Rotate -13.5": (lambda x: ra.rotate(x, -13.5), lambda p: _rotate(p, -13.5)),
    "ShearX 0.27": (lambda x: ra.shear_x(x, 0.27), lambda p: _affine(p, (1, 0.27, 0, 0, 1, 0))),
    "ShearY -0.27": (lambda x: ra.shear_y(x, -0.27), lambda p: _affine(p, (1, 0, 0, -0.27, 1, 0))),
    "TranslateXRel 0.405": (lambda x: ra.translate_x(x, 0.405),
                            lambda p: _affine(p, (1, 0, 0.405 * SIZE, 0, 1, 0))),
    "TranslateYRel -0.3": (lambda x: ra.translate_y(x, -0.3),
                           lambda p: _affine(p, (1, 0, 0, 0, 1, -0.3 * SIZE))),
}


def _difference(ours, reference, image):
    output = ours(tf.constant(image))
    assert output.dtype == tf.uint8 and output.shape == image.shape
    return np.abs(output.numpy().astype(int) - _array(reference(_pil(image))).astype(int))


@pytest.mark.parametrize("case", EXACT_CASES)
def test_table_operations_match_pil_exactly(case, image):
    assert _difference(*EXACT_CASES[case], image).max() == 0


@pytest.mark.parametrize("case", BLEND_CASES)
def test_blends_match_pil_within_one_level(case, image):
    assert _difference(*BLEND_CASES[case], image).max() <= 1


GEOMETRIC_TOLERANCES = {"Rotate": 0.01, "ShearX": 0.02, "ShearY": 0.02, "TranslateXRel": 0.0, "TranslateYRel": 0.0}


@pytest.mark.parametrize("case", GEOMETRIC_CASES)
def test_geometric_operations_match_pil_bilinear(case, image):
    difference = _difference(*GEOMETRIC_CASES[case], image)
    assert difference.max() <= 1 and (difference > 0).mean() <= GEOMETRIC_TOLERANCES[case.split()[0]]


def test_degenerate_histograms_are_left_alone_as_pil_does():
    flat = np.full((4, 4, 3), 77, np.uint8)
    flat[0, 0, 2] = 78  # a channel with two values, one of them in a single pixel: Equalize's step is 0
    for ours, reference in [(ra.auto_contrast, ImageOps.autocontrast), (ra.equalize, ImageOps.equalize)]:
        np.testing.assert_array_equal(ours(tf.constant(flat)).numpy(), np.asarray(reference(_pil(flat))))


def test_posterize_to_zero_bits_is_black():
    # timm's level 0 to 2.5 keeps 0 bits: black with older Pillow (and TF's TPU RandAugment); Pillow 13 refuses 0.
    assert not ra.posterize(tf.fill([4, 4, 3], tf.constant(255, tf.uint8)), 0).numpy().any()


def test_the_op_table_is_timms_rand_transforms_in_order():
    assert list(ra.RAND_AUGMENT_OPS) == TIMM_RAND_TRANSFORMS


def _timm_argument(name, level, sign):
    """timm's LEVEL_TO_ARG for _RAND_TRANSFORMS, written out from timm/data/auto_augment.py."""
    fraction = level / 10.0
    return {
        "Rotate": sign * fraction * 30.0, "ShearX": sign * fraction * 0.3, "ShearY": sign * fraction * 0.3,
        "TranslateXRel": sign * fraction * 0.45, "TranslateYRel": sign * fraction * 0.45,
        "Posterize": int(fraction * 4), "Solarize": int(fraction * 256), "SolarizeAdd": int(fraction * 110),
        "Color": fraction * 1.8 + 0.1, "Contrast": fraction * 1.8 + 0.1, "Brightness": fraction * 1.8 + 0.1,
        "Sharpness": fraction * 1.8 + 0.1,
    }.get(name)


@pytest.mark.parametrize("name", TIMM_RAND_TRANSFORMS)
def test_apply_op_maps_levels_to_timms_arguments(name):
    image = tf.constant(np.random.default_rng(5).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    op = ra.RAND_AUGMENT_OPS[name]
    # 9.3 is not a float32: its arguments must keep float64 (Python float) precision, as timm's do.
    for level, sign in [(0.0, 1.0), (4.5, -1.0), (9.0, 1.0), (9.3, -1.0), (10.0, -1.0)]:
        argument = _timm_argument(name, level, sign)
        expected = op.function(image) if argument is None else op.function(image, argument)
        np.testing.assert_array_equal(ra.apply_op(name, image, level, sign).numpy(), expected.numpy(),
                                      err_msg=f"{name} at level {level}, sign {sign}")


def _seed(value):
    return tf.constant([value, 2024], tf.int64)


def test_rand_augment_is_a_function_of_its_seed(image):
    first = ra.rand_augment(image, _seed(3)).numpy()
    np.testing.assert_array_equal(first, ra.rand_augment(image, _seed(3)).numpy())
    distinct = {ra.rand_augment(image, _seed(value)).numpy().tobytes() for value in range(12)}
    assert len(distinct) >= 8  # each image keeps its pixels with probability 1/4 (both draws skip)
    assert first.dtype == np.uint8 and first.shape == image.shape


def test_rand_augment_in_a_parallel_tf_data_map_matches_eager_calls():
    image = np.random.default_rng(8).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    seeds = tf.random.experimental.stateless_split([0, 9], num=4)
    dataset = tf.data.Dataset.from_tensor_slices(seeds).map(
        lambda seed: (ra.rand_augment(tf.constant(image), seed), random_erasing(tf.constant(image), seed)),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    for seed, (augmented, erased) in zip(seeds, dataset):
        assert augmented.shape == image.shape and augmented.dtype == tf.uint8
        np.testing.assert_array_equal(augmented.numpy(), ra.rand_augment(image, seed).numpy())
        np.testing.assert_array_equal(erased.numpy(), random_erasing(image, seed).numpy())


def test_rand_augment_with_fixed_magnitude_and_three_value_fill_on_grey():
    grey = tf.zeros([SIZE, SIZE, 1], tf.uint8)
    shifted = ra.apply_op("TranslateXRel", grey, 10.0, fill=(128, 128, 128))
    assert set(np.unique(shifted.numpy())) == {0, 128}
    assert ra.rand_augment(grey, _seed(1), magnitude=5, magnitude_std=0.0).shape == grey.shape
    assert ra.rand_augment(grey, _seed(1), magnitude_std=math.inf).shape == grey.shape


def test_rand_augment_rejects_float_images_and_four_channels():
    with pytest.raises(KerasViTError, match="uint8"):
        ra.rand_augment(tf.zeros([8, 8, 3]), _seed(0))
    with pytest.raises(KerasViTError, match="channels"):
        ra.rand_augment(tf.zeros([8, 8, 4], tf.uint8), _seed(0))


def _erased_boxes(image, seeds, **options):
    """The (height, width) of the box each seed erased (None where it erased nothing)."""
    dataset = tf.data.Dataset.from_tensor_slices(seeds).map(
        lambda seed: random_erasing(tf.constant(image), seed, **options), num_parallel_calls=tf.data.AUTOTUNE)
    boxes = []
    for erased in dataset.as_numpy_iterator():
        changed = np.any(erased != image, axis=-1)
        if not changed.any():
            boxes.append(None)
            continue
        rows, columns = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        height, width = rows[-1] - rows[0] + 1, columns[-1] - columns[0] + 1
        assert changed.sum() == height * width  # one filled rectangle, nothing changed outside it
        boxes.append((height, width))
    return boxes


def test_random_erasing_erases_a_quarter_of_the_images_within_the_area_and_aspect_bounds():
    image = np.full((SIZE, SIZE, 3), 100, np.uint8)
    boxes = _erased_boxes(image, tf.random.experimental.stateless_split([1, 2], num=200))
    erased = [box for box in boxes if box is not None]
    assert 0.15 <= len(erased) / len(boxes) <= 0.35  # 0.25 +- 4 standard deviations of 200 draws
    for height, width in erased:
        rounding = 0.5 * (height + width + 1) + 0.25  # h and w are each rounded from the exact box
        assert 0.02 * SIZE * SIZE - rounding <= height * width <= SIZE * SIZE / 3 + rounding
        assert 0.3 * (width - 0.5) - 0.5 <= height <= (width + 0.5) / 0.3 + 0.5


def test_random_erasing_fills_uniform_noise_and_follows_its_seed():
    image = np.full((SIZE, SIZE, 3), 100, np.uint8)
    seed = _seed(4)
    erased = random_erasing(image, seed, probability=1.0).numpy()
    np.testing.assert_array_equal(erased, random_erasing(image, seed, probability=1.0).numpy())
    noise = erased[np.any(erased != image, axis=-1)]
    assert noise.size > 0.02 * image.size and noise.min() < 20 and noise.max() > 235
    np.testing.assert_array_equal(random_erasing(image, seed, probability=0.0).numpy(), image)
    grey = random_erasing(np.zeros((SIZE, SIZE, 1), np.uint8), seed, probability=1.0)
    assert grey.shape == (SIZE, SIZE, 1) and grey.dtype == tf.uint8
