"""A model saved to a `.keras` file with `keras_vit.atomic_files.atomic_write`: complete, or absent."""

from keras_vit.atomic_files import atomic_write


def save_model_atomically(model, path):
    """`model.save(path)`, written atomically; the file holds the class names and preset the model carries.

    Example:
        >>> save_model_atomically(model, "runs/digits/model.keras")
    """
    with atomic_write(path) as temporary:
        model.save(temporary)
