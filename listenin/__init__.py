"""listenin: listen in on live phone calls and publish live, speaker-labelled transcripts."""

__version__ = "0.1.0"
