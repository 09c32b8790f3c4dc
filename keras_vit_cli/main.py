"""`main`, the entry point of the `keras-vit` console script: parses the command line, runs the command and reports
its errors in one line, the library's with their parameters written as the command's flags."""

import sys

from keras_vit_cli.commands import CommandError
from keras_vit_cli.flags import in_flags
from keras_vit_cli.parser import build_parser


def main(argv=None):
    """Runs the `keras-vit` command line `argv` (default: the process's arguments); returns the exit status.

    Example:
        >>> main(["models", "vit_tiny_patch16_224"])
        model                           parameters   image patch pooling classes
        ------------------------------------------------------------------------
        vit_tiny_patch16_224             5,717,416     224    16   token    1000
        0
    """
    arguments = vars(build_parser().parse_args(argv))
    command = arguments.pop("command")
    flags = arguments.pop("flags")
    if arguments.get("verbose") == 2:
        from keras_vit.quiet_start import STARTUP_LINES  # imports keras_vit, and with it TensorFlow

        sys.stderr.writelines(STARTUP_LINES)  # TensorFlow's start-up lines, held back at that import
    try:
        return command(**arguments) or 0
    except CommandError as error:
        message = str(error)
    except KeyboardInterrupt:
        print("keras-vit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a command that stopped reading, e.g. `| head`
        sys.stderr.close()
        return 0
    except Exception as error:
        if not _is_library_error(error):
            raise
        message = in_flags(str(error), flags)
    print(f"keras-vit: error: {message}", file=sys.stderr)
    return 2


def _is_library_error(error):
    """Whether `error` is a `keras_vit.KerasViTError`, without importing keras_vit: a command that raised one has
    imported it."""
    errors = sys.modules.get("keras_vit.errors")
    return errors is not None and isinstance(error, errors.KerasViTError)


if __name__ == "__main__":
    sys.exit(main())
