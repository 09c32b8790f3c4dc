"""Masked-image pretraining (MAE) of a ViT encoder, then fine-tuning it as a classifier (`keras-vit pretrain`, then
`keras-vit finetune --from`).

    python examples/mae_pretrain_finetune.py --dataset fashion_mnist --pretrain-epochs 20 --epochs 10
    python examples/mae_pretrain_finetune.py --data-dir flowers/ --model vit_tiny_patch16_224
    python examples/mae_pretrain_finetune.py --pretrain-epochs 1 --epochs 1       # a quick try on the digits

Pretraining ignores the labels: each image loses 75% of its patches and a light decoder learns to restore them.
Fine-tuning loads the encoder into the preset's classifier with a new head and trains it with layer-wise
learning-rate decay. Both steps write an output folder (encoder.keras, reconstruction.png; model.keras, ...).
"""

import argparse

import keras_vit


def main(model="vit_nano_patch4_28", dataset="digits", data_dir=None, pretrain_epochs=None, epochs=None,
         batch_size=None, output_dir="runs/mae_example", **options):
    """Pretrains ViT preset `model` on the images, fine-tunes the encoder on their labels; returns both results.

    Options left as None take MAE's recipes (README, Pretraining and fine-tuning); `options` are other arguments
    that `keras_vit.pretrain` and `keras_vit.finetune` both take (e.g. seed=1, jit_compile=False).
    """
    options = {"verbose": 2, **options}
    pretraining = keras_vit.pretrain(model, dataset=dataset, data_dir=data_dir, epochs=pretrain_epochs,
                                     batch_size=batch_size, output_dir=f"{output_dir}/pretrain", **options)
    print(f"Encoder saved as {pretraining.encoder_path}; reconstructions in {pretraining.reconstruction_path}")
    finetuning = keras_vit.finetune(pretraining.output_dir, dataset=dataset, data_dir=data_dir, epochs=epochs,
                                    batch_size=batch_size, output_dir=f"{output_dir}/finetune", **options)
    print(f"Test accuracy after fine-tuning: {finetuning.test_accuracy:.4f}")
    return pretraining, finetuning


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_nano_patch4_28", help="ViT preset (default: vit_nano_patch4_28)")
    parser.add_argument("--dataset", default="digits", help="digits, mnist, fashion_mnist or tfds:NAME")
    parser.add_argument("--data-dir", help="folder with one sub-folder of images per class (replaces --dataset)")
    parser.add_argument("--pretrain-epochs", type=int, help="default: MAE's recipe")
    parser.add_argument("--epochs", type=int, help="fine-tuning epochs (default: the recipe's)")
    parser.add_argument("--batch-size", type=int, help="default: the recipes'")
    parser.add_argument("--output", default="runs/mae_example", help="holds pretrain/ and finetune/")
    args = parser.parse_args()
    main(args.model, args.dataset, args.data_dir, args.pretrain_epochs, args.epochs, args.batch_size, args.output)
