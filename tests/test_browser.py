"""The report and the web app in a real headless Chromium: clicks, judgments, and corpus markup that never runs.

Needs Debian's `chromium` and `chromium-driver` (apt) and the `selenium` package; skips with the reason otherwise.
Screenshots go to test-artifacts/ under the repository root.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from embedscope.cli import cli

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
QUERY_PAYLOAD = '"><svg onload=alert("xss-svg")>'
DOC_PAYLOADS = [
    '<script>alert("xss-script")</script>',
    '<img src=x onerror=alert("xss-img")>',
    "<a href=\"javascript:alert('xss-link')\">click me</a>",
]
# Runs before any page script: records dialogs the page might open (and CSP violations, which would mean
# the page tried something the policy forbids).
RECORDER = """
window.__dialogs = [];
for (const name of ["alert", "confirm", "prompt"]) {
  const original = window[name];
  window[name] = function (message) { window.__dialogs.push(name + ":" + message); };
}
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));
"""


def make_xss_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    docs = [{"_id": f"x{i}", "title": f"flu vaccine payload {i} {p}", "text": f"flu vaccine trial {i} text {p} end"}
            for i, p in enumerate(DOC_PAYLOADS)]
    docs += [{"_id": f"d{i}", "title": f"plain study {i}", "text": f"influenza cohort {i} flu outcomes"} for i in range(10)]
    queries = [{"_id": "q0", "text": f"flu vaccine trial {QUERY_PAYLOAD}"},
               {"_id": "q1", "text": "influenza cohort outcomes"}]
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(q) + "\n" for q in queries)
    rows = ["query-id\tcorpus-id\tscore", "q0\tx0\t2", "q0\tx1\t1", "q0\td0\t0", "q1\td1\t2", "q1\td2\t1"]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def xss_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("browser-run")
    result = CliRunner().invoke(cli, ["run", "--data", str(make_xss_beir(tmp / "xss")), "-m", "bm25", "-m", "tokenlearn",
                                      "-o", str(tmp / "runs"), "--cache", str(tmp / "cache"), "-q"],
                                standalone_mode=False, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Path(result.return_value)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists() or not Path(CHROMEDRIVER).exists():
        pytest.skip("headless browser tests need Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="browser tests need the selenium package")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1600", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    # a real dialog would stay open and be reported by no_dialog(), not dismissed silently
    options.set_capability("unhandledPromptBehavior", "ignore")
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except Exception as e:  # a broken browser install is an environment problem, said plainly
        pytest.skip(f"chromium did not start: {str(e).splitlines()[0]}")
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDER})
    yield driver
    driver.quit()


def no_dialog(driver) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        text = None
    assert text is None, f"a dialog opened: {text}"
    assert driver.execute_script("return window.__dialogs") == []


def visible_texts(driver, selector: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, selector)]


def assert_payloads_are_text(driver, container: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, container)
    # markup in the corpus made no elements ...
    assert not box.find_elements(By.CSS_SELECTOR, "img, svg, iframe, script, a[href]")
    # ... and is on screen as the characters it is made of
    texts = " ".join(visible_texts(driver, f"{container} .hit-text") + visible_texts(driver, f"{container} .hit-title"))
    for payload in DOC_PAYLOADS:
        assert payload in texts
    assert QUERY_PAYLOAD in driver.find_element(By.CSS_SELECTOR, f"{container} .q-head .q-text").text


def wait_for(driver, condition, timeout=10):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def test_report_in_chromium(browser, xss_run, tmp_path):
    from selenium.webdriver.common.by import By

    result = CliRunner().invoke(cli, ["report", str(xss_run), "-o", str(tmp_path / "report.html")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    browser.get((tmp_path / "report.html").as_uri())
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.query"))
    no_dialog(browser)
    assert browser.find_elements(By.CSS_SELECTOR, ".leaderboard tbody tr")
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "tr.query") if r.get_attribute("data-query-id") == "q0")
    assert QUERY_PAYLOAD in row.text
    row.click()
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#query li.hit"))
    assert_payloads_are_text(browser, "#query")
    columns = browser.find_elements(By.CSS_SELECTOR, "#query .sbs-col")
    assert len(columns) == 2
    symbols = {e.text for e in browser.find_elements(By.CSS_SELECTOR, "#query .symbol")}
    assert {"✅", "⚪", "❌"} <= symbols
    no_dialog(browser)
    assert browser.execute_script("return window.__violations") == []
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "report.png"))


def test_web_app_in_chromium(browser, xss_run):
    from selenium.webdriver.common.by import By

    from embedscope.judgments import read_judgments
    from embedscope.webui import Explorer, WebApp, serve_in_thread

    server, thread = serve_in_thread(WebApp(Explorer(xss_run), k=5))
    try:
        browser.get(server.url)
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.query"))
        no_dialog(browser)
        next(r for r in browser.find_elements(By.CSS_SELECTOR, "tr.query")
             if r.get_attribute("data-query-id") == "q0").click()
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#query li.hit"))
        assert_payloads_are_text(browser, "#query")
        # judge the first unjudged hit of the first model as relevant
        hit = next(h for h in browser.find_elements(By.CSS_SELECTOR, "#query .sbs-col:first-child li.hit")
                   if h.find_element(By.CSS_SELECTOR, ".symbol").text == "?")
        doc_id = hit.get_attribute("data-doc-id")
        hit.find_element(By.CSS_SELECTOR, "button.judge-rel").click()
        wait_for(browser, lambda d: "saved" in d.find_element(By.ID, "status").text)
        assert read_judgments(xss_run / "judgments" / "qrels.tsv") == {"q0": {doc_id: 2}}
        # the page re-draws the hit as judged relevant, in every column that shows it
        wait_for(browser, lambda d: all(
            h.find_element(By.CSS_SELECTOR, ".symbol").text == "✅" and
            "chosen" in h.find_element(By.CSS_SELECTOR, "button.judge-rel").get_attribute("class")
            for h in d.find_elements(By.CSS_SELECTOR, "#query li.hit") if h.get_attribute("data-doc-id") == doc_id))
        # a second document judged "not relevant"
        other = next(h for h in browser.find_elements(By.CSS_SELECTOR, "#query .sbs-col:first-child li.hit")
                     if h.get_attribute("data-doc-id") != doc_id)
        other_id = other.get_attribute("data-doc-id")
        other.find_element(By.CSS_SELECTOR, "button.judge-not").click()
        wait_for(browser, lambda d: read_judgments(xss_run / "judgments" / "qrels.tsv").get("q0", {}).get(other_id) == 0)
        no_dialog(browser)
        assert browser.execute_script("return window.__violations") == []
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "webui.png"))
        # without the token: 403, nothing rendered
        browser.get(server.url.rsplit("/", 2)[0] + "/")
        assert "forbidden" in browser.find_element(By.TAG_NAME, "body").text
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
