// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Daemon logging. Messages go to syslog under the daemon's name; with
 * -s they are copied to stderr so that a foreground run can be
 * captured. Debug lines are dropped unless [debug] loglevel > 0.
 *
 * TODO: journal fields (peer, result, cipher) through sd_journal_send()
 * when built with libsystemd; syslog reaches the journal already and
 * nothing reads the fields yet.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static int debug_level;
static bool log_opened;

void hd_log_open(const char *ident, bool to_stderr)
{
	int opts = LOG_PID | LOG_NDELAY;

	if (to_stderr)
		opts |= LOG_PERROR;
	openlog(ident, opts, LOG_DAEMON);
	log_opened = true;
}

void hd_log_close(void)
{
	if (log_opened)
		closelog();
	log_opened = false;
}

void hd_log_set_debug(int level)
{
	debug_level = level;
}

int hd_log_debug_level(void)
{
	return debug_level;
}

static void __attribute__((format(printf, 2, 0)))
hd_vlog(int prio, const char *fmt, va_list ap)
{
	if (log_opened) {
		vsyslog(prio, fmt, ap);
	} else {
		/* Before hd_log_open() (and in tests): plain stderr. */
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
}

void hd_log(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio == LOG_DEBUG && debug_level <= 0)
		return;

	va_start(ap, fmt);
	hd_vlog(prio, fmt, ap);
	va_end(ap);
}

void hd_log_force(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hd_vlog(prio, fmt, ap);
	va_end(ap);
}

const char *hd_errno_name(int err)
{
	const char *name;

	if (err < 0)
		err = -err;
	name = strerrorname_np(err);
	return name ? name : "E?";
}
