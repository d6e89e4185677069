#!/usr/bin/env bash
# Set up .venv at the repository root with everything the project needs. Safe to re-run:
# it only installs when pyproject.toml changed since the last run.
#
#   bash scripts/setup.sh          # the app, CLI and APIs
#   bash scripts/setup.sh --dev    # also test tools, and Chromium for the browser test (needs apt)
set -euo pipefail
cd "$(dirname "$0")/.."

extras=all
if [ "${1:-}" = "--dev" ]; then extras=dev; fi
python=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $($python --version)…"
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$extras-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Installing the project and its dependencies into .venv ($extras)…"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # torch is pinned in pyproject.toml (torch==2.13.0): an unpinned torch pulls a multi-GB CUDA build.
  .venv/bin/python -m pip install --quiet -e ".[$extras]"
  touch "$stamp"
fi

if [ "$extras" = dev ] && [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing Chromium and a CJK font for the browser test (apt)…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null) \
      || echo "warning: apt could not install Chromium; the browser test will be skipped"
  else
    echo "note: Chromium is not installed and apt (as root) is not available; the browser test will be skipped"
  fi
fi
echo "Setup complete."
