"""Tests that models saved by the TensorFlow backend load and give the same outputs under JAX, without TensorFlow,
and that keras_vit imports there: models, layers and checkpoint import work, the rest names TensorFlow."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from helpers import perturb, tiny_pvt, tiny_swin, tiny_vit
from keras_vit import layers
from test_weights_vit import CLASSES, DEPTH, DIM, HEADS, IMAGE, MLP, PATCH, reference_vit, save, timm_vit_tensors
from test_weights_vit import images as vit_images

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
MODEL_NAMES = ("vit", "layers", "swin", "swinv2", "pvt")

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed"),
    pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="compares JAX with the TensorFlow backend"),
]

JAX_SCRIPT = textwrap.dedent("""
    import json
    import pathlib
    import sys

    sys.modules["tensorflow"] = None  # as if TensorFlow were not installed: models and layers must not need it
    import keras
    import numpy as np

    assert keras.backend.backend() == "jax", keras.backend.backend()
    import jax  # noqa: F401  (the backend really is JAX)
    import keras_vit  # registers the layers

    from keras_vit.layers import attention

    folder = pathlib.Path(sys.argv[1])
    images = np.load(folder / "images.npy")
    fused_calls, fused_kernel = {}, keras.ops.dot_product_attention
    for name in ("vit", "layers", "swin", "swinv2", "pvt"):
        model = keras.saving.load_model(folder / f"{name}_tf.keras", safe_mode=True)
        keras.ops.dot_product_attention = lambda *args, name=name, **kwargs: fused_calls.update(
            {name: fused_calls.get(name, 0) + 1}) or fused_kernel(*args, **kwargs)
        outputs = keras.ops.convert_to_numpy(model(images, training=False))
        keras.ops.dot_product_attention = fused_kernel
        np.save(folder / f"{name}_jax.npy", outputs)
        attention.FUSED_ATTENTION_BACKENDS = ()  # the explicit path, as on TensorFlow
        np.save(folder / f"{name}_jax_explicit.npy", keras.ops.convert_to_numpy(model(images, training=False)))
        attention.FUSED_ATTENTION_BACKENDS = ("jax", "torch")
        model.save(folder / f"{name}_jax.keras")
        reloaded = keras.saving.load_model(folder / f"{name}_jax.keras", safe_mode=True)
        reloaded_outputs = keras.ops.convert_to_numpy(reloaded(images, training=False))
        np.testing.assert_allclose(reloaded_outputs, outputs, atol=1e-5, rtol=1e-5)
        np.save(folder / f"{name}_jax_reloaded.npy", reloaded_outputs)
    vit = keras_vit.build_vit(**json.loads((folder / "timm_vit.json").read_text()))
    keras_vit.weights.load_pretrained_weights(vit, folder / "timm_vit.safetensors")
    timm_outputs = keras.ops.convert_to_numpy(vit(np.load(folder / "timm_images.npy"), training=False))
    np.save(folder / "timm_vit_jax.npy", timm_outputs)
    outcomes = {}  # each public name of keras_vit under TensorFlow -> "ok" or the error it raises here
    for name in json.loads((folder / "public_names.json").read_text()):
        try:
            getattr(keras_vit, name)
            outcomes[name] = "ok"
        except (ImportError, AttributeError) as error:
            outcomes[name] = f"{type(error).__name__}: {error}"
    (folder / "outcomes.json").write_text(json.dumps(outcomes))
    (folder / "fused_calls.json").write_text(json.dumps(fused_calls))
    print("backend", keras.backend.backend())
""")


PUBLIC_NAMES_SCRIPT = textwrap.dedent("""
    import inspect
    import json

    import keras_vit

    print(json.dumps([name for name in dir(keras_vit) if not name.startswith("_")  # lazy names included
                      and not (inspect.ismodule(value := getattr(keras_vit, name))
                               and not value.__name__.startswith("keras_vit"))]))
""")


def public_names(env):
    """The public names of a fresh `import keras_vit` with TensorFlow, less the modules it imported from outside
    keras_vit (os, tensorflow). Fresh: the submodules other tests import (keras_vit.data, ...) are not among them."""
    result = subprocess.run([sys.executable, "-c", PUBLIC_NAMES_SCRIPT], env=env, capture_output=True, text=True,
                            timeout=300, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def small_vit():
    return tiny_vit(image_size=(16, 12), num_classes=6, layer_scale_init=0.1, drop_path_rate=0.1, dropout_rate=0.1,
                    mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))


def small_swin(version=1):
    """An 8x6 patch grid: padded, shifted windows in stage 0; clamped, unshifted ones in stage 1."""
    return tiny_swin(version, image_size=(16, 12), num_classes=6, drop_path_rate=0.1)


def small_swinv2():
    return small_swin(version=2)


def small_pvt():
    """PVT v2 on 8x6 and 4x3 grids: a stride-2 spatial reduction (8x6 -> 4x3 keys), depth-wise convolutions."""
    return tiny_pvt(2, image_size=(16, 12), num_classes=6, embed_dims=(8, 16), depths=(1, 1), num_heads=(1, 2),
                    mlp_ratios=(2, 2), sr_ratios=(2, 1), drop_path_rate=0.1)


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


def write_timm_checkpoint(folder):
    """A tiny timm ViT checkpoint (BF16 / F16 / F32 tensors), images, and the NumPy forward pass of the two."""
    rng = np.random.default_rng(3)
    tensors = timm_vit_tensors(rng)
    save(folder / "timm_vit.safetensors", tensors)
    (folder / "timm_vit.json").write_text(json.dumps(
        dict(image_size=IMAGE, patch_size=PATCH, num_classes=CLASSES, embed_dim=DIM, depth=DEPTH, num_heads=HEADS,
             mlp_dim=MLP)))
    timm_images = vit_images(rng)
    np.save(folder / "timm_images.npy", timm_images)
    np.save(folder / "timm_vit_reference.npy", reference_vit(tensors, timm_images))


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    """Saves the models, a timm checkpoint and keras_vit's public names under TensorFlow, runs them under JAX in one
    subprocess; returns the folder."""
    folder = tmp_path_factory.mktemp("jax_backend")
    keras.utils.set_random_seed(7)
    images = np.random.default_rng(0).uniform(0, 255, size=(3, 16, 12, 3)).astype("float32")
    np.save(folder / "images.npy", images)
    builders = (small_vit, model_from_layers, small_swin, small_swinv2, small_pvt)
    for seed, (name, build) in enumerate(zip(MODEL_NAMES, builders)):
        model = build()
        perturb(model, seed, scale=0.05)
        np.save(folder / f"{name}_tf.npy", keras.ops.convert_to_numpy(model(images, training=False)))
        model.save(folder / f"{name}_tf.keras")
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    names = public_names({**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path})
    (folder / "public_names.json").write_text(json.dumps(names))
    write_timm_checkpoint(folder)
    script = folder / "run_under_jax.py"
    script.write_text(JAX_SCRIPT)
    # XLA's CPU code generation unoptimised: JAX compiles each eager op once and these models run once or twice,
    # so compiling dominates (the subprocess takes about two thirds of the time)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": path, "XLA_FLAGS": "--xla_backend_optimization_level=0"}
    result = subprocess.run([sys.executable, str(script), str(folder)], env=env, capture_output=True, text=True,
                            timeout=300, cwd=folder)
    if result.returncode != 0:
        pytest.fail(f"JAX subprocess failed with code {result.returncode}:\n{result.stderr[-5000:]}")
    assert "backend jax" in result.stdout
    return folder


def test_package_imports_without_tensorflow_and_names_it_where_needed(jax_run):
    outcomes = json.loads((jax_run / "outcomes.json").read_text())
    assert set(outcomes) == set(json.loads((jax_run / "public_names.json").read_text()))
    assert {"train", "load_dataset", "weights"} <= set(outcomes)  # the names really come from a TensorFlow import
    for name in ("layers", "models", "weights", "create_model", "build_vit", "build_swin", "KerasViTError"):
        assert outcomes[name] == "ok"
    assert outcomes["train"].startswith("ImportError: keras_vit.train needs TensorFlow")
    for name, outcome in outcomes.items():  # every name is there, or says that it needs TensorFlow
        assert outcome == "ok" or ("needs TensorFlow" in outcome and "pip install tensorflow" in outcome), name


def test_published_checkpoints_import_without_tensorflow(jax_run):
    reference = np.load(jax_run / "timm_vit_reference.npy")
    np.testing.assert_allclose(np.load(jax_run / "timm_vit_jax.npy"), reference, atol=1e-4)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_tf_saved_model_gives_same_outputs_under_jax(jax_run, name):
    tf_outputs = np.load(jax_run / f"{name}_tf.npy")
    jax_outputs = np.load(jax_run / f"{name}_jax.npy")
    assert jax_outputs.shape == tf_outputs.shape
    assert np.std(tf_outputs) > 1e-3  # the outputs carry information, not a constant
    np.testing.assert_allclose(jax_outputs, tf_outputs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_jax_attends_through_its_fused_kernel_with_the_explicit_paths_outputs(jax_run, name):
    calls = json.loads((jax_run / "fused_calls.json").read_text())
    assert calls.get(name, 0) >= 2, f"{name}: every attention layer takes keras.ops.dot_product_attention"
    np.testing.assert_allclose(np.load(jax_run / f"{name}_jax.npy"), np.load(jax_run / f"{name}_jax_explicit.npy"),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_saved_under_jax_reloads_with_same_outputs(jax_run, name):
    tf_outputs = np.load(jax_run / f"{name}_tf.npy")
    np.testing.assert_allclose(np.load(jax_run / f"{name}_jax_reloaded.npy"), tf_outputs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_saved_under_jax_loads_back_under_tensorflow(jax_run, name):
    model = keras.saving.load_model(jax_run / f"{name}_jax.keras", safe_mode=True)
    outputs = keras.ops.convert_to_numpy(model(np.load(jax_run / "images.npy"), training=False))
    np.testing.assert_allclose(outputs, np.load(jax_run / f"{name}_tf.npy"), atol=1e-5, rtol=1e-5)
