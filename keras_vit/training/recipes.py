"""The recommended training recipe of each preset: the defaults `train` uses for the arguments left out.

Where each recipe comes from:

- "small" (the ViTs, Swins and PVTs for 28x28 and 32x32 images): measured on this project's embedded digits (README,
  Results): AdamW 1e-3 at batch 64, 5 warmup epochs, 300 epochs, 1-pixel shifts, no stochastic depth; flips and
  crops hurt digits.
- "small_conv" (the `vitc_*` presets: a convolutional stem): "small" over 100 epochs, which reach on the digits
  what "small" reaches in 300 with the patch projection (README, Results).
- "small_photos" and "small_conv_photos" ("small" and "small_conv" on photographs: any data but the grayscale
  `GRAYSCALE_DATASETS`, e.g. an image folder): mirrored shifts by up to 1/8 of a side and horizontal flips
  (policy "light"), the usual augmentation of 32x32 photographs (He et al. 2016, "Deep Residual Learning for Image
  Recognition", section 4.2: 4-pixel padding, a random 32x32 crop, horizontal flips, on CIFAR-10). Flips and
  shifts keep a photograph what it is, where they turn digits into other digits. Batch 128 (learning rate 2e-3):
  on a CPU it runs more images a second than 64, and 20-minute Fashion-MNIST runs ended higher with it
  (benchmarks/README.md, Fashion-MNIST). Not measured on photographs here (no such dataset is offline on this
  project's machines).
- "small_centred" and "small_conv_centred" ("small" and "small_conv" on the grayscale datasets of centred objects,
  `CENTRED_OBJECT_DATASETS`: Fashion-MNIST): horizontal flips alone (policy "flip") and batch 128 (learning rate
  2e-3), the recipe of the best 20-minute Fashion-MNIST runs measured here; the digits' shifts cost Fashion-MNIST
  accuracy (benchmarks/README.md, Fashion-MNIST).
- "deit" (ViT Ti/S/B): Touvron et al. 2021, "Training data-efficient image transformers" (DeiT), Table 9: AdamW,
  learning rate 5e-4 x batch / 512, weight decay 0.05, 5 warmup epochs, 300 epochs, label smoothing 0.1,
  stochastic depth 0.1, RandAugment + MixUp + CutMix + random erasing (policy "deit").
- ViT L/H: DeiT's recipe with the stochastic depth DeiT III (Touvron et al. 2022) gives these sizes (0.4 and 0.5);
  not measured here.
- "swin" (Swin and SwinV2 T/S/B/L): Liu et al. 2021, "Swin Transformer", appendix A2.1: AdamW, learning rate
  1e-3 x batch / 1024, weight decay 0.05, 20 warmup epochs, 300 epochs, gradient clipping at global norm 5,
  label smoothing 0.1, DeiT's augmentation, stochastic depth 0.2 / 0.3 / 0.5 for T / S / B (L, trained on
  ImageNet-22k only there, takes B's).
- "pvt" (PVT v2 b0-b5 and b2_li, PVT v1 tiny-large): the official repository (whai362/PVT, classification/main.py
  and configs/): AdamW, learning rate 5e-4 x batch / 512 (= 1e-3 x batch / 1024), weight decay 0.05, 5 warmup
  epochs, 300 epochs, label smoothing 0.1, DeiT's augmentation; stochastic depth 0.1 without clipping for v2
  b0/b1/b2/b2_li and v1 tiny/small, 0.3 with gradient clipping at global norm 1 for v2 b3/b4/b5 and v1
  medium/large. The small PVTs take the "small" recipe.

The learning rate scales linearly with the batch size from the recipe's reference batch.
"""

import dataclasses
import re

from keras_vit.errors import KerasViTError


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Training hyper-parameters of a model size. `learning_rate(batch_size)` scales `base_learning_rate`."""

    name: str
    base_learning_rate: float
    base_batch_size: int
    batch_size: int
    epochs: int = 300
    weight_decay: float = 0.05
    warmup_epochs: int = 5
    label_smoothing: float = 0.1
    augment: str = "deit"
    drop_path_rate: float = 0.1
    clip_norm: float = None

    def learning_rate(self, batch_size):
        """The peak learning rate at `batch_size` images a step (linear scaling rule)."""
        return self.base_learning_rate * batch_size / self.base_batch_size

    def warmup_share(self, epochs):
        """The warmup epochs of a run of `epochs` epochs: the recipe's share of them (its warmup epochs over its
        epochs), at least one and at most the recipe's own warmup.

        A run shorter than the recipe's keeps the recipe's proportions: a 20-epoch run of a recipe that warms up
        for 5 of 100 epochs warms up for 1, where the recipe's 5 would be a quarter of the run.

        Example:
            >>> recipe = recommended_recipe("vitc_nano_patch4_28")  # 5 warmup epochs of 100
            >>> recipe.warmup_share(18), recipe.warmup_share(50), recipe.warmup_share(300)
            (1, 2, 5)
        """
        return min(self.warmup_epochs, epochs, max(1, round(self.warmup_epochs * epochs / self.epochs)))

    def fill(self, **arguments):
        """`arguments` (training argument name -> value) with each None replaced by this recipe's value.

        The learning rate left out is the recipe's, scaled to the batch size (given or the recipe's); the warmup
        left out is the recipe's share of the epochs (given or the recipe's; `warmup_share`).

        Example:
            >>> recommended_recipe("vit_tiny_patch16_224").fill(batch_size=256, learning_rate=None)
            {'batch_size': 256, 'learning_rate': 0.00025}
            >>> recommended_recipe("vit_tiny_patch16_224").fill(epochs=30, warmup_epochs=None)
            {'epochs': 30, 'warmup_epochs': 1}
        """
        filled = {name: getattr(self, name) if value is None else value for name, value in arguments.items()
                  if name != "learning_rate"}
        if arguments.get("warmup_epochs", 0) is None:
            filled["warmup_epochs"] = self.warmup_share(filled.get("epochs") or self.epochs)
        if "learning_rate" in arguments:
            batch_size = filled.get("batch_size") or self.batch_size
            given = arguments["learning_rate"]
            filled["learning_rate"] = self.learning_rate(batch_size) if given is None else given
        return filled


_SMALL = Recipe("small", base_learning_rate=1e-3, base_batch_size=64, batch_size=64, augment="shift",
                drop_path_rate=0.0)
_SMALL_CONV = dataclasses.replace(_SMALL, name="small_conv", epochs=100)


def _small_variants(suffix, **changes):
    """"small" and "small_conv" with `changes`, by the name of the recipe they replace."""
    return {recipe.name: dataclasses.replace(recipe, name=f"{recipe.name}_{suffix}", **changes)
            for recipe in (_SMALL, _SMALL_CONV)}


_PHOTOS = _small_variants("photos", augment="light", batch_size=128)
_CENTRED = _small_variants("centred", augment="flip", batch_size=128)
_DEIT = Recipe("deit", base_learning_rate=5e-4, base_batch_size=512, batch_size=128)
_PVT = Recipe("pvt", base_learning_rate=1e-3, base_batch_size=1024, batch_size=128)
_SWIN = Recipe("swin", base_learning_rate=1e-3, base_batch_size=1024, batch_size=128, warmup_epochs=20,
               clip_norm=5.0, drop_path_rate=0.2)

# (preset name pattern, recipe), first match wins.
_RECIPES = (
    (r"^vitc_(nano|micro)_", _SMALL_CONV),
    (r"^(vit|swin|swinv2|pvt|pvt_v2)_(nano|micro)_", _SMALL),
    (r"^pvt_(v2_b[012]|tiny|small)(_|$)", _PVT),
    (r"^pvt_(v2_b[345]|medium|large)(_|$)", dataclasses.replace(_PVT, drop_path_rate=0.3, clip_norm=1.0)),
    (r"^vit_(tiny|small|base)_", _DEIT),
    (r"^vit_large_", dataclasses.replace(_DEIT, drop_path_rate=0.4)),
    (r"^vit_huge_", dataclasses.replace(_DEIT, drop_path_rate=0.5)),
    (r"^swin(v2)?_tiny_", _SWIN),
    (r"^swin(v2)?_small_", dataclasses.replace(_SWIN, drop_path_rate=0.3)),
    (r"^swin(v2)?_(base|large)_", dataclasses.replace(_SWIN, drop_path_rate=0.5)),
)


# The preset `train` picks without a model, by the channels of the data: the embedded digits, MNIST and
# Fashion-MNIST are grayscale; image folders, shards and TFDS datasets are read as RGB at the preset's 32x32.
# Measured here (README, Results): the convolutional stem's 7x7 tokens train faster and reach more accuracy in
# the same minutes than the 2x2 patches of the earlier default, vit_nano_patch2_32; the MLPs' depth-wise
# convolution (`local_mlp`) ended 20-minute Fashion-MNIST runs higher than the stem alone (benchmarks/README.md).
GRAYSCALE_DATASETS = ("digits", "mnist", "fashion_mnist")
# The grayscale datasets of centred objects whose mirror image is of the same class (clothes, not digits).
CENTRED_OBJECT_DATASETS = ("fashion_mnist",)
RECOMMENDED_MODELS = {1: "vitc_nano_patch4_local_28", 3: "vitc_nano_patch4_local_32"}


def recommended_model(dataset, data_dir=None):
    """The preset `train` uses when no model is given: the recommended small preset for the data's channels.

    Args:
        dataset: the dataset name of `train`.
        data_dir: its image folder, if any (read as RGB).

    Example:
        >>> recommended_model("fashion_mnist")
        'vitc_nano_patch4_local_28'
        >>> recommended_model("digits", data_dir="photos/")
        'vitc_nano_patch4_local_32'
    """
    return RECOMMENDED_MODELS[3 if _photographs(dataset, data_dir) else 1]


def _photographs(dataset, data_dir):
    """Whether `train` reads the data as RGB photographs: an image folder, or a dataset not in `GRAYSCALE_DATASETS`."""
    return data_dir is not None or dataset not in GRAYSCALE_DATASETS


def recommended_recipe(model, dataset=None, data_dir=None):
    """The recipe `train` uses by default for preset `model`, on `dataset` or the image folder `data_dir`.

    A small preset's recipe trained on photographs (`data_dir`, or a dataset not in `GRAYSCALE_DATASETS`) is its
    photographs' variant: flips and mirrored shifts ("light") in place of plain shifts; on centred objects
    (`CENTRED_OBJECT_DATASETS`: Fashion-MNIST) it is their variant, flips alone.

    Args:
        model: the preset.
        dataset: the dataset name of `train`; None (with no `data_dir`) for the recipe of the preset alone.
        data_dir: its image folder, if any.

    Example:
        >>> recipe = recommended_recipe("swin_tiny_patch4_window7_224")
        >>> recipe.drop_path_rate, recipe.clip_norm, recipe.learning_rate(128)
        (0.2, 5.0, 0.000125)
        >>> recommended_recipe("vitc_nano_patch4_32", data_dir="photos/").augment
        'light'
        >>> recommended_recipe("vitc_nano_patch4_28", dataset="fashion_mnist").name
        'small_conv_centred'
    """
    if data_dir is None and dataset in CENTRED_OBJECT_DATASETS:
        variants = _CENTRED
    elif (dataset, data_dir) != (None, None) and _photographs(dataset, data_dir):
        variants = _PHOTOS
    else:
        variants = {}
    for pattern, recipe in _RECIPES:
        if re.match(pattern, model):
            return variants.get(recipe.name, recipe)
    raise KerasViTError(f"No recommended recipe for model '{model}'; pass every training argument explicitly.")


def is_small(model):
    """Whether preset `model` takes a small recipe ("small", "small_conv"): a nano or micro preset, any family.

    Pretraining and fine-tuning keep its augmentation, epochs and warmup for these presets.

    Example:
        >>> is_small("vitc_nano_patch4_28"), is_small("vit_base_patch16_224")
        (True, False)
    """
    return recommended_recipe(model).name in ("small", "small_conv")
