// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Driving gnutls_handshake() on a non-blocking socket and turning its
 * results into the library's: progress codes to call again, or a
 * negative errno with the GnuTLS reason kept in the session.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

int hsd__verify_failed(struct hsd_session *s, int rc, unsigned int status)
{
	gnutls_certificate_type_t type = gnutls_certificate_type_get(s->tls);
	gnutls_datum_t text = { NULL, 0 };

	if (status &&
	    gnutls_certificate_verification_status_print(status, type,
							 &text, 0) == 0) {
		/* GnuTLS ends each sentence with a space; drop the last. */
		if (text.size && text.data[text.size - 1] == ' ')
			text.data[text.size - 1] = 0;
		hsd__session_error(s, "certificate verification failed: %s",
				   (const char *)text.data);
		gnutls_free(text.data);
		return -EACCES;
	}

	hsd__session_error(s, "certificate verification failed: %s",
			   gnutls_strerror(rc));
	return -EACCES;
}

static int alert_received(struct hsd_session *s, int rc)
{
	const char *name;

	s->alert = (int)gnutls_alert_get(s->tls);
	name = gnutls_alert_get_name((gnutls_alert_description_t)s->alert);
	hsd__session_error(s, "peer sent %s alert '%s'",
			   rc == GNUTLS_E_FATAL_ALERT_RECEIVED ? "fatal" :
			   "warning", name ? name : "unknown");
	return rc == GNUTLS_E_FATAL_ALERT_RECEIVED ? -EPROTO :
	       HSD_WARNING_ALERT;
}

static int transport_failed(struct hsd_session *s, int rc)
{
	int err = s->io_errno ? s->io_errno : ECONNRESET;

	/* the socket's own error says more than GnuTLS's pull/push text */
	if (s->io_errno)
		hsd__session_error(s, "connection lost: %s", strerror(err));
	else
		hsd__session_error(s, "connection lost: %s",
				   gnutls_strerror(rc));
	return -err;
}

/* A fatal gnutls_handshake() code as a negative errno. */
static int fatal_errno(int rc)
{
	switch (rc) {
	case GNUTLS_E_MEMORY_ERROR:
		return -ENOMEM;
	case GNUTLS_E_INVALID_REQUEST:
		return -EINVAL;
	case GNUTLS_E_TIMEDOUT:
		return -ETIMEDOUT;
	case GNUTLS_E_NO_CERTIFICATE_FOUND:
	case GNUTLS_E_CERTIFICATE_REQUIRED:
		return -EACCES;
	default:
		return -EPROTO;
	}
}

int hsd__handshake_result(struct hsd_session *s, int rc)
{
	int err;

	if (rc < 0 && gnutls_error_is_fatal(rc) && hsd__session_psk(s)) {
		err = hsd__psk_failed(s, rc);
		if (err)
			return err;
	}
	return hsd__gnutls_result(s, rc);
}

int hsd__gnutls_result(struct hsd_session *s, int rc)
{
	switch (rc) {
	case GNUTLS_E_SUCCESS:
		return 0;
	case GNUTLS_E_AGAIN:
	case GNUTLS_E_INTERRUPTED:
		return gnutls_record_get_direction(s->tls) ? HSD_AGAIN_WRITE :
							     HSD_AGAIN_READ;
	case GNUTLS_E_WARNING_ALERT_RECEIVED:
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
		return alert_received(s, rc);
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
		return hsd__verify_failed(s, rc,
				gnutls_session_get_verify_cert_status(s->tls));
	case GNUTLS_E_CERTIFICATE_ERROR:
		/* Our own check of a client certificate said no. */
		return hsd__verify_failed(s, rc, s->verify_status);
	case GNUTLS_E_PREMATURE_TERMINATION:
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		return transport_failed(s, rc);
	}

	hsd__session_error(s, "handshake failed: %s", gnutls_strerror(rc));
	return fatal_errno(rc);
}

/* Whether the peer's certificate was checked and passed. */
static bool peer_verified(const struct hsd_session *s)
{
	unsigned int n = 0;

	if (s->role == HSD_CLIENT ? !s->verify_peer :
	    s->client_auth == HSD_CLIENT_AUTH_NONE)
		return false;

	return gnutls_certificate_get_peers(s->tls, &n) && n > 0;
}

/* Tell the peer why we stop, where the reason is ours to give. */
void hsd__send_alert(struct hsd_session *s, int rc)
{
	if (s->psk_alert) {
		gnutls_alert_send(s->tls, GNUTLS_AL_FATAL,
				  (gnutls_alert_description_t)s->psk_alert);
		return;
	}

	switch (rc) {
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
	case GNUTLS_E_PREMATURE_TERMINATION:
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		return;
	}

	/* Best effort: the socket may be full or gone; the error stands. */
	gnutls_alert_send_appropriate(s->tls, rc);
}

/*
 * As gnutls_handshake(3) on a finished TLS 1.3 session: a client
 * updates its sending key and asks the peer to update too (RFC 8446
 * section 4.6.3); a server has nothing to do.
 */
static int handshake_again(struct hsd_session *s)
{
	int rc;

	if (s->role == HSD_SERVER)
		return 0;

	if (s->in_kernel) {
		hsd__session_error(s, "keys live in the kernel: update them through hsd_conn_handshake()");
		return -EINVAL;
	}

	rc = gnutls_session_key_update(s->tls, GNUTLS_KU_PEER);
	return hsd__handshake_result(s, rc);
}

/* gnutls_handshake() until it completes, then what it leaves to us. */
static int handshake_step(struct hsd_session *s)
{
	int ret, rc;

	ret = gnutls_handshake(s->tls);
	rc = hsd__handshake_result(s, ret);
	if (rc < 0) {
		hsd__send_alert(s, ret);
		return s->failed = rc;
	}
	if (rc > 0)
		return rc;

	if (hsd__session_psk(s)) {
		rc = hsd__psk_done(s);
		if (rc < 0) {
			gnutls_alert_send(s->tls, GNUTLS_AL_FATAL,
					  GNUTLS_A_HANDSHAKE_FAILURE);
			return s->failed = rc;
		}
	}

	/* A resumed session saw no certificate: check the one it kept. */
	rc = hsd__resumed_check(s);
	if (rc < 0)
		return s->failed = rc;

	s->hs_complete = true;
	return 0;
}

int hsd_handshake(struct hsd_session *s)
{
	int rc;

	if (s->failed)
		return s->failed;
	if (s->done)
		return handshake_again(s);

	if (hsd__deadline_passed(s)) {
		hsd__session_error(s, "handshake timed out");
		return s->failed = -ETIMEDOUT;
	}

	if (!s->started) {
		rc = hsd__session_start(s);
		if (rc < 0)
			return s->failed = rc;
	}

	if (!s->hs_complete) {
		rc = handshake_step(s);
		if (rc)
			return rc;
	}

	/* A server sends its ticket before the keys can move. */
	rc = hsd__ticket_send(s);
	if (rc < 0)
		return s->failed = rc;
	if (rc > 0)
		return rc;

	s->done = true;
	s->peer_verified = peer_verified(s);
	return 0;
}
