#!/usr/bin/env bash
# Job benchmark: what the job machinery costs and what concurrency buys, on
# N small real guests (tests/fixtures/make-patch-guest.sh) and the signed
# update repository (tests/fixtures/make-update-repo.sh) on 127.0.0.1,
# measured in the same run:
#
#   reference  one `dormant patch --all --mode offline` (the images one after
#              another, in one process)
#   job c=K    `dormant job run` with --max-concurrent K (K = 1, 2, 4): one
#              `dormant patch` process per image, every claim and end
#              recorded, the indexes fetched once
#
#   bench/jobs.sh [N]      (N images, default 8; BUILD=build dir, default build/)
#
# Each run works on a fresh copy of the library. Output: a summary on stdout
# and bench/out/jobs.json (wall times, ratios to the reference, and the most
# items running at once as replayed from job_events).
set -euo pipefail
export LC_ALL=C
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
dormant="$build/src/cli/dormant"
out="$top/bench/out"
n=${1:-8}
umask 022
mkdir -p "$out"
work=$(mktemp -d /var/tmp/dormant-bench-jobs.XXXXXX)
chmod 755 "$work"
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

rootfs=$("$top/tests/fixtures/make-rootfs.sh")
repo="$work/repo"
"$top/tests/fixtures/make-update-repo.sh" "$rootfs" "$repo" >/dev/null
mkdir -p "$work/pristine"
for i in $(seq "$n"); do
  if [ "$i" = 1 ]; then
    "$top/tests/fixtures/make-patch-guest.sh" "$rootfs" "$work/pristine/guest-1.raw" >/dev/null
  else
    cp --sparse=always "$work/pristine/guest-1.raw" "$work/pristine/guest-$i.raw"
  fi
done
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$1" "$2"; }

python3 "$top/tests/support/http_server.py" "$repo" > "$work/port" 2>/dev/null < <(sleep infinity) &
server_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(head -1 "$work/port")"

setup() {  # setup NAME: a fresh library (copies of the pristine guests) + catalog
  local lib="$work/$1/lib" catalog="$work/$1/catalog.db"
  mkdir -p "$lib"
  cp --sparse=always "$work/pristine/"*.raw "$lib/"
  "$dormant" --catalog "$catalog" library add "$lib" --name lib >/dev/null
  "$dormant" --catalog "$catalog" source add debian "$url" --suite bookworm --keyring "$repo/keyring.gpg" >/dev/null
  "$dormant" --catalog "$catalog" source add debian-security "$url" --suite bookworm-security --security \
    --keyring "$repo/keyring.gpg" >/dev/null
  "$dormant" --catalog "$catalog" identify >/dev/null
}

echo "bench/jobs: reference: dormant patch --all ($n images, one after another)"
setup reference
t0=$(now)
"$dormant" --catalog "$work/reference/catalog.db" patch --all --mode offline --json --no-identify \
  --cache-dir "$work/reference/cache" > "$work/reference.json"
t1=$(now)
reference=$(elapsed "$t0" "$t1")

results=()
for c in 1 2 4; do
  echo "bench/jobs: dormant job run --max-concurrent $c"
  setup "c$c"
  "$dormant" --catalog "$work/c$c/catalog.db" job create bench --all --max-concurrent "$c" >/dev/null
  t0=$(now)
  "$dormant" --catalog "$work/c$c/catalog.db" job run bench --json --cache-dir "$work/c$c/cache" \
    > "$work/c$c.json" 2> "$work/c$c.log"
  t1=$(now)
  results+=("$c" "$(elapsed "$t0" "$t1")" "$work/c$c/catalog.db")
done

python3 - "$work/reference.json" "$reference" "$out/jobs.json" "$n" "$work" "${results[@]}" <<'EOF'
import json, sqlite3, sys
ref = json.load(open(sys.argv[1]))
assert ref["summary"]["committed"] == int(sys.argv[4]), ref["summary"]
reference = float(sys.argv[2])
work = sys.argv[5]
rest = sys.argv[6:]
result = {"images": int(sys.argv[4]), "reference_patch_all_s": reference, "jobs": {}}
for i in range(0, len(rest), 3):
    c, seconds, catalog = int(rest[i]), float(rest[i + 1]), rest[i + 2]
    run = json.load(open(f"{work}/c{c}.json"))
    assert run["state"] == "done" and all(x["result"] == "committed" for x in run["items"]), run
    db = sqlite3.connect(catalog)
    running = peak = 0
    for (kind,) in db.execute("SELECT kind FROM job_events ORDER BY seq"):
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    result["jobs"][f"c{c}"] = {"total_s": seconds, "ratio_to_reference": round(seconds / reference, 3),
                               "most_running_at_once": peak}
json.dump(result, open(sys.argv[3], "w"), indent=2)
print(json.dumps(result, indent=2))
EOF
