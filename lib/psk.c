// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * TLS 1.3 pre-shared keys as NVMe/TCP uses them: the identities and
 * keys a client offers, the lookup a server answers with, the GnuTLS
 * PSK credentials of a session, what a failed PSK handshake means, and
 * the hash named by an NVMe PSK identity.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * GnuTLS 3.8.11 added credentials that carry the PSK's hash. Before,
 * every external PSK is bound to SHA-256 (binder and cipher suite
 * alike), so a SHA-384 key cannot be used as RFC 8446 section 4.2.11
 * requires.
 */
#ifdef HAVE_GNUTLS_PSK_CREDENTIALS2
#define PSK_SHA384_OK true
#else
#define PSK_SHA384_OK false
#endif

static const char *hash_name(enum hsd_psk_hash hash)
{
	return hash == HSD_PSK_SHA384 ? "SHA-384" : "SHA-256";
}

static gnutls_digest_algorithm_t hash_digest(enum hsd_psk_hash hash)
{
	return hash == HSD_PSK_SHA384 ? GNUTLS_DIG_SHA384 : GNUTLS_DIG_SHA256;
}

static int check_key(const char *identity, size_t key_len,
		     enum hsd_psk_hash hash, char *error)
{
	if (hash != HSD_PSK_SHA256 && hash != HSD_PSK_SHA384) {
		hsd__error_set(error, "PSK '%s' has an unknown hash %d",
			       identity, (int)hash);
		return -EINVAL;
	}

	if (key_len == 0 || key_len > HSD_PSK_KEY_MAX) {
		hsd__error_set(error, "PSK '%s' has %zu key bytes", identity,
			       key_len);
		return -EINVAL;
	}

	if (hash == HSD_PSK_SHA384 && !PSK_SHA384_OK) {
		hsd__error_set(error, "PSK '%s' is SHA-384, which needs GnuTLS 3.8.11 or later",
			       identity);
		return -EOPNOTSUPP;
	}
	return 0;
}

static bool identity_ok(const char *identity)
{
	return identity && *identity &&
	       strnlen(identity, HSD_PSK_IDENTITY_MAX + 1) <=
	       HSD_PSK_IDENTITY_MAX;
}

int hsd_creds_psk_add(struct hsd_creds *c, const char *identity,
		      const void *key, size_t key_len,
		      enum hsd_psk_hash hash)
{
	struct hsd__psk *psks, *p;
	int rc;

	if (!identity_ok(identity) || !key) {
		hsd__creds_error(c, "PSK identity or key missing or too long");
		return -EINVAL;
	}

	rc = check_key(identity, key_len, hash, c->error);
	if (rc < 0)
		return rc;

	psks = realloc(c->psks, (c->n_psks + 1) * sizeof(*psks));
	if (!psks)
		return -ENOMEM;
	c->psks = psks;

	p = &psks[c->n_psks];
	p->identity = strdup(identity);
	if (!p->identity)
		return -ENOMEM;

	memcpy(p->key, key, key_len);
	p->key_len = key_len;
	p->hash = hash;
	c->n_psks++;
	return 0;
}

size_t hsd_creds_psk_count(const struct hsd_creds *c)
{
	return c->n_psks;
}

static int psk_server_key(gnutls_session_t tls, const gnutls_datum_t *id,
			  gnutls_datum_t *key);

static int server_cred_new(gnutls_psk_server_credentials_t *cred)
{
#ifdef HAVE_GNUTLS_PSK_CREDENTIALS2
	/* Unknown: GnuTLS tries SHA-384, then SHA-256 for the binder. */
	return gnutls_psk_allocate_server_credentials2(cred,
						       GNUTLS_MAC_UNKNOWN);
#else
	return gnutls_psk_allocate_server_credentials(cred);
#endif
}

int hsd_creds_psk_lookup(struct hsd_creds *c, hsd_psk_lookup_fn fn,
			 void *data)
{
	int rc;

	if (!fn)
		return -EINVAL;

	if (!c->psk_server) {
		rc = server_cred_new(&c->psk_server);
		if (rc < 0) {
			hsd__creds_error(c, "cannot allocate PSK credentials: %s",
					 gnutls_strerror(rc));
			return rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		}
		gnutls_psk_set_server_credentials_function2(c->psk_server,
							    psk_server_key);
	}

	c->psk_lookup = fn;
	c->psk_lookup_data = data;
	return 0;
}

bool hsd_creds_has_psk(const struct hsd_creds *c)
{
	return c->n_psks > 0 || c->psk_lookup;
}

void hsd__creds_psk_free(struct hsd_creds *c)
{
	size_t i;

	for (i = 0; i < c->n_psks; i++) {
		gnutls_memset(c->psks[i].key, 0, sizeof(c->psks[i].key));
		free(c->psks[i].identity);
	}
	free(c->psks);

	/* It holds no key: the lookup hands each one over per handshake. */
	if (c->psk_server)
		gnutls_psk_free_server_credentials(c->psk_server);
}

bool hsd__session_psk(const struct hsd_session *s)
{
	return s->role == HSD_CLIENT ? s->creds->n_psks > 0 :
				       s->creds->psk_lookup != NULL;
}

/*
 * A copy of a key in GnuTLS's memory. GnuTLS takes it over and wipes
 * it when it frees it on the success path.
 * TODO: GnuTLS 3.7.9 to 3.8.9 free some copies without wiping them (a
 * server's key whose binder failed, a client's key of a ClientHello
 * sent again); only GnuTLS can change that.
 */
static int key_datum(const uint8_t *key, size_t len, gnutls_datum_t *out)
{
	out->data = gnutls_malloc(len);
	if (!out->data)
		return -ENOMEM;

	memcpy(out->data, key, len);
	out->size = (unsigned int)len;
	return 0;
}

/* Client: hand GnuTLS the identity and key to offer. */
static int psk_client_key(gnutls_session_t tls, gnutls_datum_t *id,
			  gnutls_datum_t *key)
{
	struct hsd_session *s = gnutls_session_get_ptr(tls);
	const struct hsd__psk *p = &s->creds->psks[0];
	size_t len = strlen(p->identity);

	id->data = gnutls_malloc(len + 1);
	if (!id->data)
		return -1;
	memcpy(id->data, p->identity, len + 1);
	id->size = (unsigned int)len;

	if (key_datum(p->key, p->key_len, key) < 0) {
		gnutls_free(id->data);
		id->data = NULL;
		return -1;
	}
	return 0;
}

/*
 * Server: refuse the handshake for a reason of ours. GnuTLS stops the
 * handshake on a negative return; the reason survives in the session.
 */
static int psk_refuse(struct hsd_session *s, int err, int alert)
{
	s->psk_refused = err;
	s->psk_alert = alert;
	return -1;
}

/* An identity from the wire as a C string: no NUL inside, not too long. */
static char *identity_copy(const gnutls_datum_t *id)
{
	char *copy;

	if (id->size == 0 || id->size > HSD_PSK_IDENTITY_MAX ||
	    memchr(id->data, 0, id->size))
		return NULL;

	copy = malloc(id->size + 1);
	if (!copy)
		return NULL;

	memcpy(copy, id->data, id->size);
	copy[id->size] = 0;
	return copy;
}

static int lookup_failed(struct hsd_session *s, const char *identity,
			 int rc)
{
	if (rc == -ENOKEY) {
		hsd__session_error(s, "unknown PSK identity '%s'", identity);
		return psk_refuse(s, -EKEYREJECTED,
				  GNUTLS_A_UNKNOWN_PSK_IDENTITY);
	}

	hsd__session_error(s, "cannot look up PSK identity '%s': %s",
			   identity, strerror(-rc));
	return psk_refuse(s, rc < 0 ? rc : -EINVAL, GNUTLS_A_INTERNAL_ERROR);
}

/* Look up an identity; on success it becomes the session's. */
static int lookup(struct hsd_session *s, char *identity,
		  gnutls_datum_t *key)
{
	struct hsd_creds *c = s->creds;
	enum hsd_psk_hash hash = 0;
	uint8_t buf[HSD_PSK_KEY_MAX];
	size_t len = 0;
	int rc;

	rc = c->psk_lookup(c->psk_lookup_data, identity, buf, &len, &hash);
	if (rc < 0) {
		rc = lookup_failed(s, identity, rc);
		goto wipe;
	}

	rc = check_key(identity, len, hash, s->error);
	if (rc < 0) {
		rc = psk_refuse(s, rc, rc == -EOPNOTSUPP ?
				GNUTLS_A_HANDSHAKE_FAILURE :
				GNUTLS_A_INTERNAL_ERROR);
		goto wipe;
	}

	rc = key_datum(buf, len, key);
	if (rc < 0) {
		rc = psk_refuse(s, rc, GNUTLS_A_INTERNAL_ERROR);
		goto wipe;
	}

	free(s->psk_identity);
	s->psk_identity = identity;
	s->psk_hash = hash;
	identity = NULL;
wipe:
	gnutls_memset(buf, 0, sizeof(buf));
	free(identity);
	return rc;
}

/*
 * GnuTLS asks for the key of the first identity the client offers that
 * is not a ticket; it never tries a second one.
 * TODO: consider the other identities of the ClientHello, needs GnuTLS
 * to hand them over.
 */
static int psk_server_key(gnutls_session_t tls, const gnutls_datum_t *id,
			  gnutls_datum_t *key)
{
	struct hsd_session *s = gnutls_session_get_ptr(tls);
	char *identity;

	identity = identity_copy(id);
	if (!identity) {
		hsd__session_error(s, "unusable PSK identity of %u bytes",
				   id->size);
		return psk_refuse(s, -EKEYREJECTED,
				  GNUTLS_A_UNKNOWN_PSK_IDENTITY);
	}
	return lookup(s, identity, key);
}

static int client_cred_new(gnutls_psk_client_credentials_t *cred,
			   enum hsd_psk_hash hash)
{
#ifdef HAVE_GNUTLS_PSK_CREDENTIALS2
	return gnutls_psk_allocate_client_credentials2(cred,
			hash == HSD_PSK_SHA384 ? GNUTLS_MAC_SHA384 :
						 GNUTLS_MAC_SHA256);
#else
	/* hsd_creds_psk_add() let no SHA-384 key through. */
	return gnutls_psk_allocate_client_credentials(cred);
#endif
}

/*
 * TODO: offer every identity of the credentials in one ClientHello,
 * needs a GnuTLS that sends more than one external PSK.
 */
static int client_start(struct hsd_session *s)
{
	const struct hsd__psk *p = &s->creds->psks[0];
	int rc;

	rc = client_cred_new(&s->psk_client, p->hash);
	if (rc < 0) {
		hsd__session_error(s, "cannot allocate PSK credentials: %s",
				   gnutls_strerror(rc));
		return rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EINVAL;
	}
	gnutls_psk_set_client_credentials_function2(s->psk_client,
						    psk_client_key);

	s->psk_identity = strdup(p->identity);
	if (!s->psk_identity)
		return -ENOMEM;
	s->psk_hash = p->hash;
	return 0;
}

static bool hash_matches(struct hsd_session *s)
{
	gnutls_digest_algorithm_t prf = gnutls_prf_hash_get(s->tls);

	if (prf == hash_digest(s->psk_hash))
		return true;

	hsd__session_error(s, "%s PSK '%s' used with a %s cipher suite",
			   hash_name(s->psk_hash), s->psk_identity,
			   gnutls_digest_get_name(prf));
	return false;
}

/*
 * Server, before its ServerHello: the suite GnuTLS chose has the hash
 * of the key the lookup gave. GnuTLS 3.8.11 also accepts a SHA-384 key
 * that an older client bound to SHA-256; RFC 8446 section 4.2.11 does
 * not, and refusing here fails the client too. Called from the
 * session's handshake hook.
 */
int hsd__psk_server_hello(struct hsd_session *s)
{
	if (!s->psk_identity || hash_matches(s))
		return 0;

	psk_refuse(s, -EKEYREJECTED, GNUTLS_A_HANDSHAKE_FAILURE);
	return GNUTLS_E_USER_ERROR;
}

int hsd__psk_start(struct hsd_session *s)
{
	void *cred;
	int rc;

	if (s->role == HSD_CLIENT) {
		rc = client_start(s);
		if (rc < 0)
			return rc;
		cred = s->psk_client;
	} else {
		cred = s->creds->psk_server;
	}

	rc = gnutls_credentials_set(s->tls, GNUTLS_CRD_PSK, cred);
	if (rc < 0) {
		hsd__session_error(s, "cannot set PSK credentials: %s",
				   gnutls_strerror(rc));
		return rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EINVAL;
	}
	return 0;
}

/*
 * Key exchanges for the priority string. GnuTLS sends the modes of
 * RFC 8446 section 4.2.9 in this order, and a server without
 * %SERVER_PRECEDENCE takes the first the client lists that it allows.
 */
const char *hsd__psk_kx(const struct hsd_session *s)
{
	return s->psk_ke ? ":-KX-ALL:+PSK:+ECDHE-PSK:+DHE-PSK" :
			   ":-KX-ALL:+ECDHE-PSK:+DHE-PSK";
}

/*
 * Ciphers a client may offer with its PSK: the TLS 1.3 suites of the
 * key's hash (RFC 8446 appendix B.4). A server learns the hash only
 * from the ClientHello; GnuTLS then picks a suite of the binder's hash.
 */
unsigned int hsd__psk_ciphers(const struct hsd_session *s)
{
	if (s->role == HSD_SERVER)
		return s->ciphers;
	if (s->creds->psks[0].hash == HSD_PSK_SHA384)
		return s->ciphers & HSD_AES_256_GCM;
	return s->ciphers & (HSD_AES_128_GCM | HSD_AES_128_CCM |
			     HSD_CHACHA20_POLY1305);
}

void hsd_session_set_psk_ke(struct hsd_session *s, bool allow)
{
	s->psk_ke = allow;
}

static bool client_refusal(int alert)
{
	return alert == GNUTLS_A_UNKNOWN_PSK_IDENTITY ||
	       alert == GNUTLS_A_DECRYPT_ERROR;
}

static int client_failed(struct hsd_session *s, int rc)
{
	if (rc != GNUTLS_E_FATAL_ALERT_RECEIVED)
		return 0;

	s->alert = (int)gnutls_alert_get(s->tls);
	if (!client_refusal(s->alert))
		return 0;

	hsd__session_error(s, "server refused PSK identity '%s' (alert '%s')",
			   s->psk_identity,
			   gnutls_alert_get_name((gnutls_alert_description_t)
						 s->alert));
	return -EKEYREJECTED;
}

/*
 * What a failed PSK handshake means, or 0 to let the general mapping
 * decide. A server keeps in s->psk_alert the alert to send instead of
 * the one GnuTLS would choose.
 */
int hsd__psk_failed(struct hsd_session *s, int rc)
{
	if (s->role == HSD_CLIENT)
		return client_failed(s, rc);

	if (s->psk_refused)
		return s->psk_refused;

	/*
	 * GnuTLS checks the binder right after the lookup and names the
	 * identity only once it passed: a key the client does not hold.
	 * RFC 8446 section 6.2 asks for decrypt_error.
	 */
	if (rc != GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER || !s->psk_identity ||
	    gnutls_psk_server_get_username(s->tls))
		return 0;

	hsd__session_error(s, "binder of PSK identity '%s' does not verify: the client's key differs",
			   s->psk_identity);
	s->psk_alert = GNUTLS_A_DECRYPT_ERROR;
	return -EKEYREJECTED;
}

/*
 * A server resuming from a ticket asked no lookup: the identity comes
 * from the ticket, whose suite hash was checked when it was issued.
 */
static int resumed_identity(struct hsd_session *s)
{
	const char *name;

	if (s->role == HSD_CLIENT)
		return 0;

	name = gnutls_psk_server_get_username(s->tls);
	if (!name) {
		hsd__session_error(s, "resumed PSK session names no identity");
		return -EPROTO;
	}

	free(s->psk_identity);
	s->psk_identity = strdup(name);
	return s->psk_identity ? 0 : -ENOMEM;
}

/* After the handshake: the PSK was used, with a suite of its hash. */
int hsd__psk_done(struct hsd_session *s)
{
	if (gnutls_auth_get_type(s->tls) != GNUTLS_CRD_PSK) {
		hsd__session_error(s, "handshake finished without the PSK");
		return -EPROTO;
	}
	if (gnutls_session_is_resumed(s->tls))
		return resumed_identity(s);
	return hash_matches(s) ? 0 : -EPROTO;
}

const char *hsd_session_psk_identity(const struct hsd_session *s)
{
	return s->done && hsd__session_psk(s) ? s->psk_identity : NULL;
}

/* Printable ASCII without space: the characters of an NQN. */
static size_t nqn_len(const char *p)
{
	size_t n = 0;

	while (p[n] > ' ' && p[n] < 0x7f)
		n++;
	return n;
}

static bool is_base64(const char *p, size_t n)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t body = n;

	/* Standard alphabet with up to two '=' of padding at the end. */
	while (body > 0 && n - body < 2 && p[body - 1] == '=')
		body--;
	return strspn(p, alphabet) == body;
}

/*
 * NVMe/TCP transport specification 1.1, section 3.6.1.3: the PSK
 * digest is Base64 of an HMAC of the identity's hash, 44 characters
 * for SHA-256 and 64 for SHA-384.
 */
static bool digest_ok(const char *p, int hash)
{
	size_t n = strlen(p);

	return n == (hash == HSD_PSK_SHA384 ? 64 : 44) && is_base64(p, n);
}

/* NVMf NQNs are at most 223 bytes (NVMF_NQN_SIZE in the kernel). */
#define NQN_MAX 223

int hsd_psk_identity_hash(const char *id)
{
	int version, hash, i;
	size_t n;

	if (!id || strncmp(id, "NVMe", 4))
		return -EINVAL;
	id += 4;

	/* Each test stops at the NUL, so none reads past the string. */
	if ((id[0] != '0' && id[0] != '1') ||
	    (id[1] != 'R' && id[1] != 'G') ||
	    id[2] != '0' || (id[3] != '1' && id[3] != '2'))
		return -EINVAL;
	version = id[0] - '0';
	hash = id[3] - '0';
	id += 4;

	/* Host NQN, then subsystem NQN. */
	for (i = 0; i < 2; i++) {
		if (*id++ != ' ')
			return -EINVAL;
		n = nqn_len(id);
		if (n == 0 || n > NQN_MAX)
			return -EINVAL;
		id += n;
	}

	if (*id == 0)
		return hash;
	if (version == 0 || *id++ != ' ' || !digest_ok(id, hash))
		return -EINVAL;
	return hash;
}
