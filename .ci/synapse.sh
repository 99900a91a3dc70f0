#!/usr/bin/env bash
# Installs the Synapse the bridge tests run against: matrix-synapse, pinned, from PyPI,
# into a virtualenv that later runs reuse. The tests find it through
# GADKA_TEST_SYNAPSE_VENV, whose default is the path below.
#
# Safe to run again: nothing is done when the venv already holds the pinned version.
# Called by .ci/run before the tests; on its own: `bash .ci/synapse.sh`.
set -euo pipefail

SYNAPSE_VERSION=1.163.2
VENV="${GADKA_TEST_SYNAPSE_VENV:-/var/cache/gadka-ci/synapse-venv}"

if "$VENV/bin/python" -c 'import synapse, sys; sys.exit(synapse.__version__ != sys.argv[1])' "$SYNAPSE_VERSION" 2>/dev/null; then
    echo "matrix-synapse $SYNAPSE_VERSION is in $VENV"
    exit 0
fi
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
# Debian's python3 makes virtualenvs only with python3-venv installed.
if ! python3 -m venv "$VENV" 2>/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv
    rm -rf "$VENV"
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check "matrix-synapse==$SYNAPSE_VERSION"
"$VENV/bin/python" -c 'import synapse; print("matrix-synapse", synapse.__version__, "installed")'
