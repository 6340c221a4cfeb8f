#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Make the certificates the library tests use, into the directory given:
# a CA, a server certificate for "localhost" and 127.0.0.1, a client
# certificate, a CRL revoking a second client certificate, and an
# unrelated CA. Keys are ECDSA P-256 so that this runs in milliseconds.
set -eu

dir=$1
cd "$dir"

key() {
	certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 \
		--outfile "$1" 2>/dev/null
}

tmpl() {
	name=$1
	shift
	printf '%s\n' "$@" > "$name.tmpl"
}

ca() {
	key "$1-key.pem"
	tmpl "$1" "cn = \"$2\"" "serial = 1" "expiration_days = 2" \
		"ca" "cert_signing_key" "crl_signing_key"
	certtool --generate-self-signed --load-privkey "$1-key.pem" \
		--template "$1.tmpl" --outfile "$1.pem" 2>/dev/null
}

leaf() {
	name=$1
	serial=$2
	shift 2
	key "$name-key.pem"
	tmpl "$name" "serial = $serial" "expiration_days = 2" \
		"signing_key" "$@"
	certtool --generate-certificate --load-privkey "$name-key.pem" \
		--load-ca-certificate ca.pem --load-ca-privkey ca-key.pem \
		--template "$name.tmpl" --outfile "$name.pem" 2>/dev/null
}

ca ca "handshaked test CA"
ca other-ca "unrelated test CA"

leaf server 2 'cn = "localhost"' 'dns_name = "localhost"' \
	'ip_address = "127.0.0.1"' tls_www_server
leaf client 3 'cn = "client"' tls_www_client
leaf revoked 4 'cn = "revoked client"' tls_www_client

tmpl crl "crl_next_update = 2" "crl_number = 1"
certtool --generate-crl --load-ca-privkey ca-key.pem \
	--load-ca-certificate ca.pem --load-certificate revoked.pem \
	--template crl.tmpl --outfile crl.pem 2>/dev/null
