"""The report and the web app in a real headless Chromium, at a phone's 390 px and a desktop's 1400 px.

Clicks through sorting, filtering, copying, hiding models, the explorer (deep links, keys), the cluster map
and judging (buttons, keys, blind mode); fails on any console error, CSP violation or dialog; checks that the
page never pans sideways and that touch targets are at least 40 px on a phone; checks that corpus markup
never runs. Four models, 64-character ids, with and without a cluster map, on data the tests build.

Needs Debian's `chromium` and `chromium-driver` (apt) and the `selenium` package; skips with the reason
otherwise. Screenshots go to $EMBEDSCOPE_SCREENSHOTS (e.g. docs/img, which the docs show) or test-artifacts/.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import embedscope_run

from embedscope.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = Path(os.environ.get("EMBEDSCOPE_SCREENSHOTS") or ROOT / "test-artifacts")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WIDTHS = {"phone": (390, 844), "desktop": (1400, 900)}
MODELS = ["bm25", "tokenlearn", "wordllama", "minilm"]
QUERY_PAYLOAD = '"><svg onload=alert("xss-svg")>'
DOC_PAYLOADS = [
    '<script>alert("xss-script")</script>',
    '<img src=x onerror=alert("xss-img")>',
    "<a href=\"javascript:alert('xss-link')\">click me</a>",
]
TOPICS = ["influenza vaccine trial", "protein folding dynamics", "gene expression atlas", "sleep apnea therapy",
          "bone density loss", "heart rhythm disorder", "gut microbiome diet", "malaria drug resistance"]
# Runs before any page script: records dialogs, CSP violations, errors and what the page copies.
RECORDER = """
window.__dialogs = []; window.__violations = []; window.__errors = []; window.__copied = [];
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = function (message) { window.__dialogs.push(name + ":" + message); };
}
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));
window.addEventListener("error", (e) => window.__errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => window.__errors.push(String(e.reason)));
if (navigator.clipboard) navigator.clipboard.writeText = (text) => { window.__copied.push(text); return Promise.resolve(); };
"""


def long_id(prefix: str, i: int) -> str:
    """A 64-character id, as some corpora use (hashes, URLs)."""
    return f"{prefix}{i:02d}-" + hashlib.sha256(f"{prefix}{i}".encode()).hexdigest()[: 64 - len(prefix) - 3]


def make_beir(folder: Path) -> tuple[Path, list[str], list[str]]:
    """Eight graded queries over 48 documents on eight topics; long ids; markup payloads in the text."""
    (folder / "qrels").mkdir(parents=True)
    doc_ids = [long_id("doc", i) if i % 2 else f"d{i}" for i in range(48)]
    docs = []
    for i, did in enumerate(doc_ids):
        topic = TOPICS[i % 8]
        payload = DOC_PAYLOADS[i % 3] if i < 6 else ""
        docs.append({"_id": did, "title": f"{topic} study {i} {payload}".strip(),
                     "text": f"We report findings on {topic} in cohort {i}. {payload} Outcomes varied by site {i % 5}."})
    query_ids = [long_id("q", i) for i in range(8)]
    queries = [{"_id": qid, "text": f"what is known about {TOPICS[i]}" + (f" {QUERY_PAYLOAD}" if i == 0 else "")}
               for i, qid in enumerate(query_ids)]
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(q) + "\n" for q in queries)
    rows = ["query-id\tcorpus-id\tscore"]
    for i, qid in enumerate(query_ids):  # graded 2 / 1 / 0 on the query's own topic
        rows += [f"{qid}\t{doc_ids[i]}\t2", f"{qid}\t{doc_ids[i + 8]}\t1", f"{qid}\t{doc_ids[i + 16]}\t0"]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder, query_ids, doc_ids


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One run of four models; a copy with a cluster map; reports of both."""
    tmp = tmp_path_factory.mktemp("browser")
    data, query_ids, doc_ids = make_beir(tmp / "data")
    args = ["--data", str(data)] + [a for m in MODELS for a in ("-m", m)]
    plain = embedscope_run(tmp, *args)
    clustered = Path(shutil.copytree(plain, tmp / "clustered"))
    result = CliRunner().invoke(cli, ["cluster", "--data", str(data), "-m", "tokenlearn", "--clusters", "4", "--run-dir",
                                      str(clustered), "--cache", str(tmp / "cache")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for run_dir in (plain, clustered):
        result = CliRunner().invoke(cli, ["report", str(run_dir)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return {"plain": plain, "clustered": clustered, "query_ids": query_ids, "doc_ids": doc_ids,
            "models": [m["name"] for m in json.loads((plain / "results.json").read_text())["models"]]}


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
                 "--hide-scrollbars", "--window-size=1400,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("unhandledPromptBehavior", "ignore")  # a real dialog stays open and is reported
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except Exception as e:  # a broken browser install is an environment problem, said plainly
        pytest.skip(f"chromium did not start: {str(e).splitlines()[0]}")
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDER})
    yield driver
    driver.quit()


def open_page(driver, url: str, width: str = "desktop") -> None:
    driver.set_window_size(*WIDTHS[width])
    # the viewport itself, not the window: a phone's 390 px
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WIDTHS[width][0], "height": WIDTHS[width][1], "deviceScaleFactor": 1, "mobile": width == "phone"})
    driver.get("about:blank")  # a fresh load, even when only the #fragment differs from the page open now
    driver.get(url)
    wait_for(driver, lambda d: d.execute_script("return document.body.dataset.ready"))
    assert driver.execute_script("return document.body.dataset.ready") == "true"


def wait_for(driver, condition, timeout=15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def assert_clean(driver) -> None:
    """No dialog, no CSP violation, no script error, nothing logged as an error by the browser."""
    from selenium.common.exceptions import NoAlertPresentException

    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        text = None
    assert text is None, f"a dialog opened: {text}"
    found = driver.execute_script("return [window.__dialogs, window.__violations, window.__errors]")
    assert found == [[], [], []], found
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def assert_fits(driver, width: str) -> None:
    """The page never pans sideways; on a phone every control is a 40 px touch target."""
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the {width} viewport"
    if width == "phone":
        small = driver.execute_script("""
            return [...document.querySelectorAll('button, select, input:not([type=checkbox]), summary, tr.clickable, .column-list label')]
              .filter((e) => e.getClientRects().length && !e.closest('[hidden], details:not([open]) > :not(summary)'))
              .map((e) => [e.className || e.tagName, Math.round(e.getBoundingClientRect().height)])
              .filter(([, h]) => h < 40);""")
        assert not small, f"touch targets under 40 px: {small[:8]}"


def shot(driver, name: str, element=None) -> None:
    """A screenshot of the viewport, or of one element scrolled to the top (the status bar out of its way)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if element is None:
        driver.save_screenshot(str(SCREENSHOTS / name))
        return
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'}); document.getElementById('statusbar').hidden = true",
                          element)
    element.screenshot(str(SCREENSHOTS / name))
    driver.execute_script("document.getElementById('statusbar').hidden = false")


def texts(driver, selector: str) -> list[str]:
    """The shown text of each match, read in one go (a plot may be redrawn between two reads)."""
    return driver.execute_script("return [...document.querySelectorAll(arguments[0])].map((e) => e.innerText ?? e.textContent)", selector)


def click(driver, selector: str, index: int = 0) -> None:
    """A click as the browser sends it (SVG shapes have no .click())."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); "
                          "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true}));",
                          driver.find_elements("css selector", selector)[index])


def press(driver, keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    driver.execute_script("document.activeElement && document.activeElement.blur()")
    for key in keys:
        ActionChains(driver).send_keys(key).perform()
        time.sleep(0.05)


def assert_payloads_are_text(driver) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "query")
    assert not box.find_elements(By.CSS_SELECTOR, "img, svg, iframe, script, a[href]")  # markup made no element
    shown = box.text
    assert any(p in shown for p in DOC_PAYLOADS)  # ... and is on screen as the characters it is made of
    assert QUERY_PAYLOAD in box.find_element(By.CSS_SELECTOR, ".q-head .q-text").text


@pytest.mark.parametrize("width", ["desktop", "phone"])
@pytest.mark.parametrize("which", ["plain", "clustered"])
def test_report_renders_every_section(browser, runs, which, width):
    open_page(browser, (runs[which] / "report.html").as_uri(), width)
    sections = ["leaderboard", "significance", "tradeoffs", "explorer"] + (["clusters"] if which == "clustered" else [])
    for section in sections:
        assert browser.execute_script(f"return !document.getElementById('{section}').hidden"), section
    assert browser.execute_script("return document.getElementById('clusters').hidden") == (which == "plain")
    # the trade-off plot has every model, each in its colour, with a legend entry and labelled ticks
    points = browser.execute_script("return [...document.querySelectorAll('#fig-speed svg .point')].map((p) => p.dataset.model)")
    assert sorted(points) == sorted(runs["models"])
    assert len(set(browser.execute_script(
        "return [...document.querySelectorAll('#fig-speed .point circle')].map((c) => c.getAttribute('fill'))"))) == 4
    assert texts(browser, "#fig-speed .legend-item") and all(texts(browser, "#fig-speed .tick"))
    (sources,) = texts(browser, "#fig-speed .sources")  # where each speed comes from, in view
    assert sources.startswith("x from:") and "bm25 — index build in this run" in sources
    qid = runs["query_ids"][0]
    click(browser, f'#queries tr[data-id="{qid}"]')
    wait_for(browser, lambda d: len(d.find_elements("css selector", "#query .sbs-col")) == 4)
    assert_payloads_are_text(browser)
    assert_fits(browser, width)
    assert_clean(browser)
    if which == "clustered":
        browser.execute_script("window.scrollTo(0, 0)")
        shot(browser, f"report-{WIDTHS[width][0]}.png")


def test_report_tables(browser, runs):
    """Click-to-sort, filter (and a filter with no match says so), columns and models hidden, copy CSV/Markdown."""
    open_page(browser, (runs["plain"] / "report.html").as_uri())
    rows = lambda: texts(browser, "#table-leaderboard tbody td[data-key=model]")  # noqa: E731
    view = browser.execute_script("return state.view")
    by_ndcg = [r["model"] for r in sorted(view["leaderboard"]["rows"], key=lambda r: -r["ndcg@10"])]
    by_speed = [r["model"] for r in sorted(view["leaderboard"]["rows"], key=lambda r: r["docs_per_second"])]
    assert rows() == by_ndcg
    click(browser, '#table-leaderboard th button[data-key="docs_per_second"]')  # numbers: high to low first
    click(browser, '#table-leaderboard th button[data-key="docs_per_second"]')  # again: low to high
    assert rows() == by_speed
    assert "sort.leaderboard=docs_per_second%3Aasc" in browser.current_url
    filt = browser.find_element("css selector", "#leaderboard .table-filter")
    filt.send_keys("zzz-nothing")
    assert texts(browser, "#table-leaderboard tbody tr.empty") == ["No row matches “zzz-nothing”."]
    filt.clear()
    filt.send_keys(runs["models"][1][:5])
    assert rows() == [runs["models"][1]]
    browser.execute_script("arguments[0].value = ''; arguments[0].dispatchEvent(new Event('input'))", filt)
    # copy what is shown as CSV and as Markdown: a model hidden is left out, numbers as on screen
    click(browser, "#model-chips .chip", 0)
    hidden = runs["models"][0]
    assert hidden not in rows() and len(rows()) == 3
    assert hidden not in texts(browser, "#fig-speed .point-label")
    click(browser, "#leaderboard .copy-csv")
    copied = list(csv.DictReader(io.StringIO(browser.execute_script("return window.__copied.pop()"))))
    assert [r["model"] for r in copied] == [m for m in by_speed if m != hidden]  # as sorted on screen
    first = next(r for r in view["leaderboard"]["rows"] if r["model"] == copied[0]["model"])
    assert copied[0]["ndcg@10"] == f"{first['ndcg@10']:.3f}" and copied[0]["ndcg@10 CI low"]
    click(browser, "#leaderboard .copy-md")
    markdown = browser.execute_script("return window.__copied.pop()")
    assert markdown.startswith("| model | ndcg@10 |") and markdown.count("\n") == 5
    # a column hidden from the chooser
    browser.execute_script("document.querySelector('#leaderboard details.column-chooser').open = true")
    box = next(b for b in browser.find_elements("css selector", "#leaderboard .column-list label")
               if b.text.strip() == "licence")
    box.find_element("css selector", "input").click()
    assert "licence" not in texts(browser, "#table-leaderboard th")
    click(browser, "#model-chips .chip", 0)  # shown again
    assert len(rows()) == 4
    # a glossary on every metric's header; a point of the trade-off plot shows its interval on hover
    assert "discounted by rank" in browser.execute_script(
        "return document.querySelector('#table-leaderboard th button[data-key=\"ndcg@10\"]').title")
    browser.execute_script("""const p = document.querySelector('#fig-speed .point circle'), r = p.getBoundingClientRect();
        p.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: r.x + 3, clientY: r.y + 3}));""")
    tip = browser.find_element("id", "tooltip").text
    assert re.search(r"ndcg@10 \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\] 95% CI", tip), tip
    # readable numbers: no raw keys, long floats or "0.0000" p-values anywhere on the page
    page = browser.find_element("css selector", "main").text
    assert not re.search(r"\d\.\d{5,}", page) and "0.0000" not in texts(browser, "#table-significance tbody")
    for raw in ("params_m", "mteb_source", "prompt ''", "silhouette 0.0", "docs_per_second", "NaN", "undefined"):
        assert raw not in page, raw
    assert all(re.fullmatch(r"< 0\.0001|\d\.\d{4}|—", t) for t in texts(browser, "#table-significance td[data-key^=p_]"))
    assert_clean(browser)


def test_report_explorer_deep_links_and_keys(browser, runs):
    """The URL carries the query, top k and sort; n/p move between queries, j/k between hits."""
    from embedscope.rundir import read_runs

    report = (runs["plain"] / "report.html").as_uri()
    qid = runs["query_ids"][3]
    open_page(browser, f"{report}#q={qid}&k=5&sort.queries=id:asc")
    wait_for(browser, lambda d: d.find_elements("css selector", "#query .sbs-col"))
    run = read_runs(runs["plain"])
    for column in browser.find_elements("css selector", "#query .sbs-col"):
        model = column.get_attribute("data-model")
        shown = [h.get_attribute("data-doc-id") for h in column.find_elements("css selector", "li.hit")]
        assert shown == [d for d, _ in run[model].ranked(qid, 5)]
    ids = texts(browser, "#table-queries tbody td[data-key=id]")
    assert ids == sorted(runs["query_ids"])  # sorted by id, as the link says
    press(browser, "n")
    wait_for(browser, lambda d: f"q={ids[ids.index(qid) + 1]}" in d.current_url)
    press(browser, "pjj")
    wait_for(browser, lambda d: f"q={qid}" in d.current_url)
    focused = browser.find_elements("css selector", "#query li.hit.focused")
    assert len(focused) == 1 and focused[0] == browser.find_elements("css selector", "#query li.hit")[1]
    press(browser, "2")  # the report is read-only: it says where to judge
    assert "embedscope serve" in browser.find_element("id", "status-message").text
    browser.refresh()  # a reload opens the same query, top k and sort
    wait_for(browser, lambda d: d.find_elements("css selector", "#query .sbs-col"))
    assert browser.find_element("css selector", "#query .q-id").text == qid
    assert len(browser.find_elements("css selector", "#query .sbs-col:first-child li.hit")) == 5
    click(browser, 'nav a[href="#leaderboard"]')  # the section links scroll without losing the link's state
    assert f"q={qid}" in browser.current_url and "k=5" in browser.current_url
    # 1400 px, four models, 64-character ids: the query table fits its box; a hit's header keeps rank and score on one line
    assert browser.execute_script("const b = document.querySelector('.queries-box'); return b.scrollWidth <= b.clientWidth")
    assert browser.execute_script("""return [...document.querySelectorAll('#query .hit-top')].every((top) =>
        Math.abs(top.querySelector('.score').getBoundingClientRect().top - top.querySelector('.rank').getBoundingClientRect().top) < 4)""")
    filt = browser.find_element("css selector", "#explorer .table-filter")
    filt.send_keys("no such query text")
    assert texts(browser, "#table-queries tbody tr.empty") == ["No row matches “no such query text”."]
    assert_clean(browser)


def test_cluster_map_links_to_the_explorer(browser, runs):
    from selenium.webdriver.support.ui import Select

    open_page(browser, (runs["clustered"] / "report.html").as_uri())
    view = browser.execute_script("return state.view")
    (cmap,) = view["clusters"]
    assert len(browser.find_elements("css selector", "#clusters .doc-point")) == len(cmap["docs"]["d"]) == 48
    assert len(browser.find_elements("css selector", "#clusters .query-point")) == 8
    labels = texts(browser, "#clusters .cluster-labels text:not(.halo)")
    assert labels and all(re.fullmatch(r"c\d+ · \d\.\d{3}", t) for t in labels)  # per-cluster nDCG on the map
    assert any("ndcg@10" in t and "queries)" in t for t in texts(browser, "#clusters .cluster-legend .legend-item"))
    shot(browser, "report-clusters-1400.png", browser.find_element("id", "clusters"))
    Select(browser.find_element("id", "map-colour")).select_by_value("metric")
    fills = browser.execute_script("return [...document.querySelectorAll('#clusters .query-point')].map((p) => p.getAttribute('fill'))")
    assert all(f.startswith("hsl(") for f in fills)  # each query coloured by its own score
    search = browser.find_element("id", "map-search")
    search.send_keys("malaria")
    wait_for(browser, lambda d: "match" in d.find_element("css selector", ".map-found").text)
    assert browser.find_element("css selector", ".map-found").text == "6 documents, 1 query match"
    search.send_keys(" zzz")
    wait_for(browser, lambda d: "Nothing" in d.find_element("css selector", ".map-found").text)
    browser.execute_script("arguments[0].value = ''; arguments[0].dispatchEvent(new Event('input'))", search)
    wait_for(browser, lambda d: not d.find_element("css selector", ".map-found").text)
    click(browser, "#clusters .query-point", 2)  # a query opens in the explorer
    qid = cmap["queries"]["id"][2]
    wait_for(browser, lambda d: d.find_elements("css selector", "#query .q-id") and
             d.find_element("css selector", "#query .q-id").text == qid)
    click(browser, "#clusters .doc-point", 5)  # a document opens with the queries that find it
    did = view["docs"]["ids"][cmap["docs"]["d"][5]]
    wait_for(browser, lambda d: d.find_element("css selector", "#query .q-id").text == f"document {did}")
    assert f"doc={did}" in browser.current_url
    assert_clean(browser)


@pytest.fixture()
def app(runs, tmp_path):
    from embedscope.webui import Explorer, WebApp, serve_in_thread

    run_dir = Path(shutil.copytree(runs["clustered"], tmp_path / "run"))
    server, thread = serve_in_thread(WebApp(Explorer(run_dir), k=5))
    yield server, run_dir
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_web_app_judging(browser, runs, app):
    """Judge by button and by key; the numbers move at once, labelled; blind mode hides the models."""
    from embedscope.judgments import read_judgments

    server, run_dir = app
    qid = runs["query_ids"][0]
    open_page(browser, server.url + f"#q={qid}")
    wait_for(browser, lambda d: d.find_elements("css selector", "#query li.hit"))
    assert_payloads_are_text(browser)
    assert "re-computed with your judgments" in browser.find_element("id", "judged-banner").text
    before = {r["model"]: r["ndcg@10"] for r in browser.execute_script("return state.view.leaderboard.rows")}
    # the first hit: judged the opposite of what the dataset says (relevant -> not, otherwise -> relevant)
    hit = browser.find_element("css selector", "#query li.hit")
    judged = hit.get_attribute("data-doc-id")
    relevant_now = "mark-relevant" in hit.get_attribute("class") or "mark-partly" in hit.get_attribute("class")
    browser.execute_script("arguments[0].click()", hit.find_element("css selector", "button.judge-not" if relevant_now else "button.judge-rel"))
    wait_for(browser, lambda d: "With your 1 judgment" in d.find_element("id", "judged-banner").text)
    assert read_judgments(run_dir / "judgments" / "qrels.tsv") == {qid: {judged: 0 if relevant_now else 2}}
    assert "with your 1 judgment" in browser.find_element("css selector", "#leaderboard h2").text
    after = {r["model"]: r["ndcg@10"] for r in browser.execute_script("return state.view.leaderboard.rows")}
    assert any(after[m] != before[m] for m in before)
    assert any("from" in t for t in texts(browser, "#table-leaderboard .delta.down, #table-leaderboard .delta.up"))
    assert "embedscope report" in browser.find_element("css selector", "#judged-banner .command").text
    # 1400 px, four models, a change line under every value: the leaderboard fits its box, no sideways scroll
    scroll, client = browser.execute_script("const b = document.querySelector('#leaderboard .table-box'); "
                                            "return [b.scrollWidth, b.clientWidth]")
    assert scroll <= client, f"the leaderboard scrolls sideways: {scroll} px wide in a {client} px box"
    shot(browser, "app-rescored-1400.png", browser.find_element("id", "leaderboard"))
    press(browser, "3")  # grade 3 is not on this data's 0-2 scale: said, and nothing saved
    assert "0 to 2" in browser.find_element("id", "status-message").text
    assert len(read_judgments(run_dir / "judgments" / "qrels.tsv")[qid]) == 1
    # keys: j to the second hit, 2 grades it relevant
    press(browser, "jj2")
    wait_for(browser, lambda d: len(read_judgments(run_dir / "judgments" / "qrels.tsv").get(qid, {})) == 2)
    wait_for(browser, lambda d: "yours: 2" in d.find_element("id", "progress").text)
    assert re.search(r"this query: \d+ of \d+ judged", browser.find_element("id", "progress").text)
    # the status stays in view while judging far down the page
    browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    assert browser.execute_script("const r = document.getElementById('statusbar').getBoundingClientRect(); "
                                  "return r.bottom <= window.innerHeight && r.top >= 0")
    shot(browser, "app-judging-1400.png", browser.find_element("id", "query"))
    # blind judging: the pooled documents, shuffled, without model names, ranks or scores; kept on reload
    press(browser, "b")
    wait_for(browser, lambda d: d.find_elements("css selector", "#query ol.blind"))
    assert "mode=blind" in browser.current_url
    body = browser.find_element("id", "query").text
    assert not any(m in body for m in runs["models"]) and not browser.find_elements("css selector", "#query .score, #query .rank")
    pooled = {h.get_attribute("data-doc-id") for h in browser.find_elements("css selector", "#query li.hit")}
    assert judged in pooled and len(pooled) == len(browser.find_elements("css selector", "#query li.hit"))
    open_page(browser, browser.current_url, "phone")
    wait_for(browser, lambda d: d.find_elements("css selector", "#query ol.blind li.hit"))
    assert_fits(browser, "phone")
    shot(browser, "app-blind-390.png")
    assert_clean(browser)
    browser.get(server.url.rsplit("/", 2)[0] + "/")  # without the token: 403, nothing rendered
    assert "forbidden" in browser.find_element("css selector", "body").text
    browser.get_log("browser")  # the 403 above is expected; clear it


def test_web_app_judging_on_a_0_to_3_scale(browser, tmp_path):
    """Data graded 0-3: four grade buttons, key 3 grades a hit highly relevant, and the mark follows the scale."""
    from embedscope.judgments import read_judgments
    from embedscope.webui import Explorer, WebApp, serve_in_thread

    data, query_ids, _ = make_beir(tmp_path / "data")
    qrels = data / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text().replace("\t2\n", "\t3\n"), encoding="utf-8")  # TREC's 0-3 scale
    run_dir = embedscope_run(tmp_path, "--data", str(data), "-m", "bm25", "-m", "tokenlearn")
    server, thread = serve_in_thread(WebApp(Explorer(run_dir), k=5))
    try:
        qid = query_ids[2]
        open_page(browser, server.url + f"#q={qid}")
        wait_for(browser, lambda d: d.find_elements("css selector", "#query li.hit"))
        first = browser.find_element("css selector", "#query li.hit")
        grades = [b.get_attribute("data-grade") for b in first.find_elements("css selector", ".judge button")]
        assert grades == ["3", "2", "1", "0"]
        assert "highly" in first.find_element("css selector", "button.judge-3").text
        press(browser, "j3")
        path = run_dir / "judgments" / "qrels.tsv"
        wait_for(browser, lambda d: path.exists() and read_judgments(path).get(qid))
        (judged, grade), = read_judgments(path)[qid].items()
        assert grade == 3
        wait_for(browser, lambda d: "With your 1 judgment" in d.find_element("id", "judged-banner").text)
        hit = browser.find_element("css selector", f'#query li.hit[data-doc-id="{judged}"]')
        assert "mark-relevant" in hit.get_attribute("class")
        assert hit.find_element("css selector", "button.judge-3").get_attribute("aria-pressed") == "true"
        press(browser, "b")  # blind judging shows the same scale and mark
        wait_for(browser, lambda d: d.find_elements("css selector", "#query ol.blind li.hit"))
        blind = browser.find_element("css selector", f'#query ol.blind li.hit[data-doc-id="{judged}"]')
        assert "mark-relevant" in blind.get_attribute("class") and len(blind.find_elements("css selector", ".judge button")) == 4
        assert "0-3 grade" in browser.find_element("id", "query").text
        assert_clean(browser)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_task_report_tables(browser, tmp_path, width):
    """A task run's report: the task's metrics with CIs in a sortable table, the model that cannot, the verdicts."""
    import numpy as np

    from test_tasks import vector_file, write_csv

    rng = np.random.default_rng(1)
    rows = [(f"left sentence {i}", f"right sentence {i}", round(float(rng.uniform(0, 5)), 2)) for i in range(60)]
    path = write_csv(tmp_path / "sts.csv", rows)
    gold, axis = {r[1]: r[2] for r in rows}, np.eye(16)[0] * 3
    texts_ = [r[0] for r in rows] + [r[1] for r in rows]
    signal = vector_file(tmp_path / "signal.parquet", texts_, signal=lambda t: axis * gold[t] / 5 if t in gold else axis)
    noise = vector_file(tmp_path / "noise.parquet", texts_, seed=9)
    result = CliRunner().invoke(cli, ["run", "--task", "sts", "--data", str(path), "-m", f"precomputed:{signal}?name=signal",
                                      "-m", f"precomputed:{noise}?name=noise", "-m", "bm25", "-q",
                                      "-o", str(tmp_path / "runs"), "--cache", str(tmp_path / "cache")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run_dir = Path(result.output.strip().splitlines()[-1].removeprefix("results in "))
    assert CliRunner().invoke(cli, ["report", str(run_dir)], catch_exceptions=False).exit_code == 0
    open_page(browser, (run_dir / "report.html").as_uri(), width)
    for section in ("leaderboard", "significance"):
        assert browser.execute_script(f"return !document.getElementById('{section}').hidden"), section
    assert browser.execute_script("return document.getElementById('explorer').hidden")
    models = lambda: texts(browser, "#table-leaderboard tbody td[data-key=model]")  # noqa: E731
    assert models() == ["signal", "noise", "bm25"]  # best first; the model that cannot do STS last
    click(browser, '#table-leaderboard th button[data-key="cosine_spearman"]')
    click(browser, '#table-leaderboard th button[data-key="cosine_spearman"]')  # low to high
    assert models()[:2] == ["noise", "signal"]
    assert all(re.fullmatch(r"\[-?\d\.\d{3}, -?\d\.\d{3}\]", t)
               for t in texts(browser, "#table-leaderboard td[data-key=cosine_spearman] .ci"))
    assert "cannot do sts" in browser.find_element("css selector", "#table-leaderboard").text
    assert texts(browser, "#table-significance td[data-key=verdict]") == ["signal better"]
    assert "task: sts" in browser.find_element("id", "meta").text
    assert_fits(browser, width)
    assert_clean(browser)
    if width == "desktop":
        shot(browser, "report-task-1400.png")
