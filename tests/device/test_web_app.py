"""The Web app in the real window: the sites the agent lists with their "until", in plain words and
big buttons, in every language; a refusal the agent heard shows the shell's own blocked screen."""

from __future__ import annotations

import pytest

from tests.device.states import WEB_SITES, web, web_blocked

pytestmark = pytest.mark.gui


def texts(shell) -> set[str]:
    return {getattr(w, "text", "") for w in shell.app.root.walk()}


def site_buttons(shell) -> list:
    return list(reversed(shell.app.root.ids.sm.get_screen("web").ids.sites.children))


@pytest.fixture
def polish_off():
    yield
    from device.ui.tr import tr

    tr.switch("en")


def test_the_web_app_lists_each_site_with_its_purpose_and_until_when(start_shell):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(web())
    shell.step()
    home = {t.text for t in shell.app.root.ids.sm.current_screen.ids.tiles.children}
    assert "Web" in home
    shell.app.go("web")
    shell.step()
    assert [b.text for b in site_buttons(shell)] == [
        "Find a job\nJobs — until 00:26",  # a profile site: until tonight's curfew
        "Apply for council housing\nHousing — until 20 December",  # a grant: its last day
        "Universal Credit account\nBenefits — until 20 December",
    ]
    assert all(b.height >= 96 for b in site_buttons(shell))  # big targets


def test_the_web_app_speaks_polish_at_the_largest_text(start_shell, tmp_path, polish_off):
    from device import prefs

    data = tmp_path / "tablet"
    prefs.save(data / "prefs.json", prefs.Prefs(language="pl", text_scale=max(prefs.TEXT_SCALES)))
    shell = start_shell(connect=False, data_dir=data)
    shell.app.on_agent_state(web())
    shell.app.go("web")
    shell.step()
    assert [b.text.split("\n")[1] for b in site_buttons(shell)] == [
        "Praca — do 00:26", "Mieszkanie — do 20 grudnia", "Zasiłki — do 20 grudnia"]


def test_a_tablet_without_the_web_has_no_web_tile(start_shell):
    from tests.device.states import state

    shell = start_shell(connect=False)
    shell.app.on_agent_state(state())
    shell.step()
    assert "Web" not in {t.text for t in shell.app.root.ids.sm.current_screen.ids.tiles.children}


def test_a_refusal_shows_the_blocked_screen_in_plain_words_with_ask(start_shell):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(web_blocked(at=1))  # heard before this shell started: not shown
    shell.step()
    assert shell.screen() == "home"
    shell.app.on_agent_state(web_blocked(host="www.facebook.com", at=2))
    shell.step()
    assert shell.screen() == "web"
    screen = shell.app.root.ids.sm.current_screen
    assert screen.ids.steps.current == "blocked"
    assert "This site is not on your list" in texts(shell)
    assert "You can ask staff to add www.facebook.com to your list." in texts(shell)
    assert screen.can_ask and screen.ids.ask.height >= 64
    shell.app.on_agent_state(web_blocked(host="www.facebook.com", at=2))  # the same: stays
    assert [s.site for s in WEB_SITES] and screen.ids.steps.current == "blocked"


def test_a_gateway_that_cannot_be_reached_is_not_offered_as_a_request(start_shell):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(web())
    shell.app.on_agent_state(web_blocked(host="www.gov.uk", reason="proxy_unreachable", at=5))
    shell.step()
    screen = shell.app.root.ids.sm.current_screen
    assert "The internet is not working right now" in texts(shell)
    assert not screen.can_ask


def test_a_refusal_because_the_tablet_is_locked_leaves_it_to_the_lock_screen(start_shell):
    from tests.device.states import locked

    shell = start_shell(connect=False)
    shell.app.on_agent_state(web())
    shell.app.on_agent_state(locked().model_copy(
        update={"web": web_blocked(reason="locked", at=7).web}))
    shell.step()
    assert shell.screen() == "lock"
    shell.app.on_agent_state(web())
    shell.step()
    assert shell.screen() == "home"
