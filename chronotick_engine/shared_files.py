"""Files in directories other local users may write (/dev/shm, /tmp): opened without following a
link or blocking on a FIFO, read with a bound, created exclusively under names no one can guess,
and trusted only when no one but their owner (or root) could have written them.

Every ChronoTick writer and reader of the segment, the sidecar, the lock and the config goes
through these functions, so one rule holds everywhere (docs/SECURITY.md, "What a reader trusts").
"""

from __future__ import annotations

import contextlib
import os
import stat

# O_NOFOLLOW and O_NONBLOCK are POSIX; where absent (Windows) there are no FIFOs or planted links
# to defend against in the same way, and the in-process engine opens no shared file at all.
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
ELOOP = 40


class UnsafeFile(OSError):
    """A file or directory refused: one line naming it, its owner and what to do."""


def owner_name(uid: int) -> str:
    """'nobody (uid 65534)', or 'uid 1234' where the user database has no name for it."""
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _trusted_owner(uid: int) -> bool:
    return uid in (os.geteuid(), 0) if hasattr(os, "geteuid") else True


def check_file(st: os.stat_result, path: str, what: str) -> None:
    """A file we may trust: regular, owned by this user or root, writable by no one else."""
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile(f"{what} {path} is not a regular file; remove it or use another path")
    if not _trusted_owner(st.st_uid):
        raise UnsafeFile(
            f"{what} {path} is owned by {owner_name(st.st_uid)}, not this user: someone else made it; "
            "remove it or use another path"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeFile(
            f"{what} {path} is writable by others than its owner (mode {stat.S_IMODE(st.st_mode):04o}); "
            "refusing it: remove it or use another path"
        )


def check_directory(directory: str) -> None:
    """A directory we may create files in: owned by this user or root, and either writable by no
    one else or sticky (as /dev/shm and /tmp are, so no one can remove or rename our files)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | CLOEXEC)
    except FileNotFoundError:
        raise UnsafeFile(f"directory {directory} does not exist; create it or use another path") from None
    except NotADirectoryError:
        raise UnsafeFile(f"{directory} is not a directory") from None
    except OSError as exc:
        raise UnsafeFile(f"cannot use directory {directory}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not _trusted_owner(st.st_uid):
        raise UnsafeFile(
            f"directory {directory} is owned by {owner_name(st.st_uid)}, not this user or root; use another path"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
        raise UnsafeFile(
            f"directory {directory} is writable by others and not sticky (mode {stat.S_IMODE(st.st_mode):04o}): "
            "anyone could replace our files there; use another path"
        )


def open_existing(path: str, flags: int, what: str) -> int:
    """An fd on the regular file at `path`: never through a link, never blocking on a FIFO, and
    refused (UnsafeFile) when check_file refuses it. FileNotFoundError when there is none."""
    try:
        fd = os.open(path, flags | NOFOLLOW | NONBLOCK | CLOEXEC)
    except OSError as exc:
        if exc.errno == ELOOP:
            raise UnsafeFile(f"{what} {path} is a symlink; refusing to follow it") from None
        raise
    try:
        check_file(os.fstat(fd), path, what)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bounded(path: str, limit: int, what: str) -> bytes:
    """At most `limit` bytes of the regular file at `path` (UnsafeFile above it, or for a FIFO, a
    device or a link); the owner is not checked, for a file the user named himself."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | NONBLOCK | CLOEXEC)
    except OSError as exc:
        if exc.errno == ELOOP:
            # A link the user named is his own choice: follow it, still without blocking.
            fd = os.open(path, os.O_RDONLY | NONBLOCK | CLOEXEC)
        else:
            raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{what} {path} is not a regular file")
        if st.st_size > limit:
            raise UnsafeFile(f"{what} {path} is {st.st_size} bytes, over the {limit}-byte limit")
        chunks, total = [], 0
        while chunk := os.read(fd, min(65536, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise UnsafeFile(f"{what} {path} is over the {limit}-byte limit")
        return b"".join(chunks)
    finally:
        os.close(fd)


def replace_atomically(path: str, data: bytes, mode: int) -> None:
    """Write `data` to `path` whole: into a new file under an unpredictable name beside it, created
    exclusively (mkstemp: O_CREAT|O_EXCL|O_NOFOLLOW), then renamed over `path`. The temporary file
    is removed on any failure. OSError names `path`."""
    import tempfile  # (and its random, shutil): only for a writer, not on every reader's start

    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            os.fchmod(fh.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
