#!/usr/bin/env python3
"""Counts one tier's results from what the tests wrote, not from ctest's
verdict alone (tests/run-tests.sh calls this after each ctest tier).

    gtest_results.py TIER CTEST_JUNIT RESULTS_DIR ALLOWLIST TIMES_TSV [START]

CTEST_JUNIT is ctest's --output-junit file: one entry per ctest test, which is
one GoogleTest suite (cmake/gtest_suites.cmake) or one script test. For a
suite, RESULTS_DIR/<name>.xml is the suite's own --gtest_output file, and
every test case in it counts:

- a failure is a failure, and so is a failure of the suite itself (an
  exception or an ASSERT in SetUpTestSuite), which gtest reports beside the
  tests it then skips;
- a skip counts as skipped only when its message matches a pattern of
  ALLOWLIST (tests/skip-allowlist.txt: a documented reason such as "no tmpfs
  mount possible here"); any other skip is a failure, so a broken set-up can
  never read as skipped;
- a suite whose process failed (a sanitizer report at exit, a crash, a
  time-out) while its XML shows no failure, or that left no XML (or only one
  older than START, the tier's start in seconds since the epoch: a previous
  run's), counts one failure more.

Prints "PASSED FAILED SKIPPED" on the last line of stdout, the reasons for
every failure and skip above it, and appends "seconds<TAB>kind<TAB>name" rows
(kind: suite or test) to TIMES_TSV for the slowest-tests table.
"""
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def load_allowlist(path):
    patterns = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        pattern, _, reason = line.partition("\t")
        if not reason.strip():
            sys.exit(f"{path}:{number}: a pattern needs a reason after a tab")
        patterns.append(re.compile(pattern))
    return patterns


def ctest_entries(junit):
    for case in ET.parse(junit).getroot().iter("testcase"):
        status = case.get("status", "")
        failed = status == "fail" or case.find("failure") is not None
        yield case.get("name"), failed, status, float(case.get("time") or 0)


def skip_message(case):
    skipped = case.find("skipped")
    if skipped is None:
        return ""
    return skipped.get("message") or skipped.text or ""


def failure_text(case):
    return "\n".join((f.get("message") or "").strip() for f in case.findall("failure"))[:2000]


class Tally:
    def __init__(self, allowlist):
        self.allowlist = allowlist
        self.passed = self.failed = self.skipped = 0

    def fail(self, name, why):
        self.failed += 1
        print(f"FAILED  {name}: {why}")

    def count_case(self, suite, case):
        name = f"{suite}.{case.get('name')}"
        if case.find("failure") is not None:
            self.fail(name, failure_text(case))
            return
        if case.get("result") == "skipped" or case.find("skipped") is not None:
            message = skip_message(case).strip()
            if any(p.search(message) for p in self.allowlist):
                self.skipped += 1
                print(f"SKIPPED {name}: {message.splitlines()[-1] if message else ''}")
            elif len(message.splitlines()) <= 1:
                self.fail(name, f"skipped with no reason ({message}): its suite's set-up failed (see the log)")
            else:
                self.fail(name, f"skipped for a reason not on tests/skip-allowlist.txt: {message!r}")
            return
        if case.get("status") == "notrun":
            return  # DISABLED_ tests: gtest lists them, nobody runs them
        self.passed += 1

    def count_suite(self, name, process_failed, status, xml_path, times, start):
        before = self.failed
        try:
            if xml_path.stat().st_mtime < start:
                raise OSError(f"{xml_path} is older than this tier: a previous run's")
            root = ET.parse(xml_path).getroot()
        except (OSError, ET.ParseError) as error:
            self.fail(name, f"left no readable results ({error}); ctest status {status!r}")
            return
        for suite in root.iter("testsuite"):
            for case in suite.iter("testcase"):
                if not case.get("name"):
                    # gtest's record of a failure outside any test (the
                    # suite's set-up or tear-down).
                    self.fail(f"{suite.get('name')} (suite set-up/tear-down)", failure_text(case))
                    continue
                self.count_case(suite.get("name"), case)
                times.append((float(case.get("time") or 0), "test", f"{suite.get('name')}.{case.get('name')}"))
            if int(suite.get("failures") or 0) > 0 and self.failed == before:
                self.fail(f"{suite.get('name')}", "gtest counts a failure that no test case carries")
        if process_failed and self.failed == before:
            self.fail(name, f"the suite's process failed (ctest status {status!r}) after reporting no failure: "
                            "a sanitizer report at exit, a crash or a time-out (see the log above)")


def main():
    tier, junit, results, allowlist, times_tsv = sys.argv[1:6]
    start = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    tally = Tally(load_allowlist(allowlist))
    times = []
    entries = list(ctest_entries(junit))
    if not entries:
        tally.fail(tier, "ctest ran no test")
    for name, failed, status, seconds in entries:
        times.append((seconds, "suite", name))
        xml_path = Path(results) / (name.replace("/", "_") + ".xml")
        if xml_path.exists() or name.split(".")[0] in ("unit", "integration", "slow", "load"):
            tally.count_suite(name, failed, status, xml_path, times, start)
        elif failed:
            tally.fail(name, f"ctest status {status!r}")
        else:
            tally.passed += 1
    with open(times_tsv, "a") as out:
        for seconds, kind, name in times:
            out.write(f"{seconds:.1f}\t{kind}\t{tier}\t{name}\n")
    print(tally.passed, tally.failed, tally.skipped)


if __name__ == "__main__":
    main()
