"""The staff page in a real browser: headless Debian Chromium driven by Playwright.

The app runs on a threaded WSGI server on 127.0.0.1 (a free port) with CSRF
checks on. The tests log in through the form, book for a caller, move the
booking and play a question's recording. They watch a call appear in the live
view while the test writes it to the store, and run axe-core on every page.
Screenshots go to tests/web/output/screenshots/ (git-ignored).

Playwright's own browser download does not work here, so the tests use
/usr/bin/chromium and are skipped when it is missing.
"""

import math
import os
import struct
import threading
import wave
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from ivr.config import load_settings
from ivr.staff_store import ROLES
from ivr.web import create_app

from .conftest import PASSWORD, future

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "output" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--autoplay-policy=no-user-gesture-required"]
# Seconds Playwright waits for an element or a navigation before failing.
WAIT_MS = 10_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"{CHROMIUM} is missing; install Debian's chromium package"),
]


def write_tone(path, seconds=1.0, rate=8000, hertz=440):
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hertz * i / rate)))
                      for i in range(int(rate * seconds)))
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(frames)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A running app with tours, a question with a recording and a finished call."""
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    settings = load_settings(data_dir=data_dir)
    app = create_app(settings, {"SECRET_KEY": "browser-test", "SESSION_COOKIE_SECURE": False,
                                "LIVE_POLL_SECONDS": 0.2, "LIVE_STREAM_SECONDS": 30})
    store = app.extensions["ivr"]["store"]
    staff = app.extensions["ivr"]["staff"]
    staff.add_user("anna", PASSWORD, list(ROLES), full_name="Анна Петрова")

    tours = {"a": store.add_tour(future(24), 10, "Утренняя экскурсия"),
             "b": store.add_tour(future(26), 4, "Дневная экскурсия"),
             "c": store.add_tour(future(48), 2, "Завтрашняя экскурсия")}
    store.book(tours["b"], 2, name="Мария Иванова", phone="+7 916 000-00-01")
    write_tone(settings.recordings_dir / "question-1.wav")
    question = store.add_question(transcript="Сколько стоят билеты на выставку?",
                                  tags="цены", phone="+79160000002", age_group="18-30",
                                  recording="recordings/question-1.wav", duration_seconds=1.0)
    store.start_call("done-1", "wav", "ru", caller_id="+79160000003")
    store.add_turn("done-1", field="tour", prompt="На какое время?", event="nomatch",
                   heard="эээ")
    store.end_call("done-1", "abandoned")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "store": store, "staff": staff,
           "tours": tours, "question": question}
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, site):
    context = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    log_in(page, site["url"])
    yield page
    context.close()


def log_in(page, url):
    page.goto(url + "/login")
    page.get_by_label("Имя пользователя").fill("anna")
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_label("Пароль").press("Enter")
    page.wait_for_url(url + "/tours")


def check_page(page, name):
    """Save a full-page screenshot and fail on serious or critical axe-core violations."""
    from axe_playwright_python.sync_playwright import Axe

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    results = Axe().run(page)
    serious = [f"{v['id']} ({v['impact']}): {v['help']} at "
               f"{[node['target'] for node in v['nodes']][:3]}"
               for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], f"axe-core on {name}: {serious}"


def test_login_page_accessible(browser, site):
    context = browser.new_context(locale="ru-RU")
    page = context.new_page()
    page.goto(site["url"] + "/login")
    check_page(page, "login")

    page.get_by_role("button", name="Вход").click()
    assert page.locator("#error-summary").is_visible()
    check_page(page, "login-errors")
    context.close()


def test_skip_link_and_focus_by_keyboard(page, site):
    page.goto(site["url"] + "/tours")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert focused == "skip-link"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_book_for_caller(page, site):
    page.goto(site["url"] + "/tours")
    check_page(page, "tours")

    page.get_by_role("link", name=page.locator("th a").first.inner_text()).first.click()
    page.wait_for_selector("h1:has-text('Экскурсия')")
    check_page(page, "tour")

    page.get_by_label("Места").fill("3")
    page.get_by_label("Имя абонента").fill("Ольга Смирнова")
    page.get_by_label("Номер телефона").fill("+7 926 555-44-33")
    page.get_by_role("button", name="Забронировать").click()

    flash = page.locator(".flash[role=status]")
    assert "создана" in flash.inner_text()
    booking = site["store"].list_bookings(tour_id=site["tours"]["a"])[0]
    assert booking["name"] == "Ольга Смирнова"
    assert booking["places"] == 3
    check_page(page, "booking")


def test_overbooking_message_in_browser(page, site):
    page.goto(site["url"] + f"/bookings/new?tour_id={site['tours']['c']}")
    check_page(page, "booking-new")
    page.get_by_label("Места").fill("5")
    page.get_by_label("Имя абонента").fill("Слишком много")
    page.get_by_role("button", name="Забронировать").click()
    summary = page.locator("#error-summary")
    assert "Ничего не изменено" in summary.inner_text()
    assert site["store"].get_tour(site["tours"]["c"])["booked"] == 0
    check_page(page, "booking-new-full")


def test_move_booking(page, site):
    booking = site["store"].list_bookings(tour_id=site["tours"]["a"])[0]
    page.goto(site["url"] + f"/bookings/{booking['id']}")
    page.get_by_label("Новая экскурсия").select_option(str(site["tours"]["b"]))
    page.get_by_label("Места", exact=True).fill("2")
    page.get_by_role("button", name="Перенести бронь").click()

    assert "перенесена" in page.locator(".flash[role=status]").inner_text()
    moved = site["store"].get_booking(booking["id"])
    assert moved["tour_id"] == site["tours"]["b"]
    assert moved["places"] == 2
    assert site["store"].get_tour(site["tours"]["b"])["booked"] == 4


def test_search_print_and_forms(page, site):
    page.goto(site["url"] + "/bookings")
    page.get_by_label("Имя, номер телефона или код брони").fill("смирнова")
    page.get_by_role("button", name="Найти").click()
    assert "Ольга Смирнова" in page.locator("table").inner_text()
    check_page(page, "booking-search")

    page.goto(site["url"] + f"/tours/{site['tours']['b']}/print")
    assert "Мария Иванова" in page.inner_text("table")
    check_page(page, "tour-print")

    page.goto(site["url"] + f"/tours/{site['tours']['b']}/edit")
    check_page(page, "tour-edit")
    page.goto(site["url"] + "/tours/new")
    check_page(page, "tour-new")


def test_play_question(page, site):
    page.goto(site["url"] + "/questions")
    check_page(page, "questions")
    page.get_by_role("link", name=f"Вопрос {site['question']}").click()
    check_page(page, "question")

    played = page.evaluate("""async () => {
        const audio = document.querySelector('audio');
        await audio.play();
        await new Promise(resolve => setTimeout(resolve, 400));
        return {time: audio.currentTime, duration: audio.duration, error: audio.error};
    }""")
    assert played["error"] is None
    assert played["duration"] == pytest.approx(1.0, abs=0.05)
    assert played["time"] > 0


def test_live_call_appears(page, site):
    store = site["store"]
    page.goto(site["url"] + "/calls/live")
    expect(page.locator("#live-connection")).to_contain_text("обновляется")
    check_page(page, "calls-live-empty")

    store.start_call("live-1", "sip", "ru", caller_id="+79160000004")
    store.set_current_turn("live-1", "tour")
    page.wait_for_selector('tr[data-call-id="live-1"]')
    expect(page.locator("#live-announcer")).to_contain_text("Начался звонок live-1")
    assert "Звонков идёт: 1" in page.inner_text("#live-count")

    store.set_current_turn("live-1", "places")
    expect(page.locator('tr[data-call-id="live-1"] td').nth(3)).to_have_text("places")
    expect(page.locator("#live-announcer")).to_contain_text("Звонок live-1: шаг places")
    check_page(page, "calls-live")

    store.end_call("live-1", "booked")
    page.wait_for_selector('tr[data-call-id="live-1"]', state="detached")
    expect(page.locator("#live-announcer")).to_contain_text("Звонок live-1 завершён")


def test_call_pages(page, site):
    page.goto(site["url"] + "/calls")
    check_page(page, "calls")
    page.goto(site["url"] + "/calls/done-1")
    assert "эээ" in page.inner_text("table")
    check_page(page, "call")
    page.goto(site["url"] + "/calls/stats")
    check_page(page, "calls-stats")


def test_admin_pages(page, site):
    for name, path in (("admin-users", "/admin/users"), ("admin-user-new", "/admin/users/new"),
                       ("admin-tokens", "/admin/tokens"), ("admin-audit", "/admin/audit"),
                       ("admin-settings", "/admin/settings")):
        page.goto(site["url"] + path)
        check_page(page, name)
    assert "booking.moved" in page.goto(site["url"] + "/admin/audit").text()


def test_english_page(page, site):
    page.goto(site["url"] + "/tours")
    page.get_by_label("Язык").select_option("en")
    page.get_by_role("button", name="Переключить").click()
    assert page.locator("h1").inner_text() == "Tours"
    check_page(page, "tours-en")
    page.get_by_label("Language").select_option("ru")
    page.get_by_role("button", name="Switch").click()
    assert page.locator("h1").inner_text() == "Экскурсии"
