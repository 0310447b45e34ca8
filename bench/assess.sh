#!/usr/bin/env bash
# Assessment benchmark against the real bookworm + bookworm-security (main,
# amd64), each figure next to `apt-get -s dist-upgrade` measured in the same
# run on the same indexes, so the figures are ratios on this machine:
#
#   bench/assess.sh [--library-size N]        (BUILD=build dir, default build/)
#
# 1. fetch: dormant itself fetches and verifies both sources (a bench catalog
#    and one `dormant assess`), into $DORMANT_FIXTURE_CACHE/bench-apt; later
#    runs only revalidate (conditional GET).
# 2. in process (dormant_assess_bench): index load, 200 distinct status
#    variants of the fixture rootfs on the pruned path, 20 of them on the full
#    universe and with apt-get, and dormant's answer checked against apt-get's.
# 3. end to end: `dormant assess --all --offline` on a library of N images.
#
# No Debian mirror reachable: prints "SKIPPED: ..." and exits 0 (the rest of
# bench/run.sh stays valid). Output: bench/out/assess.json, merged into
# bench/out/results.json under "assess" when that file exists.
set -euo pipefail
export LC_ALL=C
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
dormant="$build/src/cli/dormant"
bench_exe="$build/bench/dormant_assess_bench"
out="$top/bench/out"
cache=${DORMANT_FIXTURE_CACHE:-/var/cache/dormant-fixtures}
library_size=200
while [ $# -gt 0 ]; do
  case "$1" in
    --library-size) library_size=$2; shift ;;
    *) echo "bench/assess.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# apt's methods drop to _apt when run as root: every directory on the way to
# the lists must be world-readable (0755), whatever the caller's umask.
umask 022
apt_cache="$cache/bench-apt"
mkdir -p "$out" "$apt_cache"
chmod 0755 "$apt_cache"

merge_results() {
  python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
assess = json.load(open(f"{out}/assess.json"))
path = f"{out}/results.json"
results = json.load(open(path)) if os.path.exists(path) else {}
results["assess"] = assess
json.dump(results, open(path, "w"), indent=2)
PY
}

skip() {
  echo "SKIPPED: assess benchmark: $*"
  python3 -c 'import json,sys; json.dump({"skipped": sys.argv[2]}, open(sys.argv[1], "w"))' \
    "$out/assess.json" "$*"
  merge_results
  exit 0
}

# Mirror URIs come from this machine's apt configuration: never a host name here.
main_uri=$("$top/tests/fixtures/debian-mirror.sh") || skip "no Debian mirror in this machine's apt sources"
security_uri=$("$top/tests/fixtures/debian-mirror.sh" --security) ||
  skip "no Debian security mirror in this machine's apt sources"
for probe in "${main_uri%/}/dists/bookworm/InRelease" "${security_uri%/}/dists/bookworm-security/InRelease"; do
  curl -fsS --max-time 30 -o /dev/null "$probe" 2>/dev/null || skip "Debian mirror unreachable ($probe)"
done
[ -r "$keyring" ] || skip "no $keyring"

echo "== assess: fetch bookworm + bookworm-security (main, amd64) with dormant"
catalog="$out/assess-catalog.db"
rm -f "$catalog" "$catalog"-*
dc() { "$dormant" --catalog "$catalog" "$@"; }
dc source add bookworm "$main_uri" --suite bookworm --component main --keyring "$keyring" >/dev/null
dc source add bookworm-security "$security_uri" --suite bookworm-security --component main \
  --keyring "$keyring" --security >/dev/null
lib=$(bash "$top/tests/fixtures/make-library.sh" "$library_size" "$cache/bench-library-$library_size")
dc library add "$lib" --name bench >/dev/null
/usr/bin/time -f '%e %M' -o "$out/assess-identify.time" "$dormant" --catalog "$catalog" identify --json \
  > /dev/null
read -r identify_s _ < "$out/assess-identify.time"
# The first assess fetches (or, on later runs, revalidates) the indexes; it
# also resolves the library once, which warms the page cache for what follows.
start=$(date +%s.%N)
if ! "$dormant" --catalog "$catalog" assess --all --json --no-identify --cache-dir "$apt_cache/cache" \
     > "$out/assess-fetch.json" 2> "$out/assess-fetch.err"; then
  cat "$out/assess-fetch.err" >&2
  if grep -qiE 'unreachable|could not resolve|connection|timed out|failed to fetch' "$out/assess-fetch.err"; then
    skip "fetch failed: $(head -n 1 "$out/assess-fetch.err")"
  fi
  echo "bench/assess.sh: dormant assess failed" >&2; exit 1
fi
fetch_s=$(python3 -c "import time; print(round(time.time() - $start, 2))")
python3 - "$out/assess-fetch.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
bad = [s for s in r["sources"] if not s["ok"]]
if bad:
    sys.exit("bench/assess.sh: sources not usable: " + "; ".join(f'{s["name"]}: {s["error"]}' for s in bad))
for s in r["sources"]:
    print(f'source {s["name"]}: {s["files_fetched"]} files fetched, {s["files_unchanged"]} unchanged')
PY
echo "fetch + first assess: ${fetch_s} s"

echo "== assess: in-process resolver vs apt-get -s dist-upgrade (same lists, same run)"
rootfs=$("$top/tests/fixtures/make-rootfs.sh")
set +e
"$bench_exe" --cache-dir "$apt_cache/cache" --main-uri "$main_uri" --security-uri "$security_uri" \
  --keyring "$keyring" --status "$rootfs/var/lib/dpkg/status" --work-dir "$apt_cache/work" \
  --images 200 --full 20 --apt 20 > "$out/assess-inprocess.json"
bench_rc=$?
set -e
# 3: dormant and apt-get disagreed on some variant (printed above as MISMATCH);
# the figures are still written, the run fails at the end.
[ "$bench_rc" = 0 ] || [ "$bench_rc" = 3 ] || { echo "dormant_assess_bench failed ($bench_rc)" >&2; exit 1; }

echo "== assess: end to end, a library of $library_size images (dormant assess --all --offline)"
/usr/bin/time -f '%e %M' -o "$out/assess-e2e.time" "$dormant" --catalog "$catalog" assess --all --json \
  --offline --no-identify --cache-dir "$apt_cache/cache" > "$out/assess-e2e.json"
read -r e2e_s e2e_rss_kb < "$out/assess-e2e.time"

python3 - "$out" "$library_size" "$identify_s" "$fetch_s" "$e2e_s" "$e2e_rss_kb" "$bench_rc" <<'PY'
import json, sys
out, n, identify_s, fetch_s, e2e_s, rss_kb, rc = sys.argv[1:]
b = json.load(open(f"{out}/assess-inprocess.json"))
e = json.load(open(f"{out}/assess-e2e.json"))["summary"]
res = {
  "index_load_s": b["index_load_s"],
  "per_image_pruned": b["pruned"], "per_image_full": b["full"], "apt_get": b["apt_get"],
  "full_universe_load_s": b["full_universe_load_s"],
  "ratio": b["ratio"], "ratio_cpu": b["ratio_cpu"], "agreement": b["agreement"], "targets": b["targets"],
  "load_average": b["load_average"],
  "end_to_end": {"images": int(n), "wall_s": float(e2e_s), "peak_rss_mib": int(rss_kb) // 1024,
                 "package_sets_resolved": e["package_sets_resolved"], "summary": e,
                 "identify_s": float(identify_s), "fetch_and_first_assess_s": float(fetch_s)},
}
json.dump(res, open(f"{out}/assess.json", "w"), indent=2)
p, f, a = b["pruned"], b["full"], b["apt_get"]
print(f'index load: {b["index_load_s"]} s (target < 2 s); full-universe cache build: {b["full_universe_load_s"]} s')
print(f'per distinct image, pruned: median {p["median_ms"]} ms, p90 {p["p90_ms"]}, max {p["max_ms"]} '
      f'(n={p["n"]}, target < 20 ms); full universe: median {f["median_ms"]} ms (n={f["n"]})')
print(f'apt-get -s dist-upgrade: median {a["median_ms"]} ms per image (n={a["n"]}; first run {a["first_run_ms"]} ms)')
r, rc = b["ratio"], b["ratio_cpu"]
print(f'ratio apt-get : full : pruned = {r["apt_get_to_pruned"]} : {r["full_to_pruned"]} : 1 (wall), '
      f'{rc["apt_get_to_pruned"]} : {rc["full_to_pruned"]} : 1 (CPU: pruned {p["cpu_median_ms"]} ms, '
      f'full {f["cpu_median_ms"]} ms, apt-get {a["cpu_median_ms"]} ms)')
la = b["load_average"]
print(f'load average during the run: {la["start"]} -> {la["end"]} (2 cores: wall times include the neighbours)')
ag = b["agreement"]
print(f'dormant == apt-get (Inst/Remv/kept back/refusal): {ag["agree"]}/{ag["checked"]}')
sets = e["package_sets_resolved"]
clones = " (the library's images are copies of one tree: one package set)" if sets == 1 else ""
print(f'end to end: {n} images in {e2e_s} s, peak RSS {int(rss_kb) // 1024} MiB, '
      f'package_sets_resolved {sets}{clones}')
PY
merge_results
echo "results: $out/assess.json (and results.json under \"assess\")"
if [ "$bench_rc" = 3 ]; then
  echo "bench/assess.sh: dormant and apt-get disagreed (see MISMATCH lines)" >&2
  exit 1
fi
