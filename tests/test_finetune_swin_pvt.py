"""Fine-tuning Swin and PVT: a PVT checkpoint file and a Swin classifier as starts, each stage at its rate, PVT v1's
position embeddings resampled, a pretraining's encoder refused, the preset a .keras file names, and the CLI."""

import json

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit import KerasViTError
from keras_vit.finetuning import load_encoder_weights
from keras_vit_cli.main import main
from helpers import weight_value
from test_finetune import DECAY
from test_pvt_weights import TINY as PVT_TINY, pvt_tensors, save


def test_pvt_v1_position_embeddings_are_resampled_when_a_classifier_loads_another_image_size():
    source = keras_vit.create_model("pvt_nano_patch2_28", image_size=8, channels=1, num_classes=3)
    target = keras_vit.create_model("pvt_nano_patch2_28", image_size=12, channels=1, num_classes=5)
    loaded = load_encoder_weights(target, source)
    assert sorted(loaded) == sorted(weight.path for weight in target.weights if not weight.path.startswith("head/"))
    positions = target.get_layer("stage_0_position")
    assert positions.position_embedding.shape == (1, 36, 32), "4x4 grid resampled to 6x6"
    np.testing.assert_allclose(positions.position_embedding.numpy(), source.get_layer(
        "stage_0_position").resampled_position_embedding(positions.grid_size), atol=1e-6)


def test_finetuning_from_a_pvt_checkpoint_file_gets_a_new_head_the_weights_and_each_stages_rates(tmp_path, seeded):
    tensors = pvt_tensors(seeded)  # two stages of 1 and 2 blocks: depth 3
    tensors["patch_embed.proj.weight"] = tensors["patch_embed.proj.weight"][:, :1]  # one channel, as the digits
    path = save(tmp_path / "pvt.safetensors", tensors)
    tiny = {key: value for key, value in PVT_TINY.items() if key not in ("num_classes", "mean", "std")}
    result = keras_vit.finetune(path, model="pvt_v2_b0", epochs=1, batch_size=512, learning_rate=1e-9,
                                layer_decay=DECAY, augment="none", jit_compile=False, verbose=0,
                                output_dir=tmp_path / "run", **tiny)
    model = result.model
    assert model.output_shape == (None, 10) and model.input_shape == (None, 8, 8, 1)
    np.testing.assert_allclose(model.get_layer("stage_1_block_1").norm1.gamma.numpy(),
                               tensors["stages.1.blocks.1.norm1.weight"], atol=1e-6)
    scales = {weight.path.split("/")[0]: model.optimizer.learning_rate_scale(weight)
              for weight in model.trainable_weights}
    assert scales == {"stage_0_embedding": DECAY ** 4, "stage_0_block_0": DECAY ** 3, "stage_0_norm": DECAY ** 3,
                      "stage_1_embedding": DECAY ** 2, "stage_1_block_0": DECAY ** 2, "stage_1_block_1": DECAY,
                      "stage_1_norm": 1.0, "head": 1.0}
    run = json.loads((result.output_dir / "run.json").read_text())
    assert run["model"] == "pvt_v2_b0" and run["layer_decay"] == DECAY and run["pretrained"] == str(path)


@pytest.fixture(scope="module")
def swin_run(tmp_path_factory):
    return keras_vit.train("swin_nano_patch2_window4_32", epochs=1, batch_size=512, jit_compile=False, verbose=0,
                           output_dir=tmp_path_factory.mktemp("swin") / "run")


def test_finetuning_from_a_swin_classifier_loads_all_but_the_head_and_trains_each_stage_at_its_rate(swin_run,
                                                                                                     tmp_path):
    source = keras.saving.load_model(swin_run.model_path, safe_mode=True)
    result = keras_vit.finetune(swin_run.model_path, epochs=1, batch_size=256, learning_rate=1e-3, layer_decay=DECAY,
                                weight_decay=0.0, warmup_epochs=0, jit_compile=False, verbose=0,
                                output_dir=tmp_path / "run")
    model = result.model
    assert json.loads((result.output_dir / "run.json").read_text())["model"] == "swin_nano_patch2_window4_32"
    steps = -(-1797 // 256)  # at most: one epoch of the digits
    for path, exponent in (("stage_0_block_0/attention/qkv/kernel", 6), ("stage_1_merging/reduction/kernel", 4),
                           ("stage_2_block_1/mlp/fc2/kernel", 1), ("norm/gamma", 0)):
        moved = np.abs(weight_value(model, path) - weight_value(source, path))
        assert 0 < moved.max() <= steps * 1e-3 * DECAY ** exponent * 1.01, f"{path}: loaded, then trained at its rate"


def test_a_pretraining_encoder_is_refused_for_swin_and_pvt_presets(tmp_path):
    (tmp_path / "encoder.keras").write_bytes(b"")  # refused before it is read
    for preset in ("swin_nano_patch2_window4_32", "pvt_v2_nano_patch2_28"):
        with pytest.raises(KerasViTError, match=f"is a masked-image pretraining's encoder, which is ViT-only, but "
                                                f"model='{preset}' is a (swin|pvt) preset"):
            keras_vit.finetune(tmp_path, model=preset)


def test_a_keras_file_names_its_preset_and_one_of_an_earlier_version_its_run_json(tmp_path):
    keras_vit.create_model("pvt_v2_nano_patch2_28", image_size=8, channels=1).save(tmp_path / "pvt.keras")
    with pytest.raises(KerasViTError, match="for model 'pvt_v2_nano_patch2_28'"):  # the preset the file carries
        keras_vit.finetune(tmp_path / "pvt.keras", unknown_argument=1)
    plain = keras_vit.create_model("pvt_v2_nano_patch2_28", image_size=8, channels=1)
    keras.Model(plain.inputs, plain.outputs).save(tmp_path / "plain.keras")
    with pytest.raises(KerasViTError, match=r"does not name its preset \(nor does a run.json beside it\)"):
        keras_vit.finetune(tmp_path / "plain.keras")
    (tmp_path / "run.json").write_text(json.dumps({"model": "pvt_v2_nano_patch2_28"}))
    with pytest.raises(KerasViTError, match="for model 'pvt_v2_nano_patch2_28'"):
        keras_vit.finetune(tmp_path / "plain.keras", unknown_argument=1)


def test_finetune_command_from_a_pvt_classifier_file(tmp_path, capsys):
    keras_vit.create_model("pvt_v2_nano_patch2_28", image_size=8, channels=1).save(tmp_path / "pvt.keras")
    assert main(["finetune", "--from", str(tmp_path / "pvt.keras"), "--model", "pvt_v2_nano_patch2_28",
                     "--epochs", "1", "--batch-size", "512", "--augment", "none", "--no-jit-compile", "--verbose",
                     "0", "--output", str(tmp_path / "run")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("Test accuracy: ")
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["model"] == "pvt_v2_nano_patch2_28" and run["layer_decay"] == 1.0, "nano presets: no decay"
