"""A classifier and its class names saved with `keras_vit.atomic_files.atomic_write`: complete, or absent."""

from keras_vit.atomic_files import atomic_write, publish_file
from keras_vit.models.saving import class_names_path, save_classifier


def save_classifier_atomically(model, path, class_names):
    """`save_classifier`, each of its two files (the `.keras` file, then its class names) written atomically.

    Example:
        >>> save_classifier_atomically(model, "runs/digits/model.keras", ["0", "1", "2"])
    """
    with atomic_write(path) as temporary:
        save_classifier(model, temporary, class_names)
        publish_file(class_names_path(temporary), class_names_path(path))

