# sensorpipe: `make demo` and `make test` work from a fresh clone (Python 3.11+, Java 17).
# Everything else they need is installed here: the virtualenv and its pinned packages,
# the Hadoop Streaming jar (Maven, conf/hadoop/pom.xml), and Maven itself if missing.

PYTHON ?= python3
# pytest-xdist workers for `make test`: 2 suits a 2-core machine (tests wait on JVMs and daemons
# much of the time); each worker holds its own local Spark session.
TEST_WORKERS ?= 2
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HADOOP := conf/hadoop/lib/.resolved
KAFKA  := conf/kafka/lib/.resolved
CLUSTER := conf/hadoop/cluster/lib/.resolved
PYDOOP := $(VENV)/.pydoop
DIST_ENV := dist/sensorpipe-env.tar.gz
SPARK_JARS := dist/spark-jars.zip
export PYSPARK_PYTHON := $(abspath $(BIN)/python)
export PYSPARK_DRIVER_PYTHON := $(abspath $(BIN)/python)

.PHONY: setup test test-cluster demo bench lint format clean-venv check-tools dist wheel

setup: check-tools $(STAMP) $(HADOOP) $(KAFKA) $(CLUSTER)

check-tools:
	@command -v $(PYTHON) >/dev/null || { echo "need Python 3.11+ ($(PYTHON) not found)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "need Python 3.11+, $(PYTHON) is older"; exit 1; }
	@command -v java >/dev/null || { echo "need Java 17 (java not on PATH): e.g. apt-get install openjdk-17-jre-headless"; exit 1; }
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); [ "$${v:-0}" -ge 17 ] || { echo "need Java 17 or newer, java -version says $$v: put a JDK 17 first on PATH (or set JAVA_HOME)"; exit 1; }
	@command -v mvn >/dev/null || bash conf/install-maven.sh
	@command -v chromium >/dev/null || { if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; else echo "chromium missing and apt-get unavailable (or not root): install Debian's chromium, or the browser test of tests/test_report.py is skipped"; fi; }

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

$(HADOOP): conf/hadoop/pom.xml
	mvn -q -B -f conf/hadoop/pom.xml dependency:copy-dependencies
	touch $@

# A one-node Kafka broker (conf/kafka/lib) and Spark's Kafka connector (conf/kafka/spark/lib).
$(KAFKA): conf/kafka/pom.xml conf/kafka/spark/pom.xml
	rm -rf conf/kafka/lib conf/kafka/spark/lib
	mvn -q -B -f conf/kafka/pom.xml dependency:copy-dependencies
	mvn -q -B -f conf/kafka/spark/pom.xml dependency:copy-dependencies
	touch $@

# A single-JVM Hadoop 3.3.6 cluster (HDFS + YARN) for the cluster tests, and the jars that
# conf/hadoop/bin/hadoop runs.
$(CLUSTER): conf/hadoop/cluster/pom.xml
	rm -rf conf/hadoop/cluster/lib
	mvn -q -B -f conf/hadoop/cluster/pom.xml dependency:copy-dependencies
	touch $@

# pydoop 2.0.0 (HDFS from Python): its C extensions build against Debian's libtirpc, its Java
# against the Hadoop 3.3.6 jars that conf/hadoop/bin/hadoop lists (`hadoop classpath`).
$(PYDOOP): $(STAMP) $(CLUSTER)
	@test -f /usr/include/tirpc/rpc/rpc.h || { [ "$$(id -u)" = 0 ] && { DEBIAN_FRONTEND=noninteractive apt-get install -y -q libtirpc-dev || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libtirpc-dev; }; }; } || { echo "need libtirpc-dev: apt-get install libtirpc-dev (as root)"; exit 1; }
	$(BIN)/pip install -q --disable-pip-version-check "setuptools<70" "wheel<0.46"
	PATH="$(abspath conf/hadoop/bin):$$PATH" CFLAGS=-I/usr/include/tirpc LDFLAGS=-ltirpc \
	  JAVA_HOME="$${JAVA_HOME:-$$(dirname "$$(dirname "$$(readlink -f "$$(command -v java)")")")}" \
	  $(BIN)/pip install -q --disable-pip-version-check --no-build-isolation pydoop==2.0.0
	touch $@

test: setup $(PYDOOP)
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=40 -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

# Only the tests that start clusters (Spark standalone, Kafka, Hadoop); `make test` runs them too.
test-cluster: setup $(PYDOOP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m cluster

demo: setup
	$(BIN)/python -m sensorpipe.demo

bench: setup
	$(BIN)/python bench/clean.py

# The installable package: dist/sensorpipe-<version>-py3-none-any.whl (README, "Quick start").
# .venv's setuptools builds it (no build isolation: nothing downloaded); a stale build/lib would
# carry deleted files into it. tests/test_wheel.py installs one and runs it (`make test`).
wheel: $(STAMP)
	rm -rf build/lib build/bdist.*
	$(BIN)/pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation -w dist .
	@ls -lh dist/*.whl

# What spark-submit needs on a cluster: the project's Python packages for --py-files, a
# relocatable environment (pandas, pyarrow: native code, no zip can carry them) for --archives,
# and the pyspark wheel's jars in one archive for spark.yarn.archive (uploaded to HDFS once, YARN
# keeps it on each node, instead of spark-submit uploading 460 MB of jars at every submit).
# The zip is rebuilt on every call (it is quick); the environment and the jars only when their
# requirements change. Nothing here needs `make setup` but the venv's pyspark for the jars.
dist: $(DIST_ENV) $(SPARK_JARS)
	mkdir -p dist
	$(PYTHON) -c 'import os, pathlib, zipfile; z = zipfile.ZipFile("dist/sensorpipe.zip.tmp", "w", zipfile.ZIP_DEFLATED); [z.write(p) for d in ("sensorpipe", "jobs", "streaming") for p in sorted(pathlib.Path(d).rglob("*.py"))]; z.close(); os.replace("dist/sensorpipe.zip.tmp", "dist/sensorpipe.zip")'
	@ls -lh dist

# jars at the archive's root, stored (jars are compressed already)
$(SPARK_JARS): requirements.txt | $(STAMP)
	mkdir -p dist
	$(BIN)/python -c 'import os, pathlib, pyspark, zipfile; z = zipfile.ZipFile("$@.tmp", "w", zipfile.ZIP_STORED); [z.write(p, p.name) for p in sorted((pathlib.Path(pyspark.__file__).parent / "jars").glob("*.jar"))]; z.close(); os.replace("$@.tmp", "$@")'

$(DIST_ENV): requirements-executor.txt
	rm -rf build/env && mkdir -p dist
	$(PYTHON) -m venv build/env
	build/env/bin/pip install -q --disable-pip-version-check -r requirements-executor.txt venv-pack==0.2.0
	build/env/bin/venv-pack -q -f --format tar.gz -p build/env -o $@.tmp
	mv $@.tmp $@

# The import contracts of pyproject.toml ([tool.importlinter]), then ruff.
lint: setup
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean-venv:
	rm -rf $(VENV) conf/hadoop/lib conf/hadoop/cluster/lib conf/kafka/lib conf/kafka/spark/lib build dist
