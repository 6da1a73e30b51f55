"""Central review at scale: many plan sets checked into one SQLite database."""
