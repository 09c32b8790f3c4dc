"""Exporting trained classifiers: SavedModel for TF Serving, TFLite, ONNX."""

from keras_vit.data.image_guards import guarded_decode_image
from keras_vit.export.onnx import export_onnx
from keras_vit.export.saved_model import export_saved_model
from keras_vit.export.tflite import export_tflite
