"""Static files of the live web console (no CDN, no build step)."""
