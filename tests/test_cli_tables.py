"""The library's facts that `keras_vit_cli` writes out so that parsing imports no TensorFlow, against the library."""

import dataclasses
import inspect

from keras_vit import data, distribute
from keras_vit.data.shards import write_shards
from keras_vit.finetuning import finetune
from keras_vit.models import PRESETS, count_parameters, list_models
from keras_vit.pretrain import pretrain
from keras_vit.training import train
from keras_vit.training.run import RunConfig
from keras_vit_cli import library_defaults
from keras_vit_cli.preset_table import PRESET_ROWS


def test_the_preset_table_is_every_preset_with_its_parameter_count():
    expected = [(name, count_parameters(name), PRESETS[name]["image_size"], PRESETS[name]["patch_size"],
                 PRESETS[name]["pooling"], PRESETS[name]["num_classes"]) for name in list_models()]
    rows_to_write = "".join(f"\n    {row!r}," for row in expected if row not in PRESET_ROWS).replace("'", '"')
    assert list(PRESET_ROWS) == expected, f"keras_vit_cli/preset_table.py; rows to write: {rows_to_write}"


def _library_defaults(function):
    """{parameter: default} of `function`, over those of DataSpec's and RunConfig's fields."""
    fields = [*dataclasses.fields(data.DataSpec), *dataclasses.fields(RunConfig)]
    return {**{field.name: field.default for field in fields},
            **{name: parameter.default for name, parameter in inspect.signature(function).parameters.items()}}


def test_the_defaults_the_help_shows_are_the_library_ones():
    for command, function in (("train", train), ("pretrain", pretrain), ("finetune", finetune),
                              ("prepare", write_shards)):
        library = _library_defaults(function)
        shown = library_defaults.HELP_DEFAULTS[command]
        assert shown == {name: library[name] for name in shown}, command
    assert library_defaults.DEFAULT_DATASET == data.DEFAULT_DATASET
    assert library_defaults.AUGMENTATIONS == tuple(data.AUGMENTATIONS)
    assert library_defaults.STRATEGIES == tuple(distribute.STRATEGIES)
