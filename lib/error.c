// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Error text kept in library objects. The library never prints; it
 * stores a short reason that the caller reads back after a failure.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

void hsd__error_set(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, HSD_ERROR_MAX, fmt, ap);
	va_end(ap);
}
