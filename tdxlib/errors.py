"""tdxlib's own errors: one small hierarchy, each message naming the bad value and what was allowed."""

from __future__ import annotations

import errno as _errno


class TdxlibError(Exception):
    """Base of every error tdxlib raises on purpose."""


class ValidationError(TdxlibError, ValueError):
    """A value given to a public function is out of its allowed range or of the wrong kind."""

    def __init__(self, what: str, value: object, allowed: str) -> None:
        self.what = what
        self.value = value
        self.allowed = allowed
        super().__init__(f"{what} = {value!r} is not allowed; expected {allowed}")


class MatrixError(TdxlibError):
    """An IrqMatrix operation failed the way kernel/irq/matrix.c fails; ``errno`` is the kernel's."""

    def __init__(self, message: str, errno: int = _errno.EINVAL) -> None:
        self.errno = errno
        super().__init__(f"{message} [{_errno.errorcode.get(errno, errno)}]")


class MatrixMisuse(MatrixError):
    """A call the kernel guards with BUG_ON/WARN_ON: refused here, matrix left unchanged."""


class DataError(TdxlibError):
    """A data file (layout, profile, proposal, capture) is missing or malformed; names file, line and,
    where known, the field (``annotations[2].anchor``)."""

    def __init__(
        self, message: str, path: object = None, line: int | None = None, field: str | None = None
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.field = field
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        elif line is not None:
            where = f"line {line}: "
        if field:
            where += f"{field}: "
        super().__init__(f"{where}{message}")


class GhciError(TdxlibError):
    """A TDVMCALL argument the spec rejects; ``status`` is the GHCI status code the VMM returns."""

    def __init__(self, message: str, status: int) -> None:
        self.status = status
        super().__init__(f"{message} (TDVMCALL status {status:#x})")


class CaptureParseError(DataError):
    """A /proc/interrupts, affinity or VECTOR dump that cannot be parsed; names the line."""


class ProposalError(DataError):
    """A spec proposal file that does not validate; names file, line and field."""

    def __init__(
        self, message: str, path: object = None, line: int | None = None, field: str | None = None
    ) -> None:
        super().__init__(message, path, line, field)


class ReportError(TdxlibError):
    """A report run failed: names notebook, parameter set, cell and error."""


class CpuOfflineUnsupported(TdxlibError):
    """The guest's kernel refuses to take any CPU offline (``cpu_down_maps_locked()`` returns
    ``-EOPNOTSUPP``): names the kernel profile and the kernel's reason."""

    errno = _errno.EOPNOTSUPP

    def __init__(self, kernel: str, reason: str) -> None:
        self.kernel = kernel
        self.reason = reason
        super().__init__(f"{kernel} cannot offline CPUs: {reason} [EOPNOTSUPP]")
