"""Train a ViT on a folder of images, one sub-folder per class (what `keras-vit train --data-dir` does).

    python examples/train_folder.py flowers/ --model vit_tiny_patch16_224 --epochs 50 --batch-size 32
    python examples/train_folder.py flowers/ --epochs 1                # a quick try (vitc_nano_patch4_local_32)

The folder is split 80 / 10 / 10 into train / validation / test (the same files every run); the output folder
(default runs/<model>_folder) holds model.keras, best.keras, history.csv, logs/ and training_curves.png.
"""

import argparse

import keras_vit


def main(data_dir, model=None, epochs=None, batch_size=None, output_dir=None, **options):
    """Trains preset `model` (None: the recommended one) on `data_dir`; returns `keras_vit.train`'s result.

    The images are resized to the preset's image size. Training options left as None take the preset's recipe
    (README, Training recipes); `options` are any other `keras_vit.train` arguments (e.g. augment="flip").
    """
    result = keras_vit.train(model, data_dir=data_dir, epochs=epochs, batch_size=batch_size, output_dir=output_dir,
                             **{"verbose": 2, **options})
    print(f"Test accuracy: {result.test_accuracy:.4f}; model saved as {result.model_path}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", help="folder with one sub-folder of images per class")
    parser.add_argument("--model", help="preset name (default: the recommended one, vitc_nano_patch4_local_32)")
    parser.add_argument("--epochs", type=int, help="default: the preset's recipe")
    parser.add_argument("--batch-size", type=int, help="default: the preset's recipe")
    parser.add_argument("--output", help="output folder (default: runs/<model>_folder)")
    args = parser.parse_args()
    main(args.data_dir, args.model, args.epochs, args.batch_size, args.output)
