"""The registry of published checkpoints, building a model for one, and the offline errors."""

import sys
import types

import numpy as np
import pytest

from keras_vit import KerasViTError, create_model
from keras_vit.models import PRESETS
from keras_vit.weights import create_pretrained, list_pretrained, load_pretrained_weights, write_safetensors
from keras_vit.weights import download
from test_weights_vit import DEPTH, DIM, HEADS, MLP, PATCH, images, reference_vit, timm_vit_tensors

TINY = dict(embed_dim=DIM, depth=DEPTH, num_heads=HEADS, mlp_dim=MLP, patch_size=PATCH)


def test_registry_rows_name_known_presets_and_their_normalisation():
    rows = {row["name"]: row for row in list_pretrained()}
    for name in ("vit_tiny_patch16_224.augreg_in21k_ft_in1k", "vit_small_patch16_224.augreg_in21k_ft_in1k",
                 "vit_base_patch16_224.augreg_in21k_ft_in1k", "swin_tiny_patch4_window7_224.ms_in1k",
                 "google/vit-base-patch16-224", "microsoft/swin-tiny-patch4-window7-224"):
        assert name in rows
    assert all(row["preset"] in PRESETS for row in rows.values())
    augreg = rows["vit_tiny_patch16_224.augreg_in21k_ft_in1k"]
    assert augreg["source"] == "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k" and augreg["mean"] == (0.5, 0.5, 0.5)
    assert rows["swin_tiny_patch4_window7_224.ms_in1k"]["std"] == (0.229, 0.224, 0.225)
    assert rows["deit_tiny_patch16_224.fb_in1k"]["preset"] == "vit_tiny_patch16_224"
    assert rows["deit_tiny_patch16_224.fb_in1k"]["mean"] == (0.485, 0.456, 0.406)


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(download, "is_online", lambda host: False)


def fake_hub(monkeypatch, cached_file=None):
    """A stand-in `huggingface_hub` whose cache holds `cached_file` (or nothing) and which never downloads."""
    def hf_hub_download(repo_id, filename, cache_dir=None, local_files_only=False):
        if cached_file is None:
            raise FileNotFoundError(f"{repo_id}/{filename} is not cached")
        return str(cached_file)

    module = types.SimpleNamespace(hf_hub_download=hf_hub_download,
                                   constants=types.SimpleNamespace(HF_HUB_CACHE="/hub-cache"))
    monkeypatch.setitem(sys.modules, "huggingface_hub", module)


def test_offline_without_a_cached_copy_says_where_it_looked_and_how_to_provide_the_file(monkeypatch, offline):
    fake_hub(monkeypatch)
    with pytest.raises(KerasViTError) as error:
        create_pretrained("vit_tiny_patch16_224.augreg_in21k_ft_in1k")
    message = str(error.value)
    assert "'vit_tiny_patch16_224.augreg_in21k_ft_in1k'" in message and "cannot reach huggingface.co" in message
    assert "looked in the Hugging Face cache /hub-cache" in message
    assert ("https://huggingface.co/timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k/resolve/main/model.safetensors"
            in message)
    assert "weights=PATH" in message and "\n" not in message


def test_without_huggingface_hub_the_error_says_so(monkeypatch, offline):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(KerasViTError, match="huggingface_hub is not installed: pip install huggingface_hub.*"
                                            "mean=.*0.485"):
        load_pretrained_weights(None, "deit_tiny_patch16_224.fb_in1k")


def test_an_npz_url_offline_names_its_cache_folder_and_url(tmp_path, offline):
    name = "Ti_16-i21k-300ep-lr_0.001-aug_none-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_224"
    with pytest.raises(KerasViTError) as error:
        download.checkpoint_file(name, cache_dir=tmp_path)
    assert (f"cannot reach storage.googleapis.com); looked in {tmp_path}. "
            f"Download https://storage.googleapis.com/vit_models/augreg/{name}.npz") in str(error.value)


def test_unknown_names_and_missing_files():
    with pytest.raises(KerasViTError, match="Unknown pretrained checkpoint 'vit_tiny_patch16_224.augreg'.*Closest: "
                                            "vit_tiny_patch16_224.augreg_in21k_ft_in1k"):
        download.checkpoint_file("vit_tiny_patch16_224.augreg")
    with pytest.raises(KerasViTError, match="Checkpoint file weights/missing.safetensors does not exist"):
        download.checkpoint_file("weights/missing.safetensors")


def test_a_cached_published_checkpoint_builds_its_preset_with_its_normalisation(tmp_path, seeded, monkeypatch,
                                                                               offline):
    tensors = timm_vit_tensors(seeded)
    path = tmp_path / "model.safetensors"
    write_safetensors(path, tensors)
    fake_hub(monkeypatch, cached_file=path)
    model = create_pretrained("deit_tiny_patch16_224.fb_in1k", **TINY)
    assert model.name == "vit_tiny_patch16_224"
    assert model.get_layer("normalize").mean == (0.485, 0.456, 0.406)
    x = images(seeded)
    expected = reference_vit(tensors, x, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-4)
    other = create_model("vit_tiny_patch16_224", num_classes=3, image_size=16, **TINY)
    notes = load_pretrained_weights(other, "deit_tiny_patch16_224.fb_in1k").notes
    assert notes[-1] == ("input normalisation: the model uses mean (0.5, 0.5, 0.5) and std (0.5, 0.5, 0.5), the "
                         "checkpoint was trained with mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)")
    assert notes[0].startswith("head: new, 3 classes")
