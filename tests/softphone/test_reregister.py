from records.device import RegistrationChanged
from softphone.reregister import Reregister, pjsua_retries


def refused(code: int) -> RegistrationChanged:
    return RegistrationChanged(code, "no", False, 0)


def test_refusals_pjsua_gives_up_on_are_retried_with_a_doubling_backoff_up_to_the_cap():
    r = Reregister(first_s=10, cap_s=30)
    r.on_registration(refused(404), now_s=0)
    assert not r.due(9.9) and r.due(10) and not r.due(11)  # once
    r.on_registration(refused(404), now_s=10)
    assert not r.due(29) and r.due(30)
    r.on_registration(refused(403), now_s=30)
    assert r.delay_s == 30 and r.due(60)  # capped


def test_pjsua_retries_timeouts_itself_and_a_success_resets_the_backoff():
    r = Reregister(first_s=10, cap_s=300)
    r.on_registration(refused(404), now_s=0)
    r.on_registration(refused(408), now_s=1)  # PJSUA's timer runs: ours stands down
    assert not r.due(1000)
    r.on_registration(RegistrationChanged(200, "OK", True, 300), now_s=2)
    assert r.delay_s == 0
    r.on_registration(refused(401), now_s=3)
    assert r.due(13)


def test_which_codes_pjsua_retries():
    assert all(pjsua_retries(c) for c in (408, 480, 500, 502, 503, 504, 600, 603))
    assert not any(pjsua_retries(c) for c in (401, 403, 404, 407, 488))
