// SPDX-License-Identifier: GPL-2.0
/*
 * hsload socket helpers: give a kernel socket the file the upcall needs,
 * submit a handshake with the short retry real consumers do on -EAGAIN,
 * wait for the done callback, and move application data over kTLS.
 */
#include <linux/file.h>
#include <linux/net.h>
#include <linux/random.h>
#include <linux/delay.h>
#include <linux/socket.h>
#include <linux/tls.h>
#include <net/sock.h>
#include <linux/tcp.h>

#include "hsload.h"

/* A refused request is retried for at most this long. */
#define HSL_SUBMIT_BUDGET_MS	60000
#define HSL_BACKOFF_MAX_MS	32
/* Waits for the done callback are sliced so that a stop is noticed. */
#define HSL_WAIT_SLICE		(HZ / 10)
#define HSL_RX_CHUNK		16384

/*
 * The agent receives the socket as a file descriptor, so the socket
 * needs a file before the request is submitted. On failure the socket
 * has been released.
 */
int hsl_sock_file(struct socket *sock)
{
	struct file *file;

	file = sock_alloc_file(sock, 0, NULL);
	if (IS_ERR(file))
		return PTR_ERR(file);
	return 0;
}

/* Drop the consumer's reference; the agent may still hold its own. */
void hsl_sock_put(struct socket *sock)
{
	fput(sock->file);
}

/* NFS and NVMe/TCP set this on their sockets; so do we. */
void hsl_sock_nodelay(struct socket *sock)
{
	tcp_sock_set_nodelay(sock->sk);
}

void hsl_sock_timeouts(struct socket *sock, unsigned int ms)
{
	long t = msecs_to_jiffies(ms);

	WRITE_ONCE(sock->sk->sk_rcvtimeo, t);
	WRITE_ONCE(sock->sk->sk_sndtimeo, t);
}

static void hsl_hs_done(void *data, int status, key_serial_t peerid)
{
	struct hsl_hs *hs = data;

	hs->status = status;
	hs->t_done = ktime_get();
	complete(&hs->done);
}

static int hsl_hs_call(const struct tls_handshake_args *a,
		       const struct hsl_params *p, bool server)
{
	switch (p->auth) {
	case HSL_AUTH_ANON:
		if (server)
			return tls_server_hello_x509(a, GFP_KERNEL);
		return tls_client_hello_anon(a, GFP_KERNEL);
	case HSL_AUTH_X509:
		if (server)
			return tls_server_hello_x509(a, GFP_KERNEL);
		return tls_client_hello_x509(a, GFP_KERNEL);
	case HSL_AUTH_PSK:
		if (server)
			return tls_server_hello_psk(a, GFP_KERNEL);
		return tls_client_hello_psk(a, GFP_KERNEL);
	}
	return -EINVAL;
}

static void hsl_hs_args(struct tls_handshake_args *a, struct hsl_hs *hs,
			const struct hsl_params *p)
{
	memset(a, 0, sizeof(*a));
	a->ta_sock = hs->sock;
	a->ta_done = hsl_hs_done;
	a->ta_data = hs;
	a->ta_timeout_ms = p->timeout_ms;
	a->ta_keyring = p->keyring;
	a->ta_peername = p->peer[0] ? p->peer : NULL;
	a->ta_my_cert = p->cert;
	a->ta_my_privkey = p->privkey;
	if (p->auth == HSL_AUTH_PSK) {
		a->ta_num_peerids = 1;
		a->ta_my_peerids[0] = p->psk;
	}
}

/*
 * Submit one handshake request. The pending queue of the handshake
 * core is small, so -EAGAIN is expected under load: retry after a
 * short randomised backoff and count each refusal in *eagain.
 *
 * A refused submit leaves the core's destructor hook on the socket
 * with no request behind it, and a later submit would then record that
 * hook as the socket's own destructor (net/handshake/request.c as of
 * 7.3): the protocol's destructor would never run. Put it back.
 */
int hsl_hs_submit(struct hsl_hs *hs, const struct hsl_params *p,
		  bool server, u32 *eagain)
{
	void (*destruct)(struct sock *sk) = hs->sock->sk->sk_destruct;
	unsigned long deadline;
	struct tls_handshake_args a;
	u32 backoff = 1;
	int err;

	init_completion(&hs->done);
	hs->seen = false;
	hsl_hs_args(&a, hs, p);
	deadline = jiffies + msecs_to_jiffies(HSL_SUBMIT_BUDGET_MS);
	for (;;) {
		err = hsl_hs_call(&a, p, server);
		if (!err)
			return 0;

		hs->sock->sk->sk_destruct = destruct;
		if (err != -EAGAIN)
			return err;

		(*eagain)++;
		if (READ_ONCE(hsl_stopping) || time_after(jiffies, deadline))
			return err;
		msleep(1 + get_random_u32_below(backoff));
		backoff = min(backoff * 2, (u32)HSL_BACKOFF_MAX_MS);
	}
}

/*
 * Wait up to ms for the done callback. Returns 0 when it ran (also on
 * a later call), -ETIME when the time ran out and -EINTR when the module
 * is stopping; then the caller cancels, and if the callback won that
 * race, waits for it with hsl_hs_finish().
 */
int hsl_hs_wait(struct hsl_hs *hs, unsigned int ms)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(ms);
	long left;

	while (!hs->seen) {
		left = deadline - jiffies;
		if (left <= 0)
			return -ETIME;
		if (wait_for_completion_timeout(&hs->done,
						min_t(long, left, HSL_WAIT_SLICE)))
			hs->seen = true;
		else if (READ_ONCE(hsl_stopping))
			return -EINTR;
	}
	return 0;
}

/* After a cancel that lost: the callback is running or has run. */
void hsl_hs_finish(struct hsl_hs *hs)
{
	if (!hs->seen)
		wait_for_completion(&hs->done);
	hs->seen = true;
}

int hsl_send_all(struct socket *sock, const void *buf, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	struct kvec vec;
	size_t sent = 0;
	int n;

	while (sent < len) {
		vec.iov_base = (void *)buf + sent;
		vec.iov_len = len - sent;
		n = kernel_sendmsg(sock, &msg, &vec, 1, vec.iov_len);
		if (n < 0)
			return n;
		if (n == 0)
			return -EPIPE;
		sent += n;
	}
	return 0;
}

/*
 * Read one chunk of application data into buf (at most len bytes).
 * A TLS 1.3 peer may send non-data records after the handshake (a
 * session ticket, for instance); kTLS hands those over only with a
 * control buffer that names the record type, so ask for it and skip
 * them. Returns the byte count, 0 at end of stream, or -errno.
 */
int hsl_recv_data(struct socket *sock, void *buf, size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(u8))];
	struct cmsghdr *c = (struct cmsghdr *)cbuf;
	struct msghdr msg;
	struct kvec vec;
	int n;

	for (;;) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		vec.iov_base = buf;
		vec.iov_len = len;
		n = kernel_recvmsg(sock, &msg, &vec, 1, len, 0);
		if (n <= 0)
			return n;
		if (msg.msg_controllen < sizeof(cbuf) &&
		    c->cmsg_level == SOL_TLS &&
		    c->cmsg_type == TLS_GET_RECORD_TYPE &&
		    *(u8 *)CMSG_DATA(c) != 23 /* application_data */)
			continue;
		return n;
	}
}
