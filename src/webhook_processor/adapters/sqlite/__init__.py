"""The embedded SQLite store: events, and the delivery queue built on them."""
