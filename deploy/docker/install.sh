#!/bin/sh
# The Dockerfile's build steps, as a script the test suite can run without a Docker engine.
#   CHRONOTICK_SRC     repository to install (default: this checkout)
#   CHRONOTICK_PREFIX  virtual environment to create (default /opt/chronotick)
#   CHRONOTICK_EXTRAS  extras to install (default mcp,metrics)
#   CHRONOTICK_USER    dedicated user to create, if missing and we are root (default chronotick;
#                      empty to skip)
set -eu
SRC=${CHRONOTICK_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PREFIX=${CHRONOTICK_PREFIX:-/opt/chronotick}
EXTRAS=${CHRONOTICK_EXTRAS:-mcp,metrics}
USER_NAME=${CHRONOTICK_USER-chronotick}
PYTHON=${PYTHON:-python3}

"$PYTHON" -m venv "$PREFIX"
"$PREFIX/bin/pip" install --no-cache-dir --disable-pip-version-check -q "$SRC[$EXTRAS]"
"$PREFIX/bin/chronotick-daemon" --print-default-config >/dev/null

if [ -n "$USER_NAME" ] && [ "$(id -u)" = 0 ] && ! id "$USER_NAME" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
fi
if [ -n "$USER_NAME" ] && [ "$(id -u)" = 0 ]; then
    install -d -m 0755 -o "$USER_NAME" -g "$USER_NAME" /run/chronotick
fi
echo "chronotick installed in $PREFIX"
