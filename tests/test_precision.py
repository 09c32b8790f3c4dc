"""Mixed precision: models built under a policy, float32 logits, loss scaling, and NaN-free float16 training."""

import json

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.errors import KerasViTError
from keras_vit.training import precision, precision_scope
from keras_vit.training import run as run_module

TINY = {
    "vit_nano_patch4_32": {"embed_dim": 16, "depth": 2, "num_heads": 2, "mlp_dim": 32},
    "swin_nano_patch2_window4_32": {"embed_dim": 8, "depths": (1, 1, 1)},
}


@pytest.mark.parametrize("precision, compute_dtype", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_scope_builds_mixed_layers_keeps_float32_logits_and_restores_the_policy(precision, compute_dtype):
    before = keras.config.dtype_policy().name
    with precision_scope(precision):
        model = keras_vit.create_model("vit_nano_patch4_32", **TINY["vit_nano_patch4_32"])
    assert keras.config.dtype_policy().name == before
    assert model.get_layer("block_0").compute_dtype == compute_dtype
    assert model.get_layer("block_0").variable_dtype == "float32"
    assert model(np.zeros((1, 32, 32, 3), "float32")).dtype == "float32"


@pytest.mark.parametrize("precision, tolerance", [("mixed_float16", 0.02), ("mixed_bfloat16", 0.1)])
def test_mixed_logits_stay_close_to_float32_with_the_same_weights(precision, tolerance):
    keras.utils.set_random_seed(0)
    reference = keras_vit.create_model("vit_nano_patch4_32", **TINY["vit_nano_patch4_32"])
    with precision_scope(precision):
        mixed = keras_vit.create_model("vit_nano_patch4_32", **TINY["vit_nano_patch4_32"])
    mixed.set_weights(reference.get_weights())
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    expected = reference.predict(images, verbose=0)
    np.testing.assert_allclose(mixed.predict(images, verbose=0), expected,
                               atol=tolerance * np.abs(expected).max())


@pytest.mark.parametrize("model", sorted(TINY))
def test_float16_training_has_no_nan_and_scales_the_loss(model, tmp_path):
    result = keras_vit.train(model, epochs=2, batch_size=128, learning_rate=3e-3, warmup_epochs=1,
                             precision="mixed_float16", jit_compile=False, output_dir=tmp_path, verbose=0,
                             **TINY[model])
    assert all(np.isfinite(result.history["loss"])) and np.isfinite(result.test_loss)
    assert isinstance(result.model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert all(np.isfinite(w).all() for w in result.model.get_weights())


def test_unknown_precision_is_a_clear_error(tmp_path):
    with pytest.raises(KerasViTError, match="Unknown precision 'float8'.*mixed_bfloat16"):
        keras_vit.train(precision="float8", output_dir=tmp_path)


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni", "CPU with avx512_bf16"),
    ("fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile", "CPU with amx_bf16"),
    ("fpu sse2 avx2 fma", None),
])
def test_cpus_that_multiply_bfloat16_natively_are_found_from_their_flags(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: a CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert precision.native_bfloat16_device(cpuinfo=cpuinfo) == expected


@pytest.mark.parametrize("device, expected", [
    ("CPU with amx_bf16", ("mixed_bfloat16", False)),
    ("GPU of compute capability 9.0", ("mixed_bfloat16", True)),
    (None, ("float32", True)),
])
def test_auto_is_bfloat16_where_the_device_has_it_and_turns_xla_off_on_cpus(monkeypatch, device, expected):
    monkeypatch.setattr(precision, "native_bfloat16_device", lambda strategy=None: device)
    chosen, jit_compile, reason = precision.resolve_precision("auto", True)
    assert (chosen, jit_compile) == expected
    assert reason.startswith(device or "no device here computes bfloat16 natively")
    for explicit in precision.PRECISIONS:
        assert precision.resolve_precision(explicit, True) == (explicit, True, None)


@pytest.mark.parametrize("device, on_cpu", [("CPU with amx_bf16", True), (None, True),
                                             ("GPU of compute capability 9.0", False)])
def test_auto_is_float32_without_xla_for_small_presets_on_any_cpu(monkeypatch, device, on_cpu):
    monkeypatch.setattr(precision, "native_bfloat16_device", lambda strategy=None: device)
    monkeypatch.setattr(precision, "_on_cpu", lambda strategy: on_cpu)
    chosen, jit_compile, reason = precision.resolve_precision("auto", True, small_model=True)
    if on_cpu:
        assert (chosen, jit_compile) == ("float32", False)
        assert reason.startswith("a nano/micro preset on a CPU")
    else:  # the accelerator's own choice, as for any model
        assert (chosen, jit_compile, reason) == precision.resolve_precision("auto", True)
    assert precision.resolve_precision("mixed_bfloat16", True, small_model=True) == ("mixed_bfloat16", True, None)


@pytest.mark.parametrize("small, chosen, printed", [
    (None, "float32", "a nano/micro preset on a CPU: float32, without XLA"),  # the preset's own size decides
    (False, "mixed_bfloat16", "CPU with amx_bf16: mixed_bfloat16, without XLA"),
])
def test_train_with_auto_precision_builds_what_it_chose_and_records_it(monkeypatch, tmp_path, capsys, small, chosen,
                                                                       printed):
    monkeypatch.setattr(precision, "native_bfloat16_device", lambda strategy=None: "CPU with amx_bf16")
    if small is not None:
        monkeypatch.setattr(run_module, "is_small", lambda name: small)
    result = keras_vit.train("vit_nano_patch4_32", epochs=1, batch_size=128, precision="auto", output_dir=tmp_path,
                             verbose=1, **TINY["vit_nano_patch4_32"])
    assert f"precision auto: {printed}" in capsys.readouterr().out
    assert result.model.get_layer("block_0").compute_dtype == chosen.removeprefix("mixed_")
    assert not result.model.jit_compile
    run = json.loads((tmp_path / "run.json").read_text())
    assert (run["precision"], run["precision_chosen"]) == ("auto", chosen)
