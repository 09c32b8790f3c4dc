"""A float32 copy of a model trained in mixed precision: what the exports write."""

import keras

from keras_vit.models.image_model import ImageModel


def in_float32(model):
    """`model` when all its layers compute in float32, else a copy that does, with the same weights and metadata.

    A model built under `mixed_bfloat16` or `mixed_float16` keeps float32 variables but computes in 16 bits; TFLite
    and ONNX have no kernels for many 16-bit ops, and a served float32 graph runs on any CPU. The copy is the same
    functional graph with every layer (sublayers included, since the package's layers create them in their own
    policy) rebuilt from its config in float32, then given the model's weights. Memory: one more set of weights.

    Example:
        >>> from keras_vit.training.precision import precision_scope
        >>> with precision_scope("mixed_bfloat16"):
        ...     model = keras_vit.create_model("vit_nano_patch4_28")
        >>> in_float32(model).layers[-1].compute_dtype
        'float32'
    """
    if all(layer.dtype_policy.name == "float32" for layer in model._flatten_layers()):
        return model
    copy = keras.models.clone_model(model, clone_function=_float32_layer)
    copy.set_weights(model.get_weights())
    if isinstance(model, ImageModel) and isinstance(copy, ImageModel):
        copy.class_names, copy.preset = model.class_names, model.preset
    return copy


def _float32_layer(layer):
    return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})
