/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Credentials for handshakes: the sets built once from the
 * configuration, and per-request sets when a request brings its own
 * certificate and key in the keyring.
 */
#ifndef HANDSHAKED_CREDS_H
#define HANDSHAKED_CREDS_H

#include <stddef.h>

#include <handshaked/handshaked.h>

#include "conf.h"

struct hd_creds_set {
	struct hsd_creds *anon;		/* client trust, no own certificate */
	struct hsd_creds *client;	/* [authenticate.client] */
	struct hsd_creds *server;	/* [authenticate.server] */
};

/* Build all three sets; on failure err names the file and the reason. */
int hd_creds_build(struct hd_creds_set *set, const struct hd_config *cfg,
		   char *err, size_t errlen);
void hd_creds_release(struct hd_creds_set *set);

/*
 * A set for one request whose certificate and key are key serials:
 * the trust of the side's configuration plus that DER pair.
 */
int hd_creds_from_keys(struct hsd_creds **out, const struct hd_auth_conf *a,
		       int32_t cert, int32_t privkey, char *err, size_t errlen);

#endif /* HANDSHAKED_CREDS_H */
