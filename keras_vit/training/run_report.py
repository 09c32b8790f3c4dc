"""What a run prints before its first epoch: the data it found, the model, the recipe and where it trains."""

import math


def run_report(run, model, recipe, source):
    """The lines `train`, `finetune` and `pretrain` print before training (at `verbose` >= 1).

    Args:
        run: the `Run` (its data, strategy, precision, steps and output folder).
        model: the built model that trains.
        recipe: the filled training recipe (`Recipe.fill`, as recorded in run.json).
        source: the data's name in the report: the folder or the dataset.

    Returns:
        A list of lines.

    Example:
        >>> print("\\n".join(run_report(run, classifier, recipe, "digits")))
        data       digits: 1,293 train, 144 validation, 360 test images of 8x8x1, 10 classes
        model      vitc_nano_patch4_28: 214,666 parameters (214,410 trainable)
        ...
    """
    data = run.data
    sizes = ", ".join(f"{data.sizes[split]:,} {split}" for split in ("train", "validation", "test")
                      if data.sizes.get(split))
    trainable = sum(math.prod(variable.shape) for variable in model.trainable_variables)
    shown = {key: value for key, value in recipe.items() if key != "epochs"}
    if run.warmup_planned:
        shown["warmup_epochs"] = "the recipe's share of the planned epochs"
    epochs = f"{run.epochs} epoch{'s' if run.epochs > 1 else ''}" if run.epochs else "epochs planned by the time budget"
    replicas = run.strategy.num_replicas_in_sync
    strategy = type(run.strategy).__name__.lstrip("_").replace("DefaultDistributionStrategy", "the default strategy")
    return [
        f"data       {source}: {sizes} images of {'x'.join(map(str, data.image_shape))}, {data.num_classes} classes",
        f"model      {model.name}: {model.count_params():,} parameters ({trainable:,} trainable)",
        f"recipe     {epochs}, " + ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in shown.items()),
        f"device     {run.precision}{', XLA' if run.jit_compile else ''}, {strategy} with "
        f"{replicas} replica{'s' if replicas > 1 else ''}; {run.steps_per_epoch} steps an epoch, "
        f"{run.steps_per_execution} an execution",
        f"output     {run.run_dir}" + (f", resuming after epoch {run.completed_epochs}" if run.completed_epochs else ""),
    ]
