"""Public names of a package that are imported on first use (PEP 562), so that importing the package stays cheap."""

import importlib
import sys


def lazy_names(package, names):
    """The module-level `__getattr__` and `__dir__` of `package` for names imported when first asked for.

    Args:
        package: the package's `__name__`.
        names: {public name: "module" (the name is that module) or "module:attribute"}.

    Returns:
        (`__getattr__`, `__dir__`), to assign in the package's `__init__`.

    Example:
        >>> __getattr__, __dir__ = lazy_names(__name__, {"train": "keras_vit.training.trainer:train"})
    """
    module = sys.modules[package]

    def __getattr__(name):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        source, _, attribute = names[name].partition(":")
        value = importlib.import_module(source)
        value = getattr(value, attribute) if attribute else value
        setattr(module, name, value)  # later lookups find it without this function
        return value

    def __dir__():
        return sorted(set(vars(module)) | set(names))

    return __getattr__, __dir__
