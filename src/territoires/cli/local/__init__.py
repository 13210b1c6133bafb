"""Local mode: the whole platform on one machine, on the system PostgreSQL and an embedded Redis."""
