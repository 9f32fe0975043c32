"""The review page in a real browser: Debian's headless Chromium driven by Selenium (skipped
when either is missing, failed under ``SACROP_REQUIRE_ALL=1``). The keyboard contract, key by
key, each key's effect read back from FILE (the manifest); the layout (the selected photo large,
the others small); a box dragged with the mouse. FILE's sources are real photos (absolute
paths), so that ``sacrop apply FILE`` can be run on it as it is."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import APT_TOOLS, EXAMPLES, read_jsonl, require_module, require_tool, serving

from sacrop_cli.io.inputs import scan_inputs
from sacrop_cli.viz.review import ReviewServer
from sacrop_cli.viz.review_records import BoxScorer, analyse, plan

# nothing downloaded, nothing phoned home: Selenium Manager is never asked for a driver
CHROMIUM_OPTIONS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,900",
)
#: What the stand-in engine scores: minus the L1 distance (photo pixels) of a box to this.
TARGET = (40, 30, 300, 250)
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
    """The review of two real photos (4:3 and 1:1, three ranks), analysed with the stand-in
    engine, which also scores the boxes moved, served in a thread."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(EXAMPLES / "coffee.jpg", photos / "coffee.jpg")  # 600 x 400
    shutil.copy(EXAMPLES / "chelsea-cat.jpg", photos / "chelsea-cat.jpg")  # 451 x 300
    scan = scan_inputs([photos])
    records = analyse(
        lambda: distance_cropper(TARGET, faces=False),
        plan(scan, [], ("4:3", "1:1")),
        scan,
        ("4:3", "1:1"),
        choices=3,
    )
    rescore = BoxScorer(lambda: distance_cropper(TARGET, faces=False))
    with serving(records, tmp_path / "review.jsonl", rescore) as server:
        yield server


def opened(driver, server: ReviewServer) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(server.url)
    WebDriverWait(driver, 10).until(lambda d: d.find_elements("css selector", "#stage .box"))


def press(driver, *keys: str, saves: int | None = None) -> None:
    """Type ``keys``; with ``saves``, wait until the page has had that many changes saved."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    ActionChains(driver).send_keys(*keys).perform()
    if saves is not None:
        WebDriverWait(driver, 10).until(
            lambda d: d.execute_script("return window.__saves") >= saves
            or d.find_element("id", "status").text.startswith("not saved")
        )
        assert driver.find_element("id", "status").text == "saved"


def shift(driver, key: str, saves: int) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(driver).key_down(Keys.SHIFT).send_keys(key).key_up(Keys.SHIFT).perform()
    press(driver, saves=saves)


def shown(driver) -> tuple[int, str]:
    """The position of the photo shown and the ratio shown."""
    article = driver.find_element("css selector", "#stage article")
    return int(article.get_attribute("data-position")), article.get_attribute("data-ratio")


def crop(server: ReviewServer, photo: int, ratio: int) -> dict:
    return read_jsonl(server.session.path)[photo]["crops"][ratio]


def proposal(server: ReviewServer, photo: int, ratio: str, rank: int) -> dict:
    record = read_jsonl(server.session.path)[photo]
    return next(p for p in record["proposals"] if (p["ratio"], p["rank"]) == (ratio, rank))


def distance(box: list[int]) -> float:
    return -float(sum(abs(a - b) for a, b in zip(box, TARGET)))


def test_the_keyboard_contract(browser, reviewed):
    from selenium.webdriver.common.keys import Keys

    opened(browser, reviewed)
    assert "token=" not in browser.current_url  # it left the address bar
    # the first photo selected, the photos in the order given
    sources = [str(r["source"]) for r in reviewed.session.records]
    assert [Path(s).name for s in sources] == ["chelsea-cat.jpg", "coffee.jpg"]
    assert shown(browser) == (0, "4:3")
    assert browser.find_element("id", "progress").text == "0 of 2 done"
    # j / k: next and previous photo
    press(browser, "j")
    assert shown(browser) == (1, "4:3")
    press(browser, "k")
    assert shown(browser) == (0, "4:3")
    # 1-9: that rank for the ratio shown
    press(browser, "2", saves=1)
    cat = crop(reviewed, 0, 0)
    assert (cat["chosen"], cat["chosen_rank"]) == ("rank", 2)
    assert cat["box"] == proposal(reviewed, 0, "4:3", 2)["box"]
    # r: next ratio, where the ranks then go
    press(browser, "r")
    assert shown(browser) == (0, "1:1")
    press(browser, "3", saves=2)
    assert crop(reviewed, 0, 1)["chosen_rank"] == 3 and crop(reviewed, 0, 0)["chosen_rank"] == 2
    # 0: sacrop's proposal back
    press(browser, "0", saves=3)
    assert crop(reviewed, 0, 1) == proposal(reviewed, 0, "1:1", 1)
    # arrows: 1% of the photo's side (coffee: 6 and 4 pixels), Shift: 10% (60, 40), the size
    # exact, the network's score saved
    press(browser, "j")
    assert shown(browser) == (1, "4:3")
    start = proposal(reviewed, 1, "4:3", 1)["box"]
    width, height = start[2] - start[0], start[3] - start[1]
    press(browser, Keys.ARROW_RIGHT, saves=4)
    x1 = min(start[0] + 6, 600 - width)
    assert crop(reviewed, 1, 0)["box"] == [x1, start[1], x1 + width, start[3]]
    press(browser, Keys.ARROW_LEFT, saves=5)
    x1 = max(x1 - 6, 0)
    assert crop(reviewed, 1, 0)["box"] == [x1, start[1], x1 + width, start[3]]
    shift(browser, Keys.ARROW_DOWN, saves=6)
    y1 = min(start[1] + 40, 400 - height)
    moved = crop(reviewed, 1, 0)
    assert moved["box"] == [x1, y1, x1 + width, y1 + height]
    assert moved["chosen"] == "box" and moved["score"] == pytest.approx(distance(moved["box"]))
    shift(browser, Keys.ARROW_UP, saves=7)
    y1 = max(y1 - 40, 0)
    assert crop(reviewed, 1, 0)["box"] == [x1, y1, x1 + width, y1 + height]
    # + and -: 2% larger, then smaller, about the centre, the ratio exact
    press(browser, "+", saves=8)
    grown = crop(reviewed, 1, 0)["box"]
    gw, gh = grown[2] - grown[0], grown[3] - grown[1]
    assert gw * 3 == gh * 4 and abs(gw - 1.02 * width) <= 4
    assert grown[0] + grown[2] - (2 * x1 + width) in range(-4, 5) or grown[0] == 0
    assert crop(reviewed, 1, 0)["score"] == pytest.approx(distance(grown))
    press(browser, "-", saves=9)
    shrunk = crop(reviewed, 1, 0)["box"]
    sw, sh = shrunk[2] - shrunk[0], shrunk[3] - shrunk[1]
    assert sw * 3 == sh * 4 and abs(sw - 0.98 * gw) <= 4
    # d: done and the next photo (none after the last: it stays); Enter: the same
    press(browser, "d", saves=10)
    assert read_jsonl(reviewed.session.path)[1]["reviewed"]
    assert browser.find_element("id", "progress").text == "1 of 2 done"
    press(browser, "k")
    press(browser, Keys.ENTER, saves=11)
    assert read_jsonl(reviewed.session.path)[0]["reviewed"]
    assert shown(browser)[0] == 1
    assert browser.find_element("id", "progress").text == "2 of 2 done"
    # ?: the keys, Esc: away again
    keys = browser.find_element("id", "keys")
    assert not keys.is_displayed()
    press(browser, "?")
    assert keys.is_displayed() and "next / previous photo" in keys.text
    press(browser, Keys.ESCAPE)
    assert not keys.is_displayed()


def test_the_photo_large_the_others_small_ranks_labelled_scores_in_words(browser, reviewed):
    opened(browser, reviewed)
    frame = browser.find_element("css selector", "#stage .frame")
    window = browser.execute_script("return [window.innerWidth, window.innerHeight]")
    thumbs = browser.find_elements("css selector", "#strip .thumb")
    assert len(thumbs) == 2 and all(t.size["width"] <= 160 for t in thumbs)
    # the 451 x 300 photo as large as the window allows: its whole width or height
    view = browser.find_element("css selector", "#stage .view")
    assert frame.size["width"] >= 0.6 * window[0] or frame.size["height"] >= view.size["height"] - 2
    assert frame.size["width"] * 300 == pytest.approx(frame.size["height"] * 451, rel=0.01)
    labels = [
        n.text for n in browser.find_elements("css selector", "#stage .proposal .rank-label")
    ]
    assert labels == ["2", "3"]  # rank 1 is the box itself
    assert browser.find_element("css selector", "#stage .box .rank-label").text == "1"
    buttons = browser.find_elements("css selector", "#stage button.rank")
    assert [b.text.split("\n")[0] for b in buttons] == ["#1", "#2", "#3"]
    words = {"sacrop's pick", "as good as #1", "close to #1", "a little below #1", "well below #1"}
    assert all(b.text.split("\n")[1] in words for b in buttons)  # no raw score on them


def test_a_dragged_box_keeps_its_size_and_is_scored(browser, reviewed):
    from selenium.webdriver.common.action_chains import ActionChains

    opened(browser, reviewed)
    ActionChains(browser).send_keys("j").perform()  # coffee, 600 x 400
    box = browser.find_element("css selector", "#stage .box")
    frame = browser.find_element("css selector", "#stage .frame")
    scale = 600 / frame.size["width"]
    start = proposal(reviewed, 1, "4:3", 1)["box"]
    ActionChains(browser).move_to_element(box).click_and_hold().move_by_offset(
        frame.size["width"] // 10, frame.size["height"] // 10
    ).release().perform()
    press(browser, saves=1)
    saved = crop(reviewed, 1, 0)
    x1, y1, x2, y2 = saved["box"]
    assert (x2 - x1, y2 - y1) == (start[2] - start[0], start[3] - start[1])  # exactly
    assert abs((x1 - start[0]) - min(60 / scale * scale, 600 - start[2])) <= 4
    assert saved["score"] == pytest.approx(distance(saved["box"]))
    assert browser.find_element("css selector", "#stage .state").text.startswith("your crop: ")
