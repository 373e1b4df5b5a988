"""One error tree. Each error carries its exit code and a one-line message."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED_CELLS = 1
EXIT_CANNOT_CHECK = 2


class LooplabError(Exception):
    """Base of every error looplab reports to a person; never shown as a traceback."""

    exit_code: int = EXIT_CANNOT_CHECK

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class LabFileError(LooplabError):
    """The lab file cannot be read or is invalid. The message names file and line or key."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line
        self.detail = message


def lab_file_error_at(location: object | None, message: str) -> LabFileError:
    """A LabFileError at a `labfile.model.Location` (path and line), or with none."""
    return LabFileError(message, path=getattr(location, "path", None), line=getattr(location, "line", None))


class EngineError(LooplabError):
    """The Docker engine cannot be reached or refused an operation."""


class ImageMissingError(LooplabError):
    """An image the lab names is not present and cannot be pulled."""


class PortInUseError(LooplabError):
    """A host port the lab publishes is already taken."""


class ReadinessError(LooplabError):
    """A declared listener never appeared in its namespace."""


class ResourcesLeft(LooplabError):
    """A cleanup (`gc`, `down`) could not remove everything; the message says what is left and why."""


class ProbeError(LooplabError):
    """The probe machinery itself failed (agent crashed, setns refused)."""


class Interrupted(LooplabError):
    """The run was stopped by SIGINT (exit 130) or SIGTERM (exit 143); cleanup has run."""

    def __init__(self, message: str, *, signum: int = 2, lab_removed: bool = True) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum
        self.lab_removed = lab_removed  # False where no lab of this command's own was made
