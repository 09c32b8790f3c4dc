"""Model builders, presets and the registry that builds models by name."""

from keras_vit.models.image_model import ImageModel, ModelMetadata, model_metadata
from keras_vit.models.presets import PRESETS
from keras_vit.models.pvt import build_pvt, count_pvt_parameters
from keras_vit.models.registry import count_parameters, create_model, list_models, preset_config
from keras_vit.models.swin import build_swin, count_swin_parameters
from keras_vit.models.vit import build_vit, count_vit_parameters
from keras_vit.models.saving import load_classifier, load_image_model
