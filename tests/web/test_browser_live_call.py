"""A call run by the real dialog engine shows up in the live view while it is in progress."""

import threading

from playwright.sync_api import expect

from ivr.config import load_settings
from ivr.line import Line
from ivr.simulator import SimulatedChannel, parse_turn

from .test_browser import browser, check_page, page, pytestmark, site  # noqa: F401


class GatedChannel(SimulatedChannel):
    """A simulated caller who stops answering after `answered` turns until `gate` opens."""

    def __init__(self, turns, answered, gate, **kwargs):
        super().__init__(turns, **kwargs)
        self.remaining_when_gated = len(self.turns) - answered
        self.gate = gate

    def next_event(self):
        if len(self.turns) <= self.remaining_when_gated and not self.gate.is_set():
            self.gate.wait(30)
        return super().next_event()


def test_simulated_call_appears_live(page, site):  # noqa: F811
    store = site["store"]
    settings = load_settings(lang="ru", data_dir=store.path.parent)
    line = Line(settings, model=False, store=store)
    gate = threading.Event()
    turns = [parse_turn(t, "ru", 16000) for t in ("записаться", "завтра")]
    channel = GatedChannel(turns, answered=1, gate=gate, caller_id="+79160000009")
    records = []
    call = threading.Thread(target=lambda: records.append(line.run_call(channel)))

    page.goto(site["url"] + "/calls/live")
    call.start()
    row = page.locator("tr[data-call-id]").filter(has_text="day")
    expect(row).to_have_count(1)
    expect(page.locator("#live-announcer")).to_contain_text("Начался звонок")
    check_page(page, "calls-live-simulated")

    gate.set()
    call.join(60)
    assert records[0]["outcome"] == "abandoned"
    expect(page.locator("tr[data-call-id]").filter(has_text="day")).to_have_count(0)
