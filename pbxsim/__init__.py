"""A local stand-in for the phone platform: places supervise calls to the device.

It plays the two parties of a fixture call as real RTP through its own pjsua2
endpoint (a separate process from the device), in both RingCentral forms: one
INVITE with an ``m=audio`` line per party (``i=party-id=...``) and the
``p-rc-api-*`` headers, or one INVITE per party.  A generic form sends
``X-Session-Id`` / ``X-Party-Id`` / ``X-Party-Role`` headers instead.
"""
