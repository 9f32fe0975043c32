"""The review page in a real browser: Debian's headless Chromium driven by Selenium (skipped
when either is missing, failed under ``SACROP_REQUIRE_ALL=1``). Rank 2 chosen for one photo and
another photo's box dragged, then FILE read back. FILE's sources are real photos (absolute
paths), so that ``sacrop apply FILE`` can be run on it as it is."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import APT_TOOLS, EXAMPLES, read_jsonl, require_module, require_tool, serving

from sacrop_cli.io.inputs import scan_inputs
from sacrop_cli.viz.review import ReviewServer
from sacrop_cli.viz.review_records import analyse, plan

# nothing downloaded, nothing phoned home: Selenium Manager is never asked for a driver
CHROMIUM_OPTIONS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1600",
)
pytestmark = pytest.mark.slow


@pytest.fixture
def browser() -> Iterator[object]:
    chromium = require_tool("chromium", APT_TOOLS)
    chromedriver = require_tool("chromedriver", APT_TOOLS)
    webdriver = require_module("selenium.webdriver", 'pip install -e ".[dev]"')
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for option in CHROMIUM_OPTIONS:
        options.add_argument(option)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def reviewed(tmp_path: Path, distance_cropper) -> Iterator[ReviewServer]:
    """The review of two real photos (4:3, three ranks), analysed with the stand-in engine,
    served in a thread."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(EXAMPLES / "coffee.jpg", photos / "coffee.jpg")  # 600 x 400
    shutil.copy(EXAMPLES / "chelsea-cat.jpg", photos / "chelsea-cat.jpg")  # 451 x 300
    scan = scan_inputs([photos])
    records = analyse(
        lambda: distance_cropper((40, 30, 300, 250), faces=False),
        plan(scan, [], ("4:3",)),
        scan,
        ("4:3",),
        choices=3,
    )
    with serving(records, tmp_path / "review.jsonl") as server:
        yield server


def wait_saved(driver, count: int) -> None:
    """Until the page said "saved" ``count`` times (each answer redraws the photo)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(
        lambda d: (
            d.execute_script("return window.__saved || 0") >= count
            or d.find_element("id", "status").text.startswith("not saved")
        )
    )
    assert driver.find_element("id", "status").text == "saved"


def test_choose_rank_2_and_drag_a_box_in_the_browser(browser, reviewed):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(reviewed.url)
    WebDriverWait(browser, 10).until(lambda d: d.find_elements("css selector", "article .box"))
    assert "token=" not in browser.current_url  # it left the address bar
    # count the saves: the status line is set to "saved" after each answer
    browser.execute_script(
        "new MutationObserver(() => { if (document.getElementById('status').textContent"
        " === 'saved') window.__saved = (window.__saved || 0) + 1; })"
        ".observe(document.getElementById('status'), {childList: true});"
    )
    articles = browser.find_elements("css selector", "article.photo")
    assert [a.get_attribute("data-source") for a in articles] == [
        str(r["source"]) for r in reviewed.session.records
    ]
    # photo 0 (chelsea-cat): rank 2
    articles[0].find_element("css selector", "button.rank[data-rank='2']").click()
    wait_saved(browser, 1)
    # photo 1 (coffee, 600 x 400): drag its box right and down by a tenth of the frame
    box = browser.find_element("css selector", "article[data-index='1'] .box")
    frame = browser.find_element("css selector", "article[data-index='1'] .frame")
    scale = 600 / frame.size["width"]
    dx, dy = frame.size["width"] // 10, frame.size["height"] // 10
    ActionChains(browser).move_to_element(box).click_and_hold().move_by_offset(
        dx, dy
    ).release().perform()
    wait_saved(browser, 2)

    saved = read_jsonl(reviewed.session.path)
    cat, coffee = saved
    assert cat["crops"][0]["box"] == cat["proposals"][1]["box"]
    assert (cat["crops"][0]["chosen"], cat["crops"][0]["chosen_rank"]) == ("rank", 2)
    proposed = coffee["proposals"][0]["box"]
    x1, y1, x2, y2 = coffee["crops"][0]["box"]
    assert coffee["crops"][0]["chosen"] == "box"
    assert (x2 - x1) * 3 == (y2 - y1) * 4  # the ratio exact
    # moved by the drag (in photo pixels, to a few pixels of rounding), not resized much
    assert abs((x1 - proposed[0]) - min(dx * scale, 600 - proposed[2])) <= 4
    assert abs((y1 - proposed[1]) - min(dy * scale, 400 - proposed[3])) <= 4
    assert abs((x2 - x1) - (proposed[2] - proposed[0])) <= 4
    # the page shows what FILE holds
    state = browser.find_element("css selector", "article[data-index='1'] .state").text
    assert state == "your box"
