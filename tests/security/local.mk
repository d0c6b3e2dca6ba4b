# tests/security: security properties of the real programs (see
# docs/security.md), part of make check.

SECURITY_TESTS = \
	tests/security/test_tokens.py \
	tests/security/test_secrets_in_logs.py \
	tests/security/test_sql_metachars.py \
	tests/security/test_login_guard.py \
	tests/security/test_bombs.py \
	tests/security/test_visibility.py \
	tests/security/test_origins.py \
	tests/security/test_authorization.py \
	tests/security/test_login_name_variants.py
TESTS += $(SECURITY_TESTS)
EXTRA_DIST += tests/security/seclib.py $(SECURITY_TESTS)
