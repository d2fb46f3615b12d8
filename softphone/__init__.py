"""The SIP supervisor device.

So far: the pure parsers it needs, :mod:`softphone.sdp` (offers with one
``m=audio`` line per party) and :mod:`softphone.identify` (which call and party
an INVITE is about).  The pjsua2 device itself is still to come.
"""
