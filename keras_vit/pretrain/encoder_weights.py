"""Loading the encoder of a pretraining (or any model of the same preset) into a classifier."""

from keras_vit.errors import KerasViTError


def load_encoder_weights(model, source, new_layers=("head",)):
    """Sets every weight of `model` outside `new_layers` from the weight of the same path in `source`.

    Weights are matched by path (`patch_encoder/position_embedding`, `block_0/attention/qkv/kernel`,
    `stage_1_merging/reduction/kernel`, ...), which the builders' layer names fix, for ViT, Swin and PVT alike;
    position embeddings (ViT's `PatchEncoder`, PVT v1's `StagePositionEmbedding`) are resampled, as their layer's
    `resampled_position_embedding` does, when the token grids differ. Nothing is set unless every weight matches.

    Args:
        model: the classifier (e.g. `create_model(preset, num_classes=...)`).
        source: a model holding the encoder: a pretraining's encoder.keras, a classifier of the same preset (e.g. a
            `train` output's model.keras), ...
        new_layers: layers of `model` that keep their own weights (the new head).

    Returns:
        The paths of the weights set.

    Raises:
        KerasViTError: a weight of `model` has no counterpart in `source`, or another shape; all are named.

    Example:
        >>> classifier = keras_vit.create_model("vit_nano_patch4_28", num_classes=3, image_size=12)
        >>> load_encoder_weights(classifier, keras.saving.load_model("runs/mae/encoder.keras"))
    """
    sources = {weight.path: weight for weight in source.weights}
    positions = {layer.name: layer for layer in source.layers if hasattr(layer, "resampled_position_embedding")}
    values, problems = {}, []
    for layer in model.layers:
        if layer.name in new_layers:
            continue
        for weight in layer.weights:
            found = sources.get(weight.path)
            if found is None:
                problems.append(f"{weight.path} is missing")
            elif tuple(found.shape) == tuple(weight.shape):
                values[weight.path] = (weight, found)
            elif layer.name in positions and weight.path.endswith("position_embedding"):
                values[weight.path] = (weight, positions[layer.name].resampled_position_embedding(layer.grid_size))
            else:
                problems.append(f"{weight.path} has shape {tuple(found.shape)}, expected {tuple(weight.shape)}")
    if problems:
        raise KerasViTError(f"The encoder of '{source.name}' does not fit model '{model.name}': "
                            f"{'; '.join(problems)}.")
    for weight, value in values.values():
        weight.assign(value)
    return list(values)
