"""Export a trained classifier for TF Serving and send it a REST `predict` request (`keras-vit export --format
saved_model`, then what a client sends).

    python examples/export_and_serve.py runs/flowers/model.keras rose.jpg daisy.png --output serving --name flowers
    python examples/export_and_serve.py runs/flowers/model.keras rose.jpg --server http://localhost:8501

The export writes OUTPUT/NAME/VERSION/ (saved_model.pb, variables/, assets/class_names.txt). Serve OUTPUT/NAME with

    docker run -p 8501:8501 -v "$PWD/serving/flowers:/models/flowers" -e MODEL_NAME=flowers tensorflow/serving

and pass --server to send the request there. Without --server the script answers the very same request body itself,
with TensorFlow alone: it loads the SavedModel and calls the signature the body names, the way TF Serving does.
"""

import argparse
import base64
import json
import pathlib
import urllib.request


def rest_body(image_paths):
    """TF Serving's REST `predict` body: one instance per image, its file base64-encoded under "b64"."""
    return json.dumps({"signature_name": "serving_default", "instances": [
        {"image_bytes": {"b64": base64.b64encode(pathlib.Path(path).read_bytes()).decode()}} for path in image_paths]})


def answer_locally(version_dir, body):
    """What TF Serving answers to `body`: {"predictions": [{output name: values} per instance]}."""
    import tensorflow as tf

    request = json.loads(body)
    signature = tf.saved_model.load(str(version_dir)).signatures[request["signature_name"]]
    images = tf.constant([base64.b64decode(instance["image_bytes"]["b64"]) for instance in request["instances"]])
    outputs = signature(image_bytes=images)
    return {"predictions": [
        {key: [item.decode() if isinstance(item, bytes) else float(item) for item in value[row].numpy()]
         for key, value in outputs.items()} for row in range(len(request["instances"]))]}


def send(version_dir, image_paths, server=None):
    """Sends `image_paths` in one REST request to `server` (None: answered here); prints and returns the answer."""
    body = rest_body(image_paths)
    if server:
        url = f"{server}/v1/models/{version_dir.parent.name}:predict"  # TF Serving's MODEL_NAME: the folder's name
        with urllib.request.urlopen(urllib.request.Request(url, body.encode(), method="POST")) as response:
            answer = json.loads(response.read())
    else:
        answer = answer_locally(version_dir, body)
    for path, prediction in zip(image_paths, answer["predictions"]):
        top = ", ".join(f"{label} {score:.3f}" for label, score in zip(prediction["top_k_classes"],
                                                                     prediction["top_k_scores"]))
        print(f"{path}: {top}")
    return answer


def main(model_path, image_paths, output="serving", name=None, server=None):
    """Exports `model_path` under `output` (as the next version), then sends `image_paths`; returns the answer."""
    from keras_vit.export import export_saved_model

    version_dir = export_saved_model(model_path, output, name=name)
    print(f"SavedModel written to {version_dir}")
    return send(version_dir, image_paths, server)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .keras classifier, e.g. a train output's model.keras")
    parser.add_argument("images", nargs="+", help="JPEG, PNG, BMP or GIF files")
    parser.add_argument("--output", default="serving", help="base folder of the exports (default: serving)")
    parser.add_argument("--name", help="model name in TF Serving (default: the Keras model's name)")
    parser.add_argument("--server", help="TF Serving's REST address, e.g. http://localhost:8501 (default: answer here)")
    args = parser.parse_args()
    main(args.model, args.images, args.output, args.name, args.server)
