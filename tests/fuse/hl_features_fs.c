/* A libfuse high-level file system for LinFsp's tests: the parts of
 * fuse_operations that libfuse's examples leave out. Built against
 * LinFsp's fuse.h as a libfuse program is (FUSE_USE_VERSION 35).
 *
 *   hl_features_fs MOUNTPOINT -f [--whole] [other fuse_main options]
 *
 * /           200 entries d000..d199 besides the files below; listed with
 *             offsets, or whole (--whole: every filler offset 0)
 * /whoami     st_uid/st_gid: fuse_get_context()'s caller; st_size 1 when
 *             the context's private_data is init()'s result
 * /ctl        ioctl: HL_GET -> 42, HL_SET stores, HL_READY wakes pollers,
 *             HL_INVALIDATE calls fuse_invalidate_path;
 *             poll: POLLIN once ready; lock: F_GETLK reports a lock of
 *             pid 4242 over [10, 19]; flock: counted in /ctl's st_size
 * /made*      regular files made by mknod (no create()), written in memory
 * On destroy(), writes "destroyed" to $HL_DESTROY_MARK. */
#define FUSE_USE_VERSION 35
#include <fuse.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <pthread.h>

#include "hl_features.h"

static int whole_listing;
static int private_marker;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int ready;
static int stored;
static int flocks;
static struct fuse_pollhandle *waiting;
#define MAX_MADE 16
static struct made {
	char name[32];
	char data[256];
	size_t size;
	mode_t mode;
} made[MAX_MADE];
static int nmade;

static struct made *find_made(const char *path)
{
	for (int i = 0; i < nmade; i++)
		if (strcmp(made[i].name, path + 1) == 0)
			return &made[i];
	return NULL;
}

static void *hl_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void) conn;
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->use_ino = 0;
	return &private_marker;
}

static void hl_destroy(void *private_data)
{
	const char *mark = getenv("HL_DESTROY_MARK");
	if (mark && private_data == &private_marker) {
		FILE *f = fopen(mark, "w");
		if (f) {
			fputs("destroyed", f);
			fclose(f);
		}
	}
}

static int hl_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void) fi;
	memset(st, 0, sizeof(*st));
	st->st_nlink = 1;
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(path, "/whoami") == 0) {
		struct fuse_context *c = fuse_get_context();
		st->st_mode = S_IFREG | 0444;
		st->st_uid = c->uid;
		st->st_gid = c->gid;
		st->st_size = c->private_data == &private_marker;
		return 0;
	}
	if (strcmp(path, "/ctl") == 0) {
		st->st_mode = S_IFREG | 0666;
		pthread_mutex_lock(&lock);
		st->st_size = flocks;
		pthread_mutex_unlock(&lock);
		return 0;
	}
	if (path[1] == 'd' && strlen(path) == 5) {
		int n = atoi(path + 2);
		if (n >= 0 && n < HL_DIR_ENTRIES) {
			st->st_mode = S_IFREG | 0444;
			return 0;
		}
	}
	pthread_mutex_lock(&lock);
	struct made *m = find_made(path);
	if (m) {
		st->st_mode = m->mode;
		st->st_size = m->size;
	}
	pthread_mutex_unlock(&lock);
	return m ? 0 : -ENOENT;
}

static int hl_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void) fi;
	(void) flags;
	if (strcmp(path, "/") != 0)
		return -ENOTDIR;
	/* Entry i: "." (0), ".." (1), whoami (2), ctl (3), d000.. (4..),
	 * then the made files. With offsets, entry i's offset is i + 1. */
	char name[40];
	int total = 4 + HL_DIR_ENTRIES + nmade;
	for (int i = whole_listing ? 0 : (int) offset; i < total; i++) {
		const char *n;
		if (i == 0) n = ".";
		else if (i == 1) n = "..";
		else if (i == 2) n = "whoami";
		else if (i == 3) n = "ctl";
		else if (i < 4 + HL_DIR_ENTRIES) {
			snprintf(name, sizeof(name), "d%03d", i - 4);
			n = name;
		} else {
			n = made[i - 4 - HL_DIR_ENTRIES].name;
		}
		if (filler(buf, n, NULL, whole_listing ? 0 : i + 1, 0))
			break;
	}
	return 0;
}

static int hl_mknod(const char *path, mode_t mode, dev_t rdev)
{
	(void) rdev;
	if (!S_ISREG(mode))
		return -EPERM;
	pthread_mutex_lock(&lock);
	int res = 0;
	if (find_made(path)) res = -EEXIST;
	else if (nmade == MAX_MADE || strlen(path) >= sizeof(made[0].name)) res = -ENOSPC;
	else {
		struct made *m = &made[nmade++];
		strcpy(m->name, path + 1);
		m->mode = mode;
		m->size = 0;
	}
	pthread_mutex_unlock(&lock);
	return res;
}

static int hl_open(const char *path, struct fuse_file_info *fi)
{
	(void) fi;
	if (strcmp(path, "/ctl") == 0 || strcmp(path, "/whoami") == 0)
		return 0;
	if (path[1] == 'd')
		return 0;
	pthread_mutex_lock(&lock);
	int ok = find_made(path) != NULL;
	pthread_mutex_unlock(&lock);
	return ok ? 0 : -ENOENT;
}

static int hl_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void) fi;
	pthread_mutex_lock(&lock);
	struct made *m = find_made(path);
	int n = 0;
	if (m && (size_t) off < m->size) {
		n = (int) (m->size - off < size ? m->size - off : size);
		memcpy(buf, m->data + off, n);
	}
	pthread_mutex_unlock(&lock);
	return n;
}

static int hl_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void) fi;
	pthread_mutex_lock(&lock);
	struct made *m = find_made(path);
	int n = -EIO;
	if (m && off + size <= sizeof(m->data)) {
		memcpy(m->data + off, buf, size);
		if ((size_t) off + size > m->size) m->size = off + size;
		n = (int) size;
	} else if (m) {
		n = -EFBIG;
	}
	pthread_mutex_unlock(&lock);
	return n;
}

static int hl_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	(void) fi;
	pthread_mutex_lock(&lock);
	struct made *m = find_made(path);
	if (m && (size_t) size <= sizeof(m->data)) m->size = size;
	pthread_mutex_unlock(&lock);
	return m ? 0 : -EACCES;
}

static int hl_ioctl(const char *path, unsigned int cmd, void *arg, struct fuse_file_info *fi,
		    unsigned int flags, void *data)
{
	(void) arg;
	(void) fi;
	(void) flags;
	if (strcmp(path, "/ctl") != 0)
		return -ENOTTY;
	switch (cmd) {
	case HL_GET:
		*(int *) data = 42;
		return 0;
	case HL_SET:
		pthread_mutex_lock(&lock);
		stored = *(int *) data;
		pthread_mutex_unlock(&lock);
		return 0;
	case HL_STORED:
		pthread_mutex_lock(&lock);
		*(int *) data = stored;
		pthread_mutex_unlock(&lock);
		return 0;
	case HL_INVALIDATE:
		return 100 + fuse_invalidate_path(fuse_get_context()->fuse, "/whoami");
	case HL_READY: {
		pthread_mutex_lock(&lock);
		ready = 1;
		struct fuse_pollhandle *ph = waiting;
		waiting = NULL;
		pthread_mutex_unlock(&lock);
		if (ph) {
			fuse_notify_poll(ph);
			fuse_pollhandle_destroy(ph);
		}
		return 7;
	}
	}
	return -EINVAL;
}

static int hl_poll(const char *path, struct fuse_file_info *fi, struct fuse_pollhandle *ph,
		   unsigned *reventsp)
{
	(void) path;
	(void) fi;
	pthread_mutex_lock(&lock);
	if (ph) {
		if (waiting) fuse_pollhandle_destroy(waiting);
		waiting = ph;
	}
	*reventsp = ready ? POLLIN : 0;
	pthread_mutex_unlock(&lock);
	return 0;
}

static int hl_lock(const char *path, struct fuse_file_info *fi, int cmd, struct flock *fl)
{
	(void) path;
	(void) fi;
	if (cmd == F_GETLK) {
		fl->l_type = F_WRLCK;
		fl->l_whence = SEEK_SET;
		fl->l_start = 10;
		fl->l_len = 10;
		fl->l_pid = 4242;
	}
	return 0;
}

static int hl_flock(const char *path, struct fuse_file_info *fi, int op)
{
	(void) path;
	(void) fi;
	(void) op;
	pthread_mutex_lock(&lock);
	flocks++;
	pthread_mutex_unlock(&lock);
	return 0;
}

static const struct fuse_operations ops = {
	.init = hl_init,
	.destroy = hl_destroy,
	.getattr = hl_getattr,
	.readdir = hl_readdir,
	.mknod = hl_mknod,
	.open = hl_open,
	.read = hl_read,
	.write = hl_write,
	.truncate = hl_truncate,
	.ioctl = hl_ioctl,
	.poll = hl_poll,
	.lock = hl_lock,
	.flock = hl_flock,
};

int main(int argc, char *argv[])
{
	/* --whole is ours; fuse_main gets the rest. */
	char *args[64];
	int n = 0;
	for (int i = 0; i < argc && n < 63; i++) {
		if (strcmp(argv[i], "--whole") == 0) whole_listing = 1;
		else args[n++] = argv[i];
	}
	args[n] = NULL;
	return fuse_main(n, args, &ops, NULL);
}
