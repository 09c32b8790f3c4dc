"""keras_vit: Vision Transformers for Keras 3.

Example:
    >>> import keras_vit
    >>> model = keras_vit.create_model("vit_tiny_patch16_224", num_classes=10)
"""

from keras_vit import layers
from keras_vit.errors import KerasViTError
from keras_vit.models import build_vit, count_parameters, create_model, list_models, preset_config
from keras_vit.version import __version__
