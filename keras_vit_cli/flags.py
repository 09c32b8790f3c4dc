"""The one place that translates between the library's Python parameters and the command's flags."""

import argparse
import re

_PARAMETER = re.compile(r"\b([a-z][a-z0-9_]*)=('[^']*'|[^\s,;:()]*)")


def flag(parameter):
    """The command-line flag of a Python parameter name.

    Example:
        >>> flag("max_bytes")
        '--max-bytes'
    """
    return "--" + parameter.replace("_", "-")


def in_flags(message, flags):
    """`message`, a library error that names Python parameters (`clip_norm=-1`, `pass overwrite=True`), with each
    parameter that a flag of the command sets written as that flag (`--clip-norm -1`, `pass --overwrite`).

    Args:
        message: the error's text.
        flags: {parameter: (flag, value the flag stands for, or None when it takes one)} of the command.

    Example:
        >>> in_flags("clip_norm=-1.0 must be positive", {"clip_norm": ("--clip-norm", None)})
        '--clip-norm -1.0 must be positive'
    """
    def as_flag(found):
        name, value = found.groups()
        if name not in flags:
            return found.group(0)
        option, constant = flags[name]
        if constant is not None:
            return option if value in ("", str(constant)) else found.group(0)
        return f"{option} {value.strip(chr(39))}" if value else option

    return _PARAMETER.sub(as_flag, message)


def flags_of(parser):
    """{parameter: (flag, constant)} of a sub-command's options (those of its own sub-commands too), for
    `in_flags`.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> _ = parser.add_argument("--no-jit-compile", dest="jit_compile", action="store_false")
        >>> flags_of(parser)
        {'jit_compile': ('--no-jit-compile', False)}
    """
    flags = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action.choices.values():
                flags.update(flags_of(choice))
        elif action.option_strings and action.dest != "help":
            flags[action.dest] = (action.option_strings[-1], action.const if action.nargs == 0 else None)
    return flags
