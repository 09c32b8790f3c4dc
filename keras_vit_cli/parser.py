"""The argument parser of `keras-vit`: its sub-commands, their options and help, built without importing Keras or
TensorFlow (the defaults the help shows are in `keras_vit_cli.library_defaults`)."""

import argparse
import re

from keras_vit_cli import commands
from keras_vit_cli.flags import flag, flags_of
from keras_vit_cli.library_defaults import AUGMENTATIONS, DEFAULT_DATASET, HELP_DEFAULTS, STRATEGIES


def build_parser():
    """The parser of the `keras-vit` command line; each sub-command sets `command` (its function in
    `keras_vit_cli.commands`) and `flags` (for `flags.in_flags`).

    Example:
        >>> build_parser().parse_args(["models", "vit_*"]).pattern
        'vit_*'
    """
    parser = argparse.ArgumentParser(prog="keras-vit", description="Vision Transformers for Keras 3.")
    sub_commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def run_parser(name, command, help_text, description):
        """A sub-command whose options are left out of the call when not given; returns an `option` adder, whose
        help shows the library's default (`HELP_DEFAULTS[name]`) unless given `default_text`, and a `switch`
        adder."""
        defaults = HELP_DEFAULTS[name]
        sub_parser = sub_commands.add_parser(name, help=help_text, description=description)
        sub_parser.set_defaults(command=command)

        def option(flag, kind, text, dest=None, default_text=None, required=False):
            dest = dest or flag.lstrip("-").replace("-", "_")
            default_text = "required" if required else default_text or defaults[dest]
            sub_parser.add_argument(flag, type=kind, dest=dest, default=argparse.SUPPRESS, required=required,
                                    help=f"{text} ({default_text if required else f'default: {default_text}'})")

        def switch(flag, text, dest=None, action="store_true"):
            sub_parser.add_argument(flag, dest=dest or flag.lstrip("-").replace("-", "_"), action=action,
                                    default=argparse.SUPPRESS, help=text)

        return option, switch

    def data_options(option, switch):
        option("--dataset", str, "digits (embedded), mnist, fashion_mnist, or tfds:NAME (TensorFlow Datasets)")
        option("--data-dir", str, "folder with one sub-folder of images per class (replaces --dataset)")
        option("--validation-dir", str, "separate folder of validation images, same class sub-folders as --data-dir",
               default_text="10%% of --data-dir")
        option("--test-dir", str, "separate folder of test images (e.g. the dataset's official ones), same class "
               "sub-folders as --data-dir", default_text="10%% of --data-dir")
        switch("--skip-corrupt", "skip unreadable or corrupt images (logged) instead of failing")
        option("--cache", str, "what the input pipeline keeps in memory: auto (encoded training images and decoded "
               "evaluation images when they fit 1/32 of this machine's memory), none, memory, or a folder for cache "
               "files; images otherwise stream from disk every epoch")
        option("--data-service", str, "grpc://HOST:PORT of a tf.data service dispatcher that runs the training "
               "input pipeline on its workers (see keras-vit data-service)", default_text="in this process")
        option("--idx-dir", str, "folder with the four IDX files of mnist or fashion_mnist",
               default_text="searched: /usr/share/datasets, the Keras cache")
        option("--tfds-data-dir", str, "TensorFlow Datasets data folder for tfds:NAME",
               default_text="TFDS's own, ~/tensorflow_datasets")

    def schedule_options(option, recipe):
        option("--epochs", int, "training epochs", default_text=recipe)
        option("--batch-size", int, "images per step, split across the replicas of --strategy", default_text=recipe)
        option("--learning-rate", float, "peak learning rate of the warmup-cosine schedule",
               default_text="the recipe's, scaled to --batch-size")
        option("--weight-decay", float, "AdamW weight decay", default_text=recipe)
        option("--warmup-epochs", int, "epochs of linear learning-rate warmup", default_text=recipe)
        option("--augment", str, "augmentation policy: " + ", ".join(AUGMENTATIONS), default_text=recipe)
        option("--clip-norm", float, "clip gradients to this global norm, 0 for none", default_text=recipe)

    def classifier_options(option, recipe):
        option("--label-smoothing", float, "label smoothing", default_text=recipe)
        option("--drop-path-rate", float, "stochastic depth of the last block", default_text=recipe)
        option("--ema-momentum", float, "average the weights with this momentum, e.g. 0.9999", default_text="none")

    def run_options(option, switch, output_default):
        option("--output", str, "output folder", dest="output_dir", default_text=output_default)
        option("--seed", int, "random seed")
        option("--precision", str, "auto, float32, mixed_float16 or mixed_bfloat16; auto is float32 without XLA for "
               "the nano/micro presets on a CPU, else mixed_bfloat16 where the device computes bfloat16 natively (on "
               "a CPU with AVX-512 BF16 or AMX, without XLA), else float32")
        option("--strategy", str, "where to train: " + ", ".join(STRATEGIES) + "; see README, Several GPUs")
        option("--tpu", str, "TPU name or address for --strategy tpu", default_text="the local TPU")
        option("--backup-interval", float, "least seconds between two backups a killed run resumes from")
        option("--time-budget", _duration, "time the whole run should take, e.g. 90s, 30m or 1.5h: the epochs and "
               "their schedule are planned from the measured first epoch (--epochs, given, wins)", default_text="none")
        option("--steps-per-execution", int, "the most training steps per call into the compiled graph (an epoch "
               "is a pass over the data rounded up to whole, evenly sized calls)")
        option("--verbose", int, "0 silent, 1 progress bar, 2 one line per epoch and TensorFlow's start-up log")
        switch("--no-jit-compile", "do not compile the training step with XLA", dest="jit_compile",
               action="store_false")
        switch("--overwrite", "replace the run in the output folder when it is another run or a finished one")

    def classifier_run_options(option, switch, recipe):
        data_options(option, switch)
        schedule_options(option, recipe)
        classifier_options(option, recipe)
        run_options(option, switch, "runs/<model>_<dataset>")

    option, switch = run_parser(
        "train", commands.train, "train a model and report its test accuracy",
        "Train a preset on a dataset (default: the embedded digits), evaluate it on the held-out test "
        "split, and save model.keras, best.keras, history.csv, logs/ (TensorBoard) and "
        "training_curves.png in the output folder. Started again after a crash, the same command "
        "resumes from the output folder's backup/.")
    recipe = "the model's recipe, see README"
    option("--model", str, "preset name, see `keras-vit models`", default_text="the recommended one for the data: "
           "vitc_nano_patch4_local_28 for digits, mnist and fashion_mnist, vitc_nano_patch4_local_32 for --data-dir "
           "and tfds")
    option("--weights", str, "start from a published checkpoint (name from `keras-vit models --pretrained`, or a "
                             ".safetensors/.npz file), new head for the data's classes", default_text="none")
    classifier_run_options(option, switch, recipe)

    option, switch = run_parser(
        "pretrain", commands.pretrain, "masked-image pretraining (MAE) of a ViT encoder, labels ignored",
        "Pretrain a ViT preset as a masked autoencoder on a dataset's images and save encoder.keras, history.csv, "
        "logs/, training_curves.png and reconstruction.png (original / masked / reconstructed) in the output "
        "folder. Resumes like train.")
    recipe = "MAE's recipe, see README"
    option("--model", str, "ViT preset name, see `keras-vit models`")
    option("--mask-ratio", float, "share of each image's patches removed")
    switch("--norm-pix-loss", "reconstruct per-patch normalised pixels")
    option("--decoder-dim", int, "decoder width", default_text="512 for Base and larger, else the encoder's (>= 128)")
    option("--decoder-depth", int, "decoder blocks", default_text="8 for Base and larger, else half the encoder's")
    data_options(option, switch)
    schedule_options(option, recipe)
    run_options(option, switch, "runs/<model>_mae_<dataset>")

    option, switch = run_parser(
        "finetune", commands.finetune, "fine-tune a pretrained encoder as a classifier, layer-wise lr decay",
        "Load the encoder of PRETRAINED into a classifier of its preset with a new head for the data's classes (at "
        "the data's image size) and train it with layer-wise learning-rate decay (or, with --linear-probe, the head "
        "only); then as train.")
    recipe = "MAE's fine-tuning recipe, see README"
    option("--from", str, "pretrain output folder or its encoder.keras, a .keras classifier, or a published "
                          "checkpoint name or file", dest="pretrained", required=True)
    option("--model", str, "preset name", default_text="from PRETRAINED")
    option("--layer-decay", float, "layer-wise learning-rate decay, 1 for none",
           default_text="0.65; 0.75 for ViT L/H; 0.9 for Swin; 1 for PVT and nano/micro")
    switch("--linear-probe", "train the head only, the encoder frozen")
    classifier_run_options(option, switch, recipe)

    option, switch = run_parser(
        "prepare", commands.prepare, "write an image folder's splits as TFRecord shards (for large datasets)",
        "Write the train / validation / test splits of an image folder (those of --data-dir in train) as TFRecord "
        "shards of the unchanged image files, and dataset.json, in the output folder. Started again after a "
        "crash, the same command keeps the complete shards and writes the rest.")
    option("--data-dir", str, "folder with one sub-folder of images per class", required=True)
    option("--output", str, "the folder of shards", dest="output_dir", required=True)
    option("--validation-dir", str, "separate folder of validation images, same class sub-folders as --data-dir",
           default_text="10%% of --data-dir")
    option("--shard-megabytes", float, "about this many MB (10**6 bytes) a shard")
    switch("--skip-corrupt", "leave out unreadable or corrupt images (logged, listed in dataset.json), not fail")
    option("--verbose", int, "0 silent, 1 progress bars of the header check and the shard writing, 2 their final "
           "counts only and TensorFlow's start-up log")

    models_parser = sub_commands.add_parser("models", help="list the model presets with their parameter counts")
    models_parser.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'vit_small*'")
    models_parser.add_argument("--pretrained", action="store_true",
                               help="list the published checkpoints (keras-vit train --weights NAME) instead")
    models_parser.set_defaults(command=commands.models)

    export_parser = sub_commands.add_parser(
        "export", help="export a .keras classifier for serving: SavedModel (TF Serving), TFLite or ONNX",
        description="Export a .keras classifier. saved_model writes TF Serving's layout OUTPUT/NAME/VERSION/ with "
                    "an image-bytes signature (serving_default) and a pixel signature (serving_pixels).")
    export_parser.add_argument("model_path", metavar="MODEL", help="a .keras file")
    export_parser.add_argument("--format", dest="export_format", choices=("saved_model", "tflite", "onnx"),
                               required=True, help="what to write")
    export_parser.add_argument("--output", required=True,
                               help="saved_model: the base folder holding one folder per model; else the file")
    export_parser.add_argument("--name", help="saved_model: model folder name (default: the model's name)")
    export_parser.add_argument("--version", type=int,
                               help="saved_model: version number (default: the next one); never overwritten")
    for limit, help_text in commands.SERVING_LIMITS.items():
        export_parser.add_argument(flag(limit), type=int, help=f"saved_model: {help_text}")
    export_parser.set_defaults(command=commands.export)

    predict_parser = sub_commands.add_parser("predict", help="top classes and probabilities of images")
    predict_parser.add_argument("model_path", metavar="MODEL", help="a .keras file or a SavedModel version folder")
    predict_parser.add_argument("image_paths", metavar="IMAGE", nargs="+", help="JPEG, PNG, BMP or GIF files")
    predict_parser.add_argument("--top-k", type=int, default=5, help="classes shown per image (default: 5)")
    predict_parser.set_defaults(command=commands.predict)

    evaluate_parser = sub_commands.add_parser(
        "evaluate", help="accuracy, top-5, per-class precision/recall and a confusion-matrix PNG of a model",
        description="Evaluate a .keras classifier on a split of a dataset (loaded at the model's image size) and "
                    "write its confusion matrix as a PNG.")
    evaluate_parser.add_argument("model_path", metavar="MODEL", help="a .keras file")
    evaluate_parser.add_argument("--dataset", default=DEFAULT_DATASET,
                                 help="digits (embedded), mnist, fashion_mnist, or tfds:NAME (default: %(default)s)")
    evaluate_parser.add_argument("--data-dir", help="folder with one sub-folder of images per class "
                                                    "(replaces --dataset)")
    evaluate_parser.add_argument("--idx-dir", help="folder with the four IDX files of mnist or fashion_mnist")
    evaluate_parser.add_argument("--tfds-data-dir", help="TensorFlow Datasets data folder for tfds:NAME")
    evaluate_parser.add_argument("--split", default="test", help="test, validation, train, or all: every image of "
                                 "the dataset or --data-dir, e.g. a folder of test images (default: test)")
    evaluate_parser.add_argument("--batch-size", type=int, default=64, help="images per step (default: 64)")
    evaluate_parser.add_argument("--output", help="the confusion-matrix PNG "
                                                  "(default: beside MODEL, <stem>.confusion_<split>.png)")
    evaluate_parser.add_argument("--tta", choices=("flip",), help="test-time augmentation: flip averages each "
                                 "image's class probabilities with its mirror's (reported as such; default: none)")
    evaluate_parser.set_defaults(command=commands.evaluate)

    explain_parser = sub_commands.add_parser(
        "explain", help="heatmap of what the model looked at, over the image",
        description="Write a PNG of the image with attention rollout (ViT) or Grad-CAM (Swin) over it.")
    explain_parser.add_argument("model_path", metavar="MODEL", help="a .keras file")
    explain_parser.add_argument("image_path", metavar="IMAGE", help="a JPEG, PNG, BMP or GIF file")
    explain_parser.add_argument("--output", dest="output_path", required=True, help="the PNG to write")
    explain_parser.set_defaults(command=commands.explain)

    service_parser = sub_commands.add_parser(
        "data-service", help="run a tf.data service dispatcher or worker: the input pipeline in other processes",
        description="Start a tf.data service dispatcher or worker, print its address and serve until Ctrl-C. "
                    "Start the dispatcher first, then workers (on any machines that reach it), then train with "
                    "--data-service grpc://HOST:PORT.")
    roles = service_parser.add_subparsers(title="roles", required=True, metavar="ROLE", dest="role")
    dispatcher_parser = roles.add_parser("dispatcher", help="hand out the pipeline's work to the workers")
    dispatcher_parser.add_argument("--port", type=int, required=True, help="the port workers and trainers reach")
    worker_parser = roles.add_parser("worker", help="run the input pipeline for a dispatcher")
    worker_parser.add_argument("--dispatcher", required=True, help="the dispatcher's HOST:PORT")
    worker_parser.add_argument("--port", type=int, default=0, help="the port trainers read from (default: a free one)")
    worker_parser.add_argument("--worker-address", help="HOST:%%port%% at which trainers reach this worker, %%port%% "
                                                        "standing for its port (default: localhost:%%port%%)")
    service_parser.set_defaults(command=commands.data_service)
    for sub_parser in sub_commands.choices.values():
        sub_parser.set_defaults(flags=flags_of(sub_parser))
    return parser


def _duration(text):
    """Seconds of a duration written with its unit: 90s, 30m, 1.5h."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh])\s*", text)
    if not found or not float(found[1]) > 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a duration with its unit, e.g. 90s, 30m or 1.5h")
    return float(found[1]) * {"s": 1, "m": 60, "h": 3600}[found[2]]
