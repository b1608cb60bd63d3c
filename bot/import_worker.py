"""Reading an uploaded calendar in a short-lived child process, which can be stopped; a thread cannot.

A hostile .ics file can make the reader go through millions of dates (see bot.importer). The reader bounds
the ways we know of, but a thread running it could not be stopped if one was missed, and would hold the
bot's memory and share its interpreter meanwhile. So each file is read by ``python -m bot.import_worker``,
which stops itself after TIME_LIMIT_S or once it uses MEMORY_LIMIT_MB more than its modules need (see _Watch),
and is killed by the bot shortly after TIME_LIMIT_S if it is still running. It runs at a lower priority than
the bot, and gets only the file and none of the bot's environment, so no token or password.
"""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

TIME_LIMIT_S = 20.0  # a legitimate 1 MB file takes about 2 s on a busy two-core machine
MEMORY_LIMIT_MB = 256  # on top of the interpreter and its modules; a legitimate 1 MB file needs about 30
AT_ONCE = 2  # files read at the same time by the whole bot; a third organizer is asked to retry in a minute
GRACE_S = 5.0  # the child stops itself at TIME_LIMIT_S; it is killed if it has not answered this much later

_MODULE = "bot.import_worker"
_ROOT = Path(__file__).resolve().parent.parent  # the directory that holds the bot package
_KEPT_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONTZPATH")
_OUT_OF_TIME = 3  # exit codes of the child
_OUT_OF_MEMORY = 4
_MB = 1024 * 1024
_slots = threading.BoundedSemaphore(AT_ONCE)


class WorkerLimitError(Exception):
    """The file could not be read within the limits; bot.importer says so to the organizer."""


class OutOfTimeError(WorkerLimitError):
    pass


class OutOfMemoryError(WorkerLimitError):
    pass


class BusyError(WorkerLimitError):
    """AT_ONCE files are being read already."""


def run(request: bytes) -> bytes:
    """bot.importer.answer_request(request), computed in a child process within the limits; blocks until done."""
    if not _slots.acquire(blocking=False):
        raise BusyError
    time_limit_s, memory_limit_mb = TIME_LIMIT_S, MEMORY_LIMIT_MB
    try:
        limits = json.dumps({"time_limit_s": time_limit_s, "memory_limit_mb": memory_limit_mb}).encode()
        try:
            # The command is fixed and the file goes in on stdin, never on the command line.
            child = subprocess.run(  # noqa: S603
                [sys.executable, "-m", _MODULE],
                input=limits + b"\n" + request,
                capture_output=True,
                timeout=time_limit_s + GRACE_S,
                cwd=_ROOT,
                env=_environment(),
                check=False,
            )
        except subprocess.TimeoutExpired:  # subprocess.run has killed it
            log.warning("A calendar file was still being read after %.0f s; stopped it", time_limit_s + GRACE_S)
            raise OutOfTimeError from None
    finally:
        _slots.release()
    if child.returncode == 0:
        return child.stdout
    if child.returncode in (_OUT_OF_TIME, -signal.SIGXCPU, -signal.SIGKILL):
        log.warning("Reading a calendar file took more than %.0f s; stopped it", time_limit_s)
        raise OutOfTimeError
    if child.returncode == _OUT_OF_MEMORY:
        log.warning("Reading a calendar file needed more than %d MB; stopped it", memory_limit_mb)
        raise OutOfMemoryError
    detail = child.stderr.decode(errors="replace")[-2000:]
    raise RuntimeError(f"The calendar reader stopped with exit code {child.returncode}: {detail}")


def _environment() -> dict[str, str]:
    kept = {name: os.environ[name] for name in _KEPT_ENVIRONMENT if name in os.environ}
    return {**kept, "PYTHONPATH": str(_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}


class _OutOfTime(BaseException):
    """Raised in the child wherever the reader is; a BaseException so that no `except Exception` swallows it."""


class _OutOfMemory(BaseException):
    """As _OutOfTime. A MemoryError would not do: the parser turns the ones it meets into "not a calendar"."""


class _Watch:
    """The child's own limits: a check of the time and the memory in use every few hundredths of a second.

    The address-space limit is the kernel's backstop for a sudden allocation that comes between two checks;
    the CPU-time limit is the backstop for a check that never comes.
    """

    INTERVAL_S = 0.02

    def __init__(self, time_limit_s: float, memory_limit_mb: int) -> None:
        self.deadline = time.monotonic() + time_limit_s
        self.memory_ceiling = _memory_in_use(resident=True) + memory_limit_mb * _MB
        cpu_s = math.ceil(time_limit_s + 2 * GRACE_S)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        address_space = _memory_in_use(resident=False)
        if address_space:
            ceiling = address_space + 2 * memory_limit_mb * _MB
            resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
        signal.signal(signal.SIGALRM, self.check)
        signal.setitimer(signal.ITIMER_REAL, self.INTERVAL_S, self.INTERVAL_S)

    def check(self, signum: int, frame: FrameType | None) -> None:
        if time.monotonic() >= self.deadline:
            self.stop()  # once is enough: the reader is unwinding
            raise _OutOfTime
        if _memory_in_use(resident=True) > self.memory_ceiling:
            self.stop()
            raise _OutOfMemory

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _memory_in_use(*, resident: bool) -> int:
    """Bytes of memory in use (resident) or mapped (the address space) by this process; 0 where unknown."""
    try:
        with open("/proc/self/statm") as statm:  # Linux: sizes in pages
            fields = statm.read().split()
    except OSError:
        return 0
    return int(fields[1 if resident else 0]) * resource.getpagesize()


def main() -> None:
    limits = json.loads(sys.stdin.buffer.readline())
    request = sys.stdin.buffer.read()
    # Imported before the limits take effect: what the modules need is not the file's doing.
    from bot.importer import answer_request

    os.nice(10)  # the bot itself goes first when both want a core
    watch = _Watch(float(limits["time_limit_s"]), int(limits["memory_limit_mb"]))
    try:
        answer = answer_request(request)
    except _OutOfTime:
        sys.exit(_OUT_OF_TIME)
    except (_OutOfMemory, MemoryError):
        sys.exit(_OUT_OF_MEMORY)
    finally:
        watch.stop()
    sys.stdout.buffer.write(answer)


if __name__ == "__main__":
    main()
