#!/bin/sh
# Makes sure Debian's Chromium is at /usr/bin/chromium for the browser
# tests (lib/browser.js): when it is missing, installs Debian's package as
# root, or through sudo where that needs no password. Where it cannot be
# had, it says so plainly and the browser tests are skipped; under CI=true
# that is an error.
set -u
chromium=/usr/bin/chromium

if [ ! -x "$chromium" ] && command -v apt-get >/dev/null 2>&1; then
  as_root=
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      as_root="sudo -n"
    else
      as_root=none
    fi
  fi
  if [ "$as_root" != none ]; then
    echo "Chromium is missing: installing Debian's package for the browser tests (apt-get install chromium fonts-liberation)"
    $as_root env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get update -qq &&
      $as_root env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null ||
      echo "apt-get could not install chromium"
  fi
fi

if [ -x "$chromium" ]; then
  echo "$("$chromium" --version 2>/dev/null || echo Chromium) at $chromium: the browser tests run"
elif [ "${CI:-}" = true ]; then
  echo "Chromium is not at $chromium and could not be installed; the browser tests are mandatory in CI" >&2
  exit 1
else
  echo "*** Chromium is not at $chromium and could not be installed (as root or with sudo: apt-get install chromium)."
  echo "*** The browser tests are SKIPPED; the rest of the end-to-end suite runs."
fi
