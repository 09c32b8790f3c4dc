"""Tests of layer configs, Keras object serialization and .keras saving of ViT models."""

import json

import keras
import numpy as np
import pytest

import keras_vit
from helpers import check_keras_file_round_trip, check_layer_contract, random_normal, tiny_vit, to_numpy
from keras_vit import layers

# Every layer of keras_vit.layers with non-default arguments, and the config entries those must give.
LAYER_CASES = [
    (layers.Patches, {"patch_size": 7}, {"patch_size": 7}),
    (layers.PatchEncoder,
     {"projection_dim": 12, "grid_size": (3, 5), "use_class_token": False, "use_position_embedding": False,
      "embedding_initializer": keras.initializers.RandomNormal(stddev=0.3), "kernel_initializer": "he_normal"},
     {"projection_dim": 12, "grid_size": [3, 5], "use_class_token": False, "use_position_embedding": False}),
    (layers.MultiHeadSelfAttention,
     {"num_heads": 3, "qkv_bias": False, "attention_dropout_rate": 0.1, "projection_dropout_rate": 0.2},
     {"num_heads": 3, "qkv_bias": False, "attention_dropout_rate": 0.1, "projection_dropout_rate": 0.2}),
    (layers.MLP, {"hidden_dim": 33, "dropout_rate": 0.25}, {"hidden_dim": 33, "dropout_rate": 0.25}),
    (layers.TransformerBlock,
     {"num_heads": 2, "mlp_dim": 20, "dropout_rate": 0.1, "attention_dropout_rate": 0.05, "drop_path_rate": 0.2,
      "layer_scale_init": 1e-4, "qkv_bias": False, "layer_norm_epsilon": 1e-3, "local_grid": (2, 2),
      "leading_tokens": 1},
     {"num_heads": 2, "mlp_dim": 20, "dropout_rate": 0.1, "attention_dropout_rate": 0.05, "drop_path_rate": 0.2,
      "layer_scale_init": 1e-4, "qkv_bias": False, "layer_norm_epsilon": 1e-3, "local_grid": [2, 2],
      "leading_tokens": 1}),
    (layers.DropPath, {"rate": 0.3, "seed": 42}, {"rate": 0.3, "seed": 42}),
    (layers.LayerScale, {"init_value": 0.02}, {"init_value": 0.02}),
    (layers.LayerNorm, {"epsilon": 1e-3, "center": False}, {"epsilon": 1e-3, "center": False}),
    (layers.ImageNormalization, {"mean": (0.1, 0.2, 0.3), "std": (0.4, 0.5, 0.6)},
     {"mean": [0.1, 0.2, 0.3], "std": [0.4, 0.5, 0.6]}),
    (layers.TokenPooling, {"pooling": "gap"}, {"pooling": "gap"}),
    (layers.TokenPooling, {"pooling": "seq"}, {"pooling": "seq"}),
    (layers.WindowAttention,
     {"num_heads": 3, "window_size": (4, 6), "version": 2, "qkv_bias": False, "attention_dropout_rate": 0.1,
      "projection_dropout_rate": 0.2, "cpb_hidden_dim": 64, "pretrained_window_size": 8},
     {"num_heads": 3, "window_size": [4, 6], "version": 2, "qkv_bias": False, "attention_dropout_rate": 0.1,
      "projection_dropout_rate": 0.2, "cpb_hidden_dim": 64, "pretrained_window_size": [8, 8]}),
    (layers.SwinTransformerBlock,
     {"num_heads": 2, "window_size": 6, "shift_size": 3, "mlp_ratio": 2.5, "version": 2, "qkv_bias": False,
      "dropout_rate": 0.1, "attention_dropout_rate": 0.05, "drop_path_rate": 0.2, "layer_norm_epsilon": 1e-3},
     {"num_heads": 2, "window_size": [6, 6], "shift_size": [3, 3], "mlp_ratio": 2.5, "version": 2,
      "qkv_bias": False, "dropout_rate": 0.1, "attention_dropout_rate": 0.05, "drop_path_rate": 0.2,
      "layer_norm_epsilon": 1e-3}),
    (layers.PatchMerging, {"output_dim": 24, "version": 2, "layer_norm_epsilon": 1e-3},
     {"output_dim": 24, "version": 2, "layer_norm_epsilon": 1e-3}),
    (layers.ConvStem, {"channels": (6, 10, 12), "patch_size": 2}, {"channels": [6, 10, 12], "patch_size": 2}),
    (layers.SpatialReductionAttention,
     {"num_heads": 2, "grid_size": (6, 4), "sr_ratio": 2, "linear": True, "qkv_bias": False,
      "attention_dropout_rate": 0.1, "projection_dropout_rate": 0.2, "layer_norm_epsilon": 1e-3},
     {"num_heads": 2, "grid_size": [6, 4], "sr_ratio": 2, "linear": True, "qkv_bias": False,
      "attention_dropout_rate": 0.1, "projection_dropout_rate": 0.2, "layer_norm_epsilon": 1e-3}),
    (layers.PyramidPatchEmbedding, {"embed_dim": 12, "patch_size": 7, "stride": 4, "layer_norm_epsilon": 1e-3},
     {"embed_dim": 12, "patch_size": 7, "stride": 4, "layer_norm_epsilon": 1e-3}),
    (layers.DepthwiseConvMLP,
     {"hidden_dim": 20, "grid_size": (3, 5), "dropout_rate": 0.1, "extra_relu": True, "leading_tokens": 1},
     {"hidden_dim": 20, "grid_size": [3, 5], "dropout_rate": 0.1, "extra_relu": True, "leading_tokens": 1}),
    (layers.StagePositionEmbedding, {"grid_size": (3, 5), "use_class_token": True},
     {"grid_size": [3, 5], "use_class_token": True}),
    (layers.PVTBlock,
     {"num_heads": 2, "grid_size": (4, 4), "sr_ratio": 2, "mlp_ratio": 2.0, "version": 1, "qkv_bias": False,
      "dropout_rate": 0.1, "attention_dropout_rate": 0.05, "drop_path_rate": 0.2, "layer_norm_epsilon": 1e-3},
     {"num_heads": 2, "grid_size": [4, 4], "sr_ratio": 2, "mlp_ratio": 2.0, "version": 1, "qkv_bias": False,
      "dropout_rate": 0.1, "attention_dropout_rate": 0.05, "drop_path_rate": 0.2, "layer_norm_epsilon": 1e-3}),
]
LAYER_IDS = [case[0].__name__ for case in LAYER_CASES]

# An input (with its batch axis) that each layer of LAYER_CASES takes.
CONTRACT_INPUTS = {
    "Patches": (2, 14, 21, 3),
    "PatchEncoder": (2, 15, 8),
    "MultiHeadSelfAttention": (2, 5, 12),
    "MLP": (2, 5, 8),
    "TransformerBlock": (2, 5, 8),
    "DropPath": (2, 5, 8),
    "LayerScale": (2, 5, 8),
    "LayerNorm": (2, 5, 8),
    "ImageNormalization": (2, 4, 4, 3),
    "TokenPooling": (2, 5, 8),
    "WindowAttention": (4, 24, 12),
    "SwinTransformerBlock": (2, 8, 8, 8),
    "PatchMerging": (2, 4, 6, 8),
    "ConvStem": (2, 8, 8, 3),
    "SpatialReductionAttention": (2, 24, 8),
    "PyramidPatchEmbedding": (2, 16, 16, 3),
    "DepthwiseConvMLP": (2, 16, 8),
    "StagePositionEmbedding": (2, 15, 8),
    "PVTBlock": (2, 16, 8),
}


def test_every_public_layer_is_covered():
    public = {name for name in dir(layers) if isinstance(getattr(layers, name), type)
              and issubclass(getattr(layers, name), keras.layers.Layer)}
    assert public == set(LAYER_IDS) == set(CONTRACT_INPUTS)


@pytest.mark.parametrize("cls,kwargs,expected", LAYER_CASES, ids=LAYER_IDS)
def test_layer_config_holds_non_default_arguments(cls, kwargs, expected):
    config = cls(**kwargs, name="custom").get_config()
    assert config["name"] == "custom"
    for key, value in expected.items():
        assert config[key] == value, key


@pytest.mark.parametrize("cls,kwargs,expected", LAYER_CASES, ids=LAYER_IDS)
def test_layer_contract(cls, kwargs, expected):
    # Config and serialization round trips (through JSON), a .keras file under safe_mode, mixed_bfloat16, shapes.
    check_layer_contract(cls(**kwargs, name="custom"), random_normal(CONTRACT_INPUTS[cls.__name__], seed=1))


def test_patch_encoder_initializers_survive_round_trip():
    layer = layers.PatchEncoder(4, (2, 2), embedding_initializer=keras.initializers.Constant(0.75),
                                kernel_initializer=keras.initializers.Constant(-0.5))
    restored = layers.PatchEncoder.from_config(layer.get_config())
    restored.build((None, 4, 3))
    np.testing.assert_array_equal(to_numpy(restored.position_embedding), 0.75)
    np.testing.assert_array_equal(to_numpy(restored.class_token), 0.75)
    np.testing.assert_array_equal(to_numpy(restored.projection.kernel), -0.5)


def all_layers(model):
    return list(model._flatten_layers(include_self=False, recursive=True))


@pytest.mark.parametrize("pooling,local_mlp", [("token", False), ("gap", False), ("token", True)])
def test_vit_keras_file_round_trip(tmp_path, seeded, pooling, local_mlp):
    model = tiny_vit(image_size=(8, 12), pooling=pooling, dropout_rate=0.1, drop_path_rate=0.2, layer_scale_init=0.1,
                     mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3), local_mlp=local_mlp, name="tiny_vit")
    images = seeded.uniform(0, 255, size=(3, 8, 12, 3)).astype("float32")
    loaded = check_keras_file_round_trip(model, images, tmp_path / "vit.keras", atol=1e-6, rtol=0,
                                         outputs_of=lambda m: m.predict(images, verbose=0))
    assert loaded.name == "tiny_vit"
    assert [type(layer) for layer in all_layers(loaded)] == [type(layer) for layer in all_layers(model)]
    assert isinstance(loaded.get_layer("block_1"), layers.TransformerBlock)
    assert loaded.get_layer("block_1").drop_path_rate == pytest.approx(0.2)


def test_vit_contains_no_lambda_layer():
    model = keras_vit.build_vit(image_size=8, patch_size=4, num_classes=3, embed_dim=8, depth=1, num_heads=2,
                                mlp_dim=8, layer_scale_init=0.1, drop_path_rate=0.1)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in all_layers(model))
    assert "Lambda" not in json.dumps(keras.saving.serialize_keras_object(model))
