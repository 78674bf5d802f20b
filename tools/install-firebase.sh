#!/usr/bin/env bash
# Installs the pinned firebase-tools (the Auth emulator of make run and make
# test) into tools/firebase/node_modules. npm ci compiles a native module and
# takes minutes, so the result is cached per lockfile in
# $TOOLS_CACHE (default ~/.cache/ticketsaga) and linked in; a second clone on
# the same machine takes a second.
set -euo pipefail
cd "$(dirname "$0")/firebase"
command -v npm >/dev/null || { echo "make tools: npm not found; install Node.js 20 or newer" >&2; exit 1; }
key=$(sha256sum package-lock.json | cut -c1-16)
version=$(node -p "require('./package.json').dependencies['firebase-tools']")
cache="${TOOLS_CACHE:-$HOME/.cache/ticketsaga}/firebase-tools-$version-$key"
if [ ! -x "$cache/node_modules/.bin/firebase" ]; then
  echo "make tools: installing firebase-tools $version into $cache (npm ci; it compiles a native module: a few minutes, once per machine)"
  rm -rf "$cache.tmp"
  mkdir -p "$cache.tmp"
  cp package.json package-lock.json "$cache.tmp/"
  (cd "$cache.tmp" && npm ci --no-audit --no-fund --loglevel=error)
  rm -rf "$cache"
  mv "$cache.tmp" "$cache"
fi
ln -sfn "$cache/node_modules" node_modules
echo "make tools: firebase-tools $version ready ($(./node_modules/.bin/firebase --version 2>/dev/null || echo '?'))"
