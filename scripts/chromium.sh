#!/usr/bin/env bash
# Find the Chromium that the web UI tests drive through Playwright (no browser is downloaded) and print its
# path; install Debian's package only when there is none. scripts/test.sh and scripts/screenshots.sh source
# this file and export MAINSPRING_CHROMIUM; `bash scripts/chromium.sh` runs it on its own.
#
# In order, needing no root:
#   1. $MAINSPRING_CHROMIUM, if set (a Chromium or Chrome binary anywhere, e.g. in your home folder);
#   2. chromium, chromium-browser, google-chrome or google-chrome-stable on PATH (Debian's is /usr/bin/chromium).
# Only if none is found, with root (or sudo): `apt-get install --no-install-recommends chromium`, which
# installs Chromium and the libraries it needs and nothing else. If apt would also have to upgrade a package
# that is already installed (it would, say, if Chromium needs a newer libsystemd0 than the machine has), it
# says which and stops without changing anything, unless MAINSPRING_APT_ALLOW_UPGRADES=1.

find_chromium() {
    if [ -n "${MAINSPRING_CHROMIUM:-}" ]; then
        if [ -x "$MAINSPRING_CHROMIUM" ] && [ ! -d "$MAINSPRING_CHROMIUM" ]; then
            printf '%s\n' "$MAINSPRING_CHROMIUM"
            return 0
        fi
        echo "MAINSPRING_CHROMIUM=$MAINSPRING_CHROMIUM is not an executable file" >&2
        return 2
    fi
    local name found
    for name in chromium chromium-browser google-chrome google-chrome-stable; do
        if found=$(command -v "$name" 2>/dev/null); then
            printf '%s\n' "$found"
            return 0
        fi
    done
    return 1
}

install_chromium() {
    local hint="or point MAINSPRING_CHROMIUM at a Chromium or Chrome binary you have (no root needed)"
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "No Chromium found for the web UI tests, and no apt-get to install one: install Chromium, $hint." >&2
        return 1
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "No Chromium found for the web UI tests. As root, run" \
                "'apt-get install --no-install-recommends chromium', $hint." >&2
            return 1
        fi
        sudo="sudo"
    fi
    echo "== No Chromium found for the web UI tests: installing Debian's (apt-get install --no-install-recommends chromium${sudo:+, through sudo})" >&2
    $sudo apt-get update -qq >&2
    # Ask apt what it would do first: a package it would upgrade shows as "Inst NAME [INSTALLED] (NEW ...)".
    local upgrades
    upgrades=$(apt-get -s -o Debug::NoLocking=1 install --no-install-recommends chromium | awk '/^Inst [^ ]+ \[/ {print $2}')
    if [ -n "$upgrades" ] && [ "${MAINSPRING_APT_ALLOW_UPGRADES:-}" != 1 ]; then
        echo "Installing chromium would also upgrade these installed packages: $(echo $upgrades)." >&2
        echo "Nothing was changed. Upgrade them yourself and run this again, rerun with" \
            "MAINSPRING_APT_ALLOW_UPGRADES=1 to let apt do it, $hint." >&2
        return 1
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2 || return 1
    find_chromium
}

# The path of a Chromium, found or installed; non-zero (having said why on stderr) if there is none.
ensure_chromium() {
    local rc=0
    find_chromium || rc=$?
    [ "$rc" -eq 1 ] || return "$rc"
    install_chromium
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    ensure_chromium
fi
