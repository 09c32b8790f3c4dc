"""Pictures of masked-image pretraining: the original images, what the encoder saw, what the decoder made."""

from matplotlib.figure import Figure  # not pyplot: no global backend, no figure kept open
import numpy as np


def reconstruct(autoencoder, images):
    """Runs a masked autoencoder on `images` and returns (masked, reconstructed) images in [0, 255].

    `masked` shows the kept patches and grey (0.5) where patches were removed; `reconstructed` shows the kept
    patches and the decoder's prediction for the removed ones (with `norm_pix_loss`, the prediction scaled back with
    each original patch's mean and standard deviation, as MAE's own visualisation does).

    Args:
        autoencoder: a model from `keras_vit.pretrain.build_mae`.
        images: NumPy array (batch, height, width, channels) of pixels in [0, 255].

    Example:
        >>> masked, reconstructed = reconstruct(autoencoder, images[:8])
    """
    outputs = autoencoder(images, training=False)
    target, predictions, mask = (np.asarray(outputs[name], dtype="float32") for name in ("target", "predictions",
                                                                                          "mask"))
    if getattr(autoencoder, "norm_pix_loss", False):
        mean, std = target.mean(-1, keepdims=True), np.sqrt(target.var(-1, ddof=1, keepdims=True) + 1e-6)
        predictions = predictions * std + mean
    removed = mask[..., None] > 0.5
    normalize = autoencoder.get_layer("normalize")
    patches = autoencoder.get_layer("patches")
    height, width = images.shape[1:3]
    mean, std = np.asarray(normalize.mean, "float32"), np.asarray(normalize.std, "float32")
    grey = np.resize((0.5 - mean) / std, target.shape[-1])  # per channel, tiled like the (row, column, channel) patches
    masked_patches = np.where(removed, grey, target)
    reconstructed = np.where(removed, predictions, target)
    return tuple((np.asarray(patches.inverse(value, height, width)) * std + mean) * 255.0
                 for value in (masked_patches, reconstructed))


def plot_reconstruction(autoencoder, images, path, title=None):
    """Writes a PNG with one row per image: original, masked, reconstructed.

    Example:
        >>> plot_reconstruction(autoencoder, images[:6], "runs/mae/reconstruction.png")
    """
    images = np.asarray(images, dtype="float32")
    masked, reconstructed = reconstruct(autoencoder, images)
    rows = len(images)
    figure = Figure(figsize=(6, 2 * rows))
    axes = figure.subplots(rows, 3, squeeze=False)
    for row, columns in enumerate(zip(images, masked, reconstructed)):
        for axis, image, name in zip(axes[row], columns, ("original", "masked", "reconstructed")):
            image = np.clip(image, 0, 255).astype("uint8")
            axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray" if image.shape[-1] == 1 else None)
            axis.set_axis_off()
            if row == 0:
                axis.set_title(name)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
