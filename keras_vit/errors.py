"""The package's own error type.

Every mistake a user can make (a bad argument, a missing folder, a shape that does not fit) raises
`KerasViTError`. It subclasses `ValueError`, so callers that already catch `ValueError` keep working, and the
command line turns it into a one-line message instead of a traceback.
"""


class KerasViTError(ValueError):
    """Bad input to keras_vit: the message names the argument, file or shape and what was expected.

    Example:
        >>> try:
        ...     keras_vit.create_model("vit_tiny_patch16_225")
        ... except keras_vit.KerasViTError as error:
        ...     print(error)
        Unknown model 'vit_tiny_patch16_225'. Closest: vit_tiny_patch16_224, ...
    """
