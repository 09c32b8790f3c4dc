"""Setting a model's weights from checkpoint tensors by rules, all or nothing, with every mismatch listed."""

import dataclasses

import numpy as np

from keras_vit.errors import KerasViTError

HEAD_MODES = ("auto", "load", "new")
_LISTED = 8  # names listed per kind of problem; the rest are counted


@dataclasses.dataclass
class ImportReport:
    """What `load_pretrained_weights` did.

    Attributes:
        checkpoint: the file or name imported.
        layout: the checkpoint layout, e.g. "timm-vit", "transformers-swin", "big_vision-vit".
        loaded: paths of the model weights set from the checkpoint.
        new: paths of the model weights left as initialised (a new head).
        notes: one line per adaptation, e.g. resampled position embeddings or a replaced head.

    Example:
        >>> report = load_pretrained_weights(model, "model.safetensors")
        >>> print("\\n".join(report.notes))
        head: new, 10 classes (the checkpoint's head has shape (1000, 192))
    """

    checkpoint: str
    layout: str
    loaded: list = dataclasses.field(default_factory=list)
    new: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)


def assign_by_rules(model, tensors, rules, report, buffers=(), head="auto"):
    """Converts `tensors` by `rules` and sets the model's weights; raises before setting any if anything is off.

    Args:
        model: the Keras model; its weights are addressed by `variable.path`.
        tensors: dict from checkpoint name to array.
        rules: `Rule`s (see `keras_vit.weights.layouts`); rules whose target starts with "head/" form the head.
        report: the `ImportReport` to fill in.
        buffers: checkpoint names that hold no weights (already checked) and count as used.
        head: "auto" loads the head where its shapes fit the model's and keeps the model's new head otherwise;
            "load" insists on loading it; "new" never loads it.

    Raises:
        KerasViTError: checkpoint tensors that no weight uses, model weights no tensor sets, tensors whose
            shapes do not fit, listed by name.
    """
    if head not in HEAD_MODES:
        raise KerasViTError(f"head must be one of {', '.join(HEAD_MODES)}, got {head!r}.")
    weights = {variable.path: variable for variable in model.weights}
    body = [rule for rule in rules if not rule.target.startswith("head/")]
    head_rules = [rule for rule in rules if rule.target.startswith("head/")]
    values, used, problems = {}, set(buffers), _Problems()
    for rule in body:
        _convert(rule, tensors, weights, values, used, problems)
    head_weights = sorted(path for path in weights if path.startswith("head/"))
    if head == "load":
        for rule in head_rules:
            _convert(rule, tensors, weights, values, used, problems)
    else:
        head_values = {}
        loadable = head == "auto" and head_weights and all(
            _convert(rule, tensors, weights, head_values, set(), _Problems()) for rule in head_rules)
        if loadable and head_rules and set(head_values) == set(head_weights):
            values.update(head_values)
        else:
            _note_new_head(report, weights, tensors, head_rules, head_weights)
        used.update(source for rule in head_rules for source in rule.sources)
    unset = sorted(set(weights) - set(values) - set(report.new))
    unused = sorted(set(tensors) - used)
    problems.raise_if_any(report.checkpoint, unset, unused)
    for path, value in values.items():
        weights[path].assign(value.astype(weights[path].dtype))
    report.loaded = sorted(values)
    return report


def _convert(rule, tensors, weights, values, used, problems):
    """Converts one rule into `values`; True on success, else records the problem and returns False."""
    missing = [source for source in rule.sources if source not in tensors]
    if rule.target not in weights or missing:
        return False  # reported as unused tensors or as an unset weight
    arrays = [tensors[source] for source in rule.sources]
    try:
        value = np.asarray(rule.convert(*arrays), dtype=np.float32)
    except ValueError as error:
        problems.misshapen.append(f"{', '.join(rule.sources)} {_shapes(arrays)} -> {rule.target}: {error}")
        return False
    expected = tuple(weights[rule.target].shape)
    if value.shape != expected:
        problems.misshapen.append(
            f"{', '.join(rule.sources)} {_shapes(arrays)} gives {value.shape}, {rule.target} is {expected}")
        return False
    values[rule.target] = value
    used.update(rule.sources)
    return True


def _note_new_head(report, weights, tensors, head_rules, head_weights):
    report.new = head_weights
    if not head_weights:
        return
    ours = weights[head_weights[-1]].shape[-1]
    theirs = [tensors[source].shape for rule in head_rules for source in rule.sources if source in tensors]
    stored = f"the checkpoint's head has shape {theirs[0]}" if theirs else "the checkpoint has no head"
    report.notes.append(f"head: new, {ours} classes ({stored})")


def _shapes(arrays):
    return " ".join(str(tuple(array.shape)) for array in arrays)


class _Problems:
    def __init__(self):
        self.misshapen = []

    def raise_if_any(self, checkpoint, unset, unused):
        parts = []
        for title, names in (("misshapen", self.misshapen), ("checkpoint tensors not used", unused),
                             ("model weights not set", unset)):
            if names:
                shown = "; ".join(names[:_LISTED]) + (f"; and {len(names) - _LISTED} more" if len(names) > _LISTED
                                                      else "")
                parts.append(f"{title} ({len(names)}): {shown}")
        if parts:
            raise KerasViTError(f"Checkpoint {checkpoint} does not fit the model: {'. '.join(parts)}.")
