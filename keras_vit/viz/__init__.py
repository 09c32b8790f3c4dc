"""Plots: training curves."""

from keras_vit.viz.curves import plot_history
