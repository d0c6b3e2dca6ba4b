# tests/relay: build fragment, included by the top-level Makefile.am
