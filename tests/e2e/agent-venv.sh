#!/usr/bin/env bash
# Build (once) a Python 2.7 virtualenv with the real pyfarm.agent 0.8.6 and
# print its path. The venv is cached under $PYFARM_E2E_CACHE (default
# ~/.cache/pyfarm-e2e) and rebuilt only when the constraints change.
# Python 2.7 comes from pyenv (PYFARM_E2E_PY27 overrides).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${PYFARM_E2E_CACHE:-$HOME/.cache/pyfarm-e2e}
key=$(cat "$here/constraints-py27.txt" "$0" | sha256sum | cut -c1-12)
venv=$cache/agent-0.8.6-$key
if [ -x "$venv/bin/pyfarm-agent" ] && [ -f "$venv/.complete" ]; then
    echo "$venv"
    exit 0
fi
py27=${PYFARM_E2E_PY27:-}
if [ -z "$py27" ]; then
    if command -v pyenv >/dev/null 2>&1 && [ -x "$(pyenv root)/versions/2.7.18/bin/python" ]; then
        py27=$(pyenv root)/versions/2.7.18/bin/python
    elif command -v python2.7 >/dev/null 2>&1; then
        py27=$(command -v python2.7)
    else
        echo "agent-venv: no Python 2.7 found (pyenv 2.7.18 or python2.7); set PYFARM_E2E_PY27" >&2
        exit 1
    fi
fi
rm -rf "$venv" "$venv.tool"
mkdir -p "$cache"
{
    timeout 300 "$py27" -m pip install --quiet --disable-pip-version-check \
        --target "$venv.tool" "virtualenv<20.22"
    PYTHONPATH=$venv.tool timeout 300 "$py27" -m virtualenv --quiet "$venv"
    timeout 900 "$venv/bin/pip" install --quiet --disable-pip-version-check \
        -c "$here/constraints-py27.txt" "pyfarm.agent==0.8.6" "pyfarm.core==0.9.3"
    "$venv/bin/pip" check
} >&2
rm -rf "$venv.tool"
touch "$venv/.complete"
echo "$venv"
