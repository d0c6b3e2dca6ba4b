#!/bin/sh
# The configs `make install` ships (rendered with the install paths) are
# accepted by the programs that read them: lighttpd -tt, apache2 -t,
# nginx -t, systemd-analyze verify. A server that is not installed is left
# out; the test is skipped only when none of them is.
set -eu
: "${top_builddir:?}" "${top_srcdir:?}"
d="$top_builddir/deploy"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/chat-configs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
checked=0
fail=0

find_tool() {
	for c in "$@"; do
		command -v "$c" 2>/dev/null && return 0
		for p in /usr/sbin /usr/bin; do
			[ -x "$p/$c" ] && { echo "$p/$c"; return 0; }
		done
	done
	return 1
}

run() {
	what=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then
		echo "ok: $what"
	else
		echo "FAIL: $what"
		cat "$tmp/out"
		fail=1
	fi
	checked=$((checked + 1))
}

for f in lighttpd/chat.conf apache/chat-proxy-fcgi.conf apache/chat-fcgid.conf \
	nginx/chat.conf systemd/chat-api.socket systemd/chat-api.service \
	systemd/chat-relay.service systemd/chat-relay@.service logrotate/chat; do
	[ -s "$d/$f" ] || { echo "FAIL: $d/$f was not built"; exit 1; }
	if grep -n '@[A-Za-z_]*@' "$d/$f"; then
		echo "FAIL: $f has unreplaced @VARIABLES@"
		fail=1
	fi
done

if lighttpd=$(find_tool lighttpd); then
	cat >"$tmp/lighttpd.conf" <<EOT
server.modules = ( "mod_indexfile" )
server.port = 1
server.document-root = "$tmp"
include "$d/lighttpd/chat.conf"
EOT
	run "lighttpd -tt lighttpd/chat.conf" "$lighttpd" -tt -f "$tmp/lighttpd.conf"
fi

if apache=$(find_tool apache2 httpd) && [ -d /usr/lib/apache2/modules ]; then
	M=/usr/lib/apache2/modules
	for site in chat-proxy-fcgi chat-fcgid; do
		mods="mpm_event authz_core mime dir alias proxy proxy_http proxy_wstunnel proxy_fcgi"
		conf="$d/apache/$site.conf"
		if [ $site = chat-fcgid ]; then
			[ -f $M/mod_fcgid.so ] || continue
			mods="$mods fcgid"
			# mod_fcgid insists the wrapper exists: point it at one that does.
			sed "s|FcgidWrapper \"[^ \"]*|FcgidWrapper \"/bin/true|" "$conf" >"$tmp/$site.conf"
			conf="$tmp/$site.conf"
		fi
		{
			echo "ServerRoot \"$tmp\""
			echo "ServerName localhost"
			for m in $mods; do echo "LoadModule ${m}_module $M/mod_$m.so"; done
			echo "PidFile \"$tmp/apache.pid\""
			echo "ErrorLog \"$tmp/apache-error.log\""
			echo "Include \"$conf\""
		} >"$tmp/apache-$site.conf"
		run "apache2 -t apache/$site.conf" "$apache" -t -f "$tmp/apache-$site.conf"
	done
fi

if nginx=$(find_tool nginx) && [ -f /etc/nginx/fastcgi_params ]; then
	cp /etc/nginx/fastcgi_params "$tmp/"
	cat >"$tmp/nginx.conf" <<EOT
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events {}
http {
	access_log off;
	include $d/nginx/chat.conf;
}
EOT
	run "nginx -t nginx/chat.conf" "$nginx" -t -p "$tmp" -c "$tmp/nginx.conf"
fi

if command -v systemd-analyze >/dev/null 2>&1; then
	# verify wants the ExecStart binaries to exist: use the built ones.
	for u in chat-api.socket chat-api.service chat-relay.service chat-relay@.service; do
		sed -e "s|^\(ExecStart[A-Za-z]*=\)[^ ]*/chat-api|\1$top_builddir/api/chat-api|" \
			-e "s|^\(ExecStart[A-Za-z]*=\)[^ ]*/chat-relay|\1$top_builddir/relay/chat-relay|" \
			"$d/systemd/$u" >"$tmp/$u"
	done
	cp "$top_srcdir/deploy/systemd/chat-relay.target" "$tmp/"
	ln -s chat-relay@.service "$tmp/chat-relay@1.service"
	# verify only warns about unknown keys: any complaint about our files fails.
	run "systemd-analyze verify (units)" sh -c '
		out=$(systemd-analyze verify "$@" 2>&1) || { echo "$out"; exit 1; }
		echo "$out"
		! echo "$out" | grep -E "chat[-.@a-z0-9]*\.(service|socket|target)"' verify \
		"$tmp/chat-api.socket" "$tmp/chat-api.service" "$tmp/chat-relay.service" \
		"$tmp/chat-relay@1.service" "$tmp/chat-relay.target"
fi

[ $checked -gt 0 ] || { echo "SKIP: none of lighttpd, apache2, nginx, systemd-analyze installed"; exit 77; }
exit $fail
