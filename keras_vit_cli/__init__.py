"""The `keras-vit` command, a package of its own so that parsing a command line imports neither Keras nor
TensorFlow: `keras-vit --help`, `keras-vit train --help` and `keras-vit models` answer before TensorFlow would have
loaded, and each command imports the parts of `keras_vit` it calls when it runs.

`main` (keras_vit_cli.main) parses and reports errors; `parser` builds the sub-commands; `commands` holds one small
function per sub-command; `flags` translates the library's parameter names into flags, the one place that does.
"""
