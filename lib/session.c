// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The session object: options set by the caller, the GnuTLS session
 * they are applied to (priority, name, verification, client auth) and
 * what the caller may read back once the handshake is over.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * TLS 1.3 only. Groups are listed explicitly so that a client's first
 * key share is X25519 rather than the first group of the level.
 */
#define PRIORITY_BASE "SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3" \
	":-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1" \
	":+GROUP-X448:+GROUP-SECP521R1:+GROUP-FFDHE2048" \
	":+GROUP-FFDHE3072:+GROUP-FFDHE4096:-CIPHER-ALL"

static const struct {
	unsigned int bit;
	const char *name;
} priority_ciphers[] = {
	{ HSD_AES_256_GCM,		"+AES-256-GCM" },
	{ HSD_CHACHA20_POLY1305,	"+CHACHA20-POLY1305" },
	{ HSD_AES_128_GCM,		"+AES-128-GCM" },
	{ HSD_AES_128_CCM,		"+AES-128-CCM" },
};

#define N_CIPHERS (sizeof(priority_ciphers) / sizeof(priority_ciphers[0]))

static int session_flags(enum hsd_role role)
{
	/*
	 * No tickets unless asked for (ticket.c lifts the flag through
	 * GnuTLS's own calls): a NewSessionTicket that arrives once the
	 * keys live in the kernel reaches a consumer that may not expect
	 * one. A server sends its tickets itself, and only to clients
	 * that can use them.
	 */
	int flags = GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL | GNUTLS_NO_TICKETS;

	if (role == HSD_CLIENT)
		return flags | GNUTLS_CLIENT;
	return flags | GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET;
}

static int set_nonblock(int fd)
{
	int flags;

	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;

	if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int creds_or_empty(struct hsd_creds *creds, struct hsd_creds **out)
{
	if (creds) {
		*out = hsd_creds_ref(creds);
		return 0;
	}
	return hsd_creds_new(out);
}

int hsd_session_new(struct hsd_session **out, int fd, enum hsd_role role,
		    struct hsd_creds *creds)
{
	struct hsd_session *s;
	int rc;

	if (fd < 0 || (role != HSD_CLIENT && role != HSD_SERVER))
		return -EINVAL;

	rc = set_nonblock(fd);
	if (rc < 0)
		return rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;

	rc = creds_or_empty(creds, &s->creds);
	if (rc < 0)
		goto free_session;

	rc = gnutls_init(&s->tls, session_flags(role));
	if (rc < 0) {
		rc = rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		goto unref_creds;
	}

	s->fd = fd;
	s->role = role;
	s->ciphers = HSD_CIPHERS_ALL;
	s->verify_peer = true;
	s->alert = -1;
	gnutls_session_set_ptr(s->tls, s);
	hsd__io_attach(s);
	*out = s;
	return 0;

unref_creds:
	hsd_creds_unref(s->creds);
free_session:
	free(s);
	return rc;
}

void hsd_session_free(struct hsd_session *s)
{
	if (!s)
		return;

	gnutls_deinit(s->tls);
	hsd__secrets_free(s->secrets);
	hsd__ticket_wipe(s);
	if (s->psk_client)
		gnutls_psk_free_client_credentials(s->psk_client);
	hsd_creds_unref(s->creds);
	free(s->psk_identity);
	free(s->peer_name);
	free(s);
}

int hsd_session_set_peer_name(struct hsd_session *s, const char *name)
{
	char *copy;

	if (s->started)
		return -EBUSY;
	if (!name || !*name)
		return -EINVAL;

	copy = strdup(name);
	if (!copy)
		return -ENOMEM;

	free(s->peer_name);
	s->peer_name = copy;
	return 0;
}

int hsd_session_set_ciphers(struct hsd_session *s, unsigned int ciphers)
{
	if (s->started)
		return -EBUSY;
	if (!ciphers || (ciphers & ~HSD_CIPHERS_ALL))
		return -EINVAL;

	s->ciphers = ciphers;
	return 0;
}

void hsd_session_set_verify_peer(struct hsd_session *s, bool verify)
{
	s->verify_peer = verify;
}

void hsd_session_set_client_auth(struct hsd_session *s,
				 enum hsd_client_auth mode)
{
	s->client_auth = mode;
}

void hsd_session_set_timeout(struct hsd_session *s, unsigned int timeout_ms)
{
	s->has_deadline = timeout_ms != 0;
	if (!s->has_deadline)
		return;

	clock_gettime(CLOCK_MONOTONIC, &s->deadline);
	s->deadline.tv_sec += timeout_ms / 1000;
	s->deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (s->deadline.tv_nsec >= 1000000000L) {
		s->deadline.tv_sec++;
		s->deadline.tv_nsec -= 1000000000L;
	}
}

int hsd_session_timeout_left(const struct hsd_session *s)
{
	struct timespec now;
	int64_t left_ns;

	if (!s->has_deadline)
		return -1;

	clock_gettime(CLOCK_MONOTONIC, &now);
	left_ns = (int64_t)(s->deadline.tv_sec - now.tv_sec) * 1000000000 +
		  (s->deadline.tv_nsec - now.tv_nsec);
	if (left_ns <= 0)
		return 0;

	/* Round up so that a poll for the time left ends past the deadline. */
	return (int)((left_ns + 999999) / 1000000);
}

bool hsd__deadline_passed(const struct hsd_session *s)
{
	return s->has_deadline && hsd_session_timeout_left(s) == 0;
}

/* The session's ciphers; with a PSK, those of the key's hash. */
static int priority_ciphers_get(struct hsd_session *s, unsigned int *mask)
{
	bool psk = hsd__session_psk(s);

	*mask = psk ? hsd__psk_ciphers(s) : s->ciphers;
	if (!*mask) {
		hsd__session_error(s, "no cipher of mask %#x suits the PSK's hash",
				   s->ciphers);
		return -EINVAL;
	}
	return 0;
}

static int apply_priority(struct hsd_session *s)
{
	char prio[sizeof(PRIORITY_BASE) + 200] = PRIORITY_BASE;
	const char *where = NULL;
	unsigned int mask;
	size_t i;
	int rc;

	rc = priority_ciphers_get(s, &mask);
	if (rc < 0)
		return rc;

	for (i = 0; i < N_CIPHERS; i++) {
		if (!(mask & priority_ciphers[i].bit))
			continue;
		strcat(prio, ":");
		strcat(prio, priority_ciphers[i].name);
	}

	if (hsd__session_psk(s))
		strcat(prio, hsd__psk_kx(s));
	else if (hsd__tickets_on(s))
		strcat(prio, hsd__ticket_kx(s));

	rc = gnutls_priority_set_direct(s->tls, prio, &where);
	if (rc < 0) {
		hsd__session_error(s, "cannot set priority at '%s': %s",
				   where ? where : "", gnutls_strerror(rc));
		return rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EINVAL;
	}
	return 0;
}

static bool is_ip_literal(const char *name)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, addr) == 1 ||
	       inet_pton(AF_INET6, name, addr) == 1;
}

static int apply_client(struct hsd_session *s)
{
	const char *name = s->peer_name;
	int rc;

	/* RFC 6066 section 3: SNI carries DNS names, never addresses. */
	if (name && !is_ip_literal(name)) {
		rc = gnutls_server_name_set(s->tls, GNUTLS_NAME_DNS, name,
					    strlen(name));
		if (rc < 0) {
			hsd__session_error(s, "cannot set server name '%s': %s",
					   name, gnutls_strerror(rc));
			return rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		}
	}

	/*
	 * GnuTLS matches a textual IP address against the IPAddress
	 * names of the certificate. Without a name only the chain is
	 * checked. A PSK authenticates the server by itself.
	 */
	if (s->verify_peer && !hsd__session_psk(s))
		gnutls_session_set_verify_cert(s->tls, name, 0);
	return 0;
}

/*
 * Verify a client certificate if one came. GnuTLS's own check would
 * also fail a client that sends none, which REQUEST allows.
 */
static int verify_client(gnutls_session_t tls)
{
	struct hsd_session *s = gnutls_session_get_ptr(tls);
	unsigned int n = 0;
	int rc;

	if (!gnutls_certificate_get_peers(tls, &n) || n == 0)
		return s->client_auth == HSD_CLIENT_AUTH_REQUIRE ? -1 : 0;

	rc = gnutls_certificate_verify_peers3(tls, NULL, &s->verify_status);
	if (rc < 0)
		return rc;
	return s->verify_status ? -1 : 0;
}

static gnutls_certificate_request_t cert_request(enum hsd_client_auth mode)
{
	switch (mode) {
	case HSD_CLIENT_AUTH_NONE:
		return GNUTLS_CERT_IGNORE;
	case HSD_CLIENT_AUTH_REQUEST:
		return GNUTLS_CERT_REQUEST;
	case HSD_CLIENT_AUTH_REQUIRE:
		return GNUTLS_CERT_REQUIRE;
	}
	return GNUTLS_CERT_REQUIRE;
}

static int apply_server(struct hsd_session *s)
{
	if (hsd__session_psk(s))
		return 0;

	if (!s->creds->has_x509) {
		hsd__session_error(s, "server credentials have no certificate");
		return -EINVAL;
	}

	gnutls_certificate_server_set_request(s->tls,
					      cert_request(s->client_auth));
	if (s->client_auth != HSD_CLIENT_AUTH_NONE)
		gnutls_session_set_verify_function(s->tls, verify_client);
	return 0;
}

/*
 * A PSK session gets only the PSK credential, so that no certificate
 * can stand in for a key the peer does not know.
 */
static int set_credentials(struct hsd_session *s)
{
	int rc;

	if (hsd__session_psk(s))
		return hsd__psk_start(s);

	rc = gnutls_credentials_set(s->tls, GNUTLS_CRD_CERTIFICATE,
				    s->creds->cert);
	if (rc < 0) {
		hsd__session_error(s, "cannot set credentials: %s",
				   gnutls_strerror(rc));
		return rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EINVAL;
	}
	return 0;
}

/*
 * The application traffic secrets outlive the handshake for key
 * updates once the keys live in the kernel (RFC 8446 section 4.6.3).
 */
static int record_secrets(struct hsd_session *s)
{
	s->secrets = hsd__secrets_new();
	if (!s->secrets) {
		hsd__session_error(s, "cannot lock memory for traffic secrets: %s",
				   strerror(errno));
		return -ENOMEM;
	}

	hsd__secrets_attach(s);
	return 0;
}

/* One hook serves every part that watches handshake messages. */
static int session_hook(gnutls_session_t tls, unsigned int type,
			unsigned int when, unsigned int incoming,
			const gnutls_datum_t *msg)
{
	struct hsd_session *s = gnutls_session_get_ptr(tls);

	if (type == GNUTLS_HANDSHAKE_SERVER_HELLO && when == GNUTLS_HOOK_PRE &&
	    s->role == HSD_SERVER && hsd__session_psk(s))
		return hsd__psk_server_hello(s);
	return hsd__ticket_hook(s, type, when, incoming, msg);
}

/* Apply the options, once, before the first handshake step. */
int hsd__session_start(struct hsd_session *s)
{
	int rc;

	rc = record_secrets(s);
	if (rc < 0)
		return rc;

	rc = apply_priority(s);
	if (rc < 0)
		return rc;

	rc = set_credentials(s);
	if (rc < 0)
		return rc;

	/* Our own deadline applies; GnuTLS's would fire on its own clock. */
	gnutls_handshake_set_timeout(s->tls, 0);

	rc = s->role == HSD_CLIENT ? apply_client(s) : apply_server(s);
	if (rc < 0)
		return rc;

	rc = hsd__ticket_start(s);
	if (rc < 0)
		return rc;

	gnutls_handshake_set_hook_function(s->tls, GNUTLS_HANDSHAKE_ANY,
					   GNUTLS_HOOK_BOTH, session_hook);
	s->started = true;
	return 0;
}

int hsd_session_alert(const struct hsd_session *s)
{
	return s->alert;
}

const char *hsd_session_error(const struct hsd_session *s)
{
	return s->error;
}

int hsd_session_info(const struct hsd_session *s, struct hsd_info *info)
{
	const char *group;

	if (!s->done)
		return -EINVAL;

	group = gnutls_group_get_name(gnutls_group_get(s->tls));
	info->version = gnutls_protocol_get_name(
				gnutls_protocol_get_version(s->tls));
	info->cipher = gnutls_cipher_get_name(gnutls_cipher_get(s->tls));
	info->group = group ? group : "";
	info->peer_verified = s->peer_verified;
	info->resumed = gnutls_session_is_resumed(s->tls) != 0;
	return 0;
}

int hsd_session_peer_cert(const struct hsd_session *s,
			  const void **der, size_t *len)
{
	const gnutls_datum_t *peers;
	unsigned int n = 0;

	peers = gnutls_certificate_get_peers(s->tls, &n);
	if (!peers || n == 0)
		return -ENOENT;

	*der = peers[0].data;
	*len = peers[0].size;
	return 0;
}

void *hsd_session_gnutls(struct hsd_session *s)
{
	return s->tls;
}
