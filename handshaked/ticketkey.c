// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The server's session ticket master key. Whoever holds it can read
 * every ticket we issued and so resume as any of our clients: it
 * lives in a locked page, is wiped whenever it goes away, and every
 * intermediate copy is wiped too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "ticketkey.h"

static uint8_t *key_page_new(void)
{
	size_t size = (size_t)sysconf(_SC_PAGESIZE);
	void *page;

	page = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return NULL;

	if (mlock(page, size) < 0)
		log_debug("Failed to lock ticket key in memory: %m, ignoring");
	madvise(page, size, MADV_DONTDUMP);
#ifdef MADV_WIPEONFORK
	/* workers get the key with each request, never a copy of ours */
	madvise(page, size, MADV_WIPEONFORK);
#endif
	return page;
}

static void key_page_free(uint8_t *page)
{
	size_t size = (size_t)sysconf(_SC_PAGESIZE);

	if (!page)
		return;
	explicit_bzero(page, HSD_TICKET_KEY_SIZE);
	munlock(page, size);
	munmap(page, size);
}

static int key_file_check(int fd, const char *path, char *err,
			  size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int ret = -errno;

		snprintf(err, errlen, "Failed to load ticket key file '%s': %s",
			 path, strerror(-ret));
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "Failed to load ticket key file '%s': not a regular file",
			 path);
		return -EINVAL;
	}
	/* whoever may write the key may forge tickets, client auth included */
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "Failed to load ticket key file '%s': owned by uid %u, want root or uid %u",
			 path, (unsigned int)st.st_uid, (unsigned int)geteuid());
		return -EACCES;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "Failed to load ticket key file '%s': mode %03o lets group or others at it, want 600 or 400",
			 path, (unsigned int)(st.st_mode & 0777));
		return -EACCES;
	}
	if (st.st_size != HSD_TICKET_KEY_SIZE) {
		snprintf(err, errlen, "Failed to load ticket key file '%s': %lld bytes, want exactly %d",
			 path, (long long)st.st_size, HSD_TICKET_KEY_SIZE);
		return -EINVAL;
	}
	return 0;
}

static int key_file_read(uint8_t *key, const char *path, char *err,
			 size_t errlen)
{
	ssize_t n = 0;
	int fd, ret;

	/* O_NONBLOCK: a FIFO must be refused below, not wait for a writer */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
		  O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "Failed to open ticket key file '%s': %s",
			 path, strerror(-ret));
		return ret;
	}

	ret = key_file_check(fd, path, err, errlen);
	if (ret == 0) {
		n = read(fd, key, HSD_TICKET_KEY_SIZE);
		if (n != HSD_TICKET_KEY_SIZE) {
			ret = n < 0 ? -errno : -EIO;
			snprintf(err, errlen, "Failed to read ticket key file '%s': %s",
				 path, n < 0 ? strerror(-ret) : "short read");
		}
	}
	close(fd);
	return ret;
}

int hd_ticket_key_load(struct hd_ticket_key *k, const char *path,
		       char *err, size_t errlen)
{
	uint8_t *page;
	int ret;

	page = key_page_new();
	if (!page) {
		snprintf(err, errlen, "Failed to allocate ticket key: %s",
			 strerror(ENOMEM));
		return -ENOMEM;
	}

	if (path) {
		ret = key_file_read(page, path, err, errlen);
	} else {
		ret = hsd_ticket_key_generate(page);
		if (ret < 0)
			snprintf(err, errlen, "Failed to generate ticket key: %s",
				 strerror(-ret));
	}
	if (ret < 0) {
		key_page_free(page);
		return ret;
	}

	key_page_free(k->bytes);
	k->bytes = page;
	return 0;
}

void hd_ticket_key_free(struct hd_ticket_key *k)
{
	key_page_free(k->bytes);
	k->bytes = NULL;
}
