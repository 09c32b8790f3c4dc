"""What a run prints before its first epoch."""

import pathlib
import types

import keras_vit
from keras_vit.training.run_report import run_report


def test_the_report_names_the_data_model_recipe_device_and_output():
    data = keras_vit.load_dataset("digits")
    run = types.SimpleNamespace(data=data, epochs=100, precision="mixed_bfloat16", jit_compile=False,
                                strategy=keras_vit.training.make_strategy("one-device"), steps_per_epoch=21,
                                steps_per_execution=7, run_dir=pathlib.Path("runs/x"), completed_epochs=3,
                                warmup_planned=False)
    model = keras_vit.create_model("vit_nano_patch4_28", image_size=(8, 8), channels=1, num_classes=10)
    model.get_layer("head").trainable = False
    lines = run_report(run, model, {"epochs": 100, "batch_size": 64, "augment": "shift"}, "digits")
    head = model.get_layer("head").count_params()
    assert lines == [
        "data       digits: 1,293 train, 144 validation, 360 test images of 8x8x1, 10 classes",
        f"model      {model.name}: {model.count_params():,} parameters ({model.count_params() - head:,} trainable)",
        "recipe     100 epochs, batch size 64, augment shift",
        "device     mixed_bfloat16, OneDeviceStrategy with 1 replica; 21 steps an epoch, 7 an execution",
        "output     runs/x, resuming after epoch 3",
    ]
    planned = types.SimpleNamespace(**{**vars(run), "epochs": None, "completed_epochs": 0})
    assert run_report(planned, model, {"batch_size": 64, "warmup_epochs": 5}, "d")[2] == (
        "recipe     epochs planned by the time budget, batch size 64, warmup epochs 5")
    planned.warmup_planned = True  # left to the recipe: the plan sets it
    assert run_report(planned, model, {"batch_size": 64, "warmup_epochs": 5}, "d")[2] == (
        "recipe     epochs planned by the time budget, batch size 64, warmup epochs the recipe's share of the planned "
        "epochs")
