"""Only the optional C extension lives here; everything else is in pyproject.toml.

chronotick_engine._native binds clients/c/chronotick.h for ChronoTickClient's fast path, and
chronotick_engine._heartbeat clients/c/chronotick_writer.h for the daemon's publish ticks. Each is
built when a C compiler is there and skipped when it is not (optional=True): the pure-Python
reader is the reference and the fallback.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "chronotick_engine._native",
            sources=["chronotick_engine/_native.c"],
            include_dirs=["clients/c"],
            depends=["clients/c/chronotick.h"],
            extra_compile_args=["-std=c11", "-O2"],
            optional=True,
        ),
        # The daemon's publish ticks on a C thread; without it the daemon publishes from Python.
        Extension(
            "chronotick_engine._heartbeat",
            sources=["chronotick_engine/_heartbeat.c"],
            include_dirs=["clients/c"],
            depends=["clients/c/chronotick.h", "clients/c/chronotick_writer.h"],
            extra_compile_args=["-std=c11", "-O2"],
            optional=True,
        ),
    ]
)
