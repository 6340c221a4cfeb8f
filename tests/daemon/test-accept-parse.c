// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Proves that ACCEPT replies are parsed strictly but safely: replies
 * are built here with libnl as the kernel would build them, then
 * spoiled (missing, repeated, short, truncated, garbled attributes)
 * and fed to the daemon's parser, which must name what is wrong.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>

#include "check.h"
#include "netlink.h"

#define FAMILY	0x1c	/* any id: the parser does not look at it */

static struct nl_msg *reply_new(void)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg || !genlmsg_put(msg, 0, 1, FAMILY, 0, 0,
				 HSD_NL_CMD_ACCEPT, HSD_NL_VERSION)) {
		fprintf(stderr, "cannot build a message\n");
		exit(EXIT_FAILURE);
	}
	return msg;
}

/* The attributes every reply carries. */
static void put_basics(struct nl_msg *msg, uint32_t type, uint32_t auth)
{
	CHECK(nla_put_u32(msg, HSD_NL_ACCEPT_SOCKFD, 7) == 0);
	CHECK(nla_put_u32(msg, HSD_NL_ACCEPT_MESSAGE_TYPE, type) == 0);
	CHECK(nla_put_u32(msg, HSD_NL_ACCEPT_AUTH_MODE, auth) == 0);
}

static int parse(struct nl_msg *msg, struct hd_accept *a, char *err)
{
	int ret = hd_accept_parse(nlmsg_hdr(msg), a, err, 256);

	nlmsg_free(msg);
	return ret;
}

static void test_x509_client_reply(void)
{
	struct nl_msg *msg = reply_new();
	struct hd_accept a;
	struct nlattr *nest;
	char err[256];

	put_basics(msg, HSD_NL_MSG_CLIENTHELLO, HSD_NL_AUTH_X509);
	CHECK(nla_put_u32(msg, HSD_NL_ACCEPT_TIMEOUT, 15000) == 0);
	nest = nla_nest_start(msg, HSD_NL_ACCEPT_CERTIFICATE);
	CHECK(nest != NULL);
	CHECK(nla_put_u32(msg, HSD_NL_X509_CERT, 111) == 0);
	CHECK(nla_put_u32(msg, HSD_NL_X509_PRIVKEY, 222) == 0);
	nla_nest_end(msg, nest);
	CHECK(nla_put_string(msg, HSD_NL_ACCEPT_PEERNAME, "nfs.example") == 0);
	CHECK(nla_put_u32(msg, HSD_NL_ACCEPT_KEYRING, 333) == 0);

	CHECK(parse(msg, &a, err) == 0);
	CHECK(err[0] == '\0');
	CHECK(a.sockfd == 7);
	CHECK(a.msg_type == HSD_NL_MSG_CLIENTHELLO);
	CHECK(a.auth_mode == HSD_NL_AUTH_X509);
	CHECK(a.timeout_ms == 15000);
	CHECK(a.cert == 111 && a.privkey == 222);
	CHECK(!strcmp(a.peername, "nfs.example"));
	CHECK(a.keyring == 333);
	CHECK(a.n_peerids == 0);
}

static void test_psk_server_reply_with_five_ids(void)
{
	struct nl_msg *msg = reply_new();
	struct hd_accept a;
	char err[256];
	uint32_t i;

	put_basics(msg, HSD_NL_MSG_SERVERHELLO, HSD_NL_AUTH_PSK);
	for (i = 0; i < HSD_NL_MAX_PEERIDS; i++)
		CHECK(nla_put_u32(msg, HSD_NL_ACCEPT_PEER_IDENTITY,
				  100 + i) == 0);

	CHECK(parse(msg, &a, err) == 0);
	CHECK(a.n_peerids == HSD_NL_MAX_PEERIDS);
	CHECK(a.peerids[0] == 100 && a.peerids[4] == 104);
	CHECK(a.timeout_ms == 0 && a.peername[0] == '\0');
}

static void test_unknown_attribute_is_ignored(void)
{
	struct nl_msg *msg = reply_new();
	struct hd_accept a;
	char err[256];

	put_basics(msg, HSD_NL_MSG_CLIENTHELLO, HSD_NL_AUTH_UNAUTH);
	CHECK(nla_put_u32(msg, 42, 5) == 0);
	CHECK(parse(msg, &a, err) == 0);
	CHECK(a.sockfd == 7);
}

static void test_missing_sockfd(void)
{
	struct nl_msg *msg = reply_new();
	struct hd_accept a;
	char err[256];

	CHECK(nla_put_u32(msg, HSD_NL_ACCEPT_MESSAGE_TYPE, 1) == 0);
	CHECK(nla_put_u32(msg, HSD_NL_ACCEPT_AUTH_MODE, 1) == 0);
	CHECK(parse(msg, &a, err) == -EINVAL);
	CHECK(a.sockfd == -1);
	CHECK_CONTAINS(err, "'sockfd'");
	CHECK_CONTAINS(err, "missing");
}

static void test_missing_auth_mode_keeps_sockfd(void)
{
	struct nl_msg *msg = reply_new();
	struct hd_accept a;
	char err[256];

	CHECK(nla_put_u32(msg, HSD_NL_ACCEPT_SOCKFD, 9) == 0);
	CHECK(nla_put_u32(msg, HSD_NL_ACCEPT_MESSAGE_TYPE, 2) == 0);
	CHECK(parse(msg, &a, err) < 0);
	CHECK_CONTAINS(err, "'auth-mode'");
	CHECK(a.sockfd == 9);
}

static void test_too_many_peer_identities(void)
{
	struct nl_msg *msg = reply_new();
	struct hd_accept a;
	char err[256];
	uint32_t i;

	put_basics(msg, HSD_NL_MSG_CLIENTHELLO, HSD_NL_AUTH_PSK);
	for (i = 0; i < HSD_NL_MAX_PEERIDS + 1; i++)
		CHECK(nla_put_u32(msg, HSD_NL_ACCEPT_PEER_IDENTITY, i) == 0);

	CHECK(parse(msg, &a, err) == -EINVAL);
	CHECK_CONTAINS(err, "'peer-identity'");
	CHECK(a.sockfd == 7);
}

static void test_bad_values(void)
{
	struct nl_msg *msg = reply_new();
	struct hd_accept a;
	char err[256];

	put_basics(msg, 7, HSD_NL_AUTH_X509);
	CHECK(parse(msg, &a, err) == -EINVAL);
	CHECK_CONTAINS(err, "'message-type'");

	msg = reply_new();
	put_basics(msg, HSD_NL_MSG_CLIENTHELLO, 9);
	CHECK(parse(msg, &a, err) == -EINVAL);
	CHECK_CONTAINS(err, "'auth-mode'");

	msg = reply_new();
	put_basics(msg, HSD_NL_MSG_CLIENTHELLO, HSD_NL_AUTH_X509);
	CHECK(nla_put_u32(msg, HSD_NL_ACCEPT_HANDLER_CLASS, 0) == 0);
	CHECK(parse(msg, &a, err) == -EINVAL);
	CHECK_CONTAINS(err, "'handler-class'");
}

static void test_short_attribute(void)
{
	struct nl_msg *msg = reply_new();
	struct hd_accept a;
	uint16_t two = 2;
	char err[256];

	put_basics(msg, HSD_NL_MSG_CLIENTHELLO, HSD_NL_AUTH_X509);
	CHECK(nla_put(msg, HSD_NL_ACCEPT_TIMEOUT, sizeof(two), &two) == 0);
	CHECK(parse(msg, &a, err) == -EBADMSG);
	CHECK_CONTAINS(err, "'timeout'");
	CHECK(a.sockfd == 7);
}

static void test_unterminated_peername(void)
{
	struct nl_msg *msg = reply_new();
	struct hd_accept a;
	char err[256];

	put_basics(msg, HSD_NL_MSG_CLIENTHELLO, HSD_NL_AUTH_X509);
	CHECK(nla_put(msg, HSD_NL_ACCEPT_PEERNAME, 4, "host") == 0);
	CHECK(parse(msg, &a, err) == -EBADMSG);
	CHECK_CONTAINS(err, "'peername'");
}

static void test_overlong_peername(void)
{
	struct nl_msg *msg = reply_new();
	struct hd_accept a;
	char name[400], err[256];

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	put_basics(msg, HSD_NL_MSG_CLIENTHELLO, HSD_NL_AUTH_X509);
	CHECK(nla_put_string(msg, HSD_NL_ACCEPT_PEERNAME, name) == 0);
	CHECK(parse(msg, &a, err) == -EINVAL);
	CHECK_CONTAINS(err, "'peername'");
}

/* The last attribute claims more bytes than the message holds. */
static void test_truncated_reply(void)
{
	struct nl_msg *msg = reply_new();
	struct hd_accept a;
	char err[256];

	put_basics(msg, HSD_NL_MSG_CLIENTHELLO, HSD_NL_AUTH_X509);
	CHECK(nla_put_u32(msg, HSD_NL_ACCEPT_KEYRING, 5) == 0);
	nlmsg_hdr(msg)->nlmsg_len -= 2;

	CHECK(parse(msg, &a, err) == -EBADMSG);
	CHECK_CONTAINS(err, "garbled");
	CHECK(a.sockfd == 7);
}

/* An attribute header whose length is smaller than a header. */
static void test_garbled_attribute(void)
{
	struct nl_msg *msg = reply_new();
	struct nlattr bad = { .nla_len = 2, .nla_type = 1 };
	struct hd_accept a;
	char err[256];

	put_basics(msg, HSD_NL_MSG_CLIENTHELLO, HSD_NL_AUTH_X509);
	CHECK(nlmsg_append(msg, &bad, sizeof(bad), NLMSG_ALIGNTO) == 0);
	CHECK(parse(msg, &a, err) == -EBADMSG);
	CHECK_CONTAINS(err, "garbled");
}

static void test_garbled_certificate_nest(void)
{
	struct nl_msg *msg = reply_new();
	struct nlattr bad = { .nla_len = 3, .nla_type = 1 };
	struct hd_accept a;
	char err[256];

	put_basics(msg, HSD_NL_MSG_CLIENTHELLO, HSD_NL_AUTH_X509);
	CHECK(nla_put(msg, HSD_NL_ACCEPT_CERTIFICATE, sizeof(bad), &bad) == 0);
	CHECK(parse(msg, &a, err) == -EBADMSG);
	CHECK_CONTAINS(err, "'certificate'");
}

static void test_headers_only(void)
{
	struct nl_msg *msg = nlmsg_alloc();
	struct hd_accept a;
	char err[256];

	CHECK(msg != NULL);
	CHECK(nlmsg_put(msg, 0, 1, FAMILY, 0, 0) != NULL);
	CHECK(parse(msg, &a, err) == -EBADMSG);
	CHECK(err[0] != '\0');
	CHECK(a.sockfd == -1);
}

int main(void)
{
	test_x509_client_reply();
	test_psk_server_reply_with_five_ids();
	test_unknown_attribute_is_ignored();
	test_missing_sockfd();
	test_missing_auth_mode_keeps_sockfd();
	test_too_many_peer_identities();
	test_bad_values();
	test_short_attribute();
	test_unterminated_peername();
	test_overlong_peername();
	test_truncated_reply();
	test_garbled_attribute();
	test_garbled_certificate_nest();
	test_headers_only();
	return check_exit();
}
