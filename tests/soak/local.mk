# tests/soak: `make soak`, a long mixed load against a private stack with
# RSS, fds, DB connections and reader lag sampled into docs/soak.csv and
# plotted to docs/soak.png. Not part of make check (it takes 30 minutes).
#
#   make soak                      # 30 minutes
#   make soak SOAK_SECONDS=120     # a short run
#   make soak SOAK_VALGRIND=1      # relay and API under valgrind, 3 minutes by default
# empty: the script's defaults (1800 s; 180 s under valgrind)
SOAK_SECONDS =
SOAK_VALGRIND =
EXTRA_DIST += tests/soak/run-soak.sh tests/soak/soak.py tests/soak/soak.gp \
	docs/soak.csv docs/soak.png
dist_doc_DATA += docs/soak.md

.PHONY: soak
soak: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	MARIADBD='$(MARIADBD)' MARIADB_INSTALL_DB='$(MARIADB_INSTALL_DB)' \
	SOAK_SECONDS='$(SOAK_SECONDS)' \
	SOAK_VALGRIND='$(SOAK_VALGRIND)' \
	bash $(abs_top_srcdir)/tests/soak/run-soak.sh
