/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Numbers of the kernel's "handshake" generic netlink family, as the
 * kernel's Documentation/netlink/specs/handshake.yaml assigns them.
 * Kept here because distributions with pre-6.4 kernel headers lack
 * <linux/handshake.h>; the values are ABI and never change.
 */
#ifndef HANDSHAKED_NL_HANDSHAKE_H
#define HANDSHAKED_NL_HANDSHAKE_H

#define HSD_NL_FAMILY		"handshake"
#define HSD_NL_VERSION		1
#define HSD_NL_GROUP		"tlshd"

/* Who services a request; equals the multicast group index. */
enum {
	HSD_NL_CLASS_NONE	= 0,
	HSD_NL_CLASS_TLSHD	= 1,
};

/* Which side of the handshake the kernel wants from us. */
enum {
	HSD_NL_MSG_UNSPEC	= 0,
	HSD_NL_MSG_CLIENTHELLO	= 1,
	HSD_NL_MSG_SERVERHELLO	= 2,
};

enum {
	HSD_NL_AUTH_UNSPEC	= 0,
	HSD_NL_AUTH_UNAUTH	= 1,
	HSD_NL_AUTH_PSK		= 2,
	HSD_NL_AUTH_X509	= 3,
};

/* Attributes nested in the ACCEPT reply's certificate attribute. */
enum {
	HSD_NL_X509_CERT	= 1,	/* u32 key serial, DER certificate */
	HSD_NL_X509_PRIVKEY	= 2,	/* u32 key serial, DER private key */
	HSD_NL_X509_MAX		= HSD_NL_X509_PRIVKEY,
};

/* Attributes of ACCEPT (request and reply). */
enum {
	HSD_NL_ACCEPT_SOCKFD		= 1,	/* u32 fd installed in us */
	HSD_NL_ACCEPT_HANDLER_CLASS	= 2,	/* u32 */
	HSD_NL_ACCEPT_MESSAGE_TYPE	= 3,	/* u32 */
	HSD_NL_ACCEPT_TIMEOUT		= 4,	/* u32 ms, absent when 0 */
	HSD_NL_ACCEPT_AUTH_MODE		= 5,	/* u32 */
	HSD_NL_ACCEPT_PEER_IDENTITY	= 6,	/* u32 key serial, repeated */
	HSD_NL_ACCEPT_CERTIFICATE	= 7,	/* nested HSD_NL_X509_* */
	HSD_NL_ACCEPT_PEERNAME		= 8,	/* string */
	HSD_NL_ACCEPT_KEYRING		= 9,	/* u32 key serial (6.17+) */
	HSD_NL_ACCEPT_MAX		= HSD_NL_ACCEPT_KEYRING,
};

/* Attributes of DONE. */
enum {
	HSD_NL_DONE_STATUS	= 1,	/* u32 positive errno, 0 = success */
	HSD_NL_DONE_SOCKFD	= 2,	/* u32 */
	HSD_NL_DONE_REMOTE_AUTH	= 3,	/* u32 key serial, repeated */
	HSD_NL_DONE_MAX		= HSD_NL_DONE_REMOTE_AUTH,
};

enum {
	HSD_NL_CMD_READY	= 1,
	HSD_NL_CMD_ACCEPT	= 2,
	HSD_NL_CMD_DONE		= 3,
};

/* The kernel keeps at most this many peer identities per request. */
#define HSD_NL_MAX_PEERIDS	5

#endif /* HANDSHAKED_NL_HANDSHAKE_H */
