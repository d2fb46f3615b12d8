# listenin: the targets people expect. Everything installs into ./.venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench lint fixtures clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,base]'
	# speaker encoder weights (pretrained.pt); --no-deps: read in numpy, torch never needed
	$(BIN)/python -m pip install -q --no-deps resemblyzer==0.1.4
	touch $(STAMP)

demo: $(STAMP)  ## replay the bundled call through the live pipeline
	$(BIN)/listenin demo

test: $(STAMP)  ## the whole suite
	$(BIN)/python -m pytest -q

bench: $(STAMP)  ## pipeline then device benchmarks; each ends with one JSON line
	$(BIN)/python -m bench.realtime --calls 4
	$(BIN)/python -m bench.realtime --fixture call2 --calls 2
	$(BIN)/python -m bench.finals --before
	$(BIN)/python -m bench.finals
	$(BIN)/python -m bench.softphone --calls 4
	$(BIN)/python -m bench.capacity --steps 2,4,6,8,10,12
	$(BIN)/python -m bench.bus
	$(BIN)/python -m bench.fanout --subscribers 100
	$(BIN)/python -m bench.diarize
	$(BIN)/python -m bench.conversation
	$(BIN)/python -m bench.music
	$(BIN)/python -m bench.soak --calls 2000
	$(BIN)/python -m bench.rtpflood --pps 2000,20000,100000
	$(BIN)/python -m bench.invites --rate 1000 --invites 1500 --front
	$(BIN)/python -m bench.observe
	$(BIN)/python -m bench.webhooks
	$(BIN)/python -m bench.redact
	$(BIN)/python -m bench.outputs
	$(BIN)/python -m bench.short

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fixtures: $(STAMP)  ## rebuild fixtures/ from espeak-ng (needs espeak-ng, sox)
	$(BIN)/python fixtures/make_fixtures.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
