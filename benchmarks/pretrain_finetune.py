"""From scratch against masked-image pretraining then fine-tuning, with the same fine-tuning epochs.

Trains preset MODEL on DATASET from random weights for EPOCHS epochs (`keras_vit.train`), and pretrains it as a
masked autoencoder for PRETRAIN_EPOCHS epochs on the same training images, labels ignored (`keras_vit.pretrain`),
then fine-tunes that encoder for EPOCHS epochs (`keras_vit.finetune`, layer-wise decay). Both classifiers use the
same batch size and learning rate; prints test accuracy and wall time of each. Fashion-MNIST is read from its IDX
files (e.g. /usr/share/datasets/fashion-mnist); --dataset digits runs offline anywhere.

    python benchmarks/pretrain_finetune.py --dataset fashion_mnist --pretrain-epochs 3 --epochs 2
"""

import argparse
import tempfile
import time

import keras_vit


def timed(function, **arguments):
    start = time.perf_counter()
    result = function(**arguments)
    return result, (time.perf_counter() - start) / 60


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_nano_patch4_28")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="classifier epochs, from scratch and fine-tuning")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="of both classifiers")
    parser.add_argument("--layer-decay", type=float, default=0.65)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    common = dict(model=arguments.model, dataset=arguments.dataset, batch_size=arguments.batch_size,
                  seed=arguments.seed, verbose=2)
    classifier = dict(epochs=arguments.epochs, learning_rate=arguments.learning_rate, warmup_epochs=1)
    with tempfile.TemporaryDirectory() as folder:
        scratch, scratch_minutes = timed(keras_vit.train, **common, **classifier, output_dir=f"{folder}/scratch")
        pretrained, pretrain_minutes = timed(keras_vit.pretrain, **common, epochs=arguments.pretrain_epochs,
                                             learning_rate=1.5e-3 * arguments.batch_size / 128, warmup_epochs=1,
                                             output_dir=f"{folder}/mae")
        common.pop("model")
        finetuned, finetune_minutes = timed(keras_vit.finetune, pretrained=pretrained.output_dir, **common,
                                            **classifier, layer_decay=arguments.layer_decay,
                                            output_dir=f"{folder}/finetune")
    print(f"\n{arguments.model} on {arguments.dataset}, batch {arguments.batch_size}, classifier lr "
          f"{arguments.learning_rate}, {arguments.epochs} classifier epochs")
    print(f"{'method':<44} {'test accuracy':>13} {'minutes':>8}")
    print(f"{'from scratch':<44} {100 * scratch.test_accuracy:>12.2f}% {scratch_minutes:>8.1f}")
    label = (f"MAE {arguments.pretrain_epochs} ep (loss {pretrained.history['loss'][0]:.3f} -> "
             f"{pretrained.history['loss'][-1]:.3f}) + fine-tune")
    print(f"{label:<44} {100 * finetuned.test_accuracy:>12.2f}% {pretrain_minutes + finetune_minutes:>8.1f}"
          f"  (pretraining {pretrain_minutes:.1f})")


if __name__ == "__main__":
    main()
