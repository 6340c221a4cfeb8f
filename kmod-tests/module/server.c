// SPDX-License-Identifier: GPL-2.0
/*
 * hsload server: a listening kernel socket on 127.0.0.1 whose accepted
 * connections ask the agent for a server handshake and then echo what
 * they read over kTLS until the client closes. Counts, no per-request
 * lines: the client side reports each request.
 */
#include <linux/in.h>
#include <linux/kthread.h>
#include <linux/net.h>
#include <linux/slab.h>
#include <net/sock.h>

#include "hsload.h"

#define HSL_BACKLOG		1024
#define HSL_ACCEPT_POLL_MS	200
#define HSL_GRACE_MS		30000
#define HSL_ECHO_MS		10000
#define HSL_RX_CHUNK		16384

struct hsl_conn {
	struct hsl_server *srv;
	struct work_struct work;
	struct hsl_hs hs;
	u32 eagain;
};

struct hsl_server {
	struct hsl_params p;
	u16 port;
	struct socket *lsock;
	struct task_struct *acceptor;
	struct workqueue_struct *wq;
	struct hsl_stats st;
	atomic64_t echo_bytes;
};

static struct hsl_server *hsl_srv;

static void hsl_count_status(struct hsl_stats *st, int status)
{
	int e = -status;

	if (e >= 0 && e < HSL_STATUS_SLOTS)
		atomic_inc(&st->status[e]);
}

static void hsl_serve_echo(struct hsl_server *s, struct hsl_conn *c)
{
	struct socket *sock = c->hs.sock;
	void *buf;
	int n, err = 0;

	buf = kmalloc(HSL_RX_CHUNK, GFP_KERNEL);
	if (!buf) {
		atomic_inc(&s->st.echo_err);
		return;
	}
	hsl_sock_timeouts(sock, HSL_ECHO_MS);
	while (!READ_ONCE(hsl_stopping)) {
		n = hsl_recv_data(sock, buf, HSL_RX_CHUNK);
		if (n <= 0) {
			err = n;
			break;
		}
		err = hsl_send_all(sock, buf, n);
		if (err)
			break;
		atomic64_add(n, &s->echo_bytes);
	}
	atomic_inc(err ? &s->st.echo_err : &s->st.echo_ok);
	kfree(buf);
}

static void hsl_conn_work(struct work_struct *work)
{
	struct hsl_conn *c = container_of(work, struct hsl_conn, work);
	struct hsl_server *s = c->srv;
	int err;

	err = hsl_hs_submit(&c->hs, &s->p, true, &c->eagain);
	atomic_add(c->eagain, &s->st.eagain);
	if (err) {
		atomic_inc(&s->st.submit_err);
		goto out;
	}

	err = hsl_hs_wait(&c->hs, s->p.timeout_ms + HSL_GRACE_MS);
	if (err && tls_handshake_cancel(c->hs.sock->sk)) {
		atomic_inc(&s->st.no_done);
		goto out;
	}
	hsl_hs_finish(&c->hs);
	hsl_count_status(&s->st, c->hs.status);
	if (!c->hs.status)
		hsl_serve_echo(s, c);
out:
	hsl_sock_put(c->hs.sock);
	atomic_dec(&s->st.active);
	kfree(c);
}

static void hsl_accept_one(struct hsl_server *s, struct socket *sock)
{
	struct hsl_conn *c;

	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c || hsl_sock_file(sock)) {
		if (c)
			kfree(c);
		else
			sock_release(sock);
		return;
	}
	c->srv = s;
	c->hs.sock = sock;
	hsl_sock_nodelay(sock);
	INIT_WORK(&c->work, hsl_conn_work);
	atomic_inc(&s->st.accepted);
	atomic_inc(&s->st.active);
	queue_work(s->wq, &c->work);
}

/* Accept with a receive timeout so that a stop is noticed. */
static int hsl_acceptor(void *data)
{
	struct hsl_server *s = data;
	struct socket *sock;
	int err;

	while (!kthread_should_stop()) {
		err = kernel_accept(s->lsock, &sock, 0);
		if (err == -EAGAIN || err == -EINTR)
			continue;
		if (err) {
			/* Resource shortage: wait a little, stay bounded. */
			schedule_timeout_interruptible(HZ / 10);
			continue;
		}
		hsl_accept_one(s, sock);
	}
	return 0;
}

static int hsl_listen(struct hsl_server *s)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		.sin_port = htons(s->port),
	};
	int err;

	err = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP,
			       &s->lsock);
	if (err)
		return err;
	sock_set_reuseaddr(s->lsock->sk);
	WRITE_ONCE(s->lsock->sk->sk_rcvtimeo,
		   msecs_to_jiffies(HSL_ACCEPT_POLL_MS));

	err = kernel_bind(s->lsock, (void *)&sin, sizeof(sin));
	if (!err)
		err = kernel_listen(s->lsock, HSL_BACKLOG);
	if (err) {
		sock_release(s->lsock);
		s->lsock = NULL;
	}
	return err;
}

/* Called with hsl_lock held. */
int hsl_server_start(const struct hsl_params *p, u16 port)
{
	struct hsl_server *s;
	int err = -ENOMEM;

	if (hsl_srv)
		return -EBUSY;
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	s->p = *p;
	s->port = port;

	s->wq = alloc_workqueue("hsload-srv", WQ_UNBOUND, HSL_MAX_CONC);
	if (!s->wq)
		goto free;
	err = hsl_listen(s);
	if (err)
		goto wq;

	hsl_srv = s;
	s->acceptor = kthread_run(hsl_acceptor, s, "hsload-accept");
	if (IS_ERR(s->acceptor)) {
		err = PTR_ERR(s->acceptor);
		hsl_srv = NULL;
		goto sock;
	}
	return 0;

sock:
	sock_release(s->lsock);
wq:
	destroy_workqueue(s->wq);
free:
	kfree(s);
	return err;
}

/* hsl_lock held; connections finish or cancel on hsl_stopping. */
void hsl_server_stop(void)
{
	struct hsl_server *s = hsl_srv;

	if (!s)
		return;
	kthread_stop(s->acceptor);
	sock_release(s->lsock);
	destroy_workqueue(s->wq);
	hsl_srv = NULL;
	kfree(s);
}

void hsl_server_show(struct seq_file *m)
{
	struct hsl_server *s = hsl_srv;
	int i, n;

	if (!s)
		return;
	seq_printf(m, "server port=%u accepted=%d active=%d eagain=%d submit_err=%d no_done=%d echo_ok=%d echo_err=%d echo_bytes=%lld",
		   s->port, atomic_read(&s->st.accepted),
		   atomic_read(&s->st.active), atomic_read(&s->st.eagain),
		   atomic_read(&s->st.submit_err),
		   atomic_read(&s->st.no_done), atomic_read(&s->st.echo_ok),
		   atomic_read(&s->st.echo_err),
		   (long long)atomic64_read(&s->echo_bytes));
	for (i = 0; i < HSL_STATUS_SLOTS; i++) {
		n = atomic_read(&s->st.status[i]);
		if (n)
			seq_printf(m, " status_%d=%d", -i, n);
	}
	seq_putc(m, '\n');
}
