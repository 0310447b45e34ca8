#!/usr/bin/env bash
# Runs every test tier in order and prints one closing line
# "N passed, M failed, K skipped", counted from each GoogleTest suite's own
# results (tests/support/gtest_results.py), plus fuzz runs and shell checks.
#
# Every test runs once, in the strictest build that can run it
# (tests/README.md, "Where each test runs"):
#   fixtures     build or reuse the fixture images; check the cache is reused
#   unit         ctest -L unit                    in $ASAN_BUILD (ASan+UBSan)
#   integration  ctest -L integration -LE release in $ASAN_BUILD (ASan+UBSan), DORMANT_FIXTURES set
#   release      ctest -L release -LE slow        in $BUILD: what ASan cannot run (libvirt RPC, crash shards)
#   fuzz         each $FUZZ_BUILD/tests/*_fuzz for FUZZ_SECONDS, $JOBS at a time, seeded from the fixtures
#   slow         ctest -L slow -LE serial         in $BUILD (libvirt guests, libguestfs, load, browser),
#                beside unit..fuzz from the end of fixtures on (its lines are prefixed "[slow]")
#   serial       ctest -L serial                  in $BUILD, last and alone: it stops the local libvirtd
#
# ctest runs one process per suite (cmake/gtest_suites.cmake), so a suite's
# set-up runs once. A skip counts as skipped only for a reason listed in
# tests/skip-allowlist.txt; any other skip, and a failed set-up, is a failure.
# Fails fast: the first failing tier ends the run. Select tiers with
# DORMANT_TIERS="unit integration" (names as above). When DORMANT_PHASES_FILE
# is set, each tier appends "name<TAB>seconds<TAB>note" to it (.ci/run's table).
set -uo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$root/build}
ASAN_BUILD=${ASAN_BUILD:-$root/build-asan}
FUZZ_BUILD=${FUZZ_BUILD:-$root/build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
JOBS=${JOBS:-2}
TIERS=${DORMANT_TIERS:-fixtures unit integration release fuzz slow}
absolute() { case $1 in /*) echo "$1" ;; *) echo "$root/$1" ;; esac; }
BUILD=$(absolute "$BUILD")
ASAN_BUILD=$(absolute "$ASAN_BUILD")
FUZZ_BUILD=$(absolute "$FUZZ_BUILD")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

work=$(mktemp -d "${TMPDIR:-/tmp}/dormant-run-tests.XXXXXX")
times="$work/times.tsv"
tiers="$work/tiers.tsv"  # name, passed, failed, skipped, seconds: one line per tier, from both streams
: >"$times"
: >"$tiers"
slow_pid=""
trap 'rm -rf "$work"' EXIT
# What a failed tier does: the main stream stops (finish); the slow stream,
# a subshell of its own, ends.
on_tier_failure=finish

wanted() { [[ " $TIERS " == *" $1 "* ]]; }

# top15 KIND TITLE: the 15 longest rows of kind KIND (suite or test) in $times.
top15() {
  echo "==== the 15 slowest $2"
  awk -F'\t' -v kind="$1" '$2 == kind' "$times" | sort -t"$(printf '\t')" -k1,1 -rn | head -15 |
    awk -F'\t' '{printf "  %7.1f s  %-12s %s\n", $1, $3, $4}'
}

slowest() {
  [ -s "$times" ] || return 0
  echo
  top15 suite "suites (wall seconds, set-up included)"
  top15 test tests
}

finish() {
  if [ -n "$slow_pid" ]; then
    echo "==== waiting for the slow tier (it runs beside the others)"
    wait "$slow_pid"
    slow_pid=""
    # The tests that stop the local libvirtd run last and alone: nothing
    # else may be using the daemon then (label `serial`).
    if [ "${1:-0}" = 0 ] && ! grep -qP '\t[1-9][0-9]*\t[0-9]+\t[0-9]+$' "$tiers"; then
      header 6 "serial: ctest -L serial in $BUILD (stops and restarts the local libvirtd; alone)"
      run_ctest serial "$BUILD" -L serial
    fi
  fi
  slowest
  echo
  echo "==== summary"
  awk -F'\t' '{printf "  %-12s %4d passed, %d failed, %d skipped, %4d s\n", $1, $2, $3, $4, $5}' "$tiers"
  [ -f "$work/slow.skipped" ] && echo "  slow         SKIPPED (DORMANT_SKIP_SLOW=1)"
  local p f s
  read -r p f s < <(awk -F'\t' '{p += $2; f += $3; s += $4} END {print p + 0, f + 0, s + 0}' "$tiers")
  echo "$p passed, $f failed, $s skipped"
  [ "$f" -eq 0 ]
  exit $?
}

# tier_end NAME PASSED FAILED START [SKIPPED]
tier_end() {
  local name=$1 p=$2 f=$3 start=$4 s=${5:-0}
  local seconds=$(( $(date +%s) - start ))
  printf '%s\t%d\t%d\t%d\t%d\n' "$name" "$p" "$f" "$s" "$seconds" >>"$tiers"
  [ -n "${DORMANT_PHASES_FILE:-}" ] && printf 'tier %s\t%d\t%d passed, %d failed, %d skipped\n' \
    "$name" "$seconds" "$p" "$f" "$s" >>"$DORMANT_PHASES_FILE"
  printf '<== %-12s %4d passed, %d failed, %d skipped, %4d s\n' "$name" "$p" "$f" "$s" "$seconds"
  if [ "$f" -ne 0 ]; then
    echo "!!! tier $name failed: stopping here (fail fast)"
    $on_tier_failure 1
  fi
}

# run_ctest NAME DIR ctest-args...: runs ctest in DIR, then counts what each
# suite reported (gtest_results.py), not only ctest's verdict.
run_ctest() {
  local name=$1 dir=$2; shift 2
  local start log junit counts
  start=$(date +%s)
  log="$work/$name.log"
  junit="$work/$name.junit.xml"
  if [ ! -f "$dir/CTestTestfile.cmake" ]; then
    echo "!!! $dir is not a configured build directory: run 'make test' (or 'make build-tests' / 'make build-asan')"
    tier_end "$name" 0 1 "$start"
    return
  fi
  mkdir -p "$dir/test-results"
  (cd "$dir" && ctest --output-on-failure -j "$JOBS" --output-junit "$junit" "$@") 2>&1 | tee "$log"
  if grep -q 'No tests were found' "$log" || [ ! -s "$junit" ]; then
    echo "!!! $name: ctest ran no test in $dir ($*): a tier that tests nothing is a failure"
    tier_end "$name" 0 1 "$start"
    return
  fi
  python3 "$root/tests/support/gtest_results.py" "$name" "$junit" "$dir/test-results" \
    "$root/tests/skip-allowlist.txt" "$times" "$start" >"$work/$name.counts" 2>&1
  grep -E '^(FAILED|SKIPPED) ' "$work/$name.counts" | sed 's/^/  /'
  counts=$(tail -1 "$work/$name.counts")
  if ! [[ $counts =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]]; then
    cat "$work/$name.counts"
    echo "!!! $name: could not count the results"
    tier_end "$name" 0 1 "$start"
    return
  fi
  read -r p f s <<<"$counts"
  tier_end "$name" "$p" "$f" "$start" "$s"
}

header() { echo; echo "==> [$1] $2"; }

# ---------------------------------------------------------------- fixtures
if wanted fixtures || wanted integration || wanted release || wanted fuzz || wanted slow; then
  header 0 "fixtures: tests/fixtures/make-images.sh"
  start=$(date +%s)
  p=0 f=0
  if DORMANT_FIXTURES=$("$root/tests/fixtures/make-images.sh" ${DORMANT_FIXTURES:+"$DORMANT_FIXTURES"}); then
    export DORMANT_FIXTURES
    echo "fixtures: $DORMANT_FIXTURES"
    p=$((p + 1))
    # The cache must be reused: a second run is a stamp check, not a rebuild.
    t0=$(date +%s%N)
    "$root/tests/fixtures/make-images.sh" "$DORMANT_FIXTURES" >/dev/null
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    if [ "$ms" -lt 5000 ]; then p=$((p + 1)); echo "fixtures: cache reused in $ms ms"
    else f=$((f + 1)); echo "!!! fixtures: second make-images.sh run took $ms ms: the cache stamp is not reused"; fi
    if python3 -m json.tool "$DORMANT_FIXTURES/manifest.json" >/dev/null; then p=$((p + 1))
    else f=$((f + 1)); echo "!!! fixtures: manifest.json is not valid JSON"; fi
  else
    f=$((f + 1))
    echo "!!! fixtures: make-images.sh failed"
  fi
  tier_end fixtures "$p" "$f" "$start"
fi

# ---------------------------------------------------------------- slow
# The slow tier runs beside the others, from here on: its guests under TCG
# and the libguestfs appliance leave the other tiers' waits for qemu, apt
# and sockets something to fill, and the two streams together take less
# wall time than one after the other. Its lines are prefixed "[slow]".
if wanted slow; then
  if [ "${DORMANT_SKIP_SLOW:-0}" = 1 ]; then
    echo
    echo "###################################################################"
    echo "### SLOW TIER SKIPPED (DORMANT_SKIP_SLOW=1): libguestfs / libvirt ###"
    echo "### end-to-end tests did NOT run.                                 ###"
    echo "###################################################################"
    touch "$work/slow.skipped"
  else
    header 5 "slow: ctest -L slow in $BUILD (libvirt guests, libguestfs appliance, load, browser; beside the other tiers)"
    (
      on_tier_failure="exit"
      run_ctest slow "$BUILD" -L slow -LE serial
    ) > >(sed -u 's/^/[slow] /') 2>&1 &
    slow_pid=$!
  fi
fi

# ---------------------------------------------------------------- unit
if wanted unit; then
  header 1 "unit: ctest -L unit in $ASAN_BUILD (ASan+UBSan)"
  run_ctest unit "$ASAN_BUILD" -L unit
fi

# ---------------------------------------------------------------- integration
if wanted integration; then
  header 2 "integration: ctest -L integration -LE release in $ASAN_BUILD (ASan+UBSan; DORMANT_FIXTURES=$DORMANT_FIXTURES)"
  run_ctest integration "$ASAN_BUILD" -L integration -LE release
fi

# ---------------------------------------------------------------- release
if wanted release; then
  header 3 "release: ctest -L release -LE slow in $BUILD (what ASan cannot run: tests/README.md)"
  run_ctest release "$BUILD" -L release -LE slow
fi

# ---------------------------------------------------------------- fuzz
# Seeds come from the fixtures at run time (real guest files and real disk
# heads), plus any text seeds committed under tests/fuzz/corpus/<name>/.
# Every seed step must work: a fuzzer started on an empty or partial corpus
# would pass while testing less, so a failed copy or dd fails the fuzzer.
seed_corpus() {
  local name=$1 dir=$2 fx=$DORMANT_FIXTURES
  mkdir -p "$dir" || return 1
  if [ -d "$root/tests/fuzz/corpus/$name" ]; then cp -r "$root/tests/fuzz/corpus/$name/." "$dir/" || return 1; fi
  case $name in
    *dpkg*)
      cp "$fx/trees/slim/var/lib/dpkg/status" "$dir/slim-status" &&
      cp "$fx/trees/multifs/var/lib/dpkg/status" "$dir/multifs-status" &&
      head -c 20000 "$fx/trees/slim/var/lib/dpkg/status" > "$dir/status-head" || return 1 ;;
    *os_release*)
      cp "$fx/trees/slim/usr/lib/os-release" "$dir/os-release" &&
      cp "$fx/trees/os-release-escape/usr/lib/os-release" "$dir/os-release-marker" || return 1 ;;
    *fstab*)
      cp "$fx/trees/multifs/etc/fstab" "$dir/multifs-fstab" &&
      cp "$fx/trees/slim/etc/fstab" "$dir/debootstrap-fstab" || return 1 ;;
    *partition*)
      # The first 64 KiB of each disk layout, as raw bytes (primary tables).
      local img base format
      for img in mbr-ext4.qcow2 mbr-logical-ext4.vmdk gpt-vfat-ext4.vhdx gpt4k-ext4.vpc gpt-multifs.qcow2 \
                 mbr-ext3.raw hostile/gpt-bad-crc.raw hostile/no-linux-root.qcow2; do
        base=$(basename "$img")
        format=$(python3 -c 'import json,sys; print(next(e["format"] for e in json.load(open(sys.argv[1]))["images"] if e["file"]==sys.argv[2]))' "$fx/manifest.json" "$img") || return 1
        qemu-img dd -f "$format" -O raw bs=65536 count=1 if="$fx/$img" of="$dir/$base.head" || return 1
        [ -s "$dir/$base.head" ] || { echo "seed: $dir/$base.head is empty" >&2; return 1; }
      done ;;
    *version*)
      # Pairs of real versions ("a|b") from the fixture's dpkg status,
      # neighbours in its order: epochs, revisions, tildes as Debian has them.
      awk '/^Version: / {print $2}' "$fx/trees/slim/var/lib/dpkg/status" | head -40 |
        awk -v dir="$dir" 'NR > 1 {printf "%s|%s", prev, $0 > (dir "/pair-" NR)} {prev = $0}' || return 1 ;;
    *format*)
      local img
      for img in "$fx"/*.* "$fx"/hostile/*.*; do
        if [ -f "$img" ]; then head -c 4096 "$img" > "$dir/$(basename "$img").head" || return 1; fi
      done ;;
  esac
  [ -n "$(ls -A "$dir")" ] || { echo "seed: no seed for $name" >&2; return 1; }
}

# fuzz_one BIN: seeds and runs one fuzzer; its verdict is the exit status,
# its report $work/NAME.log.
fuzz_one() {
  local bin=$1 name corpus
  name=$(basename "$bin")
  corpus="$work/corpus/$name"
  if ! seed_corpus "$name" "$corpus" >"$work/$name.log" 2>&1; then
    echo "!!! $name: seeding its corpus failed" >>"$work/$name.log"
    return 1
  fi
  echo "--- $name ($(ls "$corpus" | wc -l) seeds)" >>"$work/$name.log"
  "$bin" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/$name-" "$corpus" >>"$work/$name.log" 2>&1
}

if wanted fuzz; then
  header 4 "fuzz: $FUZZ_BUILD/tests/*_fuzz, $FUZZ_SECONDS s each, $JOBS at a time"
  start=$(date +%s)
  p=0 f=0
  shopt -s nullglob
  fuzzers=("$FUZZ_BUILD"/tests/*_fuzz)
  shopt -u nullglob
  if [ ${#fuzzers[@]} -eq 0 ]; then
    echo "!!! fuzz: no fuzz binaries in $FUZZ_BUILD/tests: run 'make build-fuzz'"
    f=1
  fi
  mkdir -p "$work/artifacts"
  declare -A fuzz_pid=()
  for ((i = 0; i < ${#fuzzers[@]}; i += JOBS)); do
    for bin in "${fuzzers[@]:i:JOBS}"; do
      fuzz_one "$bin" &
      fuzz_pid[$bin]=$!
    done
    for bin in "${fuzzers[@]:i:JOBS}"; do
      name=$(basename "$bin")
      if wait "${fuzz_pid[$bin]}"; then
        p=$((p + 1))
        grep -E '^--- ' "$work/$name.log"
        grep -E 'stat::number_of_executed_units|Done [0-9]+ runs' "$work/$name.log" | tail -2 | sed 's/^/    /'
      else
        f=$((f + 1))
        tail -40 "$work/$name.log"
        mkdir -p "$root/build-fuzz-artifacts"
        cp "$work/artifacts/$name-"* "$root/build-fuzz-artifacts/" 2>/dev/null || true
        echo "!!! $name failed; reproducer(s), if any, kept in $root/build-fuzz-artifacts/"
      fi
    done
  done
  tier_end fuzz "$p" "$f" "$start"
fi

finish 0
