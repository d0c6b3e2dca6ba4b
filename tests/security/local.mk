# tests/security: security properties of the real programs (see
# docs/security.md), part of make check.
EXTRA_DIST += docs/security.md
