"""Tests of `epoch_steps`: the steps of an epoch on repeated training batches."""

import itertools
import math

import pytest

from keras_vit.training.epochs import epoch_steps


@pytest.mark.parametrize("examples, batch_size, steps_per_execution, expected", [
    (60_000, 128, 8, (472, 8)),  # 469 batches: 59 executions of 8
    (1_293, 128, 8, (12, 6)),  # 11 batches: 2 executions of 6, not 2 of 8
    (1_293, 32, 1, (41, 1)),  # one step an execution: exactly one pass
    (100, 10, 8, (10, 5)),
    (64, 64, 8, (1, 1)),  # one batch
    (65, 64, 8, (2, 2)),  # a last, partial batch counts
])
def test_epoch_steps_examples(examples, batch_size, steps_per_execution, expected):
    assert epoch_steps(examples, batch_size, steps_per_execution) == expected


def test_epoch_steps_cover_a_pass_in_the_fewest_even_executions():
    for examples, batch_size, limit in itertools.product(range(1, 400, 7), (1, 3, 32), (1, 2, 5, 8)):
        steps, per_execution = epoch_steps(examples, batch_size, limit)
        batches = math.ceil(examples / batch_size)
        executions = steps // per_execution
        assert steps % per_execution == 0 and 1 <= per_execution <= limit
        assert executions == math.ceil(batches / limit), "no more executions than needed"
        assert batches <= steps < batches + executions, "fewer extra steps than executions"
        assert (executions - 1) * per_execution < batches, "no execution wholly beyond the pass"
