#!/usr/bin/env bash
# configure.sh DIR CMAKE-ARGS...: configures the build tree DIR from this
# source tree. A new tree uses Ninja when it is installed (per-file build
# times in DIR/.ninja_log, faster no-op builds); an existing tree keeps the
# generator it was made with (cmake refuses to switch one).
set -euo pipefail
dir=$1
shift
generator=()
if [ ! -f "$dir/CMakeCache.txt" ] && command -v ninja >/dev/null; then generator=(-G Ninja); fi
exec cmake -S "$(dirname "$0")/.." -B "$dir" "${generator[@]}" "$@"
