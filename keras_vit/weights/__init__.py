"""Import of published ViT and Swin checkpoints (timm, Hugging Face transformers, vit_jax, big_vision) with
NumPy alone, and position-embedding resampling.

Example:
    >>> from keras_vit.weights import create_pretrained, list_pretrained
    >>> model = create_pretrained("vit_tiny_patch16_224.augreg_in21k_ft_in1k", num_classes=10)
"""

from keras_vit.layers.patch_encoder import resample_position_embeddings
from keras_vit.weights.assign import ImportReport
from keras_vit.weights.checkpoint_files import read_checkpoint
from keras_vit.weights.download import checkpoint_file
from keras_vit.weights.pretrained import create_pretrained, load_pretrained_weights
from keras_vit.weights.published import PUBLISHED, list_pretrained
from keras_vit.weights.safetensors import read_safetensors, write_safetensors
