# tests/e2e: build fragment, included by the top-level Makefile.am
