"""listenin's audio pipeline: per-party audio in, live speaker-labelled transcripts out.

Every stage here is a sans-I/O class (no sockets, threads, clocks or model loading)
except :mod:`pipeline.workers` and :mod:`pipeline.runtime`, which wrap them.
"""
