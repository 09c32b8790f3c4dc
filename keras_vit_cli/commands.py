"""One small function per sub-command of `keras-vit`: it imports the part of `keras_vit` it calls when it runs,
calls it with the parsed arguments and prints the result."""

import fnmatch
import os

from keras_vit_cli.flags import flag
from keras_vit_cli.preset_table import PRESET_ROWS


class CommandError(Exception):
    """A mistake in a command line that its parser cannot see, e.g. a pattern that no preset matches."""


def train(**arguments):
    from keras_vit import training

    _report_classifier(training.train(**_with_options(arguments)))


def pretrain(**arguments):
    from keras_vit.pretrain import pretrainer

    result = pretrainer.pretrain(**_with_options(arguments))
    print(f"Saved {result.encoder_path}, {result.history_path}, {result.curves_path} and "
          f"{result.reconstruction_path}")
    print(f"Final masked-patch loss: {result.history['loss'][-1]:.4f}")


def finetune(**arguments):
    from keras_vit import finetuning

    _report_classifier(finetuning.finetune(**_with_options(arguments)))


def _with_options(arguments):
    """The arguments of a sub-command with the flags of the data and of the run gathered, the one place they are:
    into `data=DataSpec(...)` and (given any) `run=RunConfig(...)`."""
    from keras_vit.data.spec import DataSpec
    from keras_vit.training.run import DATA_FIELDS, RUN_FIELDS, RunConfig

    data = {key: arguments.pop(key) for key in DATA_FIELDS if key in arguments}
    run = {key: arguments.pop(key) for key in RUN_FIELDS if key in arguments}
    return {**arguments, "data": DataSpec(**data), **({"run": RunConfig(**run)} if run else {})}


def _report_classifier(result):
    correct = round(result.test_accuracy * result.test_size)
    print(f"Saved {result.model_path}, {result.history_path} and {result.curves_path}")
    print(f"Test accuracy: {100 * result.test_accuracy:.2f}% ({correct}/{result.test_size} test images)")


def prepare(**arguments):
    from keras_vit.data import shards

    for split, entry in shards.write_shards(**arguments)["splits"].items():
        print(f"{split}: {entry['images']} images in {len(entry['files'])} shards, {entry['bytes'] / 1e6:.1f} MB")
    print(f"Saved {os.path.join(arguments['output_dir'], 'dataset.json')}")


def models(pattern, pretrained):
    if pretrained:
        return _pretrained_checkpoints(pattern)
    rows = [row for row in PRESET_ROWS if fnmatch.fnmatch(row[0], pattern)]
    if not rows:
        raise CommandError(f"No model matches '{pattern}'.")
    width = max(28, *(len(row[0]) for row in rows))
    header = f"{'model':<{width}} {'parameters':>13} {'image':>7} {'patch':>5} {'pooling':>7} {'classes':>7}"
    print(header)
    print("-" * len(header))
    for name, parameters, image_size, patch_size, pooling, classes in rows:
        print(f"{name:<{width}} {parameters:>13,} {image_size:>7} {patch_size:>5} {pooling:>7} {classes:>7}")


def _pretrained_checkpoints(pattern):
    from keras_vit.weights import list_pretrained

    rows = [row for row in list_pretrained() if fnmatch.fnmatch(row["name"], pattern)]
    if not rows:
        raise CommandError(f"No published checkpoint matches '{pattern}'.")
    width = max(len(row["name"]) for row in rows)
    preset_width = max(6, *(len(row["preset"]) for row in rows))
    header = f"{'checkpoint':<{width}} {'preset':<{preset_width}} {'classes':>7}  description"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['name']:<{width}} {row['preset']:<{preset_width}} {row['classes'] or '-':>7}  "
              f"{row['description']}")


SERVING_LIMITS = {  # parameters of export_saved_model, with their help (defaults in keras_vit.data.image_guards)
    "max_bytes": "largest encoded image (default 16 MiB)",
    "max_pixels": "largest width x height in an image's header, and of all frames of a GIF together "
                  "(default 4096 x 4096)",
    "max_frames": "most frames of a GIF (default 100)",
    "max_jpeg_scans": "most scans of a JPEG (default 100)",
    "max_batch": "most images in one request (default 64)",
    "parallel_decodes": "images of a request decoded at once (default 2)",
}


def export(model_path, export_format, output, name, version, **limits):
    limits = {key: value for key, value in limits.items() if value is not None}
    if export_format != "saved_model" and (name is not None or version is not None):
        raise CommandError("--name and --version apply to --format saved_model only.")
    if export_format != "saved_model" and limits:
        raise CommandError(f"{', '.join(map(flag, limits))} apply to --format saved_model only (the serving "
                           f"signature's limits).")
    from keras_vit import export as exporters

    if export_format == "saved_model":
        path = exporters.export_saved_model(model_path, output, name=name, version=version, **limits)
    else:
        path = getattr(exporters, f"export_{export_format}")(model_path, output)
    print(f"Saved {path}")


def predict(model_path, image_paths, top_k):
    from keras_vit import inference

    for path, predictions in zip(image_paths, inference.predict_images(model_path, image_paths, top_k)):
        width = max(len(name) for name, _ in predictions)
        print(path)
        for name, probability in predictions:
            print(f"  {name:<{width}}  {probability:.4f}")


def evaluate(**arguments):
    from keras_vit import inference

    result = inference.evaluate_model(**_with_options(arguments))
    top5_correct = round(result.top5_accuracy * result.size)
    if result.tta:
        print(f"Test-time augmentation: {result.tta} (each image and its mirror, probabilities averaged)")
    print(f"Accuracy: {100 * result.accuracy:.2f}% ({int(result.confusion_matrix.trace())}/{result.size})")
    print(f"Top-5 accuracy: {100 * result.top5_accuracy:.2f}% ({top5_correct}/{result.size})")
    width = max(5, *(len(row.name) for row in result.per_class))
    header = f"{'class':<{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"
    print(header)
    print("-" * len(header))
    for row in result.per_class:
        print(f"{row.name:<{width}} {row.precision:>9.4f} {row.recall:>9.4f} {row.f1:>9.4f} {row.support:>8}")
    print(f"Saved {result.confusion_path}")


def explain(model_path, image_path, output_path):
    from keras_vit import inference

    inference.explain_image(model_path, image_path, output_path)
    print(f"Saved {output_path}")


def data_service(role, port, dispatcher=None, worker_address=None):
    from keras_vit.data.service import serve_until_interrupted, server_address, start_dispatcher, start_worker

    server = start_dispatcher(port) if role == "dispatcher" else start_worker(dispatcher, port, worker_address)
    scheme = "grpc://" if role == "dispatcher" else ""
    print(f"tf.data service {role} listening on {scheme}{server_address(server)} (Ctrl-C stops it)", flush=True)
    serve_until_interrupted(server)
