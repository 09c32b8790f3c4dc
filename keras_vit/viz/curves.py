"""Plots of training curves."""

from matplotlib.figure import Figure  # not pyplot: no global backend, no figure kept open


def plot_history(history, path, title=None):
    """Writes a PNG with one panel per metric (loss, accuracy, ...), training and validation curves together.

    Args:
        history: {metric name: list of per-epoch values}, as in `keras.callbacks.History.history`; validation
            metrics are the ones named `val_<metric>`.
        path: where to write the PNG.
        title: optional figure title.

    Example:
        >>> history = model.fit(...)
        >>> plot_history(history.history, "runs/curves.png")
    """
    metrics = [name for name in history if not name.startswith("val_") and name != "learning_rate"]
    figure = Figure(figsize=(5 * len(metrics), 4))
    axes = figure.subplots(1, len(metrics), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        epochs = range(1, len(history[metric]) + 1)
        axis.plot(epochs, history[metric], label="train")
        if f"val_{metric}" in history:
            axis.plot(epochs, history[f"val_{metric}"], label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
