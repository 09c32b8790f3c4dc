"""keras_vit: Vision Transformers for Keras 3.

`keras_vit.layers` and `keras_vit.models` use `keras.ops` only and run on any Keras backend (TensorFlow, JAX,
PyTorch) without TensorFlow installed, and `keras_vit.weights` imports published checkpoints into them there too
(NumPy only); the input pipelines, training, pretraining, inference helpers, export and maps are built on `tf.data`
and need TensorFlow.

Example:
    >>> import keras_vit
    >>> model = keras_vit.create_model("vit_tiny_patch16_224", num_classes=10)
    >>> result = keras_vit.train("vit_nano_patch2_32", dataset="digits", epochs=5)
    >>> encoder = keras_vit.pretrain("vit_nano_patch4_28", dataset="digits", epochs=5).output_dir
    >>> result = keras_vit.finetune(encoder, dataset="digits", epochs=5)
"""

import os

# Keep TensorFlow's C++ info and warning lines out of progress bars, unless the user chose a level.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_vit import atomic_files, kill_points, layers, models, weights  # noqa: E402, F401  (TensorFlow-free)
from keras_vit.errors import KerasViTError  # noqa: E402
from keras_vit.models import (  # noqa: E402
    build_pvt, build_swin, build_vit, count_parameters, create_model, list_models, preset_config)
from keras_vit.version import __version__  # noqa: E402

try:
    import tensorflow  # noqa: E402, F401
except ImportError as error:
    _MISSING_TENSORFLOW = str(error)
    _TENSORFLOW_NAMES = ("data", "inference", "training", "viz", "load_dataset", "evaluate_model",
                         "explain_image", "predict_images", "pretrain", "train", "finetune")

    def __getattr__(name):
        if name in _TENSORFLOW_NAMES:
            raise ImportError(
                f"keras_vit.{name} needs TensorFlow, which is not installed ({_MISSING_TENSORFLOW}); "
                "`pip install tensorflow`. keras_vit.models, keras_vit.layers and keras_vit.weights work without it.")
        raise AttributeError(f"module 'keras_vit' has no attribute {name!r}")
else:
    from keras_vit import data, training, viz  # noqa: E402
    from keras_vit.data import load_dataset  # noqa: E402
    from keras_vit.inference import evaluate_model, explain_image, predict_images  # noqa: E402
    from keras_vit.pretrain import pretrain  # noqa: E402
    from keras_vit.training import train  # noqa: E402
    from keras_vit.training.finetune import finetune  # noqa: E402
