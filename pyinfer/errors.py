"""Every error a user can cause derives from :class:`pyinfer.Error`.

Catch ``pyinfer.Error`` to handle them all; the subclasses say what went wrong.
Several also derive from the matching built-in (ValueError, TypeError) so code written
against onnxruntime-style exceptions keeps working.
"""

import pickle


class Error(Exception):
    """Base class of all pyinfer errors."""


class ModelLoadError(Error):
    """The model could not be read: not an ONNX file, truncated or corrupt protobuf, missing file."""


class InvalidModelError(Error):
    """The model parsed but is not a valid graph (cycle, undefined input, bad attribute...)."""


class UnsupportedOpError(InvalidModelError):
    """The model uses an operator (or operator version) pyinfer does not implement."""


class InvalidFeedError(Error, ValueError):
    """A feed passed to ``run()`` is wrong: unknown or missing name, wrong dtype, rank or shape."""


class MissingInputError(InvalidFeedError):
    """A required graph input was not fed."""


class UnknownInputError(InvalidFeedError):
    """A feed or requested output names something the graph does not have."""


class InputTypeError(InvalidFeedError, TypeError):
    """A feed has the wrong type or dtype (pyinfer never casts silently)."""


class InputShapeError(InvalidFeedError):
    """A feed has the wrong rank, or a fixed dimension does not match."""


class KernelArgumentError(Error, ValueError):
    """A C++ kernel rejected its arguments (shape, dtype, parameters)."""


class NodeExecutionError(Error):
    """A node failed while running; the message names the node and operator."""


class ResourceLimitError(Error):
    """A model or feed asks for more memory than the session allows (``max_memory_bytes``).

    Raised before allocating, so a size bomb in a model file or a feed fails cleanly.
    """


class SessionPicklingError(Error, pickle.PicklingError):
    """A session cannot be pickled: its model file changed or keeps weights in external data files."""
