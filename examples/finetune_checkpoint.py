"""Fine-tune a published checkpoint on a folder of images (what `keras-vit finetune --from CHECKPOINT` does).

    python examples/finetune_checkpoint.py deit_tiny_patch16_224.fb_in1k flowers/ --epochs 10
    python examples/finetune_checkpoint.py downloads/model.safetensors flowers/ --model vit_tiny_patch16_224

CHECKPOINT is a name from `keras-vit models --pretrained` (downloaded with huggingface_hub: `pip install
".[hub]"`, online) or a timm / Hugging Face .safetensors or vit_jax / big_vision .npz file fetched by hand (offline:
download the file the error names and pass its path). The classifier of the checkpoint's preset gets a new head for
the folder's classes; its blocks train with layer-wise learning-rate decay.
"""

import argparse

import keras_vit


def main(checkpoint, data_dir, model=None, epochs=None, batch_size=None, layer_decay=None, output_dir=None,
         **options):
    """Fine-tunes `checkpoint` on `data_dir`; returns `keras_vit.finetune`'s result.

    `model` is the checkpoint's preset: needed for a file, known for a published name. Options
    left as None take MAE's fine-tuning recipe (README, Pretraining and fine-tuning); `options` are any other
    `keras_vit.finetune` arguments, or builder arguments (e.g. image_size=384).
    """
    result = keras_vit.finetune(checkpoint, model=model, data_dir=data_dir, epochs=epochs, batch_size=batch_size,
                                layer_decay=layer_decay, output_dir=output_dir, **{"verbose": 2, **options})
    print(f"Test accuracy: {result.test_accuracy:.4f}; model saved as {result.model_path}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="published checkpoint name, or a .safetensors / .npz file")
    parser.add_argument("data_dir", help="folder with one sub-folder of images per class")
    parser.add_argument("--model", help="preset of a checkpoint file, e.g. vit_tiny_patch16_224 (a name knows its own)")
    parser.add_argument("--epochs", type=int, help="default: the recipe's")
    parser.add_argument("--batch-size", type=int, help="default: the recipe's")
    parser.add_argument("--layer-decay", type=float, help="1 for none (default: 0.65 for ViT-Ti/S/B)")
    parser.add_argument("--output", help="output folder (default: runs/<model>_folder)")
    args = parser.parse_args()
    main(args.checkpoint, args.data_dir, args.model, args.epochs, args.batch_size, args.layer_decay, args.output)
