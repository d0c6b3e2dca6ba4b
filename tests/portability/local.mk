# tests/portability: the release tarball built and tested on Debian 11, 12
# and 13, each in a fresh debootstrap chroot with only the packages
# docs/deploy.md lists for it (run.sh; as root, with the network for the
# packages; see docs/HACKING.md). Not part of make check: a full run takes
# about an hour on two cores.
EXTRA_DIST += tests/portability/run.sh
PORTABILITY_RELEASES = bullseye bookworm trixie

.PHONY: portability
portability: dist
	@st=0; for r in $(PORTABILITY_RELEASES); do \
		CHAT_PORTABILITY_DIR='$(abs_top_builddir)/portability' \
		$(SHELL) '$(abs_top_srcdir)/tests/portability/run.sh' $$r \
			'$(abs_top_builddir)/$(PACKAGE)-$(VERSION).tar.gz' || st=1; \
	done; exit $$st
