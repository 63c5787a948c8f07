"""Serial endpoints for running without a client: the UART's output to a file, or to the CLI's stdin/stdout.

`--serial file:PATH` writes every byte the firmware sends to PATH (created or
truncated) and sends it nothing; `--serial stdio` writes the output to standard
output as it comes and feeds standard input to the UART (until end of file).
Both let a CI script capture a run and take its exit status, the firmware's
power-off code:

    tessera emu run --firmware fw.elf --serial stdio > out.txt; echo $?
    tessera emu run --firmware fw.elf --serial file:out.txt

An endpoint that can never receive (`receives` False: a file, or stdio after
end of input) lets a session whose core sleeps with nothing scheduled end at
once instead of waiting for input forever.

Usage:
    ep = open_capture_endpoint("file:out.txt")     # or "stdio"; None for any other spec
    ep.write(b"hi"); ep.read(); ep.fds(); ep.describe(); ep.close()
"""

from __future__ import annotations

import os
import select

READ_CHUNK = 4096
STDIN_FD, STDOUT_FD = 0, 1


class FileEndpoint:
    """UART output appended to a file (flushed at every write), no input."""

    kind = "file"
    receives = False

    def __init__(self, path: str):
        from emulator.serial_endpoint import EndpointError
        self.path = path
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise EndpointError(f"--serial file:{path}: cannot open: {exc.strerror}") from None

    def read(self) -> bytes:
        return b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def fds(self) -> list[int]:
        return []

    def describe(self) -> str:
        return f"serial: file:{self.path}"

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class StdioEndpoint:
    """UART output to standard output, standard input to the UART (stdin is read only when select says so)."""

    kind = "stdio"

    def __init__(self) -> None:
        self.eof = False

    @property
    def receives(self) -> bool:
        return not self.eof

    def read(self) -> bytes:
        if self.eof:
            return b""
        try:
            ready, _, _ = select.select([STDIN_FD], [], [], 0)
            if not ready:
                return b""
            data = os.read(STDIN_FD, READ_CHUNK)
        except (OSError, ValueError):
            data = b""
        if not data:
            self.eof = True
        return data

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(STDOUT_FD, view):]
        except BrokenPipeError:
            pass

    def fds(self) -> list[int]:
        return [] if self.eof else [STDIN_FD]

    def describe(self) -> str:
        return "serial: stdio"

    def close(self) -> None:
        pass


def open_capture_endpoint(spec: str):
    """`file:PATH` -> FileEndpoint, `stdio` -> StdioEndpoint, anything else -> None."""
    if spec == "stdio":
        return StdioEndpoint()
    if spec.startswith("file:"):
        from emulator.serial_endpoint import EndpointError
        if not spec[5:]:
            raise EndpointError(f"--serial {spec}: expected file:PATH")
        return FileEndpoint(spec[5:])
    return None
