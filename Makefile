# ChronoTick: `make run` sets up and runs the daemon; `make test` sets up and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := mcp,sdk,dev,plot,metrics,timesfm,chrony
SHM ?= /dev/shm/chronotick_shm

.PHONY: setup system-deps tools run demo test lint format bench test-multinode c-example install-c wheel clean

setup: $(STAMP)

# Re-installs only when pyproject.toml changes, so a second `make` is quick.
$(STAMP): pyproject.toml setup.py chronotick_engine/_native.c chronotick_engine/_heartbeat.c clients/c/chronotick.h clients/c/chronotick_writer.h
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e ".[$(EXTRAS)]" 2>&1 | grep -v "is ignored: it is neither" || true
	$(PY) -c "import chronotick_engine, chronotick_mcp.app, chronotick_mcp.stdio_app, chronotick_mcp.sdk"
	touch $@

# chronyd is the real NTP (and NTS) server the integration tests and the demo run on loopback.
# ntpsec is a second, independent NTS server for the tests. Its package conflicts with chrony's,
# so it is unpacked into .tools/ntpsec rather than installed (its ntpd needs only libssl and libc).
NTPSEC := .tools/ntpsec/usr/sbin/ntpd
system-deps: $(NTPSEC)
	@command -v chronyd >/dev/null 2>&1 || { \
	  echo "installing chrony (Debian package) for the loopback NTP server"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chrony >/dev/null; }
$(NTPSEC):
	@echo "unpacking Debian's ntpsec into .tools/ntpsec (a second NTS server for the tests)"
	@mkdir -p .tools/deb && cd .tools/deb && rm -f ntpsec_*.deb && \
	  { apt-get download ntpsec >/dev/null 2>&1 || { apt-get update -qq && apt-get download ntpsec >/dev/null 2>&1; }; } && \
	  dpkg-deb -x ntpsec_*.deb ../ntpsec
	@test -x $@

# The official MCP Inspector (npm), for the test that drives the stdio server in its CLI mode.
INSPECTOR := .tools/node_modules/.bin/mcp-inspector
tools: $(INSPECTOR)
$(INSPECTOR):
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	npm install --silent --no-audit --no-fund --prefix .tools @modelcontextprotocol/inspector@2.12.0

# The product's main job: the daemon, with the shipped config (public NTP pools), publishing to $(SHM).
# Production runs it as a dedicated user (deploy/); from a root shell this target says so explicitly.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
run: setup
	$(VENV)/bin/chronotick-daemon --shm-path $(SHM) $(ROOT_FLAG)

# Offline demo: a real chronyd on loopback, the daemon against it, then a live reading.
demo: setup system-deps
	$(PY) -m chronotick_engine.cli.demo --shm-path /dev/shm/chronotick_demo

lint: setup
	$(VENV)/bin/ruff check chronotick_engine chronotick_mcp tests bench agents
	$(VENV)/bin/ruff format --check chronotick_engine chronotick_mcp tests bench agents

format: setup
	$(VENV)/bin/ruff format chronotick_engine chronotick_mcp tests bench agents
	$(VENV)/bin/ruff check --fix chronotick_engine chronotick_mcp tests bench agents

test: setup system-deps tools lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

# Three nodes in network namespaces around a chrony server namespace; says so and skips (exit 0)
# where namespaces are not permitted. `make test` runs it too, through tests/test_multinode.py.
test-multinode: setup system-deps
	@$(PY) tests/multinode.py; rc=$$?; if [ $$rc = 77 ]; then echo "multinode test skipped"; exit 0; fi; exit $$rc

# The C reader: `make c-example` builds clients/c/example (one reading, like `chronotick-client read`);
# `make install-c [PREFIX=/usr/local]` installs the header and a pkg-config file (`pkg-config --cflags chronotick`).
CC ?= cc
PREFIX ?= /usr/local
c-example: clients/c/example
clients/c/example: clients/c/example.c clients/c/chronotick.h
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -o $@ clients/c/example.c -lm
install-c:
	install -D -m 0644 clients/c/chronotick.h $(DESTDIR)$(PREFIX)/include/chronotick.h
	install -D -m 0644 clients/c/chronotick_writer.h $(DESTDIR)$(PREFIX)/include/chronotick_writer.h
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig
	sed 's|@PREFIX@|$(PREFIX)|' clients/c/chronotick.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/chronotick.pc

# The wheel the README's one-line install takes: pipx install "$(ls dist/chronotick-*.whl)[mcp]".
wheel: setup
	rm -f dist/chronotick-*.whl
	$(PY) -m pip wheel --no-deps -q --disable-pip-version-check -w dist .

bench: setup system-deps
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .tools build dist *.egg-info .pytest_cache .ruff_cache clients/c/example chronotick_engine/_native*.so chronotick_engine/_heartbeat*.so
