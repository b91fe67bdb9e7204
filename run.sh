#!/usr/bin/env bash
# One entry point for newcomers and CI.
#   bash run.sh app  [app.py options]   set up (first time) and start the app on http://127.0.0.1:7860
#   bash run.sh test [pytest options]   set up (first time, incl. Chromium for the browser tests and Ray) and run all tests
#   bash run.sh setup                   only install
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_DISABLE_TELEMETRY=1 PIP_DISABLE_PIP_VERSION_CHECK=1

setup_python() {
  local stamp="$VENV/.ganinv-installed" want
  want=$(cat requirements*.txt | sha256sum | cut -c1-16)
  [ -d "$VENV" ] || "$PY" -m venv "$VENV"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== installing Python packages into $VENV (first run takes a few minutes)"
    "$VENV/bin/pip" install -q --upgrade pip
    # These exact torch / torchvision builds are the ones the project is tested with.
    "$VENV/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
    # requirements.txt alone is the app's run time (what a hosted Space installs); -dev adds the test tools.
    "$VENV/bin/pip" install -q -r requirements-dev.txt
    # ganinv itself, editable, so `python -m ganinv` works from any folder.
    "$VENV/bin/pip" install -q --no-deps -e .
    echo "$want" > "$stamp"
  fi
}

setup_scale() {
  # requirements-scale.txt: the optional Ray engine of `ganinv evaluate --engine ray`; the tests exercise it.
  local stamp="$VENV/.ganinv-scale-installed" want
  want=$(sha256sum requirements-scale.txt | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== installing the optional Ray engine (requirements-scale.txt)"
    "$VENV/bin/pip" install -q -r requirements-scale.txt
    echo "$want" > "$stamp"
  fi
}

setup_debian() {
  # packages.txt: Debian libraries the Python wheels load (OpenCV's libGL / glib); hosted Spaces read it too.
  if ! command -v dpkg >/dev/null || ! command -v apt-get >/dev/null; then
    local wanted; wanted=$(grep -v '^#' packages.txt)
    echo "== no dpkg / apt-get: if OpenCV cannot load, install the system libraries of packages.txt" \
         "(Debian names: ${wanted//$'\n'/ }) with your package manager; going on"
    return 0
  fi
  local missing=() pkg
  while read -r pkg; do
    [ -n "$pkg" ] && ! dpkg -s "$pkg" >/dev/null 2>&1 && missing+=("$pkg")
  done < <(grep -v '^#' packages.txt)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing Debian packages from packages.txt: ${missing[*]}"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

setup_browser() {
  if [ ! -x /usr/bin/chromium ] || ! command -v ffmpeg >/dev/null; then
    echo "== installing Debian's chromium, chromium-driver and ffmpeg (browser tests, MP4 export)"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver ffmpeg >/dev/null
  fi
}

cmd=${1:-app}; shift || true
case "$cmd" in
  setup) setup_debian; setup_python ;;
  app)   setup_debian; setup_python; exec "$VENV/bin/python" app.py "$@" ;;
  # A pytest-xdist worker per core, a test file per worker at a time (its module fixtures, e.g. a server, built
  # once); options given after `test` come later and win, e.g. `bash run.sh test -n 0` runs in one process.
  test)  setup_debian; setup_python; setup_scale; setup_browser
         GANINV_OFFLINE=1 HF_HUB_OFFLINE=1 exec "$VENV/bin/python" -m pytest -n "$(nproc)" --dist loadfile "$@" ;;
  *) echo "usage: bash run.sh app|test|setup [args]" >&2; exit 2 ;;
esac
