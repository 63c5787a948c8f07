"""The compiler's one error type: a model that cannot be compiled, with a message that locates the cause.

Usage:
    raise CompileError("model.tflite: operator 3 (MEAN), tensor 7 'x': operator not supported (...)")
"""

from __future__ import annotations


class CompileError(ValueError):
    """The model cannot run on the device; the message names the operator, the tensor and what would work."""
