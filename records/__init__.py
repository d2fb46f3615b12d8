"""Shared records: the plain, frozen data every layer passes around.

The bottom layer.  It imports nothing of the project: audio frames and gaps
(:mod:`records.frames`), the public transcript events with their one JSON
serialiser (:mod:`records.events`), the device's leg and stream records
(:mod:`records.device`) and the typed stream kind (:mod:`records.kinds`); and
two small checks every layer shares: labels from the network made safe to log
(:mod:`records.labels`) and config-file values checked against their types
(:mod:`records.settings`).
"""
