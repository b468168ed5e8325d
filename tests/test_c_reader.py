"""The C reader (clients/c/chronotick.h), compiled strictly and with sanitizers, against the Python
reader on the same segments: the same numbers, the same statuses, the same rejections."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import REPO, TORN, fresh, synced_snapshot, torn_writer

from chronotick_engine import ChronoTickClient
from chronotick_engine.errors import SegmentError
from chronotick_engine.protocol import SEGMENT_SIZE, Publisher, SegmentReader, decode, encode

C_DIR = REPO / "clients" / "c"
STRICT = ["-std=c11", "-Wall", "-Wextra", "-Werror"]
SANITIZE = [
    "-O1",
    "-g",
    "-fno-omit-frame-pointer",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
]
CC = shutil.which("cc") or shutil.which("gcc")
if CC is None:
    pytest.skip("no C compiler (cc) on this machine", allow_module_level=True)


def compile_c(source: str, out: Path, extra: list[str]) -> Path:
    r = subprocess.run(
        [CC, *STRICT, *extra, "-o", str(out), str(C_DIR / source), "-lm"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module", params=["O2", "sanitizers"])
def ctcheck(request, tmp_path_factory) -> Path:
    """The test driver, built once plainly and once with ASan + UBSan (which then runs every test)."""
    flags = ["-O2"] if request.param == "O2" else SANITIZE
    return compile_c("ctcheck.c", tmp_path_factory.mktemp("c") / f"ctcheck-{request.param}", flags)


def run(binary: Path, *args: str, timeout: float = 120) -> tuple[int, dict]:
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1", "UBSAN_OPTIONS": "halt_on_error=1"}
    r = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert "runtime error" not in r.stderr and "AddressSanitizer" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout.splitlines()[-1])


def test_example_builds_and_prints_one_reading(live_publisher, shm_path, tmp_path):
    example = compile_c("example.c", tmp_path / "example", ["-O2"])
    r = subprocess.run([str(example), shm_path], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "±0.500 ms  [SYNCHRONIZED, classical]" in r.stdout
    env = {**os.environ, "CHRONOTICK_SHM_PATH": shm_path}
    assert subprocess.run([str(example)], capture_output=True, text=True, env=env).returncode == 0
    missing = subprocess.run([str(example), shm_path + ".nope"], capture_output=True, text=True)
    assert (
        missing.returncode == 1
        and missing.stderr.count("\n") == 1
        and "is chronotick-daemon running" in missing.stderr
    )


def test_c_and_python_give_identical_time_at_the_same_instant(publisher, shm_path, ctcheck):
    fresh(publisher)  # one snapshot for both readers: a live writer would re-anchor between them
    client = ChronoTickClient(shm_path)
    for horizon_ns in (0, 1, 999_999_937, 60 * 10**9, 3600 * 10**9, -5 * 10**9):
        instant = time.monotonic_ns() + horizon_ns
        rc, c = run(ctcheck, "at", shm_path, str(instant))
        assert rc == 0, c
        assert (c["corrected_ns"], c["uncertainty_ns"]) == client.at_ns(instant)
        assert c["status"] == client.status().name


def test_c_and_python_agree_on_odd_values(shm_path, ctcheck):
    """Rounding: half-ns offsets, a negative drift, a float32 bound near the 1 us floor."""
    client = ChronoTickClient(shm_path)
    m = time.monotonic_ns()
    cases = [
        dict(offset_s=0.5e-9, drift=-3.3e-5, offset_unc_s=0.9e-6),
        dict(offset_s=-1.5e-9, drift=1.23456789e-6, offset_unc_s=1.0000005e-6),
        dict(offset_s=-0.2512345678912, drift=0.0, offset_unc_s=0.25, drift_unc=0.0, max_drift_rate=0.0),
        dict(offset_s=2.5e-9, drift=5e-4, offset_unc_s=3e-3, drift_unc=2.5e-7, max_drift_rate=1e-6),
    ]
    with Publisher(shm_path) as pub:
        for case in cases:
            pub.publish(synced_snapshot(last_publish_mono_ns=m, void_after_mono_ns=m + 60 * 10**9, **case))
            client.close()
            for instant in (m, m + 12_345_678_901, m - 987_654_321):
                rc, c = run(ctcheck, "at", shm_path, str(instant))
                assert rc == 0 and (c["corrected_ns"], c["uncertainty_ns"]) == client.at_ns(instant), case


def flipped_and_foreign_images() -> list[tuple[str, bytes]]:
    good = encode(synced_snapshot(), seq=10)
    cases = [("magic", b"X" * SEGMENT_SIZE), ("version", b"CTCK" + (9).to_bytes(2, "little") + bytes(122))]
    cases.append(("uninitialised", encode(synced_snapshot(), seq=2)[:8] + bytes(120)))
    for bit in range(SEGMENT_SIZE * 8):
        image = bytearray(good)
        image[bit // 8] ^= 1 << (bit % 8)
        cases.append((f"bit {bit}", bytes(image)))
    bad_enum = bytearray(good)
    bad_enum[20] = 9  # an out-of-range status, with a checksum that matches
    return cases + [("enum", _reseal(bad_enum)), ("flags", _reseal(_set(good, 22, b"\x08\x00")))]


def _set(image: bytes, offset: int, value: bytes) -> bytearray:
    out = bytearray(image)
    out[offset : offset + len(value)] = value
    return out


def _reseal(image: bytearray) -> bytes:
    import zlib

    crc = zlib.crc32(bytes(image[20:]), zlib.crc32(bytes(image[8:16])))
    image[16:20] = crc.to_bytes(4, "little")
    return bytes(image)


PYTHON_TO_C = [
    ("bad magic", "EMAGIC"),
    ("protocol version", "EVERSION"),
    ("declares size", "EHEADER"),
    ("never initialised", "EUNINIT"),
    ("mid-update", "ETORN"),
    ("checksum", "ECHECKSUM"),
    ("out-of-range", "ECORRUPT"),
    ("unknown flag", "ECORRUPT"),
    ("non-finite or negative", "ECORRUPT"),
]


def test_every_image_python_rejects_c_rejects_with_the_matching_code(tmp_path, ctcheck):
    cases = flipped_and_foreign_images()
    records = tmp_path / "images.bin"
    records.write_bytes(b"".join(image for _, image in cases))
    out = subprocess.run([str(ctcheck), "decode", str(records)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "runtime error" not in out.stderr, out.stderr
    codes = out.stdout.split()
    assert len(codes) == len(cases)
    for (name, image), code in zip(cases, codes, strict=True):
        with pytest.raises(SegmentError) as err:
            decode(image)
        expected = [c for msg, c in PYTHON_TO_C if msg in str(err.value)]
        assert expected and code == expected[0], (name, str(err.value), code)


@pytest.mark.parametrize(
    ("make", "python_says", "code"),
    [
        (lambda p: Path(p).write_bytes(b"hello"), "5 bytes", "ESIZE"),
        (lambda p: Path(p).write_bytes(encode(synced_snapshot(), seq=2)[:100]), "100 bytes", "ESIZE"),
        (lambda p: Path(p).write_bytes(b"X" * 128), "bad magic", "EMAGIC"),
        (lambda p: os.mkdir(p), "not a regular file", "ENOTREG"),
        (lambda p: None, "is chronotick-daemon running", "ENOENT"),
    ],
)
def test_files_python_refuses_c_refuses(shm_path, ctcheck, make, python_says, code):
    make(shm_path)
    try:
        with pytest.raises(SegmentError, match=python_says):
            SegmentReader(shm_path).read()
        rc, c = run(ctcheck, "read", shm_path)
        assert rc == 3 and c["error"] == code, c
    finally:
        if os.path.isdir(shm_path):
            os.rmdir(shm_path)


def test_symlink_and_a_segment_others_can_write_are_refused(shm_path, tmp_path, ctcheck):
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot())
        link = tmp_path / "link"
        link.symlink_to(shm_path)
        with pytest.raises(SegmentError, match="symlink"):
            SegmentReader(str(link)).read()
        assert run(ctcheck, "read", str(link))[1]["error"] == "ESYMLINK"
        os.chmod(shm_path, 0o646)
        with pytest.raises(SegmentError, match="writable by others"):
            SegmentReader(shm_path).read()
        assert run(ctcheck, "read", shm_path)[1]["error"] == "EWRITABLE"


def test_no_estimate_and_void_data_are_errors_not_times(shm_path, ctcheck):
    from chronotick_engine import NotReadyError, Source, Status

    m = time.monotonic_ns()
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot(source=Source.NONE, status=Status.WARMING_UP))
        with pytest.raises(NotReadyError):
            ChronoTickClient(shm_path).get_time()
        assert run(ctcheck, "read", shm_path)[1]["error"] == "ENOTREADY"
        pub.publish(synced_snapshot(last_publish_mono_ns=m - 10**9, void_after_mono_ns=m - 1))
        with pytest.raises(NotReadyError, match="void"):
            ChronoTickClient(shm_path).get_time()
        assert run(ctcheck, "read", shm_path)[1]["error"] == "EVOID"


@pytest.mark.parametrize("writer", ["python", "c"])
def test_ten_million_c_reads_against_a_writer_flat_out_accept_no_torn_snapshot(shm_path, ctcheck, writer):
    """10^7 reads of each build against the Python Publisher and the C writer (chronotick_writer.h)
    publishing flat out: not one accepted snapshot mixed from two publishes."""
    with torn_writer(shm_path, native=writer == "c"):
        rc, out = run(ctcheck, "torn", shm_path, "10000000", timeout=600)
    assert rc == 0 and out["reads"] == 10_000_000 and out["inconsistent"] == 0, out
    assert out["accepted"] >= 9_900_000 and out["torn_retries"] > 0, out  # the writer really raced us


def test_status_agrees_through_sync_sigkill_and_restart(daemon_factory, chrony, shm_path, ctcheck):
    """SYNCHRONIZED, then FREE_RUNNING and UNKNOWN once the writer is SIGKILLed, then SYNCHRONIZED
    again under a new generation; a C reader that stayed open the whole time sees each, as Python."""
    d = daemon_factory([chrony.address], void_after_seconds=4)
    client = ChronoTickClient(shm_path)
    assert client.wait_for_sync(20)
    env = {**os.environ, "UBSAN_OPTIONS": "halt_on_error=1"}
    watch = subprocess.Popen(
        [str(ctcheck), "watch", shm_path, "30"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        seen_py = [client.status().name]
        d.stop(signal.SIGKILL)
        deadline = time.monotonic() + 12
        while client.status().name != "UNKNOWN" and time.monotonic() < deadline:
            seen_py.append(client.status().name)
            time.sleep(0.05)
        seen_py.append(client.status().name)
        first_generation = client.get_daemon_info().generation
        d2 = daemon_factory([chrony.address])
        assert client.wait_for_sync(20)
        generation = client.get_daemon_info().generation
        assert generation != first_generation
        time.sleep(0.5)
    finally:
        watch.send_signal(signal.SIGTERM)
        out, _ = watch.communicate(timeout=10)
        d2.stop()
    events = [json.loads(line) for line in out.splitlines()]
    before = [e["status"] for e in events if e.get("generation") == first_generation]
    python = [s for i, s in enumerate(seen_py) if i == 0 or s != seen_py[i - 1]]
    assert before == python == ["SYNCHRONIZED", "FREE_RUNNING", "UNKNOWN"], (events, seen_py)
    assert events[-1] == {"status": "SYNCHRONIZED", "generation": generation}, events


def test_a_replaced_segment_file_is_followed(shm_path, ctcheck):
    with Publisher(shm_path) as pub:
        pub.publish(synced_snapshot(void_after_mono_ns=time.monotonic_ns() + 60 * 10**9))
        first = pub.generation
    watch = subprocess.Popen([str(ctcheck), "watch", shm_path, "4"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    os.unlink(shm_path)  # the next writer must create a new file: a new inode
    subprocess.run([*TORN, "writer", shm_path, "2"], check=True, capture_output=True, timeout=30)
    out, _ = watch.communicate(timeout=10)
    generations = [json.loads(line).get("generation") for line in out.splitlines()]
    assert generations[0] == first and generations[-1] not in (first, None), out


def test_install_rule_and_pkg_config_build_a_reader(tmp_path, live_publisher, shm_path):
    dest = tmp_path / "root"
    r = subprocess.run(
        ["make", "-s", "install-c", f"DESTDIR={dest}", "PREFIX=/opt/ct"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert (dest / "opt/ct/include/chronotick.h").read_text() == (C_DIR / "chronotick.h").read_text()
    pc = (dest / "opt/ct/lib/pkgconfig/chronotick.pc").read_text()
    assert "prefix=/opt/ct" in pc and "Cflags: -I${includedir}" in pc
    flags = [f"-I{dest}/opt/ct/include"]  # what `pkg-config --cflags chronotick` gives, under DESTDIR
    out = tmp_path / "example"
    build = subprocess.run(
        [CC, *STRICT, *flags, "-o", str(out), str(C_DIR / "example.c"), "-lm"], capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr
    assert subprocess.run([str(out), shm_path], capture_output=True).returncode == 0


def test_the_readme_snippet_compiles_and_a_wrong_include_order_says_what_to_do(
    live_publisher, shm_path, tmp_path
):
    text = (REPO / "README.md").read_text()
    block = text.split("```c\n", 1)[1].split("```", 1)[0]
    includes = [ln for ln in block.splitlines() if ln.startswith("#include")]
    body = "\n".join(ln for ln in block.splitlines() if not ln.startswith("#include"))
    src = tmp_path / "readme.c"
    src.write_text("\n".join(includes) + "\nint main(void) {\n" + body + "\nreturn 0;\n}\n")
    exe = tmp_path / "readme"
    r = subprocess.run(
        [CC, *STRICT, "-I", str(C_DIR), "-o", str(exe), str(src), "-lm"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    out = subprocess.run(
        [str(exe)], env={**os.environ, "CHRONOTICK_SHM_PATH": shm_path}, capture_output=True, text=True
    )
    assert "[SYNCHRONIZED]" in out.stdout, out
    swapped = tmp_path / "swapped.c"
    swapped.write_text('#include <stdio.h>\n#include "chronotick.h"\nint main(void) { return 0; }\n')
    r = subprocess.run(
        [CC, "-std=c11", "-I", str(C_DIR), "-c", "-o", os.devnull, str(swapped)],
        capture_output=True,
        text=True,
    )
    assert (
        r.returncode != 0
        and r.stderr.count("error:") == 1
        and "include it before any system header" in r.stderr
    )
    r = subprocess.run(
        [CC, "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-I", str(C_DIR), "-c", "-o", os.devnull, str(swapped)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
