"""Using a trained classifier: predictions on image files, maps of what the model looked at, evaluation."""

from keras_vit.inference.evaluate import EvaluationResult, evaluate_model
from keras_vit.inference.explain import explain_image
from keras_vit.inference.predict import load_image, predict_images
