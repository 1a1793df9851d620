"""Runtime: the thin effectful layer that talks to PostgreSQL, the API server and Kopf, and runs
what the core decides."""
