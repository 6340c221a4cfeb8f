// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Talk to the kernel's "handshake" generic netlink family. READY
 * notifications arrive on one socket joined to the "tlshd" group;
 * ACCEPT and DONE go over a second socket so that their replies never
 * mix with notifications.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>

#include "log.h"
#include "netlink.h"

struct hd_nl {
	struct nl_sock *events;		/* joined to the "tlshd" group */
	struct nl_sock *cmds;		/* ACCEPT and DONE */
	int family;
};

/* A kernel that hangs on a command must not hang the daemon. */
#define HD_NL_REPLY_TIMEOUT_S	5

int hd_nl_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case 0:			return 0;
	case NLE_NOMEM:		return -ENOMEM;
	case NLE_AGAIN:		return -EAGAIN;
	case NLE_INTR:		return -EINTR;
	case NLE_BAD_SOCK:	return -EBADF;
	case NLE_PERM:		return -EPERM;
	case NLE_NOACCESS:	return -EACCES;
	case NLE_INVAL:		return -EINVAL;
	case NLE_RANGE:		return -ERANGE;
	case NLE_MSGSIZE:	return -EMSGSIZE;
	case NLE_MSG_TRUNC:	return -EMSGSIZE;
	case NLE_OBJ_NOTFOUND:	return -ENOENT;
	case NLE_NODEV:		return -ENODEV;
	case NLE_BUSY:		return -EBUSY;
	case NLE_OPNOTSUPP:	return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:	return -EAFNOSUPPORT;
	case NLE_PROTO_MISMATCH: return -EPROTONOSUPPORT;
	case NLE_NOADDR:	return -EADDRNOTAVAIL;
	default:		return -EIO;
	}
}

/* ---- parsing the ACCEPT reply ---- */

struct accept_parse {
	struct hd_accept *a;
	int err;
	char *msg;
	size_t msglen;
	bool seen_type, seen_auth, seen_cert;
};

static void __attribute__((format(printf, 3, 4)))
accept_fail(struct accept_parse *p, int err, const char *fmt, ...)
{
	va_list ap;

	if (p->err)
		return;
	p->err = err;

	va_start(ap, fmt);
	vsnprintf(p->msg, p->msglen, fmt, ap);
	va_end(ap);
}

static bool attr_u32(struct accept_parse *p, const struct nlattr *nla,
		     const char *name, uint32_t *out)
{
	if (nla_len(nla) != sizeof(uint32_t)) {
		accept_fail(p, -EBADMSG, "attribute '%s' has length %d, not 4",
			    name, nla_len(nla));
		return false;
	}
	*out = nla_get_u32((struct nlattr *)nla);
	return true;
}

static void accept_sockfd(struct accept_parse *p, const struct nlattr *nla)
{
	uint32_t v;

	if (!attr_u32(p, nla, "sockfd", &v))
		return;
	if (v > INT32_MAX) {
		accept_fail(p, -EINVAL, "attribute 'sockfd' is out of range");
		return;
	}
	p->a->sockfd = (int)v;
}

static void accept_handler_class(struct accept_parse *p,
				 const struct nlattr *nla)
{
	uint32_t v;

	if (attr_u32(p, nla, "handler-class", &v) && v != HSD_NL_CLASS_TLSHD)
		accept_fail(p, -EINVAL, "attribute 'handler-class' is %u",
			    v);
}

static void accept_peer_identity(struct accept_parse *p,
				 const struct nlattr *nla)
{
	struct hd_accept *a = p->a;
	uint32_t v;

	if (!attr_u32(p, nla, "peer-identity", &v))
		return;
	if (a->n_peerids == HSD_NL_MAX_PEERIDS) {
		accept_fail(p, -EINVAL,
			    "attribute 'peer-identity' repeated more than %d times",
			    HSD_NL_MAX_PEERIDS);
		return;
	}
	a->peerids[a->n_peerids++] = v;
}

static void accept_peername(struct accept_parse *p, const struct nlattr *nla)
{
	const char *s = nla_data(nla);
	int len = nla_len(nla);

	if (len < 2 || s[len - 1] != '\0' || strlen(s) != (size_t)len - 1) {
		accept_fail(p, -EBADMSG,
			    "attribute 'peername' is not a plain string");
		return;
	}
	if ((size_t)len > sizeof(p->a->peername)) {
		accept_fail(p, -EINVAL, "attribute 'peername' is too long");
		return;
	}
	memcpy(p->a->peername, s, len);
}

static void accept_certificate(struct accept_parse *p,
			       const struct nlattr *nest)
{
	struct nlattr *nla;
	uint32_t v;
	int rem;

	/* The kernel sends one; a later one is left for future use. */
	if (p->seen_cert)
		return;
	p->seen_cert = true;

	nla_for_each_nested(nla, (struct nlattr *)nest, rem) {
		if (nla_type(nla) == HSD_NL_X509_CERT &&
		    attr_u32(p, nla, "certificate.cert", &v))
			p->a->cert = (int32_t)v;
		if (nla_type(nla) == HSD_NL_X509_PRIVKEY &&
		    attr_u32(p, nla, "certificate.privkey", &v))
			p->a->privkey = (int32_t)v;
	}
	if (rem > 0)
		accept_fail(p, -EBADMSG, "attribute 'certificate' is garbled");
}

static void accept_attr(struct accept_parse *p, const struct nlattr *nla)
{
	struct hd_accept *a = p->a;
	uint32_t v;

	switch (nla_type(nla)) {
	case HSD_NL_ACCEPT_SOCKFD:
		accept_sockfd(p, nla);
		break;
	case HSD_NL_ACCEPT_HANDLER_CLASS:
		accept_handler_class(p, nla);
		break;
	case HSD_NL_ACCEPT_MESSAGE_TYPE:
		p->seen_type = attr_u32(p, nla, "message-type", &a->msg_type);
		break;
	case HSD_NL_ACCEPT_TIMEOUT:
		attr_u32(p, nla, "timeout", &a->timeout_ms);
		break;
	case HSD_NL_ACCEPT_AUTH_MODE:
		p->seen_auth = attr_u32(p, nla, "auth-mode", &a->auth_mode);
		break;
	case HSD_NL_ACCEPT_PEER_IDENTITY:
		accept_peer_identity(p, nla);
		break;
	case HSD_NL_ACCEPT_CERTIFICATE:
		accept_certificate(p, nla);
		break;
	case HSD_NL_ACCEPT_PEERNAME:
		accept_peername(p, nla);
		break;
	case HSD_NL_ACCEPT_KEYRING:
		if (attr_u32(p, nla, "keyring", &v))
			a->keyring = (int32_t)v;
		break;
	default:
		/* Newer kernels may add attributes; they are optional. */
		break;
	}
}

static void accept_check(struct accept_parse *p)
{
	struct hd_accept *a = p->a;

	if (a->sockfd < 0)
		accept_fail(p, -EINVAL, "attribute 'sockfd' is missing");
	if (!p->seen_type)
		accept_fail(p, -EINVAL, "attribute 'message-type' is missing");
	if (!p->seen_auth)
		accept_fail(p, -EINVAL, "attribute 'auth-mode' is missing");

	if (a->msg_type != HSD_NL_MSG_CLIENTHELLO &&
	    a->msg_type != HSD_NL_MSG_SERVERHELLO)
		accept_fail(p, -EINVAL, "attribute 'message-type' is %u",
			    a->msg_type);
	if (a->auth_mode < HSD_NL_AUTH_UNAUTH ||
	    a->auth_mode > HSD_NL_AUTH_X509)
		accept_fail(p, -EINVAL, "attribute 'auth-mode' is %u",
			    a->auth_mode);
}

int hd_accept_parse(const struct nlmsghdr *nlh, struct hd_accept *a,
		    char *err, size_t errlen)
{
	struct accept_parse p = { .a = a, .msg = err, .msglen = errlen };
	struct nlmsghdr *hdr = (struct nlmsghdr *)nlh;
	struct nlattr *nla;
	int rem;

	memset(a, 0, sizeof(*a));
	a->sockfd = -1;
	err[0] = '\0';

	if (!genlmsg_valid_hdr(hdr, 0)) {
		accept_fail(&p, -EBADMSG, "reply is shorter than its headers");
		return p.err;
	}

	/* Walk everything, so that sockfd is found even past an error. */
	nla_for_each_attr(nla, genlmsg_attrdata(nlmsg_data(hdr), 0),
			  genlmsg_attrlen(nlmsg_data(hdr), 0), rem)
		accept_attr(&p, nla);
	if (rem > 0)
		accept_fail(&p, -EBADMSG,
			    "attributes are garbled (%d bytes left over)", rem);

	accept_check(&p);
	return p.err;
}

/* ---- sockets ---- */

static int nl_sock_new(struct nl_sock **out)
{
	struct nl_sock *sk;
	int ret;

	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;

	ret = genl_connect(sk);
	if (ret < 0) {
		nl_socket_free(sk);
		return hd_nl_errno(ret);
	}

	*out = sk;
	return 0;
}

static void nl_sock_free(struct nl_sock *sk)
{
	if (!sk)
		return;
	nl_close(sk);
	nl_socket_free(sk);
}

/*
 * The kernel multicasts one READY per request and fails the request
 * (-ESRCH, "no agent") when it cannot queue that READY on any
 * listener. A burst of requests during a busy stretch must not
 * overrun the socket: take a receive buffer with room for thousands
 * of them, beyond rmem_max while we still hold CAP_NET_ADMIN.
 */
#define HD_NL_EVENT_RCVBUF (4 << 20)

static void nl_events_rcvbuf(struct hd_nl *nl)
{
	int fd = nl_socket_get_fd(nl->events);
	int size = HD_NL_EVENT_RCVBUF;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
		       sizeof(size)) == 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) < 0)
		log_warn("Failed to enlarge netlink receive buffer: %s",
			 strerror(errno));
}

static int nl_join(struct hd_nl *nl)
{
	int grp, ret;

	grp = genl_ctrl_resolve_grp(nl->events, HSD_NL_FAMILY, HSD_NL_GROUP);
	if (grp < 0)
		return hd_nl_errno(grp);

	ret = nl_socket_add_membership(nl->events, grp);
	if (ret < 0)
		return hd_nl_errno(ret);

	nl_events_rcvbuf(nl);
	nl_socket_disable_seq_check(nl->events);
	ret = nl_socket_set_nonblocking(nl->events);
	return hd_nl_errno(ret);
}

static int nl_cmds_setup(struct hd_nl *nl)
{
	struct timeval tv = { .tv_sec = HD_NL_REPLY_TIMEOUT_S };

	nl_socket_disable_auto_ack(nl->cmds);
	if (setsockopt(nl_socket_get_fd(nl->cmds), SOL_SOCKET, SO_RCVTIMEO,
		       &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

void hd_nl_set_debug(int level)
{
	nl_debug = level;
}

int hd_nl_open(struct hd_nl **out, int nl_debug_level)
{
	struct hd_nl *nl;
	int ret;

	hd_nl_set_debug(nl_debug_level);
	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;

	ret = nl_sock_new(&nl->events);
	if (ret < 0)
		goto free_nl;
	ret = nl_sock_new(&nl->cmds);
	if (ret < 0)
		goto free_nl;

	nl->family = genl_ctrl_resolve(nl->cmds, HSD_NL_FAMILY);
	if (nl->family < 0) {
		ret = hd_nl_errno(nl->family);
		goto free_nl;
	}

	ret = nl_cmds_setup(nl);
	if (ret < 0)
		goto free_nl;
	ret = nl_join(nl);
	if (ret < 0)
		goto free_nl;

	*out = nl;
	return 0;

free_nl:
	hd_nl_close(nl);
	return ret;
}

void hd_nl_close(struct hd_nl *nl)
{
	if (!nl)
		return;
	nl_sock_free(nl->events);
	nl_sock_free(nl->cmds);
	free(nl);
}

int hd_nl_event_fd(const struct hd_nl *nl)
{
	return nl_socket_get_fd(nl->events);
}

void hd_nl_drain(struct hd_nl *nl)
{
	char buf[8192];
	int fd = hd_nl_event_fd(nl);

	/*
	 * What READY says does not matter: any notification, and an
	 * overrun (ENOBUFS), both mean "ask with ACCEPT until EAGAIN".
	 */
	for (;;) {
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			continue;
		if (errno != ENOBUFS && errno != EINTR)
			break;
	}
}

/* ---- commands ---- */

typedef int (*reply_fn)(const struct nlmsghdr *nlh, void *arg);

/* Look at one received message; 1 means "keep reading". */
static int nl_reply_one(struct hd_nl *nl, const struct nlmsghdr *nlh,
			unsigned int seq, reply_fn fn, void *arg)
{
	struct nlmsgerr *e;

	if (nlh->nlmsg_seq != seq)
		return 1;

	if (nlh->nlmsg_type == NLMSG_ERROR) {
		if (nlh->nlmsg_len < (unsigned int)nlmsg_size(sizeof(*e)))
			return -EBADMSG;
		e = nlmsg_data((struct nlmsghdr *)nlh);
		return e->error;
	}
	if (nlh->nlmsg_type == (unsigned int)nl->family && fn)
		return fn(nlh, arg);
	return 1;
}

/*
 * Send msg and read until the kernel answers it: with a reply for
 * which fn returns 0 or an error, or with an acknowledgement.
 */
static int nl_transact(struct hd_nl *nl, struct nl_msg *msg, reply_fn fn,
		       void *arg)
{
	unsigned char *buf = NULL;
	struct sockaddr_nl peer;
	struct nlmsghdr *nlh;
	unsigned int seq;
	int n, ret;

	ret = nl_send_auto(nl->cmds, msg);
	if (ret < 0)
		return hd_nl_errno(ret);
	seq = nlmsg_hdr(msg)->nlmsg_seq;

	do {
		/* libnl reports the receive timeout as 0 bytes */
		n = nl_recv(nl->cmds, &peer, &buf, NULL);
		if (n <= 0)
			return n < 0 ? hd_nl_errno(n) : -ETIMEDOUT;

		ret = 1;
		for (nlh = (struct nlmsghdr *)buf; ret == 1 && nlmsg_ok(nlh, n);
		     nlh = nlmsg_next(nlh, &n))
			ret = nl_reply_one(nl, nlh, seq, fn, arg);
		free(buf);
		buf = NULL;
	} while (ret == 1);

	return ret;
}

static struct nl_msg *nl_cmd_new(struct hd_nl *nl, uint8_t cmd, int flags)
{
	struct nl_msg *msg;

	msg = nlmsg_alloc();
	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0,
			 flags, cmd, HSD_NL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

struct accept_reply {
	struct hd_accept *a;
	char *err;
	size_t errlen;
};

static int accept_reply(const struct nlmsghdr *nlh, void *arg)
{
	struct accept_reply *r = arg;

	return hd_accept_parse(nlh, r->a, r->err, r->errlen);
}

int hd_nl_accept(struct hd_nl *nl, struct hd_accept *a,
		 char *err, size_t errlen)
{
	struct accept_reply r = { .a = a, .err = err, .errlen = errlen };
	struct nl_msg *msg;
	int ret;

	memset(a, 0, sizeof(*a));
	a->sockfd = -1;
	err[0] = '\0';

	msg = nl_cmd_new(nl, HSD_NL_CMD_ACCEPT, 0);
	if (!msg)
		return -ENOMEM;

	ret = nla_put_u32(msg, HSD_NL_ACCEPT_HANDLER_CLASS,
			  HSD_NL_CLASS_TLSHD);
	if (ret < 0) {
		nlmsg_free(msg);
		return hd_nl_errno(ret);
	}

	ret = nl_transact(nl, msg, accept_reply, &r);
	nlmsg_free(msg);
	return ret;
}

static int done_put(struct nl_msg *msg, int sockfd, unsigned int status,
		    const uint32_t *ids, unsigned int n_ids)
{
	unsigned int i;
	int ret;

	ret = nla_put_u32(msg, HSD_NL_DONE_STATUS, status);
	if (ret < 0)
		return ret;
	ret = nla_put_u32(msg, HSD_NL_DONE_SOCKFD, (uint32_t)sockfd);
	if (ret < 0)
		return ret;

	for (i = 0; i < n_ids && !status; i++) {
		ret = nla_put_u32(msg, HSD_NL_DONE_REMOTE_AUTH, ids[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int hd_nl_done(struct hd_nl *nl, int sockfd, unsigned int status,
	       const uint32_t *remote_ids, unsigned int n_ids)
{
	struct nl_msg *msg;
	int ret;

	/* Ask for an ACK so that a refused DONE is seen, not ignored. */
	msg = nl_cmd_new(nl, HSD_NL_CMD_DONE, NLM_F_ACK);
	if (!msg)
		return -ENOMEM;

	ret = done_put(msg, sockfd, status, remote_ids, n_ids);
	if (ret < 0) {
		nlmsg_free(msg);
		return hd_nl_errno(ret);
	}

	ret = nl_transact(nl, msg, NULL, NULL);
	nlmsg_free(msg);
	return ret;
}
