"""keras_vit: Vision Transformers for Keras 3.

`keras_vit.layers` and `keras_vit.models` use `keras.ops` only and run on any Keras backend (TensorFlow, JAX,
PyTorch) without TensorFlow installed, and `keras_vit.weights` imports published checkpoints into them there too
(NumPy only); the input pipelines, training, pretraining, inference helpers, export and maps are built on `tf.data`
and need TensorFlow.

Example:
    >>> import keras_vit
    >>> model = keras_vit.create_model("vit_tiny_patch16_224", num_classes=10)
    >>> result = keras_vit.train("vit_nano_patch2_32", dataset="digits", epochs=5)
    >>> data = keras_vit.DataSpec(data_dir="flowers/", cache="none")  # the images, and how the pipeline reads them
    >>> result = keras_vit.train(data=data, run=keras_vit.RunConfig(output_dir="runs/flowers"), epochs=5)
    >>> encoder = keras_vit.pretrain("vit_nano_patch4_28", dataset="digits", epochs=5).output_dir
    >>> result = keras_vit.finetune(encoder, dataset="digits", epochs=5)
"""

import importlib.util as _importlib_util

from keras_vit.quiet_start import quiet_tensorflow_start as _quiet_tensorflow_start

with _quiet_tensorflow_start():  # keras imports TensorFlow under its TensorFlow backend
    from keras_vit import atomic_files, kill_points, layers, models, weights  # noqa: F401  (TensorFlow-free)
    from keras_vit.errors import KerasViTError
    from keras_vit.lazy import lazy_names as _lazy_names
    from keras_vit.models import (
        build_pvt, build_swin, build_vit, count_parameters, create_model, list_models, preset_config)
    from keras_vit.version import __version__

    if _importlib_util.find_spec("tensorflow") is not None:  # what .keras files may name, registered with Keras
        from keras_vit.pretrain import mask_tokens, masking
        from keras_vit.training import layer_decay, schedules

        # the imports bound the sub-packages' names here: keras_vit.pretrain is the function below
        del mask_tokens, masking, layer_decay, schedules, pretrain, training

_NEED_TENSORFLOW = {  # imported on first use (no pipeline, plots or export code at `import keras_vit`)
    "data": "keras_vit.data", "distribute": "keras_vit.distribute", "export": "keras_vit.export",
    "finetuning": "keras_vit.finetuning", "inference": "keras_vit.inference", "training": "keras_vit.training",
    "viz": "keras_vit.viz",
    "DataSpec": "keras_vit.data.spec:DataSpec",
    "RunConfig": "keras_vit.training.run:RunConfig",
    "load_dataset": "keras_vit.data.sources:load_dataset",
    "evaluate_model": "keras_vit.inference.evaluate:evaluate_model",
    "explain_image": "keras_vit.inference.explain:explain_image",
    "predict_images": "keras_vit.inference.predict:predict_images",
    "pretrain": "keras_vit.pretrain.pretrainer:pretrain",
    "train": "keras_vit.training.trainer:train",
    "finetune": "keras_vit.finetuning:finetune",
}
_import_lazily, __dir__ = _lazy_names(__name__, _NEED_TENSORFLOW)


def __getattr__(name):
    try:
        return _import_lazily(name)
    except ImportError as error:
        if name in _NEED_TENSORFLOW and _importlib_util.find_spec("tensorflow") is None:
            raise ImportError(
                f"keras_vit.{name} needs TensorFlow, which is not installed ({error}); `pip install tensorflow`. "
                "keras_vit.models, keras_vit.layers and keras_vit.weights work without it.") from None
        raise
