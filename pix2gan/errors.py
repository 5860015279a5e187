"""The one exception type the command line prints as a single line (no traceback)."""


class Pix2GanError(Exception):
    """A problem with the user's input (a file, a value, a checkpoint), worded for the user.

    The message names the offending file or value, e.g. ``"runs/a/checkpoint.pt: not a pix2gan checkpoint"``.
    """
