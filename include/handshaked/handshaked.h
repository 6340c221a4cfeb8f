/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libhandshaked: run a TLS 1.3 handshake with GnuTLS on a connected
 * socket, then hand the record layer to kernel TLS (kTLS).
 *
 * Every call returns 0 or a negative errno unless documented otherwise.
 * The library never prints; objects keep a short error text that the
 * caller may read back after a failure.
 */
#ifndef HANDSHAKED_HANDSHAKED_H
#define HANDSHAKED_HANDSHAKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum hsd_role {
	HSD_CLIENT,
	HSD_SERVER,
};

/* Record ciphers kTLS can take; combined as a bit mask. */
enum hsd_cipher {
	HSD_AES_128_GCM		= 1u << 0,
	HSD_AES_256_GCM		= 1u << 1,
	HSD_AES_128_CCM		= 1u << 2,
	HSD_CHACHA20_POLY1305	= 1u << 3,
};

#define HSD_CIPHERS_ALL (HSD_AES_128_GCM | HSD_AES_256_GCM | \
			 HSD_AES_128_CCM | HSD_CHACHA20_POLY1305)

/*
 * Positive results of hsd_handshake(): not an error, call again.
 * HSD_AGAIN_READ and HSD_AGAIN_WRITE name what to wait for on the
 * socket (a would-block or an interrupted call); HSD_WARNING_ALERT
 * means the peer sent a warning alert, see hsd_session_alert().
 */
enum hsd_progress {
	HSD_AGAIN_READ = 1,
	HSD_AGAIN_WRITE,
	HSD_WARNING_ALERT,
};

/* How a server treats client certificates. */
enum hsd_client_auth {
	HSD_CLIENT_AUTH_NONE,		/* never ask */
	HSD_CLIENT_AUTH_REQUEST,	/* ask; verify one if sent */
	HSD_CLIENT_AUTH_REQUIRE,	/* ask; fail without a valid one */
};

/*
 * Credentials: trust anchors, revocation lists and our own certificate
 * chain with its private key. Reference counted so that one set can
 * serve many sessions; a session takes its own reference.
 */
struct hsd_creds;

int hsd_creds_new(struct hsd_creds **out);
struct hsd_creds *hsd_creds_ref(struct hsd_creds *c);
void hsd_creds_unref(struct hsd_creds *c);

/* Trust the system's CA store. */
int hsd_creds_trust_system(struct hsd_creds *c);
/* Trust the CAs of a PEM file. */
int hsd_creds_trust_file(struct hsd_creds *c, const char *path);
/* Add the CRLs of a PEM file. */
int hsd_creds_crl_file(struct hsd_creds *c, const char *path);
/* Our certificate chain and private key, from PEM files. */
int hsd_creds_x509_files(struct hsd_creds *c, const char *cert_path,
			 const char *key_path);
/* Our certificate and private key, DER encoded (as kept in a keyring). */
int hsd_creds_x509_der(struct hsd_creds *c,
		       const void *cert, size_t cert_len,
		       const void *key, size_t key_len);
/* Whether an own certificate was set. */
bool hsd_creds_has_x509(const struct hsd_creds *c);
/* Text of the last failure on this object, "" if none. */
const char *hsd_creds_error(const struct hsd_creds *c);

/*
 * TLS 1.3 pre-shared keys (RFC 8446 section 2.2), as NVMe/TCP uses
 * them. A key belongs to one hash: the handshake runs a cipher suite
 * of that hash (SHA-384: AES-256-GCM only). Key bytes are copied in
 * and wiped when the credentials go away.
 */
enum hsd_psk_hash {
	HSD_PSK_SHA256 = 1,	/* NVMe identity hash field "01" */
	HSD_PSK_SHA384 = 2,	/* NVMe identity hash field "02" */
};

/* Longest PSK and PSK identity the library takes, in bytes. */
#define HSD_PSK_KEY_MAX 64
#define HSD_PSK_IDENTITY_MAX 1024

/*
 * Client: add an identity and its key to offer. Identities are offered
 * in the order added. Only the first is sent today: GnuTLS puts one
 * external PSK into a ClientHello. Returns -EINVAL for an empty or
 * over-long identity, a key of 0 or more than HSD_PSK_KEY_MAX bytes,
 * or an unknown hash, and -EOPNOTSUPP for a SHA-384 key when GnuTLS
 * is older than 3.8.11 (it binds every PSK to SHA-256).
 */
int hsd_creds_psk_add(struct hsd_creds *c, const char *identity,
		      const void *key, size_t key_len,
		      enum hsd_psk_hash hash);
/* Number of PSK identities added with hsd_creds_psk_add(). */
size_t hsd_creds_psk_count(const struct hsd_creds *c);

/*
 * Server: find the key of an identity the client offers. Copy the key
 * into key (room for HSD_PSK_KEY_MAX bytes), set *key_len and *hash
 * and return 0; return -ENOKEY for an unknown identity, or another
 * negative errno on failure. The library wipes key afterwards.
 */
typedef int (*hsd_psk_lookup_fn)(void *data, const char *identity,
				 uint8_t *key, size_t *key_len,
				 enum hsd_psk_hash *hash);

/* Server: answer PSK handshakes with this lookup. */
int hsd_creds_psk_lookup(struct hsd_creds *c, hsd_psk_lookup_fn fn,
			 void *data);
/* Whether the credentials hold client PSKs or a server lookup. */
bool hsd_creds_has_psk(const struct hsd_creds *c);

/*
 * The hash named by an NVMe/TCP PSK identity,
 * "NVMe<v><R|G><hh> <hostnqn> <subnqn>[ <digest>]": version 0 without
 * a digest, version 1 with or without one, R for a retained and G for
 * a generated PSK, hh 01 (SHA-256) or 02 (SHA-384). Returns
 * HSD_PSK_SHA256 or HSD_PSK_SHA384, or -EINVAL for anything else.
 */
int hsd_psk_identity_hash(const char *identity);

/*
 * Ask the running kernel which record ciphers kTLS accepts, by setting
 * each on a throwaway loopback connection. The result is computed once
 * and cached. Returns -ENOPROTOOPT when the kernel has no kTLS at all.
 */
int hsd_ktls_probe(unsigned int *ciphers);

/*
 * One TLS 1.3 handshake on a connected TCP socket. The session never
 * closes the socket; it switches it to non-blocking mode.
 */
struct hsd_session;

int hsd_session_new(struct hsd_session **out, int fd, enum hsd_role role,
		    struct hsd_creds *creds);
void hsd_session_free(struct hsd_session *s);

/* Server name to send (SNI) and to verify: a DNS name or an IP address. */
int hsd_session_set_peer_name(struct hsd_session *s, const char *name);
/* Restrict the record ciphers (default HSD_CIPHERS_ALL). */
int hsd_session_set_ciphers(struct hsd_session *s, unsigned int ciphers);
/* Client: verify the server (default true). Off means anonymous trust. */
void hsd_session_set_verify_peer(struct hsd_session *s, bool verify);
/*
 * Server: client certificate policy (default HSD_CLIENT_AUTH_NONE). A
 * resumed session exchanges no certificate: the one kept in the ticket
 * is verified again, and REQUIRE fails a session whose ticket holds
 * none (-EACCES).
 */
void hsd_session_set_client_auth(struct hsd_session *s,
				 enum hsd_client_auth mode);
/*
 * Sessions whose credentials hold PSKs (client) or a PSK lookup
 * (server) authenticate with the PSK alone, no certificates, and use
 * (EC)DHE with it (psk_dhe_ke) for forward secrecy. Allowing plain
 * psk_ke lists it first on a client and accepts it on a server; the
 * peers then agree on it only if both allow it.
 */
void hsd_session_set_psk_ke(struct hsd_session *s, bool allow);

/*
 * Bound the handshake to timeout_ms from now (0: no bound). Past it,
 * hsd_handshake() fails with -ETIMEDOUT.
 */
void hsd_session_set_timeout(struct hsd_session *s, unsigned int timeout_ms);
/* Milliseconds left before the timeout, -1 without one (for poll). */
int hsd_session_timeout_left(const struct hsd_session *s);

/*
 * Drive the handshake. Returns 0 once it is complete, a positive
 * enum hsd_progress value to be called again, or a negative errno:
 *   -EACCES	the peer's certificate failed verification
 *   -EKEYREJECTED  PSK: (server) no offered identity is known or the
 *		client's key differs from ours; (client) the server
 *		refused our identity or key (alert unknown_psk_identity
 *		or decrypt_error; other alerts give -EPROTO)
 *   -EOPNOTSUPP  PSK: a SHA-384 key with a GnuTLS that cannot use one
 *   -ETIMEDOUT	the timeout passed
 *   -ECONNRESET / -EPIPE  the peer went away
 *   -EPROTO	the peer broke the protocol or sent a fatal alert
 *   -ENOMEM, -EINVAL	as usual
 * Called again after success it keeps gnutls_handshake(3)'s contract
 * for TLS 1.3: on a server it does nothing and returns 0; on a client
 * it updates our sending key and asks the peer to update its own (a
 * KeyUpdate with update_requested), returning 0 or a progress code
 * as above. Once the keys live in the kernel a client gets -EINVAL
 * here: hsd_conn_handshake() does the same through the connection.
 */
int hsd_handshake(struct hsd_session *s);

/* The last alert received (a GnuTLS alert number), -1 if none. */
int hsd_session_alert(const struct hsd_session *s);
/* Text of the last failure on this session, "" if none. */
const char *hsd_session_error(const struct hsd_session *s);

/* What was negotiated, for logging. Strings live as long as the session. */
struct hsd_info {
	const char *version;	/* "TLS1.3" */
	const char *cipher;	/* "AES-256-GCM" */
	const char *group;	/* "X25519", or "" when none */
	/*
	 * The peer presented a certificate that verified. A resumed
	 * session exchanges none (RFC 8446 section 2.2): the chain kept
	 * in the ticket from the original handshake was verified again
	 * as the session resumed, against today's trust anchors and
	 * CRLs and, on a client, the peer name.
	 */
	bool peer_verified;
	bool resumed;		/* resumed from a session ticket */
};

int hsd_session_info(const struct hsd_session *s, struct hsd_info *info);

/*
 * Session resumption (RFC 8446 section 2.2). A server seals session
 * tickets under keys derived from a master key; a client keeps what a
 * ticket lets it resume and offers it on a later connection to the
 * same server, which then skips the certificate exchange. Resumed
 * handshakes still run (EC)DHE unless plain psk_ke is allowed on both
 * ends (hsd_session_set_psk_ke()).
 */

/* Size of a ticket master key. */
#define HSD_TICKET_KEY_SIZE 64

/* Fill key with a fresh random ticket master key. */
int hsd_ticket_key_generate(uint8_t key[HSD_TICKET_KEY_SIZE]);

/*
 * Server: send a session ticket at the end of the handshake and resume
 * sessions from tickets sealed under key (HSD_TICKET_KEY_SIZE bytes,
 * copied, wiped once GnuTLS holds it). A ticket is valid lifetime_s
 * seconds (0: 6 hours; at most 604800, RFC 8446 section 4.6.1).
 *
 * Sealing keys (GnuTLS 3.7 and 3.8): the key in use is SHA3-512 of
 * the period number (64 bits, big-endian) followed by the master key,
 * a period being three lifetimes counted from the Unix epoch. A ticket
 * sealed in the previous period is still accepted, older ones are
 * not, so rotation never cuts a ticket short of its lifetime; GnuTLS
 * refuses a ticket older than the lifetime by itself. Servers sharing
 * the master key and the lifetime, with clocks in step, accept each
 * other's tickets; a different master key rejects every older ticket
 * (the handshake then runs in full).
 *
 * One ticket per handshake, sent before hsd_handshake() returns 0, and
 * only to a client that sent psk_key_exchange_modes (RFC 8446 section
 * 4.2.9): one that asks for tickets, and every external-PSK client. A
 * resumed session's ticket keeps the original expiry; none is sent
 * past it. Off by default. -EINVAL on a client or for a bad length or
 * lifetime, -EBUSY after the first hsd_handshake().
 */
int hsd_session_set_ticket_key(struct hsd_session *s, const void *key,
			       size_t len, unsigned int lifetime_s);

/*
 * Client: ask the server for session tickets (off by default: a ticket
 * arriving after the keys moved into the kernel reaches the kernel's
 * consumer, which may not expect one). Read them with
 * hsd_session_read_ticket(). Turning tickets off also drops a ticket
 * set with hsd_session_set_ticket(). -EINVAL on a server, -EBUSY
 * after the first hsd_handshake().
 */
int hsd_session_set_tickets(struct hsd_session *s, bool on);

/*
 * Client: offer to resume from ticket data that hsd_session_ticket()
 * returned on an earlier session with the same server; implies
 * hsd_session_set_tickets(s, true). The data is copied, and wiped once
 * GnuTLS holds it. A ticket past its lifetime (counted from its
 * arrival) or that GnuTLS cannot read is not offered, and a server
 * that rejects it gets a full handshake. On resumption the server's
 * certificate kept in the ticket is verified again (unless
 * hsd_session_set_verify_peer(s, false)): a ticket offered under
 * another peer name fails the handshake with -EACCES. -EINVAL on a
 * server or for empty data or more than 64 KiB, -EBUSY after the
 * first hsd_handshake().
 */
int hsd_session_set_ticket(struct hsd_session *s, const void *data,
			   size_t len);

/*
 * Client, after a complete handshake and before the keys move into the
 * kernel: read the records the server sent since, one at a time, until
 * one carried a session ticket, then those already waiting in the
 * socket (more tickets of the same flight, kept out of the kernel; a
 * ticket arriving later still reaches it). Returns 0 when a ticket
 * arrived, HSD_AGAIN_READ to wait for the socket (bound the wait
 * yourself: a server may send none), HSD_AGAIN_WRITE when GnuTLS must
 * answer a KeyUpdate, -EPROTO when the server sent application data
 * instead (it is dropped and cannot reach the kernel either, so
 * hsd_session_ktls_install() then fails with -EPROTO; use this only
 * with protocols where the client speaks first), -EINVAL on a server,
 * without tickets asked for, before the handshake or once the keys
 * are in the kernel, -ECONNRESET when the server closed, or another
 * negative errno as for hsd_handshake(). Kernel keys installed after
 * it start at the record sequence numbers past what was read.
 */
int hsd_session_read_ticket(struct hsd_session *s);

/*
 * Client: the data to resume this session later, from the newest
 * ticket received, and (if lifetime_s is not NULL) the ticket's
 * lifetime in seconds, as the ticket_lifetime field of its
 * NewSessionTicket (RFC 8446 section 4.6.1) carried it. -ENOENT on a
 * server, before the handshake or when no ticket arrived. *data is
 * allocated; release it with hsd_ticket_free(), which wipes it: it
 * holds a resumption secret. The format is GnuTLS's session data.
 */
int hsd_session_ticket(const struct hsd_session *s, void **data,
		       size_t *len, uint32_t *lifetime_s);

/* Wipe and free ticket data from hsd_session_ticket(). */
void hsd_ticket_free(void *data, size_t len);

/*
 * The peer's leaf certificate, DER encoded, or -ENOENT. On a resumed
 * session, the one of the original handshake, kept in the ticket. The
 * pointer lives as long as the session.
 */
int hsd_session_peer_cert(const struct hsd_session *s,
			  const void **der, size_t *len);

/*
 * After a PSK handshake, the identity in use: on a client the one the
 * server accepted, on a server the one the client offered that the
 * lookup found. NULL before the handshake is done or without a PSK.
 * The string lives as long as the session.
 */
const char *hsd_session_psk_identity(const struct hsd_session *s);

/*
 * Move the negotiated keys into kernel TLS for both directions. Fails
 * with -EIO if the kernel refuses them and with -EPROTO if the peer
 * already sent application data that the kernel would never see (the
 * session reads only whole records, so data past the handshake stays
 * in the socket for the kernel). Every copy of key material is wiped.
 */
int hsd_session_ktls_install(struct hsd_session *s);

/*
 * A kernel TLS connection after the handshake: what TLS 1.3 still
 * asks of the endpoints once the kernel holds the record keys (RFC
 * 8446 section 4.6: key updates and session tickets; section 6:
 * alerts). It keeps the application traffic secrets of both
 * directions (in locked memory, wiped when freed), the hash, the
 * cipher and a count of records sent; the session can be freed once
 * it exists. Needs Linux 6.14 or later for key updates.
 *
 * Reading: kTLS returns application data from read(2) and recv(2) and
 * fails them with EIO at any other record. Read with recvmsg(2) and a
 * control buffer (CMSG_SPACE(1)) instead: a record of another type
 * comes back with a SOL_TLS/TLS_GET_RECORD_TYPE message (see
 * hsd_record_type()); hand its content to hsd_conn_input(). Use a
 * buffer of HSD_RECORD_MAX bytes so that such records come whole.
 * hsd_conn_recv() does all of that for callers without io_uring.
 *
 * Calls that may write (input, key updates, flush, close) send one
 * record with sendmsg(2) and may change the sending key: make them
 * while no other send on the socket is under way, and before every
 * send of application data check that hsd_conn_flush() returns 0.
 */
struct hsd_conn;

/* Largest TLS record content (RFC 8446 section 5.1). */
#define HSD_RECORD_MAX 16384

/* TLS record content types (RFC 8446 appendix B.1). */
enum hsd_record {
	HSD_RECORD_ALERT = 21,
	HSD_RECORD_HANDSHAKE = 22,
	HSD_RECORD_DATA = 23,
};

/* Positive results of the hsd_conn_* calls: not an error. */
enum hsd_conn_event {
	HSD_CONN_CLOSED = 1,	/* close_notify: the peer sends no more */
	HSD_CONN_WARNING,	/* warning alert, see hsd_conn_alert() */
	HSD_CONN_AGAIN_WRITE,	/* a KeyUpdate waits for room in the socket:
				 * call hsd_conn_flush() once writable */
};

/*
 * Make the connection of a session whose keys hsd_session_ktls_install()
 * moved into the kernel. -EINVAL before that or for anything but
 * TLS 1.3; -EBUSY when the session already made one. The session's
 * secrets move into the connection.
 */
int hsd_conn_from_session(struct hsd_conn **out, struct hsd_session *s);
/* hsd_session_ktls_install() followed by hsd_conn_from_session(). */
int hsd_session_ktls_install_conn(struct hsd_session *s,
				  struct hsd_conn **out);
/* Wipe the secrets and free. The socket stays open. */
void hsd_conn_free(struct hsd_conn *c);

int hsd_conn_fd(const struct hsd_conn *c);
/* Text of the last failure on this connection, "" if none. */
const char *hsd_conn_error(const struct hsd_conn *c);
/* The last alert received (its description), -1 if none. */
int hsd_conn_alert(const struct hsd_conn *c);
/* Whether the peer sent close_notify. */
bool hsd_conn_peer_closed(const struct hsd_conn *c);

/*
 * Inbound KeyUpdate limit, a token bucket: burst updates at once, then
 * one more per interval_ms (0: never more). Past it, the connection
 * ends with an unexpected_message alert. Default: 16, one a second.
 */
int hsd_conn_set_key_update_limit(struct hsd_conn *c, unsigned int burst,
				  unsigned int interval_ms);

/*
 * Update the sending key after this many records under one key.
 * Default: 2^24 for AES-GCM and AES-CCM (RFC 8446 section 5.5 allows
 * 2^24.5 for AES-GCM), 2^60 for ChaCha20-Poly1305.
 */
int hsd_conn_set_tx_rekey_limit(struct hsd_conn *c, uint64_t records);

/*
 * Handle one record other than application data, given its content
 * type and content (as recvmsg returned them):
 *   handshake KeyUpdate: derive and install the next receiving key
 *	(rec_seq 0); if the peer asked, send our own KeyUpdate and
 *	install the next sending key. Returns 0, or HSD_CONN_AGAIN_WRITE
 *	when our KeyUpdate must wait for room in the socket.
 *   handshake NewSessionTicket (client): kept, see hsd_conn_ticket().
 *   alert close_notify: HSD_CONN_CLOSED.
 *   other warning alert: HSD_CONN_WARNING (RFC 8446 section 6 has
 *	peers send errors as fatal; user_canceled is the one warning).
 *   fatal alert: -EPROTO.
 *   anything else, or too many KeyUpdates: we send a fatal alert and
 *	return -EPROTO. Every later call returns the same error.
 */
int hsd_conn_input(struct hsd_conn *c, unsigned int type,
		   const void *data, size_t len);

/*
 * Handle the error a read of the socket returned (negative errno).
 * -EKEYEXPIRED (the kernel waits for a new receiving key after a
 * KeyUpdate the connection did not see): install the next receiving
 * key and send a KeyUpdate of our own, in case the peer asked; 0 or
 * HSD_CONN_AGAIN_WRITE on success. Other errors are kept and returned.
 */
int hsd_conn_read_error(struct hsd_conn *c, int err);

/*
 * Read application data: bytes read, 0 at the end of the stream
 * (close_notify or a closed TCP connection; see
 * hsd_conn_peer_closed()), or a negative errno (-EAGAIN on a
 * non-blocking socket with nothing to read). Other records are handed
 * to hsd_conn_input() on the way.
 */
ssize_t hsd_conn_recv(struct hsd_conn *c, void *buf, size_t len);

/*
 * The record type of a message recvmsg(2) filled on a kTLS socket:
 * HSD_RECORD_DATA without a SOL_TLS control message.
 */
struct msghdr;
int hsd_record_type(const struct msghdr *msg);

/*
 * Update our sending key: send a KeyUpdate (asking the peer to update
 * its own if request_peer) and install the next sending key. Returns 0
 * or HSD_CONN_AGAIN_WRITE (nothing sent yet; see hsd_conn_flush()).
 */
int hsd_conn_key_update(struct hsd_conn *c, bool request_peer);

/*
 * As hsd_handshake() on a finished session: a client updates its key
 * and asks the peer to update too; a server does nothing.
 */
int hsd_conn_handshake(struct hsd_conn *c);

/*
 * Send a KeyUpdate still waiting for room in the socket. 0 when none
 * waits (application data may go), HSD_CONN_AGAIN_WRITE, or -errno.
 */
int hsd_conn_flush(struct hsd_conn *c);

/*
 * Count application data sent by the caller (bytes the kernel took in
 * one send): each send makes at least one record and one per 16 KiB.
 * When the count reaches the rekey limit, updates the sending key as
 * hsd_conn_key_update(c, false) does.
 */
int hsd_conn_sent(struct hsd_conn *c, size_t bytes);

/*
 * send(2) of application data after hsd_conn_flush(), counted with
 * hsd_conn_sent(). Bytes sent or a negative errno.
 */
ssize_t hsd_conn_send(struct hsd_conn *c, const void *buf, size_t len,
		      int flags);

/* Send close_notify; the caller then shuts the socket down. */
int hsd_conn_close(struct hsd_conn *c);

/* What happened on the connection so far. */
struct hsd_conn_stats {
	uint64_t tx_records;	/* records counted under the current key */
	uint64_t tx_key_updates;	/* sending keys we installed */
	uint64_t rx_key_updates;	/* receiving keys we installed */
	uint64_t tickets;	/* NewSessionTickets received */
};

void hsd_conn_stats(const struct hsd_conn *c, struct hsd_conn_stats *st);

/*
 * NewSessionTicket messages a client received (RFC 8446 section
 * 4.6.1), raw: the handshake message body without its 4-byte header.
 * The newest HSD_CONN_TICKETS_MAX are kept; index 0 is the oldest.
 * Returns -ENOENT past the last. The pointer lives until the next call
 * that reads records or the connection is freed.
 */
#define HSD_CONN_TICKETS_MAX 8

size_t hsd_conn_ticket_count(const struct hsd_conn *c);
int hsd_conn_ticket(const struct hsd_conn *c, size_t index,
		    const void **data, size_t *len);

/*
 * The underlying gnutls_session_t, for callers that need more than
 * this API offers. Returned as void * to keep GnuTLS out of this
 * header. The library owns its handshake hook
 * (gnutls_handshake_set_hook_function()): replacing it loses ticket
 * lifetimes, server tickets and PSK checks.
 */
void *hsd_session_gnutls(struct hsd_session *s);

#ifdef __cplusplus
}
#endif

#endif /* HANDSHAKED_HANDSHAKED_H */
