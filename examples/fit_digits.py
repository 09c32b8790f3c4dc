"""Train a ViT preset on the embedded digits with plain `model.fit` (what `keras-vit train` does, by hand)."""

import keras

import keras_vit


def main(epochs=300, batch_size=64):
    data = keras_vit.load_dataset("digits")  # 8x8 grayscale, pixels in [0, 255]; ships with scikit-learn
    model = keras_vit.create_model("vit_nano_patch2_32", image_size=data.image_shape[:2],
                                   channels=data.image_shape[2], num_classes=data.num_classes)
    train = keras_vit.data.make_batches(data.train, data.num_classes, batch_size, training=True, seed=0,
                                        augment=keras_vit.data.make_augmentation("shift", seed=0))
    test = keras_vit.data.make_batches(data.test, data.num_classes, batch_size)
    steps = epochs * len(train)
    model.compile(
        optimizer=keras_vit.training.build_optimizer(1e-3, total_steps=steps, warmup_steps=steps // 30),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=True,
    )
    model.fit(train, epochs=epochs, verbose=2)
    _, accuracy = model.evaluate(test, verbose=0)
    print(f"Test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
