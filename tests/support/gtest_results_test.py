#!/usr/bin/env python3
"""Tests of gtest_results.py, the counter of every tier's results: a failed
suite set-up, an unlisted skip and a suite process that failed after passing
tests must each count as failures. The XML is what GoogleTest 1.12 (Debian
12) writes for these cases and what ctest 3.25 writes for --output-junit."""
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
COUNTER = HERE / "gtest_results.py"
ALLOWLIST = HERE.parent / "skip-allowlist.txt"

# gtest 1.12 when SetUpTestSuite fails: the tests are marked skipped with no
# message but their location, and nothing else in the XML says why.
SETUP_FAILED = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="2" failures="0" disabled="0" errors="0" time="0" name="AllTests">
  <testsuite name="S" tests="2" failures="0" disabled="0" skipped="2" errors="0" time="0">
    <testcase name="A" file="t.cpp" line="4" status="run" result="skipped" time="0" classname="S">
      <skipped message="t.cpp:4&#x0A;"><![CDATA[t.cpp:4
]]></skipped>
    </testcase>
    <testcase name="B" file="t.cpp" line="5" status="run" result="skipped" time="0" classname="S">
      <skipped message="t.cpp:5&#x0A;"><![CDATA[t.cpp:5
]]></skipped>
    </testcase>
  </testsuite>
</testsuites>"""

MIXED = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" failures="1" disabled="0" errors="0" time="1" name="AllTests">
  <testsuite name="U" tests="4" failures="1" disabled="0" skipped="2" errors="0" time="1">
    <testcase name="Ok" status="run" result="completed" time="0.5" classname="U" />
    <testcase name="Bad" status="run" result="completed" time="0.2" classname="U">
      <failure message="t.cpp:9&#x0A;Expected equality" type=""><![CDATA[t.cpp:9
Expected equality]]></failure>
    </testcase>
    <testcase name="Tmpfs" status="run" result="skipped" time="0" classname="U">
      <skipped message="t.cpp:8&#x0A;cannot mount a tmpfs here (needs root): EPERM"><![CDATA[x]]></skipped>
    </testcase>
    <testcase name="NoRootfs" status="run" result="skipped" time="0" classname="U">
      <skipped message="t.cpp:7&#x0A;no fixture rootfs at /var/cache"><![CDATA[x]]></skipped>
    </testcase>
  </testsuite>
</testsuites>"""

PASSED = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="1" failures="0" name="AllTests">
  <testsuite name="P" tests="1" failures="0" skipped="0">
    <testcase name="Ok" status="run" result="completed" time="2.5" classname="P" />
  </testsuite>
</testsuites>"""


def junit(entries):
    cases = "".join(
        f'<testcase name="{name}" classname="{name}" time="3" status="{status}">'
        + ('<failure message=""/>' if status == "fail" else "")
        + "</testcase>"
        for name, status in entries)
    return f'<?xml version="1.0" encoding="UTF-8"?><testsuite name="(empty)" tests="{len(entries)}">{cases}</testsuite>'


class Counting(unittest.TestCase):
    def count(self, entries, results):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "results").mkdir()
            for name, text in results.items():
                (tmp / "results" / (name.replace("/", "_") + ".xml")).write_text(text)
            (tmp / "junit.xml").write_text(junit(entries))
            out = subprocess.run([sys.executable, str(COUNTER), "tier", str(tmp / "junit.xml"), str(tmp / "results"),
                                  str(ALLOWLIST), str(tmp / "times.tsv")], capture_output=True, text=True, check=True)
            times = (tmp / "times.tsv").read_text()
        passed, failed, skipped = map(int, out.stdout.splitlines()[-1].split())
        return passed, failed, skipped, out.stdout, times

    def test_a_failed_suite_setup_is_a_failure_of_each_test_not_a_skip(self):
        passed, failed, skipped, text, _ = self.count([("unit.S", "fail")], {"unit.S": SETUP_FAILED})
        self.assertEqual((passed, failed, skipped), (0, 2, 0))
        self.assertIn("set-up failed", text)

    def test_only_allow_listed_skips_count_as_skipped(self):
        passed, failed, skipped, text, _ = self.count([("integration.U", "fail")], {"integration.U": MIXED})
        self.assertEqual((passed, failed, skipped), (1, 2, 1))
        self.assertIn("FAILED  U.Bad", text)
        self.assertIn("FAILED  U.NoRootfs: skipped for a reason not on tests/skip-allowlist.txt", text)
        self.assertIn("SKIPPED U.Tmpfs", text)

    def test_a_suite_process_that_failed_after_passing_tests_is_one_failure(self):
        # A leak report at exit: every test passed, the process exited 1.
        passed, failed, skipped, text, _ = self.count([("unit.P", "fail")], {"unit.P": PASSED})
        self.assertEqual((passed, failed, skipped), (1, 1, 0))
        self.assertIn("the suite's process failed", text)

    def test_a_suite_that_left_no_results_is_a_failure(self):
        passed, failed, _, text, _ = self.count([("unit.Crashed", "fail")], {})
        self.assertEqual((passed, failed), (0, 1))
        self.assertIn("left no readable results", text)

    def test_script_tests_count_by_ctest_status_and_times_are_recorded(self):
        passed, failed, _, _, times = self.count([("browser.console", "run"), ("unit.P", "run")], {"unit.P": PASSED})
        self.assertEqual((passed, failed), (2, 0))
        self.assertIn("3.0\tsuite\ttier\tbrowser.console", times)
        self.assertIn("2.5\ttest\ttier\tP.Ok", times)

    def test_a_previous_runs_results_do_not_count(self):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "results").mkdir()
            (tmp / "results" / "unit.P.xml").write_text(PASSED)
            (tmp / "junit.xml").write_text(junit([("unit.P", "fail")]))
            out = subprocess.run([sys.executable, str(COUNTER), "tier", str(tmp / "junit.xml"), str(tmp / "results"),
                                  str(ALLOWLIST), str(tmp / "times.tsv"), str(time.time() + 60)],
                                 capture_output=True, text=True, check=True)
        self.assertEqual(out.stdout.splitlines()[-1], "0 1 0")
        self.assertIn("a previous run's", out.stdout)

    def test_a_tier_without_tests_is_a_failure(self):
        passed, failed, _, _, _ = self.count([], {})
        self.assertEqual((passed, failed), (0, 1))


if __name__ == "__main__":
    unittest.main()
