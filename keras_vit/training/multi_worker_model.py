"""A functional model whose `fit` works under `MultiWorkerMirroredStrategy` with Keras 3.15 (keras issue 20585)."""

import keras
import tensorflow as tf


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
        if not isinstance(self._distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return logs
        return {name: tf.reshape(value, [1]) for name, value in logs.items()}
