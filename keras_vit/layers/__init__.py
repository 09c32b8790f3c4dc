"""Keras layers of Vision Transformers, written with `keras.ops` only (any Keras backend)."""

from keras_vit.layers.attention import MultiHeadSelfAttention
from keras_vit.layers.conv_stem import ConvStem
from keras_vit.layers.drop_path import DropPath
from keras_vit.layers.image_normalization import ImageNormalization
from keras_vit.layers.layer_norm import LayerNorm
from keras_vit.layers.layer_scale import LayerScale
from keras_vit.layers.mlp import MLP
from keras_vit.layers.patch_encoder import PatchEncoder, resample_position_embeddings
from keras_vit.layers.patch_merging import PatchMerging
from keras_vit.layers.patches import Patches, extract_patches, patches_to_image
from keras_vit.layers.pvt_attention import SpatialReductionAttention
from keras_vit.layers.pvt_block import PVTBlock
from keras_vit.layers.pvt_embedding import PyramidPatchEmbedding
from keras_vit.layers.pvt_mlp import DepthwiseConvMLP
from keras_vit.layers.pvt_position import StagePositionEmbedding
from keras_vit.layers.swin_attention import WindowAttention
from keras_vit.layers.swin_block import SwinTransformerBlock
from keras_vit.layers.swin_windows import window_partition, window_reverse
from keras_vit.layers.transformer_block import TransformerBlock
from keras_vit.layers.token_pooling import TokenPooling
