"""The segment's only writer: owns a path, publishes snapshots with the seqlock of docs/PROTOCOL.md."""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
import time

from chronotick_engine.errors import PublisherError, SegmentError
from chronotick_engine.protocol.codec import (
    BODY,
    CRC,
    CRC_OFFSET,
    HEADER,
    MAGIC,
    SEGMENT_SIZE,
    SEQ,
    SEQ_OFFSET,
    U32_MAX,
    VERSION,
    Snapshot,
    checksum,
    clamp,
    decode,
    empty_snapshot,
    encode,
    encode_body,
    model_fields,
    rate_latency_fields,
)
from chronotick_engine.protocol.paths import DEFAULT_PATH, lock_path
from chronotick_engine.shared_files import (
    CLOEXEC,
    NOFOLLOW,
    UnsafeFile,
    check_directory,
    open_existing,
    owner_name,
)


def _new_generation() -> int:
    return int.from_bytes(os.urandom(8), "little") | 1  # never 0: 0 means "no writer yet"


def _resolve_gid(group: str | int | None) -> int | None:
    if group is None:
        return None
    if isinstance(group, int):
        return group
    import grp  # POSIX only: the in-process engine's MemorySegment shares this module on any OS

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise PublisherError(f"group {group!r} does not exist") from None


class SnapshotWriter:
    """What every writer of a v1 image does, wherever the bytes live: stamps its generation, counts
    the sequence, and packs heartbeat ticks cheaply. Subclasses store the bytes (_write)."""

    def __init__(self) -> None:
        self.generation = _new_generation()
        self._seq = 0
        # What the previous writer left (None for a new or unreadable segment): a restarted
        # daemon may serve it until it has an estimate of its own.
        self.previous: Snapshot | None = None
        self._heartbeat_base: Snapshot | None = None
        self._heartbeat_model: tuple = ()
        self._heartbeat_mid: tuple = ()
        self._heartbeat_samples = 0

    def publish(self, snapshot: Snapshot) -> None:
        """Seqlock write: odd sequence, body and checksum, then the next even sequence."""
        self._write(encode_body(snapshot, self.generation))

    def publish_heartbeat(
        self,
        base: Snapshot,
        now_mono_ns: int,
        void_after_mono_ns: int,
        publish_count: int,
        publish_rate_hz: float,
        avg_latency_ms: float,
    ) -> None:
        """Publish `base` with this tick's heartbeat fields, as publish() would a copy of it.

        The daemon's publish loop runs this 100-1000 times a second while the model changes every
        few seconds: it re-packs the model fields only when handed a different `base`. On a cold
        cache a wake-up's work is what costs the daemon its CPU share.
        """
        if base is not self._heartbeat_base:
            self._heartbeat_base = base
            # encode_body's order, split around the heartbeat fields (a test holds them equal)
            self._heartbeat_model = model_fields(base, self.generation)
            self._heartbeat_mid = (base.last_ntp_mono_ns, base.daemon_start_mono_ns)
            self._heartbeat_samples = clamp(base.sample_count, U32_MAX)
        self._write(
            BODY.pack(
                *self._heartbeat_model,
                void_after_mono_ns,
                now_mono_ns,
                *self._heartbeat_mid,
                publish_count,
                self._heartbeat_samples,
                *rate_latency_fields(publish_rate_hz, avg_latency_ms),
            )
        )

    def _write(self, body: bytes) -> None:
        raise NotImplementedError


class Publisher(SnapshotWriter):
    """The only writer of a segment path.

    Holds an exclusive flock on PATH.lock for its lifetime (one live writer per path). Reuses a
    valid segment in place so that clients that mapped it carry on; anything else it owns at that
    path is replaced atomically by rename, so no reader ever maps a half-initialised file.
    """

    def __init__(self, path: str = DEFAULT_PATH, *, mode: int = 0o644, group: str | int | None = None):
        super().__init__()
        self.path = path
        self._mm: mmap.mmap | None = None
        gid = _resolve_gid(group)
        self._check_path(path)  # before anything is created beside it
        self._lock_fd, created_lock = self._take_lock(path, mode)
        try:
            fd = self._open_existing(path) or self._create(path, mode, gid)
            try:
                os.fchmod(fd, mode)
                if gid is not None:
                    os.fchown(fd, -1, gid)
                self._mm = mmap.mmap(fd, SEGMENT_SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            finally:
                os.close(fd)
            self._seq = SEQ.unpack_from(self._mm, SEQ_OFFSET)[0] & ~1
            with contextlib.suppress(SegmentError):
                self.previous = decode(bytes(self._mm), path)
        except BaseException:
            if created_lock:  # leave nothing behind from a start that failed
                with contextlib.suppress(OSError):
                    os.unlink(lock_path(path))
            os.close(self._lock_fd)
            raise

    @staticmethod
    def _check_path(path: str) -> None:
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

    @staticmethod
    def _take_lock(path: str, mode: int) -> tuple[int, bool]:
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
                f"{path}; stop it or use another --shm-path"
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

    @staticmethod
    def _open_existing(path: str) -> int | None:
        """An fd on a reusable existing segment, None when it must be (re)created."""
        try:
            fd = open_existing(path, os.O_RDWR, "segment")
        except FileNotFoundError:
            return None
        except UnsafeFile as exc:
            raise PublisherError(str(exc)) from None
        except OSError as exc:
            raise PublisherError(f"cannot open segment {path}: {exc.strerror}") from None
        try:
            reusable = (
                os.fstat(fd).st_size == SEGMENT_SIZE
                and os.pread(fd, 8, 0)[:8] == HEADER.pack(MAGIC, VERSION, SEGMENT_SIZE, 0)[:8]
            )
        except OSError:
            reusable = False
        if reusable:
            return fd
        os.close(fd)
        return None

    def _create(self, path: str, mode: int, gid: int | None) -> int:
        """A new segment, built whole under an unpredictable name and renamed into place, so no
        reader ever maps a half-initialised file and no one can plant the temporary name."""
        now_mono, now_real = time.monotonic_ns(), time.time_ns()
        image = encode(empty_snapshot(self.generation, now_mono, now_real), seq=2)
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

    def _write(self, body: bytes) -> None:
        mm = self._mm
        if mm is None:
            raise PublisherError("publisher is closed")
        self._seq += 2
        final = SEQ.pack(self._seq)
        mm[SEQ_OFFSET:CRC_OFFSET] = SEQ.pack(self._seq - 1)
        mm[CRC_OFFSET:SEGMENT_SIZE] = CRC.pack(checksum(final, body)) + body
        mm[SEQ_OFFSET:CRC_OFFSET] = final

    def close(self) -> None:
        """Unmap and release the writer lock. The segment itself stays for clients and the next daemon."""
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
