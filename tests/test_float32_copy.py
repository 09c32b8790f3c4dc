"""in_float32: the float32 copy of a mixed-precision model, with its weights, class names and preset."""

import numpy as np
import pytest

import keras_vit
from keras_vit.models.float32_copy import in_float32
from keras_vit.training.precision import precision_scope

TINY = {
    "vit": ("vitc_nano_patch4_28", {"depth": 1}),
    "swin": ("swin_nano_patch2_window4_32", {"depths": (2, 2), "num_heads": (2, 4)}),
    "pvt_v2": ("pvt_v2_nano_patch2_32", {"depths": (1, 1, 1)}),
}


@pytest.mark.parametrize("family", sorted(TINY))
def test_the_copy_computes_in_float32_what_a_float32_model_with_the_same_weights_computes(family, seeded):
    preset, overrides = TINY[family]
    with precision_scope("mixed_bfloat16"):
        mixed = keras_vit.create_model(preset, num_classes=3, **overrides)
    mixed.class_names = ["a", "b", "c"]
    reference = keras_vit.create_model(preset, num_classes=3, **overrides)
    reference.set_weights(mixed.get_weights())
    copy = in_float32(mixed)
    assert {layer.dtype_policy.name for layer in copy._flatten_layers()} == {"float32"}
    assert (copy.class_names, copy.preset) == (["a", "b", "c"], preset)
    images = seeded.uniform(0, 255, (2, *mixed.input_shape[1:])).astype("float32")
    np.testing.assert_allclose(copy.predict_on_batch(images), reference.predict_on_batch(images), rtol=0, atol=1e-5)


def test_a_float32_model_is_returned_as_it_is():
    model = keras_vit.create_model("vit_nano_patch4_28", depth=1)
    assert in_float32(model) is model
