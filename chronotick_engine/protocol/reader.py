"""A read-only mapping of the segment, with validated, torn-read-proof snapshots."""

from __future__ import annotations

import mmap
import os
import stat
import time

from chronotick_engine.errors import SegmentError
from chronotick_engine.protocol.codec import (
    CRC_OFFSET,
    MAGIC,
    SEGMENT_SIZE,
    SEQ_OFFSET,
    VERSION,
    Snapshot,
    decode,
)
from chronotick_engine.protocol.detail import DaemonDetail, read_detail
from chronotick_engine.protocol.paths import DEFAULT_PATH
from chronotick_engine.shared_files import CLOEXEC, ELOOP, NOFOLLOW, NONBLOCK


class SegmentReader:
    """Read-only mapping of a segment with validated, torn-read-proof snapshots.

    Never unlinks anything (unlike multiprocessing.shared_memory, whose resource tracker would).
    """

    MAX_RETRIES = 200

    def __init__(self, path: str = DEFAULT_PATH):
        self.path = path
        self._mm: mmap.mmap | None = None
        self._identity: tuple[int, int] | None = None
        self.owner_uid: int | None = None  # who wrote the mapped segment: the sidecar must be theirs
        self.last_good: Snapshot | None = None
        self._seq_bytes = b""
        self.torn_retries = 0

    # mapping -------------------------------------------------------------------------------------

    def _map(self) -> None:
        try:
            # Never blocking: a FIFO planted at the path would hang a plain open.
            fd = os.open(self.path, os.O_RDONLY | NOFOLLOW | NONBLOCK | CLOEXEC)
        except FileNotFoundError:
            raise SegmentError(
                f"no ChronoTick segment at {self.path}: is chronotick-daemon running (with this --shm-path)?"
            ) from None
        except OSError as exc:
            if exc.errno == ELOOP:  # the path is a symlink and O_NOFOLLOW refused it
                raise SegmentError(f"{self.path} is a symlink; refusing to follow it") from None
            raise SegmentError(f"cannot open {self.path}: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise SegmentError(f"{self.path} is not a regular file; not a ChronoTick segment")
            if st.st_size != SEGMENT_SIZE:
                raise SegmentError(
                    f"{self.path} is {st.st_size} bytes, not a ChronoTick v{VERSION} segment ({SEGMENT_SIZE} bytes)"
                )
            if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise SegmentError(
                    f"{self.path} is writable by others than its owner (mode {stat.S_IMODE(st.st_mode):04o}); "
                    "refusing time anyone could forge"
                )
            mm = mmap.mmap(fd, SEGMENT_SIZE, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)
        self.close()
        self._mm = mm
        self._identity = (st.st_dev, st.st_ino)
        self.owner_uid = st.st_uid
        self._seq_bytes = b""

    def replaced(self) -> bool:
        """Whether the path now names another file than the one mapped (daemon replaced it)."""
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False  # keep serving the last mapping: it is still a valid, if ageing, estimate
        return (st.st_dev, st.st_ino) != self._identity

    def remap_if_replaced(self) -> bool:
        if self._mm is not None and self.replaced():
            self._map()
            return True
        return False

    # reading -------------------------------------------------------------------------------------

    def read(self) -> Snapshot:
        """The current validated snapshot; bounded retries, then the last good one or SegmentError."""
        if self._mm is None:
            self._map()
        mm = self._mm
        assert mm is not None
        if self.last_good is not None and mm[SEQ_OFFSET:CRC_OFFSET] == self._seq_bytes:
            return self.last_good
        error: SegmentError | None = None
        for attempt in range(self.MAX_RETRIES):
            image = mm[:]
            if image[SEQ_OFFSET] & 1 or mm[SEQ_OFFSET:CRC_OFFSET] != image[SEQ_OFFSET:CRC_OFFSET]:
                self.torn_retries += 1
                if attempt > 8:
                    time.sleep(0)  # let a descheduled writer finish its update
                continue
            try:
                snap = decode(image, self.path)
            except SegmentError as exc:
                error = exc
                if image[:4] != MAGIC or len(image) != SEGMENT_SIZE or "version" in str(exc):
                    raise  # a foreign or incompatible file will not fix itself by retrying
                self.torn_retries += 1
                continue
            self.last_good = snap
            self._seq_bytes = image[SEQ_OFFSET:CRC_OFFSET]
            return snap
        if self.last_good is not None:
            return self.last_good  # the caller judges its freshness from its heartbeat
        raise error or SegmentError(
            f"{self.path} never held a consistent snapshot; is a writer stuck mid-update?"
        )

    def detail(self) -> DaemonDetail | None:
        """The writer's status sidecar beside the segment; None when absent, unreadable, or not
        written by the segment's own owner."""
        if self._mm is None:
            try:
                self._map()
            except SegmentError:
                return None
        return read_detail(self.path, self.owner_uid)

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
