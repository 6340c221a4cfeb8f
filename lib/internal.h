/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Private declarations shared by the files of libhandshaked: the
 * layout of the credential and session objects, the error text
 * helpers and the hsd__* functions the tests reach directly.
 */
#ifndef HANDSHAKED_INTERNAL_H
#define HANDSHAKED_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <linux/tls.h>

#include <handshaked/handshaked.h>

#define HSD_ERROR_MAX 256

/* One PSK a client offers. */
struct hsd__psk {
	char *identity;
	uint8_t key[HSD_PSK_KEY_MAX];
	size_t key_len;
	enum hsd_psk_hash hash;
};

struct hsd_creds {
	unsigned int refs;
	gnutls_certificate_credentials_t cert;
	bool has_x509;
	struct hsd__psk *psks;		/* client: in the order to offer */
	size_t n_psks;
	hsd_psk_lookup_fn psk_lookup;	/* server */
	void *psk_lookup_data;
	gnutls_psk_server_credentials_t psk_server;
	char error[HSD_ERROR_MAX];
};

/* Where the session's read stands within the current TLS record. */
struct hsd__record_pos {
	uint8_t header[5];
	size_t header_len;	/* header bytes already read, 0..5 */
	size_t body_left;	/* body bytes of this record not yet read */
};

struct hsd_session {
	gnutls_session_t tls;
	struct hsd_creds *creds;
	int fd;
	enum hsd_role role;

	unsigned int ciphers;
	bool verify_peer;
	enum hsd_client_auth client_auth;
	char *peer_name;
	bool has_deadline;
	struct timespec deadline;

	bool started;
	bool done;
	int failed;		/* the error that ended the handshake */
	bool peer_verified;
	unsigned int verify_status;	/* gnutls_certificate_status_t */
	int alert;
	int io_errno;
	struct hsd__record_pos rec;

	bool psk_ke;		/* plain psk_ke allowed */
	gnutls_psk_client_credentials_t psk_client;
	char *psk_identity;	/* offered (client) or found (server) */
	enum hsd_psk_hash psk_hash;
	int psk_refused;	/* server: why the lookup said no */
	int psk_alert;		/* server: alert to send for it, 0 none */

	struct hsd__secrets *secrets;	/* application traffic secrets */
	bool in_kernel;		/* kTLS holds the keys; GnuTLS may not send */

	/* Session resumption, see ticket.c. */
	bool hs_complete;	/* gnutls_handshake() returned 0 */
	bool has_ticket_key;	/* server: issue tickets, resume from them */
	uint8_t ticket_key[HSD_TICKET_KEY_SIZE];	/* until the start */
	unsigned int ticket_lifetime;	/* server: seconds */
	bool client_modes;	/* server: the client sent psk_key_exchange_modes */
	bool tickets;		/* client: take tickets */
	uint8_t *resume_data;	/* client: ticket data to offer, until the start */
	size_t resume_len;
	unsigned int tickets_seen;	/* client: NewSessionTickets received */
	uint32_t ticket_lifetime_rx;	/* client: lifetime of the newest */
	uint32_t ticket_lifetime_next;	/* ... of the one being handled */
	bool io_blocked;	/* the last transport call would block */
	bool data_lost;		/* application data read and dropped */
	char error[HSD_ERROR_MAX];
};

/*
 * The current application traffic secrets of both directions (RFC 8446
 * section 7.1), as GnuTLS reports them. Lives in a locked page that is
 * wiped before it is unmapped.
 */
#define HSD_SECRET_MAX 64

struct hsd__secrets {
	uint8_t rx[HSD_SECRET_MAX];
	uint8_t tx[HSD_SECRET_MAX];
	size_t len;		/* the hash length of the cipher suite */
	bool have_rx, have_tx;
};

/* Any of the kTLS crypto_info structs this library fills. */
union hsd__ktls_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_aes_ccm_128 ccm128;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

/* Keep printf-formatted text in an object's error buffer. */
void hsd__error_set(char *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define hsd__session_error(s, ...) hsd__error_set((s)->error, __VA_ARGS__)
#define hsd__creds_error(c, ...) hsd__error_set((c)->error, __VA_ARGS__)

/* session.c */
int hsd__session_start(struct hsd_session *s);
bool hsd__deadline_passed(const struct hsd_session *s);

/* io.c: record-bounded transport over the session's socket. */
void hsd__io_attach(struct hsd_session *s);
ssize_t hsd__io_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len);

/* handshake.c: a gnutls_handshake() result as a library result. */
int hsd__handshake_result(struct hsd_session *s, int rc);
/* The same without the PSK readings, for calls after the handshake. */
int hsd__gnutls_result(struct hsd_session *s, int rc);
/* A failed certificate check as -EACCES, the reason kept. */
int hsd__verify_failed(struct hsd_session *s, int rc, unsigned int status);
/* Tell the peer why we stop, best effort. */
void hsd__send_alert(struct hsd_session *s, int rc);

/* psk.c */
void hsd__creds_psk_free(struct hsd_creds *c);
bool hsd__session_psk(const struct hsd_session *s);
int hsd__psk_start(struct hsd_session *s);
const char *hsd__psk_kx(const struct hsd_session *s);
unsigned int hsd__psk_ciphers(const struct hsd_session *s);
int hsd__psk_failed(struct hsd_session *s, int rc);
int hsd__psk_done(struct hsd_session *s);
int hsd__psk_server_hello(struct hsd_session *s);

/* ticket.c: session resumption. */
bool hsd__tickets_on(const struct hsd_session *s);
const char *hsd__ticket_kx(const struct hsd_session *s);
int hsd__ticket_start(struct hsd_session *s);
int hsd__ticket_hook(struct hsd_session *s, unsigned int type,
		     unsigned int when, unsigned int incoming,
		     const gnutls_datum_t *msg);
int hsd__resumed_check(struct hsd_session *s);
int hsd__ticket_send(struct hsd_session *s);
void hsd__ticket_wipe(struct hsd_session *s);

/*
 * ktls.c: fill the kTLS crypto_info for one direction (read or write)
 * of a finished session. Sets *len to the size to hand to setsockopt.
 * The caller wipes *info.
 */
int hsd__ktls_fill(struct hsd_session *s, bool read,
		   union hsd__ktls_info *info, size_t *len);

/* ktls.c: the kTLS crypto_info of one direction from a key and IV. */
int hsd__ktls_sizes(gnutls_cipher_algorithm_t alg, size_t *key_len,
		    size_t *iv_len);
int hsd__ktls_build(gnutls_cipher_algorithm_t alg, const gnutls_datum_t *key,
		    const gnutls_datum_t *iv, const unsigned char seq[8],
		    union hsd__ktls_info *info, size_t *len);

/* secret.c: traffic secrets and the RFC 8446 key schedule after it. */
struct hsd__secrets *hsd__secrets_new(void);
void hsd__secrets_free(struct hsd__secrets *sec);
void hsd__secrets_attach(struct hsd_session *s);
int hsd__hkdf_expand_label(gnutls_mac_algorithm_t mac,
			   const uint8_t *secret, size_t secret_len,
			   const char *label, uint8_t *out, size_t out_len);
int hsd__secret_next(gnutls_mac_algorithm_t mac, uint8_t *secret,
		     size_t len);
int hsd__secret_ktls(gnutls_cipher_algorithm_t alg, gnutls_mac_algorithm_t mac,
		     const uint8_t *secret, size_t len,
		     union hsd__ktls_info *info, size_t *info_len);
gnutls_mac_algorithm_t hsd__session_mac(struct hsd_session *s);

/*
 * conn.c: how a connection reaches the kernel. The tests put their
 * own in place to see the keys and records without kTLS.
 */
struct hsd__conn_ops {
	/* Install a key for receiving (rx) or sending; 0 or -errno. */
	int (*set_key)(struct hsd_conn *c, bool rx,
		       const union hsd__ktls_info *info, size_t len);
	/* Send one record of the given type; bytes sent or -errno. */
	ssize_t (*send_record)(struct hsd_conn *c, uint8_t type,
			       const void *data, size_t len);
};

/* A NewSessionTicket message body, as received. */
struct hsd__ticket {
	uint8_t *data;
	size_t len;
};

struct hsd_conn {
	int fd;
	enum hsd_role role;
	gnutls_cipher_algorithm_t cipher;
	gnutls_mac_algorithm_t mac;
	struct hsd__secrets *sec;
	const struct hsd__conn_ops *ops;
	void *ops_data;

	uint64_t tx_records;	/* counted under the current sending key */
	uint64_t tx_limit;
	uint64_t tx_updates;
	uint64_t rx_updates;
	bool ku_pending;	/* a KeyUpdate of ours waits to be sent */
	bool ku_request;	/* ... with update_requested */

	/* Token bucket of inbound KeyUpdates. */
	unsigned int ku_burst;
	unsigned int ku_interval_ms;
	unsigned int ku_tokens;
	uint64_t ku_refill_ms;	/* CLOCK_MONOTONIC of the last refill */

	uint8_t *hs;		/* handshake bytes of an unfinished message */
	size_t hs_len;
	struct hsd__ticket tickets[HSD_CONN_TICKETS_MAX];
	size_t n_tickets;
	uint64_t tickets_total;
	uint8_t *rbuf;		/* whole records for hsd_conn_recv() */

	int alert;
	bool peer_closed;
	int failed;
	char error[HSD_ERROR_MAX];
};

#define hsd__conn_error(c, ...) hsd__error_set((c)->error, __VA_ARGS__)

int hsd__conn_new(struct hsd_conn **out, struct hsd_session *s,
		  const struct hsd__conn_ops *ops);
/* Send a fatal alert, best effort, and end the connection: -EPROTO. */
int hsd__conn_abort(struct hsd_conn *c, uint8_t desc);
/* Derive and install the next key of one direction (section 7.2). */
int hsd__conn_next_key(struct hsd_conn *c, bool rx);
/* Take a token from the inbound KeyUpdate bucket; false when empty. */
bool hsd__conn_ku_allowed(struct hsd_conn *c);

#endif /* HANDSHAKED_INTERNAL_H */
