"""The masked-image-modelling loss: mean squared error over the removed patches only."""

from keras import ops


def masked_reconstruction_loss(target, predictions, mask, norm_pix_loss=False):
    """Mean over the removed patches of each patch's mean squared error between prediction and target pixels.

    Args:
        target: (batch, num_patches, patch_dim) pixels of the patches (as the model normalises them).
        predictions: (batch, num_patches, patch_dim) predicted pixels.
        mask: (batch, num_patches), 1 for a removed patch, 0 for a kept one; kept patches do not count.
        norm_pix_loss: compare with each target patch normalised to zero mean and unit variance (unbiased variance,
            epsilon 1e-6 inside the square root, as in MAE's reference implementation).

    Returns:
        A float32 scalar.

    Example:
        >>> float(masked_reconstruction_loss(np.ones((1, 2, 3)), np.zeros((1, 2, 3)), np.array([[1.0, 0.0]])))
        1.0
    """
    target = ops.cast(target, "float32")
    predictions = ops.cast(predictions, "float32")
    mask = ops.cast(mask, "float32")
    if norm_pix_loss:
        size = target.shape[-1]
        mean = ops.mean(target, axis=-1, keepdims=True)
        variance = ops.sum(ops.square(target - mean), axis=-1, keepdims=True) / (size - 1)
        target = (target - mean) / ops.sqrt(variance + 1e-6)
    per_patch = ops.mean(ops.square(predictions - target), axis=-1)
    return ops.sum(per_patch * mask) / ops.maximum(ops.sum(mask), 1.0)
