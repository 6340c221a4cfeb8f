// SPDX-License-Identifier: GPL-2.0
/*
 * hsload client runs: N requests, at most conc at a time, each opening
 * a TCP connection, asking the agent for a client handshake, optionally
 * cancelling or shutting the connection down mid-way, then echoing a
 * payload through the server over kTLS. One line of results each.
 */
#include <linux/in.h>
#include <linux/net.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <net/sock.h>

#include "hsload.h"

/* How long past its own timeout a handshake may take to report. */
#define HSL_GRACE_MS		30000
#define HSL_CONNECT_MS		10000
#define HSL_ECHO_MS		10000
#define HSL_RX_SCRATCH		16384

static LIST_HEAD(hsl_runs);

static const char *const hsl_result_names[] = {
	[HSL_RES_PENDING]	= "pending",
	[HSL_RES_OK]		= "ok",
	[HSL_RES_FAIL]		= "fail",
	[HSL_RES_ECHO_FAIL]	= "echo_fail",
	[HSL_RES_CANCELLED]	= "cancelled",
	[HSL_RES_CONNECT_ERR]	= "connect_err",
	[HSL_RES_SUBMIT_ERR]	= "submit_err",
	[HSL_RES_NO_DONE]	= "no_done",
};

static const char *const hsl_action_names[] = {
	[HSL_ACT_NONE]		= "none",
	[HSL_ACT_CANCEL]	= "cancel",
	[HSL_ACT_CLOSE]		= "close",
};

static int hsl_connect(struct hsl_req *r)
{
	struct hsl_run *run = r->run;
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = run->addr,
		.sin_port = htons(run->port),
	};
	struct socket *sock;
	int err;

	err = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP,
			       &sock);
	if (err)
		return err;
	err = hsl_sock_file(sock);
	if (err)
		return err;

	r->hs.sock = sock;
	hsl_sock_nodelay(sock);
	hsl_sock_timeouts(sock, HSL_CONNECT_MS);
	return kernel_connect(sock, (void *)&sin, sizeof(sin), 0);
}

/* Payload bytes depend on the request so that a mix-up shows. */
static void hsl_fill(u8 *buf, u32 len, u32 id)
{
	u32 i;

	for (i = 0; i < len; i++)
		buf[i] = (u8)(id * 31 + i * 7 + (i >> 8));
}

static int hsl_echo(struct hsl_req *r)
{
	u32 len = r->run->payload, got = 0;
	u8 *tx, *rx;
	int n, err = -ENOMEM;

	tx = kvmalloc(len, GFP_KERNEL);
	rx = kvmalloc(max_t(u32, len, HSL_RX_SCRATCH), GFP_KERNEL);
	if (!tx || !rx)
		goto out;

	hsl_fill(tx, len, r->id);
	hsl_sock_timeouts(r->hs.sock, HSL_ECHO_MS);
	err = hsl_send_all(r->hs.sock, tx, len);
	while (!err && got < len) {
		n = hsl_recv_data(r->hs.sock, rx + got, HSL_RX_SCRATCH);
		if (n <= 0)
			err = n ? n : -ECONNRESET;
		else
			got += n;
	}
	if (!err && (got != len || memcmp(tx, rx, len)))
		err = -EBADMSG;
out:
	kvfree(tx);
	kvfree(rx);
	return err;
}

/* Cancel or shut down after a delay that spreads over the phases. */
static void hsl_disturb(struct hsl_req *r)
{
	unsigned int delay = 0;

	if (r->run->abort_ms)
		delay = (r->id * 7919) % (r->run->abort_ms + 1);
	if (!hsl_hs_wait(&r->hs, delay))
		return;

	if (r->action == HSL_ACT_CANCEL) {
		if (tls_handshake_cancel(r->hs.sock->sk))
			r->result = HSL_RES_CANCELLED;
		return;
	}
	kernel_sock_shutdown(r->hs.sock, SHUT_RDWR);
}

static void hsl_await(struct hsl_req *r)
{
	int err;

	err = hsl_hs_wait(&r->hs, r->run->p.timeout_ms + HSL_GRACE_MS);
	if (err && tls_handshake_cancel(r->hs.sock->sk)) {
		r->result = HSL_RES_NO_DONE;
		r->err = err;
		return;
	}
	/* The callback won any race with the cancel: it runs now. */
	hsl_hs_finish(&r->hs);
	r->result = r->hs.status ? HSL_RES_FAIL : HSL_RES_OK;
}

static void hsl_request(struct hsl_req *r)
{
	struct hsl_run *run = r->run;
	int err;

	r->t_first = ktime_get();
	err = hsl_connect(r);
	if (err) {
		r->result = HSL_RES_CONNECT_ERR;
		r->err = err;
		return;
	}

	err = hsl_hs_submit(&r->hs, &run->p, false, &r->eagain);
	atomic_add(r->eagain, &run->eagain);
	if (err) {
		r->result = HSL_RES_SUBMIT_ERR;
		r->err = err;
		return;
	}
	r->t_submit = ktime_get();

	if (r->action != HSL_ACT_NONE)
		hsl_disturb(r);
	if (r->result == HSL_RES_CANCELLED)
		return;
	hsl_await(r);

	if (r->result != HSL_RES_OK || !run->payload ||
	    r->action != HSL_ACT_NONE)
		return;
	r->err = hsl_echo(r);
	r->echo = !r->err;
	if (r->err)
		r->result = HSL_RES_ECHO_FAIL;
}

static void hsl_req_work(struct work_struct *work)
{
	struct hsl_req *r = container_of(work, struct hsl_req, work);
	struct hsl_run *run = r->run;

	if (!READ_ONCE(hsl_stopping))
		hsl_request(r);
	if (r->hs.sock)
		hsl_sock_put(r->hs.sock);
	r->hs.sock = NULL;
	smp_store_release(&r->finished, true);

	if (atomic_inc_return(&run->finished) == run->count) {
		run->t_end = ktime_get();
		smp_store_release(&run->done, true);
	}
}

static u8 hsl_action_of(const struct hsl_run *run, u32 id)
{
	if (run->cancel_every && id % run->cancel_every == 0)
		return HSL_ACT_CANCEL;
	if (run->close_every && id % run->close_every == 0)
		return HSL_ACT_CLOSE;
	return HSL_ACT_NONE;
}

/* Called with hsl_lock held; takes ownership of run. */
int hsl_run_start(struct hsl_run *run)
{
	u32 i;

	run->reqs = kvcalloc(run->count, sizeof(*run->reqs), GFP_KERNEL);
	if (!run->reqs)
		return -ENOMEM;
	run->wq = alloc_workqueue("hsload-%s", WQ_UNBOUND, run->conc,
				  run->name);
	if (!run->wq) {
		kvfree(run->reqs);
		return -ENOMEM;
	}

	run->t_start = ktime_get();
	list_add_tail(&run->node, &hsl_runs);
	for (i = 0; i < run->count; i++) {
		struct hsl_req *r = &run->reqs[i];

		r->run = run;
		r->id = i + 1;
		r->echo = -1;
		r->action = hsl_action_of(run, r->id);
		INIT_WORK(&r->work, hsl_req_work);
		queue_work(run->wq, &r->work);
	}
	return 0;
}

void hsl_run_destroy(struct hsl_run *run)
{
	if (run->wq)
		destroy_workqueue(run->wq);
	kvfree(run->reqs);
	kfree(run);
}

struct hsl_run *hsl_run_find(const char *name)
{
	struct hsl_run *run;

	list_for_each_entry(run, &hsl_runs, node)
		if (!strcmp(run->name, name))
			return run;
	return NULL;
}

/* Called with hsl_lock held. */
void hsl_runs_show(struct seq_file *m)
{
	struct hsl_run *run;
	bool done;
	s64 us;

	list_for_each_entry(run, &hsl_runs, node) {
		done = smp_load_acquire(&run->done);
		us = ktime_us_delta(done ? run->t_end : ktime_get(),
				    run->t_start);
		seq_printf(m, "run=%s state=%s count=%u conc=%u finished=%d eagain=%d elapsed_us=%lld\n",
			   run->name, done ? "done" : "running", run->count,
			   run->conc, atomic_read(&run->finished),
			   atomic_read(&run->eagain), us);
	}
}

static void hsl_req_show(struct seq_file *m, struct hsl_req *r)
{
	s64 wait_us = 0, lat_us = 0;
	u8 res = READ_ONCE(r->result);

	if (res == HSL_RES_OK || res == HSL_RES_FAIL ||
	    res == HSL_RES_ECHO_FAIL) {
		wait_us = ktime_us_delta(r->t_submit, r->t_first);
		lat_us = ktime_us_delta(r->hs.t_done, r->t_submit);
	}
	seq_printf(m, "run=%s id=%u result=%s status=%d err=%d eagain=%u wait_us=%lld lat_us=%lld echo=%d action=%s\n",
		   r->run->name, r->id, hsl_result_names[res],
		   res == HSL_RES_PENDING ? 0 : r->hs.status, r->err,
		   r->eagain, wait_us, lat_us, r->echo,
		   hsl_action_names[r->action]);
}

loff_t hsl_runs_total(void)
{
	struct hsl_run *run;
	loff_t n = 0;

	list_for_each_entry(run, &hsl_runs, node)
		n += run->count;
	return n;
}

/*
 * Print the request at flat position pos over all runs if it has
 * finished (a running run shows what has finished so far). Called with
 * hsl_lock held.
 */
void hsl_runs_results(struct seq_file *m, loff_t pos)
{
	struct hsl_run *run;
	struct hsl_req *r;

	list_for_each_entry(run, &hsl_runs, node) {
		if (pos >= run->count) {
			pos -= run->count;
			continue;
		}
		r = &run->reqs[pos];
		if (smp_load_acquire(&r->finished))
			hsl_req_show(m, r);
		return;
	}
}

/* Free finished runs; -EBUSY if one still runs. hsl_lock held. */
int hsl_runs_clear(void)
{
	struct hsl_run *run, *tmp;

	list_for_each_entry(run, &hsl_runs, node)
		if (!smp_load_acquire(&run->done))
			return -EBUSY;
	list_for_each_entry_safe(run, tmp, &hsl_runs, node) {
		list_del(&run->node);
		hsl_run_destroy(run);
	}
	return 0;
}

/*
 * Stop every run: requests not yet started end at once, those waiting
 * cancel. destroy_workqueue() waits for them. hsl_lock held; the caller
 * has set hsl_stopping.
 */
void hsl_runs_stop(void)
{
	struct hsl_run *run, *tmp;

	list_for_each_entry_safe(run, tmp, &hsl_runs, node) {
		list_del(&run->node);
		hsl_run_destroy(run);
	}
}
