"""The page at / in a real headless browser (Debian's chromium + chromedriver, driven by selenium):
pick a user, see recommendations with their reasons, like one, watch the list change."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("fastapi")
webdriver = pytest.importorskip("selenium.webdriver")

import turborec  # noqa: E402
from serve_support import TOKEN, Server  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs chromium and chromedriver (apt-get "
                                                                  "install chromium chromium-driver; .ci/serve.sh)")


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_pick_a_user_like_an_item_and_watch_the_list_change(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    path = tmp_path / "mf.npz"
    turborec.MatrixFactorization(8, 8, seed=0, n_threads=1).fit(turborec.synthetic(100, 50, 1200, seed=12)).save(path)
    with Server(path, f"sqlite:///{tmp_path / 'ev.db'}", tmp_path) as s:
        wait = WebDriverWait(browser, 20)
        browser.get(s.url + "/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        assert "MatrixFactorization" in browser.find_element(By.ID, "model").text
        user = browser.find_element(By.ID, "user")
        user.clear()
        user.send_keys("7")
        browser.find_element(By.ID, "token").send_keys(TOKEN)
        browser.find_element(By.ID, "show").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#recs li")) == 10)

        def items():
            return [li.get_attribute("data-item") for li in browser.find_elements(By.CSS_SELECTOR, "#recs li")]

        first = items()
        with s.client() as c:
            assert first == [str(i) for i in c.get("/v1/users/7/recommendations").json()["items"]]
        reasons = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#recs .reason")]
        assert all(r.startswith("top factors: #") for r in reasons), reasons
        browser.find_elements(By.CSS_SELECTOR, "#recs li button.like")[0].click()
        wait.until(lambda d: d.find_element(By.ID, "recs").get_attribute("data-likes") == "1")
        after = items()
        assert first[0] not in after and after != first
        assert "liked item" in browser.find_element(By.ID, "status").text
        assert browser.find_element(By.ID, "error").text == ""
        with s.client() as c:
            assert after == [str(i) for i in c.get("/v1/users/7/recommendations").json()["items"]]
        # a wrong token is reported on the page, not swallowed
        token = browser.find_element(By.ID, "token")
        token.clear()
        token.send_keys("wrong-token-123")
        browser.find_elements(By.CSS_SELECTOR, "#recs li button.like")[0].click()
        wait.until(lambda d: "invalid token" in d.find_element(By.ID, "error").text)
