"""Runs `keras_vit.train` in a fresh process for the distribution tests (logical devices are set before TF starts).

    python distributed_worker.py mirrored DATA_DIR OUTPUT_DIR     # prints {"max_difference": ...}
    python distributed_worker.py batch-error DATA_DIR OUTPUT_DIR  # prints {"error": ...}
    TF_CONFIG=... python distributed_worker.py multi-worker DATA_DIR OUTPUT_DIR  # prints the history as JSON
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# A few steps of a tiny model on 32 training images (16 a class): every global batch of 8 splits evenly. In
# float32, whatever `auto` would pick here: replicas sum their gradients in another order than one device, which
# bfloat16 rounds apart (4e-3 after two epochs on a CPU with AVX-512 BF16) while float32 agrees to 1e-5.
SETTINGS = dict(model="vit_nano_patch4_32", epochs=2, batch_size=8, learning_rate=3e-3, warmup_epochs=1,
                augment="none", backup_interval=0, verbose=0, seed=3, precision="float32")


def _train(data_dir, output_dir, **overrides):
    import keras_vit

    return keras_vit.train(data_dir=data_dir, output_dir=output_dir, **{**SETTINGS, **overrides})


def _two_logical_cpus():
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def main(mode, data_dir, output_dir):
    if mode == "mirrored":
        mirrored = _two_logical_cpus()
        # One device under a strategy: `fit` then draws its batches in the same order as over two replicas (its
        # symbolic build under a strategy takes a batch and restarts the shuffled dataset).
        single = _train(data_dir, f"{output_dir}/single", strategy="one-device").model.get_weights()
        result = _train(data_dir, f"{output_dir}/mirrored", strategy=mirrored)
        difference = max(float(np.max(np.abs(a - b))) for a, b in zip(single, result.model.get_weights()))
        moved = max(float(np.max(np.abs(a - b))) for a, b in zip(single, _initial_weights()))
        report = {"max_difference": difference, "max_change_from_init": moved,
                  "replicas": mirrored.num_replicas_in_sync}
    elif mode == "batch-error":
        from keras_vit.errors import KerasViTError

        try:
            _train(data_dir, output_dir, strategy=_two_logical_cpus(), batch_size=1)
            report = {"error": None}
        except KerasViTError as error:
            report = {"error": str(error)}
    else:
        report = _train(data_dir, output_dir, strategy="multi-worker").history
    print(json.dumps(report))


def _initial_weights():
    import keras

    import keras_vit

    keras.utils.set_random_seed(SETTINGS["seed"])
    return keras_vit.create_model(SETTINGS["model"], num_classes=2, drop_path_rate=0.0).get_weights()


if __name__ == "__main__":
    main(*sys.argv[1:])
