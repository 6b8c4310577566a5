#!/usr/bin/env bash
# Installs the system parts Cellbridge's tests and demo run against (real broker, real X server,
# real rauc, real Chromium). Each line of scripts/system-packages.txt is "<command> <debian package>":
# the package is installed only when the command is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
missing=()
while read -r cmd pkg; do
    [[ -z "$cmd" || "$cmd" == \#* ]] && continue
    if [[ "$cmd" == /* ]]; then
        cmd=${cmd//@ARCH@/$(uname -m)}
        [[ -e "$cmd" ]] || missing+=("$pkg")
    else
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    fi
done < "$here/system-packages.txt"
[[ ${#missing[@]} -eq 0 ]] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "cellbridge: missing system packages: ${missing[*]}" >&2
    echo "cellbridge: install them (Debian: sudo apt-get install ${missing[*]}) and run make again" >&2
    exit 1
fi
echo "cellbridge: installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
