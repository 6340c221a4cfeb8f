// SPDX-License-Identifier: GPL-2.0
/*
 * hsload: load generator for handshake agents. A test writes commands
 * to /sys/kernel/debug/hsload/ctl and reads "status" (runs and server
 * counters) and "results" (one line per finished client request), all
 * as space-separated key=value pairs; kmod-tests/README.md lists them.
 */
#include <linux/debugfs.h>
#include <linux/inet.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "hsload.h"

#define HSL_CMD_MAX	512

bool hsl_stopping;
DEFINE_MUTEX(hsl_lock);
static struct dentry *hsl_dir;

struct hsl_args {
	struct hsl_params p;
	char name[HSL_NAME_MAX];
	__be32 addr;
	u32 port, count, conc, payload;
	u32 cancel_every, close_every, abort_ms;
};

static int hsl_parse_auth(const char *v, enum hsl_auth *auth)
{
	if (!strcmp(v, "anon"))
		*auth = HSL_AUTH_ANON;
	else if (!strcmp(v, "x509"))
		*auth = HSL_AUTH_X509;
	else if (!strcmp(v, "psk"))
		*auth = HSL_AUTH_PSK;
	else
		return -EINVAL;
	return 0;
}

static int hsl_parse_serial(const char *v, key_serial_t *out)
{
	return kstrtos32(v, 0, out);
}

static int hsl_parse_pair(struct hsl_args *a, const char *k, const char *v)
{
	static const struct {
		const char *key;
		size_t off;
	} u32s[] = {
		{ "port", offsetof(struct hsl_args, port) },
		{ "count", offsetof(struct hsl_args, count) },
		{ "conc", offsetof(struct hsl_args, conc) },
		{ "payload", offsetof(struct hsl_args, payload) },
		{ "cancel", offsetof(struct hsl_args, cancel_every) },
		{ "close", offsetof(struct hsl_args, close_every) },
		{ "abort_ms", offsetof(struct hsl_args, abort_ms) },
		{ "timeout", offsetof(struct hsl_args, p.timeout_ms) },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(u32s); i++)
		if (!strcmp(k, u32s[i].key))
			return kstrtou32(v, 0, (u32 *)((char *)a + u32s[i].off));

	if (!strcmp(k, "auth"))
		return hsl_parse_auth(v, &a->p.auth);
	if (!strcmp(k, "cert"))
		return hsl_parse_serial(v, &a->p.cert);
	if (!strcmp(k, "key"))
		return hsl_parse_serial(v, &a->p.privkey);
	if (!strcmp(k, "psk"))
		return hsl_parse_serial(v, &a->p.psk);
	if (!strcmp(k, "keyring"))
		return hsl_parse_serial(v, &a->p.keyring);
	if (!strcmp(k, "addr"))
		return in4_pton(v, -1, (u8 *)&a->addr, -1, NULL) ? 0 : -EINVAL;
	if (!strcmp(k, "peer"))
		return strscpy(a->p.peer, v, sizeof(a->p.peer)) < 0 ?
			-EINVAL : 0;
	if (!strcmp(k, "name"))
		return strscpy(a->name, v, sizeof(a->name)) < 0 ? -EINVAL : 0;
	return -EINVAL;
}

static int hsl_parse(struct hsl_args *a, char *s)
{
	char *tok, *v;
	int err;

	memset(a, 0, sizeof(*a));
	a->addr = htonl(INADDR_LOOPBACK);
	a->count = 1;
	a->conc = 1;
	a->p.timeout_ms = 10000;
	strscpy(a->name, "run", sizeof(a->name));

	while ((tok = strsep(&s, " \t\n")) != NULL) {
		if (!*tok)
			continue;
		v = strchr(tok, '=');
		if (!v)
			return -EINVAL;
		*v++ = '\0';
		err = hsl_parse_pair(a, tok, v);
		if (err)
			return err;
	}
	return 0;
}

static int hsl_cmd_run(struct hsl_args *a)
{
	struct hsl_run *run;
	int err;

	if (!a->port || a->port > 65535 || !a->count ||
	    a->count > HSL_MAX_COUNT || !a->conc || a->conc > HSL_MAX_CONC ||
	    a->payload > HSL_MAX_PAYLOAD)
		return -EINVAL;
	if (hsl_run_find(a->name))
		return -EEXIST;

	run = kzalloc(sizeof(*run), GFP_KERNEL);
	if (!run)
		return -ENOMEM;
	strscpy(run->name, a->name, sizeof(run->name));
	run->p = a->p;
	run->addr = a->addr;
	run->port = a->port;
	run->count = a->count;
	run->conc = a->conc;
	run->payload = a->payload;
	run->cancel_every = a->cancel_every;
	run->close_every = a->close_every;
	run->abort_ms = a->abort_ms;

	err = hsl_run_start(run);
	if (err)
		kfree(run);
	return err;
}

static void hsl_stop_all(void)
{
	WRITE_ONCE(hsl_stopping, true);
	hsl_runs_stop();
	hsl_server_stop();
	WRITE_ONCE(hsl_stopping, false);
}

static int hsl_command(char *line)
{
	char *verb = strsep(&line, " \t\n");
	struct hsl_args *a;
	int err;

	if (!strcmp(verb, "unlisten")) {
		hsl_server_stop();
		return 0;
	}
	if (!strcmp(verb, "clear"))
		return hsl_runs_clear();
	if (!strcmp(verb, "stop")) {
		hsl_stop_all();
		return 0;
	}

	a = kmalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	err = hsl_parse(a, line ? line : (char *)"");
	if (err)
		goto out;

	err = -EINVAL;
	if (!strcmp(verb, "listen") && a->port && a->port <= 65535)
		err = hsl_server_start(&a->p, a->port);
	else if (!strcmp(verb, "run"))
		err = hsl_cmd_run(a);
out:
	kfree(a);
	return err;
}

static ssize_t hsl_ctl_write(struct file *f, const char __user *ubuf,
			     size_t len, loff_t *ppos)
{
	char *buf;
	int err;

	if (len >= HSL_CMD_MAX)
		return -EINVAL;
	buf = memdup_user_nul(ubuf, len);
	if (IS_ERR(buf))
		return PTR_ERR(buf);

	mutex_lock(&hsl_lock);
	err = hsl_command(buf);
	mutex_unlock(&hsl_lock);
	kfree(buf);
	return err ? err : len;
}

static const struct file_operations hsl_ctl_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= hsl_ctl_write,
	.llseek	= noop_llseek,
};

static int hsl_status_show(struct seq_file *m, void *v)
{
	mutex_lock(&hsl_lock);
	hsl_runs_show(m);
	hsl_server_show(m);
	mutex_unlock(&hsl_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hsl_status);

/* The seq_file iterator walks request positions under hsl_lock. */
static void *hsl_res_start(struct seq_file *m, loff_t *pos)
{
	mutex_lock(&hsl_lock);
	return *pos < hsl_runs_total() ? pos : NULL;
}

static void *hsl_res_next(struct seq_file *m, void *v, loff_t *pos)
{
	++*pos;
	return *pos < hsl_runs_total() ? pos : NULL;
}

static void hsl_res_stop(struct seq_file *m, void *v)
{
	mutex_unlock(&hsl_lock);
}

static int hsl_res_show(struct seq_file *m, void *v)
{
	hsl_runs_results(m, *(loff_t *)v);
	return 0;
}

static const struct seq_operations hsl_res_sops = {
	.start	= hsl_res_start,
	.next	= hsl_res_next,
	.stop	= hsl_res_stop,
	.show	= hsl_res_show,
};
DEFINE_SEQ_ATTRIBUTE(hsl_res);

static int __init hsl_init(void)
{
	hsl_dir = debugfs_create_dir("hsload", NULL);
	if (IS_ERR(hsl_dir))
		return PTR_ERR(hsl_dir);
	debugfs_create_file("ctl", 0200, hsl_dir, NULL, &hsl_ctl_fops);
	debugfs_create_file("status", 0400, hsl_dir, NULL, &hsl_status_fops);
	debugfs_create_file("results", 0400, hsl_dir, NULL, &hsl_res_fops);
	return 0;
}

/* Tear down every run and the server; no socket outlives the module. */
static void __exit hsl_exit(void)
{
	debugfs_remove_recursive(hsl_dir);
	mutex_lock(&hsl_lock);
	hsl_stop_all();
	mutex_unlock(&hsl_lock);
}

module_init(hsl_init);
module_exit(hsl_exit);
MODULE_DESCRIPTION("Handshake upcall load generator for agent tests");
MODULE_LICENSE("GPL");
