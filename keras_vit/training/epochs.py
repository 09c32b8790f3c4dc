"""The steps of a training epoch when `fit` reads the training batches as one repeated dataset."""

import math


def epoch_steps(examples, batch_size, steps_per_execution):
    """(steps per epoch, steps per execution) for `fit` on the repeated batches of `examples` training examples.

    `keras_vit` trains on endless batches (`make_batches(..., repeat=True)`) with `steps_per_epoch`, so that the
    dataset iterator, and the shuffle buffer and prefetched batches behind it, live on from one epoch to the next.
    With a finite dataset `fit` makes a new iterator each epoch, and its first step waited for it: about 20 s at
    the start of each 60,000-image Fashion-MNIST epoch on the 2-core CPU machine, epochs of 81-91 s against 63 s
    on endless batches (README, Performance).

    An epoch is then a number of steps, not the end of the data. On a dataset without an end, Keras runs whole
    executions of `steps_per_execution` steps, so an epoch is one pass over the data rounded up to whole
    executions, made as even as possible: the execution size shrinks to the fewest steps that still cover the pass
    in the same number of executions, so an epoch has fewer extra steps than executions.

    Args:
        examples: training examples in one pass over the data.
        batch_size: examples a step.
        steps_per_execution: the most steps one execution may run.

    Returns:
        (steps per epoch, steps per execution).

    Example:
        >>> epoch_steps(60_000, 128, 8)  # 469 batches a pass: 59 executions of 8 steps
        (472, 8)
        >>> epoch_steps(1_293, 128, 8)  # 11 batches: 2 executions of 6 steps
        (12, 6)
    """
    batches = math.ceil(examples / batch_size)
    executions = math.ceil(batches / steps_per_execution)
    per_execution = math.ceil(batches / executions)
    return executions * per_execution, per_execution
