/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's configuration: tlshd's file format (see tlshd.conf(5)),
 * read with libinih. Unknown sections and keys are refused so that a
 * typo does not silently change how peers are authenticated.
 */
#ifndef HANDSHAKED_CONF_H
#define HANDSHAKED_CONF_H

#include <stdbool.h>
#include <stddef.h>

#define HD_CONFIG_DEFAULT_PATH SYSCONFDIR "/handshaked.conf"

/* One of [authenticate.client] and [authenticate.server]. */
struct hd_auth_conf {
	char *truststore;
	char *crl;
	char *certificate;
	char *private_key;
	/* TODO: use the ML-DSA pair, needs GnuTLS 3.8.9+ support in lib */
	char *pq_certificate;
	char *pq_private_key;
};

/*
 * [resumption]: TLS 1.3 session tickets (RFC 8446 section 4.6.1). Not
 * in tlshd's files, so there every key has its default.
 */
#define HD_RESUME_TICKET_WAIT_MS	100
#define HD_RESUME_TICKET_WAIT_MAX	10000
#define HD_RESUME_LIFETIME_S		7200
#define HD_RESUME_LIFETIME_MAX		604800	/* RFC 8446 4.6.1: 7 days */
#define HD_RESUME_CACHE_SIZE		256
#define HD_RESUME_CACHE_MAX		65536

struct hd_resume_conf {
	bool client;			/* offer and keep tickets */
	bool server;			/* issue and accept tickets */
	unsigned int ticket_wait_ms;	/* client: wait for a ticket */
	unsigned int ticket_lifetime_s;	/* server: lifetime of tickets */
	char *ticket_key;		/* server: master key file, or NULL */
	bool psk;			/* PSK requests too */
	bool psk_ke;			/* resume without (EC)DHE */
	unsigned int cache_size;	/* client: tickets kept at most */
};

struct hd_config {
	int loglevel;		/* [debug] loglevel */
	int tls_debug;		/* [debug] tls: GnuTLS log level */
	int nl_debug;		/* [debug] nl: libnl debug level */
	int delay_done;		/* [debug] delay_done: accepted, ignored */
	char *keyrings;		/* [authenticate] keyrings: "a;b;c" */
	struct hd_auth_conf client;
	struct hd_auth_conf server;
	struct hd_resume_conf resume;
};

/*
 * Fill *cfg from the file at path. A missing file gives the defaults
 * when must_exist is false. On failure returns a negative errno,
 * leaves *cfg empty and puts "file:line: reason" into err.
 */
int hd_config_load(struct hd_config *cfg, const char *path, bool must_exist,
		   char *err, size_t errlen);
void hd_config_free(struct hd_config *cfg);

#endif /* HANDSHAKED_CONF_H */
