"""Distribution: the `tf.distribute` strategy a run trains under (one device, several GPUs, several hosts, a TPU),
and what Keras 3.15's `fit` needs to train under it: the step settings (`step_settings`) and, over several
workers, the model (`MultiWorkerModel`, `distributable`). `keras_vit.training` and `keras_vit.pretrain` both use it.

Example:
    >>> strategy = make_strategy("auto")
    >>> jit_compile, steps_per_execution = step_settings(strategy, jit_compile=True, steps_per_execution=8)
    >>> with strategy.scope():
    ...     model = distributable(create_model("vit_nano_patch2_32"), strategy)
    ...     model.compile(..., jit_compile=jit_compile, steps_per_execution=steps_per_execution)
"""

import json
import os

import keras
import tensorflow as tf

from keras_vit.errors import KerasViTError

STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker", "tpu")


def make_strategy(name="auto", tpu=None):
    """Returns the `tf.distribute.Strategy` named `name`.

    - "auto": multi-worker when `TF_CONFIG` names more than one worker, mirrored over all GPUs when there are
      several, else TensorFlow's default strategy (one device, no distribution).
    - "one-device": the first GPU, or the CPU when there is none.
    - "mirrored": synchronous data parallelism over all GPUs of this host (the CPU when there is none).
    - "multi-worker": synchronous data parallelism over the workers listed in `TF_CONFIG` (one process a host).
    - "tpu": the TPU named by `tpu` (address or name; "" or None finds the local one, e.g. on a Cloud TPU VM).

    Args:
        name: one of `STRATEGIES`, or a `tf.distribute.Strategy`, returned as it is.
        tpu: the TPU of "tpu".

    Returns:
        a `tf.distribute.Strategy`; create the model, optimizer and metrics inside its `scope()`.

    Raises:
        KerasViTError: unknown name, "multi-worker" without `TF_CONFIG`, or no TPU found.

    Example:
        >>> strategy = make_strategy("mirrored")
        >>> with strategy.scope():
        ...     model = create_model("vit_nano_patch2_32")
    """
    if isinstance(name, tf.distribute.Strategy):
        return name
    if name not in STRATEGIES:
        raise KerasViTError(f"Unknown strategy '{name}'. Known: {', '.join(STRATEGIES)}.")
    if name == "auto":
        if _tf_config_workers() > 1:
            return tf.distribute.MultiWorkerMirroredStrategy()
        if len(tf.config.list_logical_devices("GPU")) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "one-device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        if not _tf_config_workers():
            raise KerasViTError("strategy='multi-worker' needs the TF_CONFIG environment variable on every host, "
                                "e.g. TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, "
                                "\"task\": {\"type\": \"worker\", \"index\": 0}}'.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return _tpu_strategy(tpu)


def is_multi_worker(strategy):
    """Whether `strategy` spans several worker processes (each writing its own output)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def worker_index(strategy):
    """This worker's index in `TF_CONFIG` under a multi-worker strategy; 0 (the chief) otherwise."""
    if not is_multi_worker(strategy):
        return 0
    return int(json.loads(os.environ["TF_CONFIG"])["task"].get("index", 0))


def check_batch_size(batch_size, strategy):
    """Raises `KerasViTError` when the global batch cannot give every replica at least one image."""
    replicas = strategy.num_replicas_in_sync
    if batch_size < replicas:
        raise KerasViTError(f"batch_size={batch_size} is smaller than the {replicas} replicas of the strategy: "
                            f"the batch is the global one, split across replicas; use at least {replicas}.")


def step_settings(strategy, jit_compile, steps_per_execution):
    """The (jit_compile, steps_per_execution) that Keras 3.15's `fit` can run under `strategy`.

    Over several replicas (mirrored, multi-worker) Keras runs the step without XLA (its own "auto" does the same),
    and several steps per execution fail inside its while loop (keras issue 19246: "You must feed a value for
    placeholder tensor"), so both are turned off there; one device and TPUs keep them.

    Example:
        >>> step_settings(tf.distribute.MirroredStrategy(), jit_compile=True, steps_per_execution=8)
        (False, 1)
    """
    one_device = strategy.num_replicas_in_sync == 1 and not is_multi_worker(strategy)
    if one_device or isinstance(strategy, tf.distribute.TPUStrategy):
        return jit_compile, steps_per_execution
    return False, 1


def _tf_config_workers():
    text = os.environ.get("TF_CONFIG")
    if not text:
        return 0
    try:
        cluster = json.loads(text).get("cluster", {})
    except json.JSONDecodeError as error:
        raise KerasViTError(f"TF_CONFIG is not valid JSON: {error}.") from None
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def _tpu_strategy(tpu):
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as error:
        where = f"'{tpu}'" if tpu else "on this host (no tpu= given)"
        raise KerasViTError(f"No TPU found {where}: {str(error).splitlines()[0]}") from None
    return tf.distribute.TPUStrategy(resolver)


def data_workers(strategy):
    """(count, index) of the workers that split the data under `strategy`: each reads its own part of every pass.

    Example:
        >>> data_workers(tf.distribute.get_strategy())
        (1, 0)
    """
    if not is_multi_worker(strategy):
        return (1, 0)
    return (_tf_config_workers(), worker_index(strategy))


def distributable(model, strategy):
    """`model`, or under a multi-worker strategy a `MultiWorkerModel` of its layers: the model `fit` can train there
    (a `MultiWorkerModel` already, e.g. the masked autoencoder of `pretrain`, is returned as it is).

    Create it inside `strategy.scope()`; it shares `model`'s layers and weights, so save `model`.

    Example:
        >>> with strategy.scope():
        ...     classifier = create_model("vit_nano_patch2_32")
        ...     trained = distributable(classifier, strategy)
    """
    if not is_multi_worker(strategy) or isinstance(model, MultiWorkerModel):
        return model
    return MultiWorkerModel(inputs=model.inputs, outputs=model.outputs, name=model.name)


class MultiWorkerModel(keras.Model):
    """The layers of a functional model, trained by `fit` under a multi-worker strategy.

    Keras 3.15's TensorFlow trainer fails there twice (measured in shared/notes/multi-worker-fit.md): its symbolic
    build reduces the first distributed batch outside a replica context, and it reduces each step's scalar logs
    along axis 0. This model builds from one replica's share of the first batch and hands the trainer logs of shape
    [1], which its axis-0 mean turns back into scalars. Both overrides touch private trainer behaviour and are
    pinned by a two-process test. Under any other strategy it behaves as `keras.Model`.

    Save `keras.Model(model.inputs, model.outputs)` (or the functional model it was made from), not this model.

    Example:
        >>> with strategy.scope():
        ...     network = create_model("vit_nano_patch2_32")
        ...     model = MultiWorkerModel(inputs=network.inputs, outputs=network.outputs)
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None or iterator is None:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:
            data_batch = keras.tree.map_structure(self._first_replica, next(batches))
            break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def train_step(self, data):
        return self._shaped_for_reduction(super().train_step(data))

    def test_step(self, data):
        return self._shaped_for_reduction(super().test_step(data))

    def _first_replica(self, value):
        if isinstance(value, tf.distribute.DistributedValues):
            return self.distribute_strategy.experimental_local_results(value)[0]
        return value

    def _shaped_for_reduction(self, logs):
        # The trainer concatenates logs across workers only when there are several; one worker's stay as they are.
        if not isinstance(self._distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy) or \
                _tf_config_workers() < 2:
            return logs
        return {name: tf.reshape(value, [1]) for name, value in logs.items()}
