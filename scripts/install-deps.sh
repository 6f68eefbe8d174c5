#!/usr/bin/env bash
# Installs every Debian package lopper's build and tests need. Idempotent: re-running is cheap.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread
  nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev libutf8proc-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcpp-httplib-dev
  # Models by hub id: downloads with libcurl, sha256 checks with OpenSSL.
  libcurl4-openssl-dev libssl-dev
  # `lopper serve`'s browser test drives the demo page in headless Chromium through chromedriver.
  chromium chromium-driver
)
# Node.js runs the llama.cpp engine of the GGUF export tests (below); Debian's nodejs/npm only when
# the machine has no node at all.
command -v node >/dev/null 2>&1 || PKGS+=(nodejs npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
install_llama_cpp_engine() {
  # llama.cpp for the export tests: node-llama-cpp from the npm registry, pinned with its lock file,
  # into the git-ignored engines/llama-cpp. Its prebuilt CPU binaries come inside the package; nothing
  # is downloaded or compiled after install (NODE_LLAMA_CPP_SKIP_DOWNLOAD, install scripts off).
  local here dir want
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  dir="$here/../engines/llama-cpp"
  want="$(sed -n 's/.*"node-llama-cpp": "\(.*\)".*/\1/p' "$here/llama-cpp-engine/package.json")"
  if [ -f "$dir/node_modules/node-llama-cpp/package.json" ] &&
     grep -q "\"version\": \"$want\"" "$dir/node_modules/node-llama-cpp/package.json"; then
    echo "install-deps: llama.cpp engine (node-llama-cpp $want) present"
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 20 ]; then
    echo "install-deps: node >= 20 with npm not found; GGUF engine tests will be skipped" >&2
    return 0
  fi
  mkdir -p "$dir"
  cp "$here/llama-cpp-engine/package.json" "$here/llama-cpp-engine/package-lock.json" "$dir/"
  echo "install-deps: installing node-llama-cpp $want into engines/llama-cpp"
  if ! (cd "$dir" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --ignore-scripts --no-audit --no-fund --loglevel=error); then
    echo "install-deps: npm install of node-llama-cpp failed; GGUF engine tests will be skipped" >&2
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  install_llama_cpp_engine
  exit 0
fi
# As root (a fresh Debian machine has no sudo) apt-get runs directly; otherwise through sudo.
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps: missing ${missing[*]}; run this script as root (sudo is not installed)" >&2
    exit 1
  fi
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_llama_cpp_engine
