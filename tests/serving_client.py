"""A client of exported SavedModels that uses TensorFlow only: run by the tests in a fresh process without keras_vit.

Usage: python serving_client.py JOB.json (written by test_export_saved_model.py); writes JOB.npz and JOB.out.json.
"""

import base64
import json
import resource
import sys

import numpy as np
import tensorflow as tf


def rest_predict(model, body):
    """Answers a TF Serving REST `predict` body the way TF Serving does.

    The body is in the row ("instances") format, with binary inputs as {"b64": ...}; the answer is
    {"predictions": [one {output name: value} per instance]}.
    """
    request = json.loads(body)
    signature = model.signatures[request.get("signature_name", "serving_default")]
    columns = {}
    for instance in request["instances"]:
        for key, value in instance.items():
            columns.setdefault(key, []).append(base64.b64decode(value["b64"]) if isinstance(value, dict) else value)
    outputs = signature(**{key: tf.constant(values) for key, values in columns.items()})
    return {"predictions": [{key: _as_json(value[row].numpy()) for key, value in outputs.items()}
                            for row in range(len(request["instances"]))]}


def _as_json(array):
    return [item.decode() if isinstance(item, bytes) else float(item) for item in array.ravel()]


def _error_and_peak_growth_mib(call):
    """The InvalidArgumentError message of `call()` (None if it succeeds) and how much the peak RSS grew (MiB)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        call()
        message = None
    except tf.errors.InvalidArgumentError as error:
        message = error.message
    return message, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


def main(job_path):
    job = json.loads(open(job_path).read())
    pixels = np.load(job["pixels"])
    images = tf.constant([base64.b64decode(text) for text in job["images_b64"]])
    arrays, report = {}, {}
    for architecture, path in job["exports"].items():
        model = tf.saved_model.load(path)
        serve_bytes, serve_pixels = model.signatures["serving_default"], model.signatures["serving_pixels"]
        first_answer = serve_bytes(image_bytes=images[:1])  # warm-up before measuring memory
        if architecture == job["guarded"]:
            report["bombs"] = {
                name: _error_and_peak_growth_mib(lambda path=path: serve_bytes(
                    image_bytes=tf.constant([open(path, "rb").read()])))
                for name, path in job["bombs"].items()}
            too_many = job["max_batch"] + 1
            report["too_many_images"] = {
                "image_bytes": _error_and_peak_growth_mib(lambda: serve_bytes(
                    image_bytes=tf.repeat(images[:1], too_many)))[0],
                "images": _error_and_peak_growth_mib(lambda: serve_pixels(
                    images=np.repeat(pixels[:1], too_many, axis=0)))[0]}
            report["errors"] = {
                name: _error_and_peak_growth_mib(lambda data=data: serve_bytes(
                    image_bytes=tf.constant([base64.b64decode(data)])))[0]
                for name, data in job["bad_b64"].items()}
            arrays["recovered"] = serve_bytes(image_bytes=images[:1])["probabilities"].numpy()
        for batch in (1, 8):
            arrays[f"{architecture}_pixels_{batch}"] = serve_pixels(images=pixels[:batch])["probabilities"].numpy()
            answer = serve_bytes(image_bytes=images[:batch]) if batch > 1 else first_answer
            for key, value in answer.items():
                arrays[f"{architecture}_bytes_{batch}_{key}"] = value.numpy().astype("S" if value.dtype == tf.string
                                                                                     else "float32")
        report[f"{architecture}_rest"] = rest_predict(model, job["rest_body"])
    report["keras_vit_imported"] = any(name.split(".")[0] == "keras_vit" for name in sys.modules)
    np.savez(job_path.replace(".json", ".npz"), **arrays)
    with open(job_path.replace(".json", ".out.json"), "w") as file:
        json.dump(report, file)


if __name__ == "__main__":
    main(sys.argv[1])
