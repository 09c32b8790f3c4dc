"""Test accuracy against wall-clock time on real Fashion-MNIST for a recommended small recipe.

Trains with the same pieces as `keras-vit train` (dataset, recipe, optimizer, augmentation, XLA) and evaluates on the
10,000 official test images after every epoch; writes one CSV row per epoch and a PNG of accuracy against minutes,
and prints the time at which the test accuracy first reached --target.

    python benchmarks/accuracy.py --model vit_micro_patch4_28 --epochs 30 --output runs/accuracy_fashion

Fashion-MNIST comes from its IDX files (apt-get install dataset-fashion-mnist, or --idx-dir).
"""

import argparse
import ast
import csv
import pathlib
import time

import keras
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import keras_vit  # noqa: E402
from keras_vit.data import make_augmentation, make_batches  # noqa: E402
from keras_vit.data.splits import joined  # noqa: E402
from keras_vit.inference.evaluate import logits_with_tta  # noqa: E402
from keras_vit.inference.metrics import classification_metrics  # noqa: E402
from keras_vit.models.vit import image_size_pair  # noqa: E402
from keras_vit.training import build_optimizer, recommended_recipe  # noqa: E402
from keras_vit.training.epochs import epoch_steps  # noqa: E402
from keras_vit.training.precision import PRECISIONS, precision_scope  # noqa: E402


class TestAccuracyOverTime(keras.callbacks.Callback):
    """Evaluates on the test batches after each epoch and records (epoch, seconds since start, figures)."""

    def __init__(self, test_batches, started):
        super().__init__()
        self.test_batches = test_batches
        self.started = started
        self.rows = []

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started  # training time up to here, evaluation excluded
        evaluation_started = time.perf_counter()
        _, accuracy = self.model.evaluate(self.test_batches, verbose=0)
        self.rows.append(dict(epoch=epoch + 1, minutes=round(seconds / 60, 3), train_loss=round(logs["loss"], 4),
                              test_accuracy=round(float(accuracy), 4)))
        print(f"epoch {epoch + 1}: {seconds / 60:.1f} min, test accuracy {100 * accuracy:.2f}%", flush=True)
        self.started += time.perf_counter() - evaluation_started


def _accuracy_with_tta(model, test_batches, class_names, tta):
    """Test accuracy of `model` with each batch scored by `logits_with_tta` (as `keras-vit evaluate --tta`)."""
    logits, labels = zip(*((logits_with_tta(model, images, tta), np.argmax(one_hot, axis=-1))
                           for images, one_hot in test_batches))
    return classification_metrics(np.concatenate(labels), np.concatenate(logits), class_names).accuracy


def _parse_override(text):
    """NAME=VALUE -> (name, value): a Python literal (64, 0.1, "gap", 16,32,64 for a tuple) or else the text."""
    name, _, value = text.partition("=")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vit_micro_patch4_28")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--idx-dir")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--augment", help="default: the recipe's")
    parser.add_argument("--learning-rate", type=float, help="peak; default: the recipe's, scaled to the batch")
    parser.add_argument("--label-smoothing", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--drop-path-rate", type=float)
    parser.add_argument("--ema-momentum", type=float,
                        help="end with the moving average of the weights (e.g. 0.999); the epochs' figures are of "
                             "the raw weights, the final one of the average")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS)
    parser.add_argument("--override", action="append", default=[], metavar="NAME=VALUE",
                        help="builder argument replacing the preset's, e.g. embed_dim=96 or conv_stem=16,32,64 "
                             "(repeatable)")
    parser.add_argument("--train-on", choices=("train", "train+validation"), default="train",
                        help="train+validation: all 60,000 training images of (Fashion-)MNIST, the usual protocol")
    parser.add_argument("--no-jit-compile", dest="jit_compile", action="store_false",
                        help="run the training step without XLA")
    parser.add_argument("--tta", choices=("flip",),
                        help="also report the final test accuracy with test-time augmentation (separately)")
    parser.add_argument("--target", type=float, default=0.93)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="runs/accuracy_fashion")
    arguments = parser.parse_args()

    recipe = recommended_recipe(arguments.model)
    chosen = recipe.fill(batch_size=arguments.batch_size, learning_rate=arguments.learning_rate,
                         label_smoothing=arguments.label_smoothing, weight_decay=arguments.weight_decay,
                         drop_path_rate=arguments.drop_path_rate, augment=arguments.augment)
    batch_size = chosen["batch_size"]
    overrides = dict(_parse_override(text) for text in arguments.override)
    keras.utils.set_random_seed(arguments.seed)
    config = keras_vit.preset_config(arguments.model)
    data = keras_vit.load_dataset(arguments.dataset, image_size=image_size_pair(config["image_size"]),
                                  channels=config.get("channels", 3), idx_dir=arguments.idx_dir)
    with precision_scope(arguments.precision):
        model = keras_vit.create_model(arguments.model, image_size=data.image_shape[:2],
                                       channels=data.image_shape[2], num_classes=data.num_classes,
                                       drop_path_rate=chosen["drop_path_rate"], **overrides)
    train_images, train_size = data.train, data.sizes["train"]
    if arguments.train_on == "train+validation":
        if data.validation is None:
            parser.error(f"--train-on train+validation: {arguments.dataset} has no validation split")
        train_images, train_size = joined(train_images, data.validation), train_size + data.sizes["validation"]
    train = make_batches(train_images, data.num_classes, batch_size, training=True, seed=arguments.seed,
                         augment=make_augmentation(chosen["augment"], seed=arguments.seed), repeat=True)
    test = make_batches(data.test, data.num_classes, 256)
    steps_per_epoch, steps_per_execution = epoch_steps(train_size, batch_size, steps_per_execution=8)
    steps = arguments.epochs * steps_per_epoch
    warmup = max(steps_per_epoch, steps * recipe.warmup_epochs // recipe.epochs)  # the recipe's share, >= 1 epoch
    model.compile(optimizer=build_optimizer(chosen["learning_rate"], total_steps=steps, warmup_steps=warmup,
                                            weight_decay=chosen["weight_decay"], clip_norm=recipe.clip_norm,
                                            ema_momentum=arguments.ema_momentum),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True,
                                                            label_smoothing=chosen["label_smoothing"]),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")], jit_compile=arguments.jit_compile,
                  steps_per_execution=steps_per_execution)
    print(f"{arguments.model} ({model.count_params():,} parameters) on {arguments.dataset}: "
          f"{train_size} train / {data.sizes['test']} test images, {arguments.epochs} epochs, batch "
          f"{batch_size}, recipe '{recipe.name}' with {chosen}, {arguments.precision}, XLA {arguments.jit_compile}, "
          f"overrides {overrides}",
          flush=True)
    recorder = TestAccuracyOverTime(test, time.perf_counter())
    model.fit(train, steps_per_epoch=steps_per_epoch, epochs=arguments.epochs, verbose=0,
              callbacks=[recorder])  # endless batches, as `keras_vit.train` reads them

    if arguments.ema_momentum:  # fit ended by swapping in the average: the last row becomes its figure
        _, accuracy = model.evaluate(test, verbose=0)
        print(f"with the moving average ({arguments.ema_momentum}): test accuracy {100 * accuracy:.2f}% (raw "
              f"weights: {100 * recorder.rows[-1]['test_accuracy']:.2f}%)")
        recorder.rows[-1]["test_accuracy"] = round(float(accuracy), 4)
    if arguments.tta:
        accuracy = _accuracy_with_tta(model, test, data.class_names, arguments.tta)
        print(f"with test-time augmentation '{arguments.tta}': test accuracy {100 * accuracy:.2f}% (without: "
              f"{100 * recorder.rows[-1]['test_accuracy']:.2f}%)")
    output = pathlib.Path(arguments.output)
    output.mkdir(parents=True, exist_ok=True)
    model.save(output / "model.keras")
    with open(output / "accuracy_over_time.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(recorder.rows[0]))
        writer.writeheader()
        writer.writerows(recorder.rows)
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot([row["minutes"] for row in recorder.rows], [100 * row["test_accuracy"] for row in recorder.rows],
              marker="o")
    axis.axhline(100 * arguments.target, color="gray", linestyle="--", label=f"target {100 * arguments.target:g}%")
    axis.set(xlabel="training minutes", ylabel="test accuracy (%)", title=f"{arguments.model} on {arguments.dataset}")
    axis.legend()
    figure.tight_layout()
    figure.savefig(output / "accuracy_over_time.png", dpi=120)
    reached = next((row for row in recorder.rows if row["test_accuracy"] >= arguments.target), None)
    final = recorder.rows[-1]
    print(f"final: {100 * final['test_accuracy']:.2f}% after {final['minutes']:.1f} min ({final['epoch']} epochs)")
    print(f"target {100 * arguments.target:g}%: " + (f"reached after {reached['minutes']:.1f} min (epoch "
                                                     f"{reached['epoch']})" if reached else "not reached"))
    print(f"Saved {output / 'accuracy_over_time.csv'}, {output / 'accuracy_over_time.png'} and the model, "
          f"{output / 'model.keras'}")


if __name__ == "__main__":
    main()
