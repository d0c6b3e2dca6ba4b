#!/bin/sh
# make cluster-test: chat-relay and chat-api on several hosts over a 3-node
# MariaDB Galera cluster behind HAProxy, every host a network namespace on a
# private bridge (tests/cluster/netns.sh states the network rules). The
# scenario is tests/cluster/cluster.py, run inside the client namespace: the
# clients reach the cluster only through HAProxy.
#
# Needs root (namespaces) and the Debian packages mariadb-server, galera-4,
# rsync, haproxy, lighttpd, python3-websockets; exits 77 (skipped) without.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
for t in ip haproxy lighttpd mariadbd mariadb-install-db mariadb rsync python3; do
	command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || skip "$t not installed"
done
[ -n "${GALERA_PROVIDER:-}" ] || for p in /usr/lib/galera/libgalera_smm.so \
	/usr/lib/libgalera_smm.so /usr/lib64/galera-4/libgalera_smm.so; do
	[ -e "$p" ] && GALERA_PROVIDER=$p && break
done
[ -n "${GALERA_PROVIDER:-}" ] || skip "galera-4 not installed"
export GALERA_PROVIDER
ip netns list >/dev/null 2>&1 || skip "ip netns does not work here"

export CLUSTER_HOSTS="hap:10 g1:11 g2:12 g3:13 a1:21 a2:22 r1:31 r2:32 r3:33 cli:50"
export CLUSTER_OWNER_PID=$$
# The trap removes only what this run made (netns.sh down checks the owner
# file), so a refusal to start leaves another run's namespaces alone.
trap 'sh "$here/netns.sh" down' EXIT
trap 'exit 130' INT TERM HUP
CLUSTER_SUBNET=$(sh "$here/netns.sh" up)
export CLUSTER_SUBNET
echo "cluster test network: $CLUSTER_SUBNET.0/24 (bridge chcl-br, no default route)"
# A bound on the whole run, whatever happens inside.
timeout -k 10 "${CLUSTER_TEST_TIMEOUT:-900}" \
	ip netns exec chcl-cli python3 "$here/cluster.py" "$@"
