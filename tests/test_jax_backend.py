"""Tests that models saved by the TensorFlow backend load and give the same outputs under JAX, without TensorFlow."""

import importlib.util
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit import layers

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
MODEL_NAMES = ("vit", "layers", "swin", "swinv2")

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed"),
    pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="compares JAX with the TensorFlow backend"),
]

JAX_SCRIPT = textwrap.dedent("""
    import pathlib
    import sys

    sys.modules["tensorflow"] = None  # as if TensorFlow were not installed: models and layers must not need it
    import keras
    import numpy as np

    assert keras.backend.backend() == "jax", keras.backend.backend()
    import jax  # noqa: F401  (the backend really is JAX)
    import keras_vit  # registers the layers

    folder = pathlib.Path(sys.argv[1])
    images = np.load(folder / "images.npy")
    for name in ("vit", "layers", "swin", "swinv2"):
        model = keras.saving.load_model(folder / f"{name}_tf.keras", safe_mode=True)
        outputs = keras.ops.convert_to_numpy(model(images, training=False))
        np.save(folder / f"{name}_jax.npy", outputs)
        model.save(folder / f"{name}_jax.keras")
        reloaded = keras.saving.load_model(folder / f"{name}_jax.keras", safe_mode=True)
        reloaded_outputs = keras.ops.convert_to_numpy(reloaded.predict(images, verbose=0))
        np.testing.assert_allclose(reloaded_outputs, outputs, atol=1e-5, rtol=1e-5)
        np.save(folder / f"{name}_jax_reloaded.npy", reloaded_outputs)
    try:
        keras_vit.train
    except ImportError as error:
        print("train without tensorflow:", error)
    print("backend", keras.backend.backend())
""")


def randomize(model, seed):
    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        weight.assign(weight + (rng.normal(size=weight.shape) * 0.05).astype("float32"))


def small_vit():
    return keras_vit.build_vit(image_size=(16, 12), patch_size=4, num_classes=6, embed_dim=16, depth=2, num_heads=2,
                               mlp_dim=24, layer_scale_init=0.1, drop_path_rate=0.1, dropout_rate=0.1,
                               mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))


def small_swin(version=1):
    """An 8x6 patch grid: padded, shifted windows in stage 0; clamped, unshifted ones in stage 1."""
    return keras_vit.build_swin(image_size=(16, 12), patch_size=2, num_classes=6, embed_dim=8, depths=(2, 2),
                                num_heads=(2, 4), window_size=4, version=version, drop_path_rate=0.1,
                                mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))


def small_swinv2():
    return small_swin(version=2)


def model_from_layers():
    """A functional model that uses every keras_vit layer directly."""
    images = keras.Input((16, 12, 3))
    x = layers.ImageNormalization(0.5, 0.25)(images)
    x = layers.Patches(4)(x)
    x = layers.PatchEncoder(16, (4, 3))(x)
    x = layers.TransformerBlock(4, 20, layer_scale_init=0.2, drop_path_rate=0.1, qkv_bias=False)(x)
    attended = layers.MultiHeadSelfAttention(2)(keras.layers.LayerNormalization()(x))
    x = keras.layers.Add()([x, layers.DropPath(0.2)(layers.LayerScale(0.5)(attended))])
    x = keras.layers.Add()([x, layers.MLP(32, dropout_rate=0.1)(x)])
    outputs = keras.layers.Dense(4)(layers.TokenPooling("gap")(x))
    return keras.Model(images, outputs)


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    """Saves the two models under TensorFlow, runs them under JAX in one subprocess; returns the folder."""
    folder = tmp_path_factory.mktemp("jax_backend")
    keras.utils.set_random_seed(7)
    images = np.random.default_rng(0).uniform(0, 255, size=(3, 16, 12, 3)).astype("float32")
    np.save(folder / "images.npy", images)
    builders = (small_vit, model_from_layers, small_swin, small_swinv2)
    for seed, (name, build) in enumerate(zip(MODEL_NAMES, builders)):
        model = build()
        randomize(model, seed)
        np.save(folder / f"{name}_tf.npy", keras.ops.convert_to_numpy(model(images, training=False)))
        model.save(folder / f"{name}_tf.keras")
    script = folder / "run_under_jax.py"
    script.write_text(JAX_SCRIPT)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, str(script), str(folder)], env=env, capture_output=True, text=True,
                            timeout=300, cwd=folder)
    if result.returncode != 0:
        pytest.fail(f"JAX subprocess failed with code {result.returncode}:\n{result.stderr[-5000:]}")
    assert "backend jax" in result.stdout
    (folder / "stdout.txt").write_text(result.stdout)
    return folder


def test_package_imports_without_tensorflow_and_names_it_where_needed(jax_run):
    stdout = (jax_run / "stdout.txt").read_text()
    assert "train without tensorflow: keras_vit.train needs TensorFlow" in stdout
    assert "pip install tensorflow" in stdout


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_tf_saved_model_gives_same_outputs_under_jax(jax_run, name):
    tf_outputs = np.load(jax_run / f"{name}_tf.npy")
    jax_outputs = np.load(jax_run / f"{name}_jax.npy")
    assert jax_outputs.shape == tf_outputs.shape
    assert np.std(tf_outputs) > 1e-3  # the outputs carry information, not a constant
    np.testing.assert_allclose(jax_outputs, tf_outputs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_saved_under_jax_reloads_with_same_outputs(jax_run, name):
    tf_outputs = np.load(jax_run / f"{name}_tf.npy")
    np.testing.assert_allclose(np.load(jax_run / f"{name}_jax_reloaded.npy"), tf_outputs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_saved_under_jax_loads_back_under_tensorflow(jax_run, name):
    model = keras.saving.load_model(jax_run / f"{name}_jax.keras", safe_mode=True)
    outputs = keras.ops.convert_to_numpy(model(np.load(jax_run / "images.npy"), training=False))
    np.testing.assert_allclose(outputs, np.load(jax_run / f"{name}_tf.npy"), atol=1e-5, rtol=1e-5)
