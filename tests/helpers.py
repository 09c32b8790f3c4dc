"""What the layer and model tests share: NumPy conversions and references, weight randomization, the layer contract,
tiny models, preset building without weights, and every preset's reference parameter count.

Imported as `helpers` (the tests folder is on sys.path, as for pvt_numpy).
"""

import contextlib
import math
import pathlib
import re
import tempfile

import keras
import numpy as np

import keras_vit

_ERF = np.vectorize(math.erf)


# Arrays


def to_numpy(x, dtype=None):
    """A tensor (or variable) as a NumPy array, cast to `dtype` if given; None stays None."""
    if x is None:
        return None
    array = keras.ops.convert_to_numpy(x)
    return array if dtype is None else array.astype(dtype)


def to_float64(x):
    """`to_numpy(x)` in float64, for references computed in double precision."""
    return to_numpy(x, "float64")


def random_normal(shape, seed=0):
    """Standard normal float32 values: tokens, feature maps."""
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def random_pixels(shape, seed=0):
    """Uniform float32 pixels in [0, 255): images for the models."""
    return np.random.default_rng(seed).uniform(0, 255, size=shape).astype("float32")


def numbers_in(error):
    """The set of decimal numbers in an error message (a pytest ExceptionInfo, an exception or a string)."""
    return set(re.findall(r"\d+", str(getattr(error, "value", error))))


# NumPy references


def layer_norm(x, gamma, beta, epsilon=1e-6):
    """LayerNormalization over the last axis."""
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def layer_norm_of(x, layer):
    """`layer_norm` with the gamma, beta and epsilon of a keras.layers.LayerNormalization."""
    return layer_norm(x, to_float64(layer.gamma), to_float64(layer.beta), layer.epsilon)


def gelu(x):
    """The exact (erf) GELU."""
    return 0.5 * x * (1.0 + _ERF(x / math.sqrt(2.0)))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# Weights


def randomize(layer, seed, scale=0.4, *, all_weights=False, add=False, unit_gammas=False):
    """Draws the weights of a built layer or model from N(0, scale^2), weight after weight from one seeded generator.

    all_weights: non-trainable weights too (batch-norm statistics). add: add the draw to the current values instead
    (a perturbation that keeps initial structure such as LayerNorm scales of one). unit_gammas: LayerNorm scales
    (paths ending in "gamma") around 1, so that no normalization is close to a zero.
    """
    rng = np.random.default_rng(seed)
    for weight in layer.weights if all_weights else layer.trainable_weights:
        values = rng.normal(size=weight.shape) * scale
        if unit_gammas and weight.path.endswith("gamma"):
            values += 1.0
        weight.assign((weight + values.astype("float32")) if add else values.astype("float32"))
    return layer


def perturb(model, seed, scale=0.1):
    """Adds N(0, scale^2) to every trainable weight: weights away from their initial values that keep their
    structure (LayerNorm scales near one, small layer scales small)."""
    return randomize(model, seed, scale, add=True)


def weight_value(model, path):
    """The NumPy value of `model`'s weight whose path is `path` (e.g. "block_0/attention/qkv/kernel")."""
    return next(weight.numpy() for weight in model.weights if weight.path == path)


def trainable_parameters(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


# The layer contract


def _outputs(layer, inputs):
    return to_numpy(layer(inputs, training=False))


def check_layer_contract(layer, inputs, *, seed=0, atol=1e-6):
    """What every keras_vit layer must do, checked on `inputs` (a NumPy array with its batch axis):

    - its config round trips: from_config gives the same config and, with the same weights, the same outputs, and
      keras.saving.(de)serialize_keras_object (through JSON) gives the same class and config;
    - a functional model around it saves to a `.keras` file that loads under safe_mode=True with equal outputs;
    - under the mixed_bfloat16 policy it computes in bfloat16 (output dtype) and gives the same output shape;
    - its output shape is what it announces: compute_output_shape, where the layer defines one, and the symbolic
      output of a keras.Input with an unknown batch.

    The layer is built on `inputs` and its trainable weights perturbed (`randomize(add=True)`) first, so that the
    round trips carry weights other than the initial ones. Returns the layer's float32 outputs.
    """
    import json

    inputs = np.asarray(inputs)
    layer.build(inputs.shape)
    randomize(layer, seed, scale=0.1, add=True)
    outputs = _outputs(layer, inputs)
    config = layer.get_config()

    clone = type(layer).from_config(config)
    clone.build(inputs.shape)
    clone.set_weights(layer.get_weights())
    assert type(clone) is type(layer) and clone.get_config() == config
    np.testing.assert_allclose(_outputs(clone, inputs), outputs, atol=atol, rtol=0)
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    assert serialized["registered_name"] == f"keras_vit>{type(layer).__name__}"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(layer) and restored.get_config() == config

    symbolic = keras.Input(inputs.shape[1:], dtype=inputs.dtype.name)
    model = keras.Model(symbolic, layer(symbolic))
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "layer.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(to_numpy(loaded(inputs, training=False)), outputs, atol=atol, rtol=0)
    assert type(loaded.layers[-1]) is type(layer)

    assert tuple(model.output.shape) == (None, *outputs.shape[1:])
    if type(layer).compute_output_shape is not keras.layers.Layer.compute_output_shape:
        assert tuple(layer.compute_output_shape(inputs.shape)) == outputs.shape
        assert tuple(layer.compute_output_shape((None, *inputs.shape[1:]))) == (None, *outputs.shape[1:])

    mixed = type(layer).from_config({**config, "dtype": "mixed_bfloat16"})
    mixed.build(inputs.shape)
    mixed.set_weights(layer.get_weights())
    mixed_outputs = mixed(inputs, training=False)
    assert mixed.compute_dtype == "bfloat16" and keras.backend.standardize_dtype(mixed_outputs.dtype) == "bfloat16"
    assert tuple(mixed_outputs.shape) == outputs.shape
    assert np.isfinite(to_numpy(mixed_outputs, "float32")).all()
    return outputs


# Model checks


def check_keras_file_round_trip(model, inputs, path, *, outputs_of=None, atol=1e-5, rtol=1e-5):
    """Saves `model` to the `.keras` file `path` and loads it under safe_mode=True: the same outputs on `inputs`
    (`outputs_of(model)`, by default an inference call), name, and weights (paths and values). Returns the loaded
    model."""
    outputs_of = outputs_of or (lambda m: to_numpy(m(inputs, training=False)))
    expected = outputs_of(model)
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(outputs_of(loaded), expected, atol=atol, rtol=rtol)
    assert loaded.name == model.name
    assert len(loaded.weights) == len(model.weights)
    for original, restored in zip(model.weights, loaded.weights):
        assert original.path == restored.path
        np.testing.assert_array_equal(to_numpy(restored), to_numpy(original))
    return loaded


def check_model_config_round_trip(model, inputs, atol=1e-6):
    """keras.Model.from_config(model.get_config()) with the model's weights gives its outputs on `inputs`."""
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(to_numpy(clone(inputs)), to_numpy(model(inputs)), atol=atol, rtol=0)
    return clone


def check_mixed_precision_close(build, inputs, policy, tolerance, seed=6):
    """`build()` under the mixed `policy` (the global one, set by the dtype_policy fixture) and under float32, with
    the same perturbed weights: float32, finite outputs within `tolerance` of the float32 model's (relative to their
    largest magnitude, at least 1). Returns the mixed model. The initial weights are drawn from `seed` too: about
    one random initialisation in 150 puts the float16 Swin V2 beyond 0.03, so unseeded, the outcome depended on
    which tests had drawn random numbers before."""
    keras.utils.set_random_seed(seed)
    mixed = build()
    keras.config.set_dtype_policy("float32")
    reference = build()
    keras.config.set_dtype_policy(policy)
    perturb(reference, seed)
    mixed.set_weights(reference.get_weights())
    expected = to_numpy(reference(inputs))
    outputs = to_numpy(mixed(inputs))
    assert outputs.dtype == np.float32 and np.isfinite(outputs).all()
    assert np.abs(outputs - expected).max() <= tolerance * max(1.0, np.abs(expected).max())
    return mixed


# Tiny models

TINY_VIT = {"patch_size": 4, "num_classes": 5, "embed_dim": 16, "depth": 2, "num_heads": 2, "mlp_dim": 24}
TINY_PVT = dict(patch_size=2, num_classes=5, embed_dims=(8, 16, 24), depths=(1, 2, 1), num_heads=(1, 2, 3),
                mlp_ratios=(2, 3, 2), sr_ratios=(4, 2, 1), mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))


def tiny_vit(**overrides):
    """A two-block ViT on 16x16 images (4x4 patches of 16 channels), five classes."""
    return keras_vit.build_vit(**{"image_size": 16, **TINY_VIT, **overrides})


def tiny_swin(version=1, image_size=(24, 20), **overrides):
    """Two stages on a 12x10 grid, then 6x5: a padded, shifted first stage and a clamped, padded second one."""
    arguments = dict(image_size=image_size, patch_size=2, num_classes=5, embed_dim=8, depths=(2, 2),
                     num_heads=(2, 4), window_size=4, version=version, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    return keras_vit.build_swin(**{**arguments, **overrides})


def tiny_pvt(version=2, image_size=(22, 18), **overrides):
    """Three stages on 11x9, 6x5 and 3x3 grids (v2) or 11x9, 5x4 and 2x2 (v1): no side a multiple of 4 or 2."""
    arguments = {**TINY_PVT, "image_size": image_size, "version": version,
                 "pooling": "token" if version == 1 else "gap"}
    return keras_vit.build_pvt(**{**arguments, **overrides})


# Presets


@contextlib.contextmanager
def unallocated_variables():
    """Variables created inside get their shapes but no values (Keras' deferred initialization of a
    StatelessScope), and are never initialized afterwards: building vit_huge_patch14_224 takes a fraction of a
    second and no memory, where initializing its 632M weights takes some 20 s and 2.5 GB. The models built inside
    can be counted, inspected and re-created from their configs, not called."""
    from keras.src.backend.common import global_state

    pending = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
    before = len(pending)
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        del pending[before:]


def preset_depth_cut(name):
    """Overrides that keep one block per stage of preset `name`: the same layers, a fraction of the cost."""
    config = keras_vit.preset_config(name)
    if config["architecture"] == "vit":
        return {"depth": 1}
    return {"depths": (1,) * len(config["depths"])}


# Trainable parameters of every preset with its own classes and image size, keyed by name: one table for the whole
# registry (test_presets.py checks that it names every preset, no more, and that the counter and the built model
# give each count; a preset missing here fails there, so add its count with the preset). Entries marked
# "published" were checked against published counts before this table existed (timm 1.0.31 for ViT, Swin and
# PVT v2; PVT v1 from the official definitions, whai362/PVT classification/pvt.py, whose README rounds them to
# 13.2M, 24.5M, 44.2M and 61.4M). The others are the counts of the models as built when the table was made (the
# small-image presets are this package's own), pinned so that a change to a builder or a preset shows.
REFERENCE_PARAMETERS = {
    # ViT
    "vit_tiny_patch16_224": 5_717_416,  # published
    "vit_tiny_patch16_384": 5_790_376,
    "vit_small_patch16_224": 22_050_664,  # published
    "vit_small_patch16_384": 22_196_584,
    "vit_small_patch32_224": 22_878_952,
    "vit_small_patch32_384": 22_915_432,
    "vit_small_patch8_224": 22_055_272,
    "vit_base_patch16_224": 86_567_656,  # published
    "vit_base_patch16_384": 86_859_496,
    "vit_base_patch32_224": 88_224_232,  # published
    "vit_base_patch32_384": 88_297_192,
    "vit_base_patch8_224": 86_576_872,
    "vit_large_patch14_224": 304_203_752,
    "vit_large_patch16_224": 304_326_632,  # published
    "vit_large_patch16_384": 304_715_752,
    "vit_large_patch32_224": 306_535_400,
    "vit_large_patch32_384": 306_632_680,
    "vit_huge_patch14_224": 632_045_800,
    # ViT and ViT_C of small images
    "vit_nano_patch2_32": 151_882,
    "vit_nano_patch4_32": 141_898,
    "vit_nano_patch4_28": 138_890,
    "vit_micro_patch2_32": 830_858,
    "vit_micro_patch4_32": 810_890,
    "vit_micro_patch4_28": 804_874,
    "vitc_nano_patch4_32": 199_402,
    "vitc_nano_patch4_28": 197_866,
    "vitc_nano_patch4_local_32": 204_522,
    "vitc_nano_patch4_local_28": 202_986,
    "vitc_micro_patch4_32": 914_602,
    "vitc_micro_patch4_28": 912_106,
    # Swin and Swin V2
    "swin_tiny_patch4_window7_224": 28_288_354,  # published
    "swin_small_patch4_window7_224": 49_606_258,  # published
    "swin_base_patch4_window7_224": 87_768_224,  # published
    "swin_large_patch4_window7_224": 196_532_476,
    "swin_base_patch4_window12_384": 87_903_584,
    "swin_large_patch4_window12_384": 196_735_516,
    "swinv2_tiny_window8_256": 28_347_154,  # published
    "swinv2_tiny_window16_256": 28_347_154,
    "swinv2_small_window8_256": 49_728_418,
    "swinv2_small_window16_256": 49_728_418,
    "swinv2_base_window8_256": 87_918_816,
    "swinv2_base_window16_256": 87_918_816,
    "swin_nano_patch2_window4_32": 567_046,
    "swin_micro_patch2_window4_32": 5_407_430,
    "swinv2_nano_patch2_window4_32": 588_422,
    # PVT v2 and v1
    "pvt_v2_b0": 3_666_760,  # published
    "pvt_v2_b1": 14_009_000,  # published
    "pvt_v2_b2": 25_362_856,  # published
    "pvt_v2_b2_li": 22_553_512,  # published
    "pvt_v2_b3": 45_238_696,  # published
    "pvt_v2_b4": 62_556_072,  # published
    "pvt_v2_b5": 81_956_008,  # published
    "pvt_tiny": 13_229_288,  # published
    "pvt_small": 24_485_864,  # published
    "pvt_medium": 44_208_104,  # published
    "pvt_large": 61_369_320,  # published
    "pvt_nano_patch2_28": 642_154,
    "pvt_nano_patch2_32": 646_186,
    "pvt_v2_nano_patch2_28": 700_810,
    "pvt_v2_nano_patch2_32": 701_386,
}
