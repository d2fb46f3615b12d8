"""The SIP supervisor device.

:mod:`softphone.device` runs one pjsua2 endpoint (:mod:`softphone.endpoint`,
with its account :mod:`softphone.account` and one :mod:`softphone.leg` per
INVITE dialog) on its own thread: it registers,
answers the supervise INVITEs that :mod:`softphone.admission` accepts, taps each
party's decoded audio (:mod:`softphone.tap`) onto the session's call clock
(:mod:`softphone.clock`) and publishes plain records (:mod:`records.device`),
which :mod:`softphone.feed` hands to the pipeline.  The parsers
(:mod:`softphone.message`, :mod:`softphone.sdp`, :mod:`softphone.identify`) are
pure functions.
"""
