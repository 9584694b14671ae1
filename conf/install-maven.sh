#!/usr/bin/env bash
# Maven resolves the Hadoop Streaming jar (conf/hadoop/pom.xml). Install Debian's package
# when we may; otherwise say what to do.
set -euo pipefail
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "maven not found: installing Debian's maven package"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null
else
  echo "need Maven (mvn) to fetch the Hadoop Streaming jar: install it (e.g. apt-get install maven)" >&2
  exit 1
fi
