"""Errors a user can act on. Their message names the problem and the fix; the CLI prints it in one line."""


from SuperResolution3DLib.core.protocol import ErrorCode


class SR3DError(Exception):
    """Base class of the errors SuperResolution3D raises on purpose.

    ``code`` (``core.protocol.ErrorCode``) tells a parent process what it can do about the error.
    """

    code = ErrorCode.FAILED


class InputVolumeError(SR3DError, ValueError):
    """The input image cannot be super-resolved as it is (wrong dimension, empty, constant, ...)."""

    code = ErrorCode.BAD_INPUT


class ModelFileError(SR3DError, ValueError):
    """A model file is missing, tampered with, or describes an unknown network."""

    code = ErrorCode.BAD_INPUT


class DeviceError(SR3DError, ValueError):
    """The requested compute device or precision is not available on this machine."""

    code = ErrorCode.BAD_INPUT


class InsufficientMemoryError(SR3DError, MemoryError):
    """The output would not fit in memory; the message suggests a region of interest."""

    code = ErrorCode.OUT_OF_MEMORY


class GPUOutOfMemoryError(InsufficientMemoryError):
    """The GPU ran out of memory (the network or its windows); a smaller window/batch or the CPU may fit."""

    code = ErrorCode.GPU_OUT_OF_MEMORY


class CancelledError(SR3DError):
    """The user cancelled a long-running job."""

    code = ErrorCode.CANCELLED


class MissingDependencyError(SR3DError, ImportError):
    """An optional package is needed; the message says what to install."""


class TrainingConfigError(SR3DError, ValueError):
    """The training YAML is missing a setting or has one that cannot be used."""


class ThickSliceInputWarning(UserWarning):
    """An isotropic model was given a thick-slice input: it enlarges every axis (``inference.api.super_resolve``)."""
