/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared pieces of the library tests: pass/fail/skip exits, test
 * certificates made at run time, loopback sockets, driving library
 * sessions with poll, plain GnuTLS peers in a thread, and decrypting
 * raw TLS 1.3 records with keys in kTLS form.
 */
#ifndef HANDSHAKED_TESTS_TU_H
#define HANDSHAKED_TESTS_TU_H

#include <pthread.h>
#include <semaphore.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <gnutls/gnutls.h>

#include "internal.h"

#define TU_SKIP 77

#define tu_fail(...) do {						\
	fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);		\
	fprintf(stderr, __VA_ARGS__);					\
	fputc('\n', stderr);						\
	exit(1);							\
} while (0)

#define tu_assert(cond, ...) do {					\
	if (!(cond))							\
		tu_fail(__VA_ARGS__);					\
} while (0)

/* Handshake bound for every test session, far above what they need. */
#define TU_TIMEOUT_MS 5000

void tu_skip(const char *why) __attribute__((noreturn));

/* Make the test certificates in a fresh directory, removed at exit. */
void tu_certs_setup(void);
/* Path of one file made by gen-certs.sh; valid until the next 8 calls. */
const char *tu_file(const char *name);

/* Credentials from the named files of tu_file(); any may be NULL. */
struct hsd_creds *tu_creds(const char *ca, const char *cert,
			   const char *key, const char *crl);

/* A connected 127.0.0.1 TCP pair; fds[0] connected, fds[1] accepted. */
void tu_tcp_pair(int fds[2]);

/* A library session with the test timeout; fails the test on error. */
struct hsd_session *tu_session(int fd, enum hsd_role role,
			       struct hsd_creds *creds);

/* Drive one session with poll until done; returns 0 or -errno. */
int tu_run(struct hsd_session *s, int fd);
/* Drive two sessions against each other until both are done. */
void tu_run_pair(struct hsd_session *a, int fda, struct hsd_session *b,
		 int fdb, int *ra, int *rb);

/* Client: hsd_session_read_ticket() with poll until it ends. */
int tu_read_ticket(struct hsd_session *c, int fd);

/* Free a client and server session, their credentials and sockets. */
void tu_pair_free(struct hsd_session *c, struct hsd_session *s,
		  struct hsd_creds *cc, struct hsd_creds *sc, int fds[2]);

/*
 * One connection between a library client and a library server with
 * certificates (or PSKs) and tickets as set below; the client reads a
 * ticket afterwards if it asked for tickets and the server has a key.
 */
struct tu_resume {
	const uint8_t *key;		/* server ticket key, NULL for none */
	unsigned int lifetime;		/* server ticket lifetime */
	bool tickets;			/* client asks for tickets */
	const void *ticket;		/* client offers this ticket */
	size_t ticket_len;
	bool psk_ke_client, psk_ke_server;
	enum hsd_client_auth client_auth;	/* client presents client.pem */
	struct hsd_creds *cc, *sc;	/* instead of the certificates */
	const char *peer_name;		/* default "localhost" */

	int rc_c, rc_s, rc_read;
	struct hsd_info info_c, info_s;	/* strings copied below */
	char group[32];
	char psk_id_c[128], psk_id_s[128];
	void *new_ticket;		/* hsd_session_ticket(), or NULL */
	size_t new_len;
	uint32_t new_lifetime;
	uint8_t cert_c[4096];		/* the server's certificate, as seen */
	size_t cert_c_len;
	uint8_t cert_s[4096];		/* the client's certificate, as seen */
	size_t cert_s_len;
};

void tu_resume_run(struct tu_resume *r);
/* Free what tu_resume_run() kept. */
void tu_resume_clear(struct tu_resume *r);

/* A plain GnuTLS peer running in its own thread on a blocking socket. */
struct tu_peer {
	int fd;
	bool server;
	const char *priority;
	unsigned int flags;		/* added to gnutls_init() flags */
	const char *name;		/* client: name to verify */
	bool client_cert;		/* client: present client.pem */
	/* Runs before the handshake, after the session's own setup. */
	void (*before)(struct tu_peer *p);
	/* Runs after a successful handshake; returns 0 or fails. */
	int (*after)(struct tu_peer *p);
	void *data;

	gnutls_session_t tls;
	gnutls_certificate_credentials_t cred;
	pthread_t thread;
	int handshake_rc;		/* GnuTLS code */
	int after_rc;
};

void tu_peer_start(struct tu_peer *p);
/* Wait for the peer thread and free its session; keeps its results. */
void tu_peer_join(struct tu_peer *p);

/* GnuTLS priority allowing exactly one TLS 1.3 record cipher. */
const char *tu_peer_priority(unsigned int cipher);

/* Expected gnutls_cipher_get_name() of a single-cipher mask. */
const char *tu_cipher_name(unsigned int cipher);

/*
 * Decrypt one TLS 1.3 record (header included) with keys in kTLS form
 * and the given sequence number, as the kernel would. Returns the
 * inner content type, or -1 if authentication fails. out holds the
 * content without type and padding.
 */
int tu_record_decrypt(const union hsd__ktls_info *info, uint64_t seq,
		      const uint8_t *rec, size_t rec_len,
		      uint8_t *out, size_t *out_len);
/* Build one encrypted application data record; returns its length. */
size_t tu_record_encrypt(const union hsd__ktls_info *info, uint64_t seq,
			 const void *data, size_t len, uint8_t *rec);
/* The same with another inner content type (22 handshake, 21 alert). */
size_t tu_record_encrypt_type(const union hsd__ktls_info *info, uint64_t seq,
			      uint8_t type, const void *data, size_t len,
			      uint8_t *rec);
/* The sequence number kept in a kTLS crypto_info. */
uint64_t tu_info_seq(const union hsd__ktls_info *info);

/* Read exactly len bytes from a socket, waiting as needed. */
void tu_read_full(int fd, void *buf, size_t len);

#endif /* HANDSHAKED_TESTS_TU_H */
