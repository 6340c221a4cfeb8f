// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Keys installed into kernel TLS work: for each cipher the kernel
 * takes and for both roles, a library session hands its keys to the
 * kernel, then the kernel encrypts what we write and decrypts what a
 * plain GnuTLS peer sends with gnutls_record_send().
 * Needs CONFIG_TLS (the tls module); skips without it.
 */
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tu.h"

#define PING "ping through the kernel"
#define PONG "pong from GnuTLS"

static int peer_after(struct tu_peer *p)
{
	char buf[256];
	ssize_t n;

	n = gnutls_record_recv(p->tls, buf, sizeof(buf));
	if (n != (ssize_t)strlen(PING) || memcmp(buf, PING, (size_t)n))
		return -1;

	if (gnutls_record_send(p->tls, PONG, strlen(PONG)) < 0)
		return -2;
	return 0;
}

static void exchange(int fd)
{
	char buf[256];
	ssize_t n;

	n = send(fd, PING, strlen(PING), MSG_NOSIGNAL);
	tu_assert(n == (ssize_t)strlen(PING), "kTLS send: %s",
		  n < 0 ? strerror(errno) : "short");

	tu_read_full(fd, buf, strlen(PONG));
	tu_assert(!memcmp(buf, PONG, strlen(PONG)), "kTLS read wrong data");
}

static void one(unsigned int cipher, enum hsd_role role)
{
	struct hsd_creds *creds;
	struct tu_peer peer = { 0 };
	struct hsd_session *s;
	int fds[2], rc;

	if (role == HSD_CLIENT)
		creds = tu_creds("ca.pem", NULL, NULL, NULL);
	else
		creds = tu_creds(NULL, "server.pem", "server-key.pem", NULL);

	tu_tcp_pair(fds);
	peer.fd = fds[1];
	peer.server = role == HSD_CLIENT;
	peer.name = "localhost";
	peer.priority = tu_peer_priority(cipher);
	peer.flags = GNUTLS_NO_TICKETS;
	peer.after = peer_after;
	tu_peer_start(&peer);

	s = tu_session(fds[0], role, creds);
	tu_assert(hsd_session_set_peer_name(s, "localhost") == 0, "name");
	rc = tu_run(s, fds[0]);
	tu_assert(rc == 0, "handshake: %d '%s'", rc, hsd_session_error(s));

	rc = hsd_session_ktls_install(s);
	tu_assert(rc == 0, "install: %d '%s'", rc, hsd_session_error(s));
	exchange(fds[0]);

	tu_peer_join(&peer);
	tu_assert(peer.handshake_rc == 0 && peer.after_rc == 0,
		  "peer: handshake %d, data %d", peer.handshake_rc,
		  peer.after_rc);
	printf("ok %s as %s\n", tu_cipher_name(cipher),
	       role == HSD_CLIENT ? "client" : "server");

	hsd_session_free(s);
	hsd_creds_unref(creds);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	static const unsigned int ciphers[] = {
		HSD_AES_128_GCM, HSD_AES_256_GCM, HSD_AES_128_CCM,
		HSD_CHACHA20_POLY1305,
	};
	unsigned int mask = 0, again = 0;
	size_t i;
	int rc;

	rc = hsd_ktls_probe(&mask);
	if (rc == -ENOPROTOOPT)
		tu_skip("kernel has no kTLS (CONFIG_TLS)");
	tu_assert(rc == 0, "probe: %s", strerror(-rc));
	tu_assert(hsd_ktls_probe(&again) == 0 && again == mask,
		  "second probe differs");
	tu_assert(mask & HSD_AES_128_GCM, "kTLS without AES-128-GCM: %#x",
		  mask);
	printf("kernel takes cipher mask %#x\n", mask);

	tu_certs_setup();
	for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
		if (!(mask & ciphers[i])) {
			printf("skip %s: kernel lacks it\n",
			       tu_cipher_name(ciphers[i]));
			continue;
		}
		one(ciphers[i], HSD_CLIENT);
		one(ciphers[i], HSD_SERVER);
	}
	return 0;
}
