# tests/faults: fault-injection tests (kill -9, database outage, slow
# clients, SIGTERM under load), run by `make faults` (and CI), not by
# make check: they take minutes.
