# Two commands on a fresh Debian 12 / Ubuntu machine: `make demo` and `make test`.
# Both bootstrap what they need: system packages (apt-get, as root or with sudo), uv, the virtualenv.

SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
BASE_PACKAGES := libzbar0 fonts-noto-cjk fontconfig libgl1 libgl1-mesa-dri libegl1 libmtdev1 xauth libusb-1.0-0 \
	espeak-ng  # voice prompts in 长者模式, rendered offline
TEST_PACKAGES := $(BASE_PACKAGES) xvfb cups-daemon cups-client  # a real cupsd for the A4 printer tests
TEST_PACKAGES += prometheus  # promtool: check and unit-test ops/prometheus/alerts.yml
TEST_PACKAGES += systemd cage util-linux  # systemd-analyze verify/security on the staged units (cage, setterm)
# The UI needs a screen: a real one if there is one, else Xvfb.
DEMO_PACKAGES := $(BASE_PACKAGES) $(if $(DISPLAY),,xvfb)
XVFB := xvfb-run -a -s "-screen 0 1080x1920x24"

.PHONY: demo test lint sysdeps-test sysdeps-demo uv venv font

demo: sysdeps-demo venv font
	@if [ -n "$$DISPLAY" ]; then $(UV) run kiosk demo; \
	else echo "No display: playing the hall demo headless; screenshots go to artifacts/demo/"; \
	     $(UV) run kiosk demo --headless --artifacts artifacts/demo; fi

test: sysdeps-test venv font
	$(UV) run ruff check .
	$(XVFB) $(UV) run pytest

lint: venv
	$(UV) run ruff check .
	$(UV) run ruff format --check .

sysdeps-test:
	@$(MAKE) --no-print-directory _apt PACKAGES="$(TEST_PACKAGES)"

sysdeps-demo:
	@$(MAKE) --no-print-directory _apt PACKAGES="$(DEMO_PACKAGES)"

_apt:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:" $$missing; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

uv:
	@command -v uv >/dev/null 2>&1 || [ -x "$(UV)" ] || \
		python3 -m pip install --user --quiet uv 2>/dev/null || \
		python3 -m pip install --user --quiet --break-system-packages uv

# Bytecode compiled ahead (uv does not by default): a start that compiles ~550 modules from source
# takes 1–2 s longer, and the kiosk service cannot write __pycache__ under ProtectSystem=strict.
venv: uv
	$(UV) sync --frozen --python 3.11 --compile-bytecode
	$(UV) run python -m compileall -q kiosk devices screens provisioning >/dev/null

# The UI's Chinese face, prepared once from the system's Noto Sans CJK into ~/.cache/kiosk/fonts (~1 min
# the first time; devices/ui_font.py says why): done here so no test or demo start waits for it.
font: venv
	@$(UV) run kiosk font build
