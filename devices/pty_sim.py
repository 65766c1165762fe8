"""The pseudo-terminal behind a simulated USB-serial device (the SAM reader, the serial scanner).

A driver opens `PtyPort.port` exactly like /dev/ttyUSB0. With a `link_name` that is a symlink the
simulator owns in a temp directory (like /dev/serial/by-id/usb-…), pointing at the current pty
slave; otherwise it is the pty slave itself (e.g. /dev/pts/5). `unplug()` closes the pty (the
driver's open port then fails with EIO) and removes the link; `plug()` opens a new pty and re-points
the link, so a driver that reopens the same path finds the "device" again. Test and demo tool only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import tty
from types import TracebackType
from typing import Self


class SimulatorBase:
    """`with sim:` means `sim.start()` … `sim.stop()`, the same for every simulator."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class PtyPort:
    """One simulated serial device's pty and stable link; `master` is the device's end (None unplugged)."""

    def __init__(self, link_name: str | None, *, prefix: str) -> None:
        self.link_name, self.prefix = link_name, prefix
        self.port: str | None = None  # what the driver opens (the stable link if link_name)
        self.pty_path: str | None = None  # the current pty slave; None while unplugged
        self.master: int | None = None
        self.started = False
        self._slave: int | None = None
        self._dir: str | None = None
        self._link: str | None = None  # the stable link's path, with link_name

    def start(self) -> None:
        """Make the link's directory; the device stays unplugged until `plug()`."""
        if self.started:
            return
        self.started = True
        if self.link_name is not None:
            self._dir = tempfile.mkdtemp(prefix=self.prefix)
            self.port = self._link = os.path.join(self._dir, self.link_name)

    def stop(self) -> None:
        if not self.started:
            return
        self.unplug()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = self._link = None
        self.started = False

    def plug(self) -> int:
        """Open a new pty and point `port` at it; returns the master fd."""
        if not self.started:
            raise RuntimeError("simulator not started")
        master, slave = os.openpty()
        tty.setraw(slave)
        # Keep our slave fd open: without any open slave the master reads EIO between driver sessions.
        self.master, self._slave = master, slave
        self.pty_path = os.ttyname(slave)
        if self._link is None:
            self.port = self.pty_path
        else:
            staging = self._link + ".new"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(staging)
            os.symlink(self.pty_path, staging)
            os.replace(staging, self._link)  # atomic re-point, like udev updating /dev/serial/by-id
        return master

    def unplug(self) -> None:
        """Pull the cable: the link disappears and the pty closes (an open driver sees EIO)."""
        if self.master is None:
            return
        if self._link is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._link)
        for fd in (self.master, self._slave):
            if fd is not None:
                os.close(fd)
        self.master = self._slave = None
        self.pty_path = None


class PtySimulator(SimulatorBase):
    """A simulated serial device whose `_pty` the subclass creates; the driver opens `port`."""

    _pty: PtyPort

    @property
    def port(self) -> str | None:
        """What the driver opens (the stable link if the device has one)."""
        return self._pty.port

    @property
    def pty_path(self) -> str | None:
        """The current pty slave; None while unplugged."""
        return self._pty.pty_path
