"""Using a trained classifier: predictions on image files, and maps of what the model looked at."""

from keras_vit.inference.explain import explain_image
from keras_vit.inference.predict import load_image, predict_images
