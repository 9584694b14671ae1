# sensorpipe: `make demo` and `make test` work from a fresh clone (Python 3.11+, Java 17).
# Everything else they need is installed here: the virtualenv and its pinned packages,
# the Hadoop Streaming jar (Maven, conf/hadoop/pom.xml), and Maven itself if missing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HADOOP := conf/hadoop/lib/.resolved
export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export PYSPARK_DRIVER_PYTHON := $(abspath $(BIN)/python)

.PHONY: setup test demo bench lint format clean-venv check-tools dist

setup: check-tools $(STAMP) $(HADOOP)

check-tools:
	@command -v $(PYTHON) >/dev/null || { echo "need Python 3.11+ ($(PYTHON) not found)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "need Python 3.11+, $(PYTHON) is older"; exit 1; }
	@command -v java >/dev/null || { echo "need Java 17 (java not on PATH): e.g. apt-get install openjdk-17-jre-headless"; exit 1; }
	@command -v mvn >/dev/null || bash conf/install-maven.sh

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

$(HADOOP): conf/hadoop/pom.xml
	mvn -q -B -f conf/hadoop/pom.xml dependency:copy-dependencies
	touch $@

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider

demo: setup
	$(BIN)/python -m sensorpipe.demo

bench: setup
	$(BIN)/python bench/clean.py

# What spark-submit needs on a cluster: the project's Python packages for --py-files, and a
# relocatable environment (pandas, pyarrow: native code, no zip can carry them) for --archives.
dist: setup
	rm -rf dist build && mkdir -p dist
	$(BIN)/python -c 'import pathlib, zipfile; z = zipfile.ZipFile("dist/sensorpipe.zip", "w", zipfile.ZIP_DEFLATED); [z.write(p) for d in ("sensorpipe", "jobs", "streaming") for p in sorted(pathlib.Path(d).glob("*.py"))]'
	$(PYTHON) -m venv build/env
	build/env/bin/pip install -q --disable-pip-version-check -r requirements-executor.txt venv-pack==0.2.0
	build/env/bin/venv-pack -q -p build/env -o dist/sensorpipe-env.tar.gz
	@ls -lh dist

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean-venv:
	rm -rf $(VENV) conf/hadoop/lib build dist
