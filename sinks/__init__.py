"""Where events and audio go: the websocket server and web console, the recording archive."""
