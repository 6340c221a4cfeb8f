#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Proves the daemon's command line: -v and -h answer and exit 0, an
# unknown option and a missing or bad -c file make it exit 1 with a
# message that names the file (and line and key for a bad file), and
# a ticket key file others may read is refused by name.
set -u
daemon="$1"
tmp=$(mktemp -d /tmp/hd-test-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0

check() {
	if ! grep -q -- "$2" "$tmp/out"; then
		echo "FAIL: $1: output lacks '$2':"; cat "$tmp/out"; fail=1
	fi
}

status() {
	if [ "$2" != "$3" ]; then
		echo "FAIL: $1: exit status $2, want $3"; cat "$tmp/out"; fail=1
	fi
}

"$daemon" -v >"$tmp/out" 2>&1; status "-v" $? 0
check "-v" "^handshaked [0-9]"

"$daemon" -h >"$tmp/out" 2>&1; status "-h" $? 0
check "-h" "usage:"

"$daemon" -x >"$tmp/out" 2>&1; status "-x" $? 1

"$daemon" -s -c "$tmp/absent.conf" >"$tmp/out" 2>&1
status "missing -c file" $? 1
check "missing -c file" "Failed to open config file '$tmp/absent.conf'"

printf '[debug]\nloglevel=1\nverbose=1\n' >"$tmp/bad.conf"
"$daemon" -s -c "$tmp/bad.conf" >"$tmp/out" 2>&1
status "bad config" $? 1
check "bad config" "$tmp/bad.conf:3: unknown key 'verbose'"

printf '[authenticate.server]\nx509.certificate=%s\nx509.private_key=%s\n' \
	"$tmp/none.pem" "$tmp/none.key" >"$tmp/nocert.conf"
"$daemon" -s -c "$tmp/nocert.conf" >"$tmp/out" 2>&1
status "absent certificate" $? 1
check "absent certificate" "Failed to load certificate '$tmp/none.pem'"

printf '[resumption]\nticket_wait=lots\n' >"$tmp/wait.conf"
"$daemon" -s -c "$tmp/wait.conf" >"$tmp/out" 2>&1
status "bad ticket_wait" $? 1
check "bad ticket_wait" "$tmp/wait.conf:2: bad value 'lots' for key 'ticket_wait' in section 'resumption'"

head -c 64 /dev/zero >"$tmp/ticket.key"
chmod 644 "$tmp/ticket.key"
printf '[resumption]\nticket_key=%s\n' "$tmp/ticket.key" >"$tmp/key.conf"
"$daemon" -s -c "$tmp/key.conf" >"$tmp/out" 2>&1
status "readable ticket key" $? 1
check "readable ticket key" "Failed to load ticket key file '$tmp/ticket.key': mode 644"

exit $fail
