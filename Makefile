# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
MIRROR  ?= $(wildcard ../shared/weights)
STAMP   := $(VENV)/.installed


.PHONY: run test setup weights qt-libs bench screenshot clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, pinned, from this machine's disk; then the project (which caps torch, so nothing pulls a newer one).
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

weights: $(STAMP)
	$(BIN)/brushwork weights fetch $(if $(MIRROR),--mirror $(MIRROR),)
	$(BIN)/brushwork weights status

# Qt's xcb plugin links system libraries a fresh Debian lacks (the list: editor/qt_platform.py):
# as root they are apt-get installed, otherwise the one command to run is printed and make stops.
qt-libs: $(STAMP)
	$(BIN)/python -m editor.qt_platform --install --no-display-check

run: weights qt-libs
	$(BIN)/brushwork-editor --sample

test: weights
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q tests

bench: weights
	$(BIN)/python bench/gatys.py

# The README's screenshots: the real window (xcb) under Xvfb, the bundled sample rendered (the window, then the
# canvas alone: as rendered, in outline mode, in split view; then the window in live mode; then one click of
# Auto regions by meaning, and a portrait with its face outlined, rendered with and without protect faces).
PORTRAIT ?= $(wildcard ../shared/images/samples/content_portrait_astronaut.jpg)
screenshot: weights
	$(BIN)/python -m editor.qt_platform --install --xvfb
	QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" $(BIN)/python -m editor.screenshot docs/screenshot.png --small docs/screenshot-1366.png \
		--canvas docs/region-result.png --outline docs/region-outline.png --split docs/region-split.png \
		--live docs/live.png --live-small docs/live-1366.png --semantic docs/semantic-regions.png \
		$(if $(PORTRAIT),--portrait $(PORTRAIT) --faces docs/faces-outlined.png --protected docs/faces-protected.png \
		--unprotected docs/faces-unprotected.png,)

clean:
	rm -rf $(VENV) build *.egg-info
