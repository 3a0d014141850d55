# flowerkit: every target sets up .venv first if it is missing or out of date.
#   make lab     set up, prepare mini-flowers, install the git filter that strips outputs, open the notebooks in JupyterLab
#   make test    set up, run the unit tests (on up to 4 cores) and execute every notebook (nbval), timed ones alone
#   make test-real  every notebook with FLOWERKIT_DATASET=real on hard-flowers served from 127.0.0.1, at a quarter of
#                the real profile's epochs (FLOWERKIT_EPOCHS=4 unless set), three groups of notebooks at once, timings
#                not asserted (make test asserts them, alone); CI runs it after make test
#   make browser run only the browser test (JupyterLab in Chromium, a deck offline; part of make test): build/browser/
#   make html    set up, execute every notebook and render build/html/index.html (pages, slides, student notebooks)
#   make student write the student notebooks (solutions replaced by prompts) to build/student/
#   make grade SUBMISSIONS=folder  run and grade each student's notebooks (folder/<student>/NN_name.ipynb) with the
#                course's checkers: build/grades/ (GRADE_FLAGS="--quick --timeout 120 --notebooks 00 01", see the README)
#   make slides  execute every notebook and write its reveal.js deck to build/slides/ (SLIDES_FLAGS=--no-execute: no outputs, fast)
#   make bench   set up, print the measured figures (learnability, loading)
#   make lint    format and lint the package, tests and benchmarks; lint the notebooks (ruff)
#   make vendor-reveal  refresh tools/vendor/reveal.js from npm (the decks inline it; only maintainers need npm)
#   make strip   remove outputs and execution counts, set slide types, in the notebooks (before committing)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.flowerkit-installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
PYTEST_NB := --nbval-lax --nbval-current-env --nbval-cell-timeout=600 --nbval-kernel-startup-timeout=300

SLIDES_FLAGS ?=
REVEAL_VERSION ?= 5.2.1
REVEAL_FILES := LICENSE dist/reveal.js dist/reveal.css dist/theme/white.css plugin/notes/notes.js

.PHONY: setup data lab test test-real bench-real unit nbtest html student slides bench lint strip clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23.1"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	$(PY) -c "import flowerkit, torch, torchvision, nbval, ipywidgets; print('flowerkit ready: torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $@

data: setup
	$(PY) -m flowerkit data

# As root (a container, a cloud VM's default user) JupyterLab refuses to start without --allow-root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: data
	$(PY) -m tools.strip install-filter
	PYTHONPATH=$(CURDIR) $(VENV)/bin/jupyter lab $(ROOT_FLAG) --ContentsManager.pre_save_hook=tools.strip.jupyter_pre_save notebooks/

# Unit tests on up to 4 cores (pytest-xdist; TEST_JOBS=0 runs them in one process), then alone what measures speed:
# the tests marked timed and every notebook cell (conftest.py marks those).
TEST_JOBS ?= auto
PARALLEL := -n $(TEST_JOBS) --maxprocesses 4 -m "not timed"

test: setup
	$(PY) -m pytest tests $(PARALLEL)
	$(PY) -m pytest tests $(NOTEBOOKS) -m timed $(PYTEST_NB)

# The real route: every notebook on a hard synthetic stand-in in the real files' format, through the download code.
test-real: setup
	FLOWERKIT_REAL_ROUTE=1 $(PY) -m pytest tests/test_real_route.py -k every_notebook_runs -s

# Download time, disk, each notebook's time and our accuracy on the stand-in at the real dataset's size (about an hour).
bench-real: setup
	$(PY) benchmarks/real_route.py

unit: setup
	$(PY) -m pytest tests $(PARALLEL)
	$(PY) -m pytest tests -m timed

.PHONY: browser vendor-reveal
browser: setup
	$(PY) -m pytest tests/test_browser.py -rA

nbtest: setup
	$(PY) -m pytest $(NOTEBOOKS) $(PYTEST_NB)

html: data
	$(PY) -m tools.site build/html

student: setup
	$(PY) -m tools.student build/student

.PHONY: grade
GRADE_FLAGS ?=
grade: data
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder  (folder/<student>/NN_name.ipynb)"; exit 2; }
	$(PY) -m tools.grade $(GRADE_FLAGS) "$(SUBMISSIONS)"

slides: data
	$(PY) -m tools.site --slides-only $(SLIDES_FLAGS) build/slides

bench: data
	$(PY) benchmarks/learnability.py
	$(PY) benchmarks/loading.py --size 64
	$(PY) benchmarks/loading.py --size 128
	$(PY) benchmarks/decode_profile.py

lint: setup
	$(PY) -m ruff format flowerkit tools tests benchmarks conftest.py
	$(PY) -m ruff check flowerkit tools tests benchmarks conftest.py notebooks

strip: setup
	$(PY) -m tools.strip strip $(NOTEBOOKS)

vendor-reveal:
	rm -rf build/reveal-npm && mkdir -p build/reveal-npm
	cd build/reveal-npm && npm pack --silent reveal.js@$(REVEAL_VERSION) && tar xzf reveal.js-$(REVEAL_VERSION).tgz
	cd build/reveal-npm/package && for f in $(REVEAL_FILES); do install -D -m 644 $$f $(CURDIR)/tools/vendor/reveal.js/$$f; done
	sed -i.bak -e '1s/reveal\.js [0-9.]*/reveal.js $(REVEAL_VERSION)/' -e '2s/reveal\.js@[0-9.]*/reveal.js@$(REVEAL_VERSION)/' \
	    -e '2s/reveal\.js-[0-9.]*\.tgz/reveal.js-$(REVEAL_VERSION).tgz/' -e '/^[0-9a-f]\{64\}  /d' tools/vendor/reveal.js/SOURCE.txt
	rm -f tools/vendor/reveal.js/SOURCE.txt.bak
	cd tools/vendor/reveal.js && sha256sum $(REVEAL_FILES) >> SOURCE.txt

clean:
	rm -rf build .pytest_cache
