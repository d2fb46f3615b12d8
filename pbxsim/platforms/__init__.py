"""Fake phone-platform API servers for tests and demos, on loopback.

Each fake follows its platform's documented paths, bodies, status codes and
error bodies (``/work/shared/seeds``), checks the credentials each request must
carry, and on a supervise request has the simulator place the SIP call(s) to
the supervisor device with pbxsim's own UAC: one mixed stream for whole-call
supervision, one INVITE per party for per-party supervision.  Knobs inject
401/403/404/429/5xx and malformed JSON (:meth:`FakeServer.fail`,
:meth:`FakeServer.malformed`).
"""
