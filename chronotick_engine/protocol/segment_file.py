"""A shared-memory segment file that one daemon writes and anyone may map: the rules every segment
ChronoTick writes follows (its own v1 segment and the ClockBound-compatible one).

- One live writer per path: an exclusive flock on PATH.lock, holding the writer's pid.
- A valid segment is reused in place, so readers that mapped it carry on across a restart.
- Anything else it owns at the path is replaced whole, built under an unpredictable name and
  renamed into place: no reader maps a half-initialised file, and no one can plant the name.
- A file someone else made, a link, a FIFO or a directory is refused with a one-line reason.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
from collections.abc import Callable

from chronotick_engine.errors import PublisherError
from chronotick_engine.protocol.paths import lock_path
from chronotick_engine.shared_files import (
    CLOEXEC,
    NOFOLLOW,
    UnsafeFile,
    check_directory,
    open_existing,
    owner_name,
)


def resolve_gid(group: str | int | None) -> int | None:
    if group is None:
        return None
    if isinstance(group, int):
        return group
    import grp  # POSIX only: the in-process engine's MemorySegment shares this package on any OS

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise PublisherError(f"group {group!r} does not exist") from None


def check_segment_path(path: str) -> None:
    """The segment's directory is ours or sticky, and its name is free or a regular file."""
    try:
        check_directory(os.path.dirname(os.path.abspath(path)))
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except UnsafeFile as exc:
        raise PublisherError(str(exc)) from None
    if stat.S_ISDIR(st.st_mode):
        raise PublisherError(
            f"{path} is a directory: give the segment's file path, e.g. {path}/chronotick_shm"
        )


def take_lock(path: str, mode: int) -> tuple[int, bool]:
    """(fd holding the flock, whether this call created the file). Only a lock file of this user
    (or root) is used: a lock someone else made is named with its owner, never trusted."""
    import fcntl  # POSIX only, like grp above

    lock_file = lock_path(path)
    created = True
    try:
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC, mode)
        except FileExistsError:
            created = False
            fd = open_existing(lock_file, os.O_RDWR, "lock file")
    except UnsafeFile as exc:
        raise PublisherError(str(exc)) from None
    except OSError as exc:
        raise PublisherError(f"cannot create lock file {lock_file}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        owner = owner_name(os.fstat(fd).st_uid)
        os.close(fd)
        raise PublisherError(
            f"another ChronoTick daemon (pid {holder[:12]}, user {owner}) is already publishing to "
            f"{path}; stop it or use another path"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as exc:
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                os.unlink(lock_file)
        raise PublisherError(f"cannot write lock file {lock_file}: {exc.strerror}") from None
    return fd, created


def open_reusable(path: str, size: int, reusable: Callable[[bytes], bool]) -> int | None:
    """An fd on an existing segment of `size` bytes whose contents `reusable` accepts; None when it
    must be (re)created."""
    try:
        fd = open_existing(path, os.O_RDWR, "segment")
    except FileNotFoundError:
        return None
    except UnsafeFile as exc:
        raise PublisherError(str(exc)) from None
    except OSError as exc:
        raise PublisherError(f"cannot open segment {path}: {exc.strerror}") from None
    try:
        ok = os.fstat(fd).st_size == size and reusable(os.pread(fd, size, 0))
    except OSError:
        ok = False
    if ok:
        return fd
    os.close(fd)
    return None


def create_whole(path: str, image: bytes, mode: int, gid: int | None) -> int:
    """A new segment holding `image`, built under an unpredictable name and renamed into place."""
    import tempfile  # only a writer creating a segment needs it

    directory, name = os.path.split(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise PublisherError(f"cannot create segment {path}: {exc.strerror}") from None
    try:
        os.pwrite(fd, image, 0)
        os.fchmod(fd, mode)
        if gid is not None:
            os.fchown(fd, -1, gid)
        os.rename(tmp, path)
    except OSError as exc:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise PublisherError(f"cannot create segment {path}: {exc.strerror}") from None
    return fd


class SegmentFile:
    """A mapped segment of `size` bytes at `path`, owned for this object's lifetime: locked,
    reused when `reusable` accepts what is there, else created holding `initial()`."""

    def __init__(
        self,
        path: str,
        size: int,
        *,
        mode: int,
        group: str | int | None,
        reusable: Callable[[bytes], bool],
        initial: Callable[[], bytes],
    ):
        self.path = path
        self.mm: mmap.mmap | None = None
        gid = resolve_gid(group)
        check_segment_path(path)  # before anything is created beside it
        self._lock_fd, created_lock = take_lock(path, mode)
        try:
            fd = open_reusable(path, size, reusable)
            if fd is None:
                fd = create_whole(path, initial(), mode, gid)
            try:
                os.fchmod(fd, mode)
                if gid is not None:
                    os.fchown(fd, -1, gid)
                self.mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            finally:
                os.close(fd)
        except BaseException:
            if created_lock:  # leave nothing behind from a start that failed
                with contextlib.suppress(OSError):
                    os.unlink(lock_path(path))
            os.close(self._lock_fd)
            raise

    def close(self) -> None:
        """Unmap and release the lock. The segment itself stays for readers and the next daemon."""
        if self.mm is not None:
            self.mm.close()
            self.mm = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
