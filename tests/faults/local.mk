# tests/faults: fault-injection tests (kill -9, database outage, slow
# clients, SIGTERM under load). `make faults` runs them (CI too); they are
# not part of make check. Each starts its own MariaDB and programs.
FAULT_TESTS = \
	tests/faults/test_relay_kill9.py \
	tests/faults/test_db_outage_load.py \
	tests/faults/test_sigterm_load.py \
	tests/faults/test_slow_clients.py \
	tests/faults/test_api_kill9.py \
	tests/faults/follow_model.sh

EXTRA_DIST += tests/faults/faultlib.py $(FAULT_TESTS)

faults: all
	@$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(FAULT_TESTS)"
.PHONY: faults
