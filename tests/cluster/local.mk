# tests/cluster: the multi-host deployment (deploy/cluster) proven in
# network namespaces: 3 Galera nodes, HAProxy, 2 API hosts, 3 relay hosts.
# `make cluster-test` runs it (needs root; skipped otherwise); CI runs it
# after make faults. Not part of make check.
CLUSTER_TESTS = tests/cluster/cluster-test.sh

EXTRA_DIST += $(CLUSTER_TESTS) tests/cluster/cluster.py tests/cluster/netns.sh

# The annotated cluster configuration, installed as templates for
# deploy/render under $(pkgdatadir)/deploy/cluster.
nobase_dist_pkgdata_DATA += \
	deploy/cluster/galera.cnf.in \
	deploy/cluster/galera-check.in \
	deploy/cluster/haproxy.cfg.in \
	deploy/cluster/chat.conf.in

cluster-test: all
	@$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(CLUSTER_TESTS)"
.PHONY: cluster-test

dist_doc_DATA += docs/scaling.md
