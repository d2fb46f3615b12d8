"""The SIP supervisor device (pjsua2): registers, auto-answers supervise calls and
taps each party's PCM into the pipeline.  See issue "Softphone"; not built yet."""
