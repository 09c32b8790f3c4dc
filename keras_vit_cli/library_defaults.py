"""The library's defaults and choices that `keras-vit --help` shows, written out so that the parser imports neither
Keras nor TensorFlow.

They are shown only: every option of train, pretrain, finetune and prepare is left out of the call when not given,
so the library's own defaults apply. `tests/test_cli_tables.py` checks each value here against the library
(`DataSpec`'s and `RunConfig`'s fields, the commands' signatures, `keras_vit.data.AUGMENTATIONS`, ...).
"""

DEFAULT_DATASET = "digits"  # keras_vit.data.DEFAULT_DATASET
AUGMENTATIONS = ("none", "flip", "shift", "light", "deit")  # keras_vit.data.AUGMENTATIONS
STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker", "tpu")  # keras_vit.distribute.STRATEGIES

_DATA_AND_RUN = {  # fields of keras_vit.DataSpec and keras_vit.RunConfig
    "dataset": DEFAULT_DATASET, "data_dir": None, "cache": "auto", "seed": 0, "precision": "auto",
    "strategy": "auto", "backup_interval": 30.0, "steps_per_execution": 8, "verbose": 1,
}

HELP_DEFAULTS = {  # {command: {parameter: the library's default}}, for the options whose help shows it
    "train": _DATA_AND_RUN,  # keras_vit.train
    "pretrain": {**_DATA_AND_RUN, "model": "vit_nano_patch2_32", "mask_ratio": 0.75},  # keras_vit.pretrain
    "finetune": _DATA_AND_RUN,  # keras_vit.finetune
    "prepare": {"shard_megabytes": 150, "verbose": 1},  # keras_vit.data.shards.write_shards
}
