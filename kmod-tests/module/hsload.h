/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hsload: a kernel consumer of the handshake upcall that generates load
 * for the agent. Shared declarations of the control file, the client
 * runs, the listening server and the socket helpers.
 */
#ifndef HSLOAD_H
#define HSLOAD_H

#include <linux/completion.h>
#include <linux/key.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <net/handshake.h>

#define HSL_NAME_MAX		32
#define HSL_PEER_MAX		64
#define HSL_MAX_COUNT		100000
#define HSL_MAX_CONC		512
#define HSL_MAX_PAYLOAD		(1 << 20)
/* Status values recorded in a histogram: errno values below this. */
#define HSL_STATUS_SLOTS	160

enum hsl_auth {
	HSL_AUTH_ANON,
	HSL_AUTH_X509,
	HSL_AUTH_PSK,
};

/* What a client request does besides waiting for its handshake. */
enum hsl_action {
	HSL_ACT_NONE,
	HSL_ACT_CANCEL,		/* tls_handshake_cancel() after a delay */
	HSL_ACT_CLOSE,		/* shut the TCP connection down mid-way */
};

/* How a client request ended. */
enum hsl_result {
	HSL_RES_PENDING,
	HSL_RES_OK,		/* status 0, payload (if any) echoed */
	HSL_RES_FAIL,		/* the done callback reported an error */
	HSL_RES_ECHO_FAIL,	/* handshake ok, payload did not round-trip */
	HSL_RES_CANCELLED,	/* tls_handshake_cancel() won */
	HSL_RES_CONNECT_ERR,
	HSL_RES_SUBMIT_ERR,	/* refused at submit, -EAGAIN budget included */
	HSL_RES_NO_DONE,	/* no done callback within timeout + grace */
};

/* Parameters shared by client runs and the server. */
struct hsl_params {
	enum hsl_auth auth;
	unsigned int timeout_ms;
	key_serial_t keyring;
	key_serial_t cert;
	key_serial_t privkey;
	key_serial_t psk;
	char peer[HSL_PEER_MAX];
};

/* One handshake on one socket: the consumer's side of the upcall. */
struct hsl_hs {
	struct socket *sock;
	struct completion done;
	bool seen;		/* a wait has consumed the completion */
	int status;		/* as passed to the done callback */
	ktime_t t_done;
};

struct hsl_req {
	struct hsl_run *run;
	struct work_struct work;
	struct hsl_hs hs;
	u32 id;
	u8 action;
	u8 result;
	s8 echo;		/* 1 round-tripped, 0 mismatch, -1 not tried */
	bool finished;
	u32 eagain;
	int err;		/* connect/submit/echo error, 0 if none */
	ktime_t t_first;	/* first submit attempt */
	ktime_t t_submit;	/* accepted submit */
};

struct hsl_run {
	struct list_head node;
	char name[HSL_NAME_MAX];
	struct hsl_params p;
	__be32 addr;
	u16 port;
	u32 count;
	u32 conc;
	u32 payload;
	u32 cancel_every;
	u32 close_every;
	u32 abort_ms;
	struct workqueue_struct *wq;
	struct hsl_req *reqs;
	atomic_t finished;
	atomic_t eagain;
	bool done;
	ktime_t t_start;
	ktime_t t_end;
};

struct hsl_stats {
	atomic_t accepted;
	atomic_t active;
	atomic_t eagain;
	atomic_t submit_err;
	atomic_t no_done;
	atomic_t echo_ok;
	atomic_t echo_err;
	atomic_t status[HSL_STATUS_SLOTS];
};

extern bool hsl_stopping;
extern struct mutex hsl_lock;

/* sock.c */
int hsl_sock_file(struct socket *sock);
void hsl_sock_put(struct socket *sock);
void hsl_sock_nodelay(struct socket *sock);
void hsl_sock_timeouts(struct socket *sock, unsigned int ms);
int hsl_hs_submit(struct hsl_hs *hs, const struct hsl_params *p,
		  bool server, u32 *eagain);
int hsl_hs_wait(struct hsl_hs *hs, unsigned int ms);
void hsl_hs_finish(struct hsl_hs *hs);
int hsl_send_all(struct socket *sock, const void *buf, size_t len);
int hsl_recv_data(struct socket *sock, void *buf, size_t len);

/* client.c */
int hsl_run_start(struct hsl_run *run);
void hsl_run_destroy(struct hsl_run *run);
void hsl_runs_show(struct seq_file *m);
void hsl_runs_results(struct seq_file *m, loff_t pos);
loff_t hsl_runs_total(void);
int hsl_runs_clear(void);
void hsl_runs_stop(void);
struct hsl_run *hsl_run_find(const char *name);

/* server.c */
int hsl_server_start(const struct hsl_params *p, u16 port);
void hsl_server_stop(void);
void hsl_server_show(struct seq_file *m);

#endif
