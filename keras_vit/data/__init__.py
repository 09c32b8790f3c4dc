"""Image sources and the tf.data pipeline."""

from keras_vit.data.dataset import ImageClassificationData
from keras_vit.data.decode import decode_image
from keras_vit.data.embedded import load_digits
from keras_vit.data.folder import find_class_files, load_image_folder
from keras_vit.data.idx import load_idx_dataset
from keras_vit.data.scan import find_corrupt_images
from keras_vit.data.pipeline import make_batches, named_image_errors, split_images
from keras_vit.data.sources import DEFAULT_DATASET, known_datasets, load_dataset
from keras_vit.data.spec import DataSpec
from keras_vit.data.tfds_source import load_tfds
from keras_vit.data.augment import AUGMENTATIONS, Augmentation, make_augmentation
from keras_vit.data.splits import DatasetSplit, ImageArrays, ImageFiles, RecordFiles
