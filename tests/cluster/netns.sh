#!/bin/sh
# netns.sh up|down|check: the private network of the cluster test.
#
# Every host of the test is a network namespace "chcl-<host>" with one veth
# pair whose outer end joins the bridge "chcl-br". Rules (the machines the
# tests run on are shared):
#   - the bridge joins only this script's own veth ends, never a physical
#     interface, and has no address itself: the host's own stack is not on
#     the test network;
#   - no namespace gets a default route (only the connected /24);
#   - the /24 is one that no address or route of this machine touches
#     (checked against `ip -o addr` and `ip route` before anything is made);
#   - `down` removes every namespace, veth and the bridge; the caller runs
#     it from a trap, also on failure;
#   - leftovers of an earlier run are removed only when that run was ours
#     (same user, its process gone); anyone else's make `up` refuse.
#
# Environment: CLUSTER_HOSTS "name:suffix ..." (the host part of each
# address), CLUSTER_OWNER_PID the pid of the run (written to the owner
# file; `down` removes only that run's), CLUSTER_STATE a directory for the
# owner file. `up` prints the chosen a.b.c prefix.
set -eu

PREFIX=chcl
BRIDGE=${PREFIX}-br
STATE=${CLUSTER_STATE:-/run/chat-cluster-test}
OWNER=$STATE/owner
# Candidate subnets, tried in order; the first unused one is taken.
CANDIDATES="10.231.17 10.199.83 172.31.231 192.168.231"

die() { echo "netns.sh: $*" >&2; exit 1; }

ours_exist() {
	ip netns list 2>/dev/null | grep -q "^${PREFIX}-" && return 0
	ip -o link show 2>/dev/null | grep -q ": ${PREFIX}-" && return 0
	return 1
}

# Does a.b.c.0/24 overlap any address or (non-default) route here?
subnet_used() {
	python3 - "$1" <<'PY'
import ipaddress, subprocess, sys
net = ipaddress.ip_network(sys.argv[1] + ".0/24")
used = []
for line in subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True,
                           text=True, check=True).stdout.splitlines():
    f = line.split()
    used.append(ipaddress.ip_interface(f[f.index("inet") + 1]).network)
for line in subprocess.run(["ip", "-4", "route", "show", "table", "all"],
                           capture_output=True, text=True, check=True).stdout.splitlines():
    f = line.split()
    if not f:
        continue
    dst = f[1] if f[0] in ("local", "broadcast", "unicast", "multicast") else f[0]
    if dst == "default":
        continue
    try:
        used.append(ipaddress.ip_network(dst, strict=False))
    except ValueError:
        pass
sys.exit(0 if any(net.overlaps(u) for u in used) else 1)
PY
}

pick_subnet() {
	for s in $CANDIDATES; do
		if ! subnet_used "$s"; then
			echo "$s"
			return 0
		fi
	done
	return 1
}

# Remove every namespace (after killing what runs inside: only this test
# starts processes there), veth and the bridge named ${PREFIX}-*.
remove_all() {
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${PREFIX}-" || true); do
		for pid in $(ip netns pids "$ns" 2>/dev/null || true); do
			kill -9 "$pid" 2>/dev/null || true
		done
		ip netns delete "$ns" 2>/dev/null || true
	done
	for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
	           grep "^${PREFIX}-" || true); do
		ip link delete "$l" 2>/dev/null || true
	done
	rm -f "$OWNER"
}

# Only the run named in the owner file (CLUSTER_OWNER_PID) removes.
cmd_down() {
	owner_uid= owner_pid=
	[ -e "$OWNER" ] && read -r owner_uid owner_pid <"$OWNER" || true
	if [ "$owner_uid" != "$(id -u)" ] || [ "$owner_pid" != "${CLUSTER_OWNER_PID:-}" ]; then
		ours_exist && echo "netns.sh: leftovers are not this run's; not touching them" >&2
		return 0
	fi
	remove_all
}

cmd_up() {
	[ -n "${CLUSTER_HOSTS:-}" ] || die "CLUSTER_HOSTS is empty"
	mkdir -p "$STATE"
	if ours_exist || [ -e "$OWNER" ]; then
		owner_uid= owner_pid=
		[ -e "$OWNER" ] && read -r owner_uid owner_pid <"$OWNER" || true
		if [ -z "$owner_uid" ] || [ "$owner_uid" != "$(id -u)" ]; then
			die "namespaces/links named ${PREFIX}-* exist and are not ours (owner file: '${owner_uid:-none}'); refusing to touch them"
		fi
		if [ -n "$owner_pid" ] && kill -0 "$owner_pid" 2>/dev/null; then
			die "another cluster test (pid $owner_pid) is running; refusing to start"
		fi
		echo "netns.sh: removing leftovers of an earlier run of ours (pid $owner_pid)" >&2
		remove_all
	fi
	[ -n "${CLUSTER_OWNER_PID:-}" ] || die "CLUSTER_OWNER_PID is not set"
	echo "$(id -u) $CLUSTER_OWNER_PID" >"$OWNER"
	subnet=$(pick_subnet) || die "no unused subnet among: $CANDIDATES"
	ip link add "$BRIDGE" type bridge
	# No STP delay, no IPv6 chatter beyond the namespaces; no address: the
	# bridge only switches between the test's own veths.
	ip link set "$BRIDGE" type bridge forward_delay 0 stp_state 0
	sysctl -qw "net.ipv6.conf.$BRIDGE.disable_ipv6=1" 2>/dev/null || true
	ip link set "$BRIDGE" up
	for hs in $CLUSTER_HOSTS; do
		h=${hs%%:*}
		n=${hs#*:}
		ns=${PREFIX}-$h
		ip netns add "$ns"
		ip link add "${PREFIX}-$h" type veth peer name "${PREFIX}-$h-p"
		ip link set "${PREFIX}-$h-p" netns "$ns"
		ip link set "${PREFIX}-$h" master "$BRIDGE" up
		ip -n "$ns" link set "${PREFIX}-$h-p" name eth0
		ip -n "$ns" addr add "$subnet.$n/24" dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$ns" link set lo up
		# Exactly one route: the connected /24. No default route.
		if ip -n "$ns" route show default | grep -q .; then
			die "namespace $ns has a default route"
		fi
	done
	echo "$subnet"
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
check) ours_exist && echo "leftovers present" || echo "clean" ;;
*) die "usage: netns.sh up|down|check" ;;
esac
