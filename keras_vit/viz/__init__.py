"""Plots: training curves, confusion matrices, attention rollout and Grad-CAM maps, heatmap overlays."""

from keras_vit.viz.curves import plot_history
from keras_vit.viz.confusion import plot_confusion_matrix
from keras_vit.viz.attention_rollout import attention_model, attention_rollout, rollout
from keras_vit.viz.overlay import plot_overlay
from keras_vit.viz.saliency import grad_cam
