#!/usr/bin/python3
"""Browser test of the web console (web/, served by `dormant serve`).

Everything is real: two small patchable guests (tests/fixtures/make-patch-guest.sh
from the cached debootstrap rootfs), a signed apt repository that updates them
(tests/fixtures/make-apt-repo.sh, the same spec as tests/integration/
update_repos.cpp) served on 127.0.0.1 by tests/support/http_server.py, a
catalog made with the CLI, `dormant serve` on 127.0.0.1, and Debian's headless
Chromium driven by chromedriver (python3-selenium). Chromium talks to
127.0.0.1 only.

The flow, each step checked in the DOM: a wrong token is refused ("invalid
token"), the right one shows the library; sorting and filtering the table;
assessing both images (non-compliant, updates > 0); creating an offline job
over both (max concurrent 2) in the form; Run now, watching the run view until
every item and the run are done, and checking with `dormant job show --json`
that the catalog agrees; the report summary. A screenshot of each step goes to
$DORMANT_TEST_ARTIFACTS, and the browser's console must have no SEVERE error.

Environment: DORMANT_CLI (the dormant binary), DORMANT_FIXTURES (the fixture
image directory; the rootfs is read from $DORMANT_FIXTURE_CACHE or beside it),
DORMANT_TEST_ARTIFACTS (screenshots, server and browser logs). Run with
/usr/bin/python3 (Debian's, which has selenium).
"""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WRONG_TOKEN = "0" * 64
JOB = "console-job"
IMAGES = ("alpha-web.raw", "beta-db.raw")  # sorted by name: alpha first

try:
    from selenium import webdriver
    from selenium.common.exceptions import (NoSuchElementException, StaleElementReferenceException,
                                            WebDriverException)
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
except ImportError as e:  # reported by the test, with the fix
    webdriver = None
    SELENIUM_ERROR = str(e)


def env_path(name, required=True):
    value = os.environ.get(name, "")
    if not value and required:
        raise AssertionError(f"{name} is not set: run through ctest (tests/run-tests.sh sets it), e.g. "
                             f"{name}=... /usr/bin/python3 {__file__}")
    return Path(value) if value else None


def run(argv, timeout=120, check=True, **kwargs):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def installed_version(rootfs, package):
    r = run(["dpkg-query", f"--admindir={rootfs}/var/lib/dpkg", "-W", "-f", "${Version}", package])
    if not r.stdout.strip():
        raise AssertionError(f"{package} is not installed in {rootfs}")
    return r.stdout.strip()


def updating_spec(rootfs):
    """base-files +dormant1 in bookworm; tzdata +dormant1 in bookworm-security,
    depending on the new dormtest-tz-helper (tests/integration/update_repos.cpp)."""
    base_files = installed_version(rootfs, "base-files") + "+dormant1"
    tzdata = installed_version(rootfs, "tzdata") + "+dormant1"
    return ("Release-Suite: bookworm\nOrigin: Debian\nLabel: Debian\nCodename: bookworm\n\n"
            "Release-Suite: bookworm-security\nOrigin: Debian\nLabel: Debian-Security\n"
            "Codename: bookworm-security\n\n"
            f"Package: base-files\nVersion: {base_files}\nArchitecture: amd64\n\n"
            "Package: dormtest-tz-helper\nVersion: 1.0-1\nArchitecture: all\n\n"
            f"Package: tzdata\nVersion: {tzdata}\nArchitecture: all\nDepends: dormtest-tz-helper\n"
            "Suite: bookworm-security\n")


class Proc:
    """A child process in its own session (so its children go with it), its
    stderr collected by a thread. Stopped by its own pid / process group."""

    def __init__(self, argv, log_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=None):
        self.log_path = log_path
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen([str(a) for a in argv], stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True, env=env)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        with open(self.log_path, "w") as log:
            for line in self.proc.stderr:
                log.write(line)
                log.flush()
                with self.cond:
                    self.lines.append(line.rstrip("\n"))
                    self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                if self.proc.poll() is not None and not self.thread.is_alive():
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.2))

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self.thread.join(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe:
                try:
                    pipe.close()
                except OSError:
                    pass


class ConsoleTest(unittest.TestCase):
    """One flow, in order; a failed step skips the rest."""

    failed = False
    browser_log = []

    # ------------------------------------------------------------ set-up

    @classmethod
    def setUpClass(cls):
        cls.tmp = None
        cls.repo_server = cls.server = cls.driver = None
        try:
            cls._set_up()
        except BaseException:
            cls._tear_down()
            raise

    @classmethod
    def _set_up(cls):
        if webdriver is None:
            raise AssertionError(f"python3-selenium is missing ({SELENIUM_ERROR}): apt-get install python3-selenium "
                                 "(run this test with /usr/bin/python3)")
        for tool in (CHROMIUM, CHROMEDRIVER):
            if not os.access(tool, os.X_OK):
                raise AssertionError(f"{tool} is missing: apt-get install chromium chromium-driver")
        cls.cli_path = env_path("DORMANT_CLI")
        if not cls.cli_path.is_file():
            raise AssertionError(f"DORMANT_CLI={cls.cli_path}: no such file (build the dormant target first)")
        fixtures = env_path("DORMANT_FIXTURES")
        if not (fixtures / "manifest.json").is_file():
            raise AssertionError(f"DORMANT_FIXTURES={fixtures}: no manifest.json; make the fixtures with "
                                 "tests/fixtures/make-images.sh (tests/run-tests.sh does)")
        cache = os.environ.get("DORMANT_FIXTURE_CACHE") or str(fixtures.parent)
        cls.rootfs = Path(cache) / "bookworm-rootfs"
        if not (cls.rootfs / "var/lib/dpkg/status").is_file():
            cls.rootfs = Path("/var/cache/dormant-fixtures/bookworm-rootfs")
        if not (cls.rootfs / "var/lib/dpkg/status").is_file():
            raise AssertionError(f"no debootstrap rootfs beside {fixtures} (tests/fixtures/make-rootfs.sh makes it)")
        cls.artifacts = Path(os.environ.get("DORMANT_TEST_ARTIFACTS") or SOURCE_DIR / "build/test-artifacts/browser")
        cls.artifacts.mkdir(parents=True, exist_ok=True)
        for old in cls.artifacts.glob("*.png"):
            old.unlink()

        # The temp tree must be readable by apt's _apt user (as root).
        cls.tmp = Path(tempfile.mkdtemp(prefix="dormant-browser-"))
        os.chmod(cls.tmp, 0o755)
        cls.library = cls.tmp / "library"
        cls.library.mkdir(mode=0o755)
        cls.catalog = cls.tmp / "catalog.db"
        cls.cache_dir = cls.tmp / "cache"

        # The signed repository that updates the guests, on a loopback server.
        repo = cls.tmp / "repo"
        spec = cls.tmp / "repo.spec"
        spec.write_text(updating_spec(cls.rootfs))
        run([SOURCE_DIR / "tests/fixtures/make-apt-repo.sh", spec, repo])
        cls.repo_server = Proc(["/usr/bin/python3", SOURCE_DIR / "tests/support/http_server.py", repo],
                               cls.artifacts / "repo-http.log", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        port = cls.repo_server.proc.stdout.readline().strip()
        if not port.isdigit():
            raise AssertionError(f"the repository server did not start: {port!r}")
        repo_url = f"http://127.0.0.1:{port}"

        # Two patchable guests: one made, one copied.
        pristine = cls.tmp / "pristine.raw"
        run([SOURCE_DIR / "tests/fixtures/make-patch-guest.sh", cls.rootfs, pristine])
        for name in IMAGES:
            run(["cp", "--sparse=always", pristine, cls.library / name])
        pristine.unlink()

        keyring = repo / "keyring.gpg"
        cls.cli("library", "add", cls.library, "--name", "lib")
        cls.cli("source", "add", "debian", repo_url, "--suite", "bookworm", "--keyring", keyring)
        cls.cli("source", "add", "debian-security", repo_url, "--suite", "bookworm-security", "--security",
                "--keyring", keyring)
        cls.cli("identify")

        cls._start_server()
        cls._start_browser()

    @classmethod
    def cli(cls, *args, timeout=300, check=True):
        return run([cls.cli_path, "--catalog", cls.catalog, *args], timeout=timeout, check=check)

    @classmethod
    def _start_server(cls):
        help_text = run([cls.cli_path, "serve", "--help"], check=False).stdout
        argv = [cls.cli_path, "--catalog", cls.catalog, "serve", "--listen", "127.0.0.1:0"]
        if "--cache-dir" in help_text:
            argv += ["--cache-dir", cls.cache_dir]
        # The console the binary embeds, unless DORMANT_WEB_DIR (inherited)
        # names a directory to serve web/ from instead.
        cls.server = Proc(argv, cls.artifacts / "server.log")
        prefix = "dormant: listening on "
        line = cls.server.wait_line(lambda l: l.startswith(prefix), 30)
        if not line:
            raise AssertionError("dormant serve did not say where it listens:\n" + "\n".join(cls.server.lines))
        cls.base_url = line[len(prefix):].strip().rstrip("/")
        if not cls.base_url.startswith("http://127.0.0.1:"):
            raise AssertionError(f"dormant serve listens on {cls.base_url}, not on loopback")
        token_file = Path(str(cls.catalog) + ".api-token")
        if not token_file.is_file():
            raise AssertionError(f"{token_file} was not created")
        mode = stat.S_IMODE(token_file.stat().st_mode)
        if mode != 0o600:
            raise AssertionError(f"{token_file} has mode {mode:o}, not 600")
        cls.token = token_file.read_text().strip()
        if len(cls.token) != 64 or any(c not in "0123456789abcdef" for c in cls.token):
            raise AssertionError(f"{token_file}: not 64 hex digits")

    @classmethod
    def _start_browser(cls):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
                    "--no-proxy-server", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-domain-reliability",
                    "--disable-dev-shm-usage", "--disable-extensions", "--no-default-browser-check",
                    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
                    "--metrics-recording-only", "--password-store=basic",
                    f"--user-data-dir={cls.tmp / 'chromium-profile'}"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=CHROMEDRIVER, log_path=str(cls.artifacts / "chromedriver.log"))
        cls.driver = webdriver.Chrome(service=service, options=options)
        cls.driver.set_page_load_timeout(30)
        cls.driver.set_script_timeout(30)

    @classmethod
    def tearDownClass(cls):
        cls._tear_down()

    @classmethod
    def _tear_down(cls):
        if cls.driver is not None:
            try:
                cls.collect_browser_log()
                with open(cls.artifacts / "browser-console.log", "w") as f:
                    for entry in cls.browser_log:
                        f.write(f"{entry.get('level')} {entry.get('source', '')} {entry.get('message')}\n")
            except Exception:  # the log is a help, not the result
                pass
            try:
                cls.driver.quit()
            except Exception:
                pass
            cls.driver = None
        for proc in (cls.server, cls.repo_server):
            if proc is not None:
                proc.stop()
        cls.server = cls.repo_server = None
        if cls.tmp is not None:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            cls.tmp = None

    # ------------------------------------------------------------ helpers

    def setUp(self):
        if ConsoleTest.failed:
            self.skipTest("an earlier step failed")

    def run(self, result=None):
        outcome = super().run(result)
        if result is not None and (result.failures or result.errors):
            ConsoleTest.failed = True
        return outcome

    @classmethod
    def collect_browser_log(cls):
        try:
            cls.browser_log.extend(cls.driver.get_log("browser"))
        except WebDriverException:
            pass

    def wait_for(self, what, fn, timeout=20):
        """Polls fn until it returns something truthy; fails naming `what`,
        with a screenshot, when it does not within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                value = fn()
                if value:
                    return value
            except (NoSuchElementException, StaleElementReferenceException) as e:
                last = e
            if time.monotonic() > deadline:
                self.screenshot(f"failed-{what.replace(' ', '-')[:40]}")
                self.dump_operations()
                banner = self.js("const b = document.querySelector('[data-test=error-banner]');"
                                 "return b && !b.hidden ? b.textContent : ''")
                self.fail(f"timed out after {timeout} s waiting for {what}"
                          + (f" (last: {last})" if last else "") + (f"; error banner: {banner}" if banner else ""))
            time.sleep(0.1)

    def dump_operations(self):
        """The server's operations (what the API started), for the failure's artifacts."""
        request = urllib.request.Request(self.base_url + "/api/v1/operations",
                                         headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                (self.artifacts / "operations.json").write_bytes(response.read())
        except OSError as e:
            (self.artifacts / "operations.json").write_text(f"GET /api/v1/operations failed: {e}\n")
        history = self.cli("job", "history", "--json", check=False)
        (self.artifacts / "job-history.json").write_text(history.stdout + history.stderr)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def find(self, test):
        return self.driver.find_element(By.CSS_SELECTOR, f'[data-test="{test}"]')

    def visible(self, test):
        elements = self.driver.find_elements(By.CSS_SELECTOR, f'[data-test="{test}"]')
        return next((e for e in elements if e.is_displayed()), None)

    def click(self, test):
        element = self.wait_for(f"{test} to be clickable", lambda: (lambda e: e if e and e.is_enabled() else None)(self.visible(test)))
        element.click()

    def screenshot(self, name):
        path = self.artifacts / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def library_paths(self):
        return self.js("return [...document.querySelectorAll('[data-test=library-row]')].map(r => r.dataset.path)")

    def no_error_banner(self):
        text = self.js("const b = document.querySelector('[data-test=error-banner]');"
                       "return b && !b.hidden ? b.textContent : ''")
        self.assertEqual(text, "", "the console shows an error")

    # ------------------------------------------------------------ the flow

    def test_01_sign_in(self):
        # Every module of the console (web/*.js, imported from main.js) is
        # served, as JavaScript: a browser refuses a module of another type.
        for path in sorted((SOURCE_DIR / "web").glob("*.js")):
            with urllib.request.urlopen(f"{self.base_url}/{path.name}", timeout=10) as response:
                self.assertTrue(response.headers.get("Content-Type", "").startswith("text/javascript"), path.name)
        d = self.driver
        d.get(self.base_url + "/")
        token = self.wait_for("the sign-in form", lambda: self.visible("signin-token"))
        self.screenshot("01-sign-in")
        token.send_keys(WRONG_TOKEN)
        self.click("signin-submit")
        error = self.wait_for("'invalid token'", lambda: (lambda e: e if e and "invalid token" in e.text else None)(
            self.visible("signin-error")))
        self.assertEqual(error.text.strip(), "invalid token")
        self.assertIsNone(self.js("return sessionStorage.getItem('dormant.token')"))

        token = self.visible("signin-token")
        token.clear()
        token.send_keys(self.token)
        self.click("signin-submit")
        self.wait_for("the library with both images", lambda: len(self.library_paths()) == 2, timeout=30)
        self.assertEqual(self.js("return sessionStorage.getItem('dormant.token')"), self.token)
        self.assertEqual(self.find("catalog-path").text.strip(), str(self.catalog))
        for section in ("library", "groups", "hosts", "sources", "jobs", "reports"):
            self.assertTrue(self.find(f"nav-{section}").is_displayed(), section)
        self.assertEqual(sorted(Path(p).name for p in self.library_paths()), sorted(IMAGES))
        self.screenshot("02-library")

    def test_02_sort_and_filter(self):
        names = lambda: [Path(p).name for p in self.library_paths()]
        self.click("sort-path")
        self.wait_for("ascending order", lambda: names() == sorted(IMAGES))
        self.assertEqual(self.find("sort-path").get_attribute("data-sort"), "asc")
        self.assertEqual(self.find("sort-arrow").text, "▲")
        self.click("sort-path")
        self.wait_for("descending order", lambda: names() == sorted(IMAGES, reverse=True))
        self.assertEqual(self.find("sort-path").get_attribute("data-sort"), "desc")
        self.assertEqual(self.find("sort-arrow").text, "▼")

        box = self.find("library-filter")
        box.send_keys("beta")
        self.wait_for("the filter to leave one row", lambda: names() == ["beta-db.raw"])
        box.clear()
        box.send_keys("raw")  # matches every row
        self.wait_for("the filter to match both", lambda: len(names()) == 2)
        box.clear()
        self.js("arguments[0].dispatchEvent(new Event('input'))", box)
        self.wait_for("the filter to be cleared", lambda: len(names()) == 2)

        state = Select(self.find("library-state-filter"))
        state.select_by_value("compliant")
        self.wait_for("no compliant images yet", lambda: len(names()) == 0 and self.visible("library-empty"))
        state.select_by_value("")
        self.wait_for("both images again", lambda: len(names()) == 2)

    def test_03_assess(self):
        for box in self.driver.find_elements(By.CSS_SELECTOR, '[data-test="select-image"]'):
            if not box.is_selected():
                box.click()
        self.wait_for("both rows selected", lambda: self.js(
            "return document.querySelectorAll('[data-test=library-row].selected').length") == 2)
        self.click("assess-selected")
        op = self.wait_for("the operation panel", lambda: self.visible("operation"))
        self.wait_for("the assessment to finish",
                      lambda: self.find("operation").get_attribute("data-state") in ("succeeded", "failed"), timeout=180)
        self.assertEqual(self.find("operation").get_attribute("data-state"), "succeeded",
                         self.find("operation").text)

        def assessed():
            rows = self.js("""return [...document.querySelectorAll('[data-test=library-row]')].map(r => ({
                path: r.dataset.path,
                compliance: r.querySelector('[data-test=compliance-badge]').dataset.compliance,
                state: r.querySelector('[data-test=compliance-badge]').textContent,
                updates: r.querySelector('[data-test=updates]').textContent,
                security: r.querySelector('[data-test=security-updates]').textContent}))""")
            return rows if len(rows) == 2 and all(r["compliance"] == "non-compliant" for r in rows) else None

        rows = self.wait_for("both images non-compliant", assessed, timeout=30)
        for row in rows:
            self.assertGreater(int(row["updates"]), 0, row)
            self.assertGreater(int(row["security"]), 0, row)
            self.assertEqual(row["state"], "security-updates-pending", row)
        del op
        self.no_error_banner()
        self.screenshot("03-assessed")

    def test_04_create_job(self):
        self.click("nav-jobs")
        self.click("new-job")
        name = self.wait_for("the job form", lambda: self.visible("job-name"))
        name.send_keys(JOB)
        Select(self.find("job-targets")).select_by_value("images")
        boxes = self.wait_for("the image list", lambda: self.driver.find_elements(By.CSS_SELECTOR, '[data-test="job-image"]'))
        self.assertEqual(len(boxes), 2)
        for box in boxes:  # the two images selected in the library are pre-selected
            self.assertTrue(box.is_selected(), box.get_attribute("data-path"))
        Select(self.find("job-mode")).select_by_value("offline")
        self.find("job-max-concurrent").send_keys("2")
        self.screenshot("04-job-form")
        self.click("job-submit")
        self.wait_for("the job in the jobs table", lambda: self.js(
            "return [...document.querySelectorAll('[data-test=jobs-row]')].map(r => r.dataset.name)") == [JOB])
        self.no_error_banner()
        job = json.loads(self.cli("job", "list", "--json").stdout)
        self.assertEqual(len(job), 1)
        self.assertEqual(job[0]["name"], JOB)
        self.assertEqual(job[0]["mode"], "offline")
        self.assertEqual(str(job[0]["max_concurrent"]), "2")
        self.assertEqual(sorted(job[0]["targets"]["images"]), sorted(str(self.library / n) for n in IMAGES))

    def test_05_run_job(self):
        self.js("document.querySelector('[data-test=jobs-row][data-name=\"%s\"] [data-test=run-now]').click()" % JOB)
        self.wait_for("the run view", lambda: self.js("return location.hash").startswith("#/runs/"), timeout=30)
        run_id = int(self.js("return location.hash").split("/")[-1])
        self.wait_for("the run's items", lambda: self.js(
            "return document.querySelectorAll('[data-test=run-item]').length") == 2)

        seen = {}  # image -> the item states seen, in order

        def finished():
            view = self.js("""const s = document.querySelector('[data-test=run-state]');
                return {state: s ? s.dataset.state : '', items: [...document.querySelectorAll('[data-test=run-item]')]
                  .map(r => [r.dataset.image, r.dataset.state])}""")
            for image, state in view["items"]:
                states = seen.setdefault(image, [])
                if not states or states[-1] != state:
                    states.append(state)
            return view["state"] not in ("", "running") and view

        view = self.wait_for("the run to end", finished, timeout=240)
        self.assertEqual(view["state"], "done", f"run {run_id}: {self.find('run-view').text}")
        self.assertEqual(sorted(Path(i).name for i, _ in view["items"]), sorted(IMAGES))
        for image, states in seen.items():
            self.assertEqual(states[-1], "done", f"{image}: {states}")
            self.assertTrue(all(s in ("pending", "running", "done") for s in states), f"{image}: {states}")
        sys.stderr.write(f"item states seen in the run view: {seen}\n")
        progress = self.find("run-progress")
        self.assertEqual((progress.get_attribute("data-settled"), progress.get_attribute("data-total")), ("2", "2"))
        self.assertEqual(self.find("count-done").get_attribute("data-count"), "2")
        self.assertFalse(self.visible("run-cancel"), "a finished run offers Cancel")
        for result in self.driver.find_elements(By.CSS_SELECTOR, '[data-test="item-result"]'):
            self.assertEqual(result.text, "committed")
        # One item's log, expanded.
        self.driver.find_elements(By.CSS_SELECTOR, '[data-test="item-log-toggle"]')[0].click()
        log = self.wait_for("an item's log", lambda: self.visible("item-log"))
        self.assertIn("committed", log.text)
        self.no_error_banner()
        self.screenshot("05-run-finished")

        # The catalog agrees.
        shown = json.loads(self.cli("job", "show", JOB, "--json", "--no-log").stdout)
        run = shown.get("run", shown)
        self.assertEqual(run["id"], run_id)
        self.assertEqual(run["state"], "done")
        items = shown.get("items") or run.get("items")
        self.assertEqual(len(items), 2)
        for item in items:
            self.assertEqual((item["state"], item["result"]), ("done", "committed"), item)

        # The jobs view lists the run.
        self.click("nav-jobs")
        self.wait_for("the run in the recent runs", lambda: self.js(
            "return [...document.querySelectorAll('[data-test=runs-row]')].map(r => r.dataset.id)") == [str(run_id)])

    def test_06_report(self):
        self.click("nav-reports")
        self.wait_for("the report summary", lambda: self.visible("report-summary"), timeout=30)
        cards = self.wait_for("summary numbers", lambda: self.js(
            "return Object.fromEntries([...document.querySelectorAll('[data-test=report-card]')]"
            ".map(c => [c.dataset.key, c.querySelector('[data-test=report-value]').textContent]))"))
        self.assertEqual(cards.get("images"), "2", cards)
        self.no_error_banner()
        self.screenshot("06-report")

    def test_07_sign_out(self):
        self.click("signout")
        self.wait_for("the sign-in form", lambda: self.visible("signin-token"))
        self.assertIsNone(self.js("return sessionStorage.getItem('dormant.token')"))

    def test_08_artifacts_and_console(self):
        for name in ("01-sign-in", "02-library", "03-assessed", "04-job-form", "05-run-finished", "06-report"):
            path = self.artifacts / f"{name}.png"
            self.assertTrue(path.is_file(), path)
            self.assertGreater(path.stat().st_size, 1000, path)
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", path)
        self.collect_browser_log()
        severe = [e for e in self.browser_log if e.get("level") == "SEVERE" and not expected_network_error(e)]
        self.assertEqual(severe, [], "SEVERE messages in the browser console")


def expected_network_error(entry):
    """The wrong token's 401 is logged by Chromium as a failed resource load."""
    return entry.get("source") == "network" and " 401 " in entry.get("message", "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
