/* A small libfuse low-level file system for LinFsp's tests, written the way
 * libfuse programs are (fuse_parse_cmdline, fuse_session_new, signal
 * handlers, fuse_session_mount, fuse_daemonize, the loop). Its root holds:
 *
 *   hello    "hello\n", answered in the handler
 *   late     "late\n", answered from another thread 100 ms after the
 *            handler returned
 *   trigger  its lookup calls fuse_lowlevel_notify_inval_entry() on itself
 *            and on "hello" from inside the handler, then answers (libfuse
 *            writes the notification at once, and the kernel's lookup holds
 *            the directory lock it needs: a deadlock there)
 *   slow     a read that is only ever answered by its interrupt callback
 *            (fuse_req_interrupt_func), with EINTR
 *   counters the number of interrupt callbacks run and of notifications
 *            that returned 0, as text ("interrupts N\nnotified N\n")
 *
 * Built for API 3.14 (fuse_session_loop_mt with the opaque configuration)
 * and for API 3.1 (the 3.0 fuse_parse_cmdline and loop) by lowlevel.cmake;
 * with LL_OLD_ABI, against Debian's libfuse with the symbol versions of a
 * program built for libfuse 3.0 .. 3.11. */
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>

#ifdef LL_OLD_ABI
/* Bind what a program built against libfuse 3.0 .. 3.11 binds: the 3.0
 * versions of fuse_parse_cmdline and fuse_session_loop_mt. */
__asm__(".symver fuse_parse_cmdline,fuse_parse_cmdline@FUSE_3.0");
__asm__(".symver fuse_session_loop_mt_31,fuse_session_loop_mt@FUSE_3.0");
#endif

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { ROOT = 1, HELLO, LATE, TRIGGER, SLOW, COUNTERS, COUNT };
static const char *names[COUNT] = {NULL, "", "hello", "late", "trigger", "slow", "counters"};

static struct fuse_session *session;
static int interrupts;
static int notified;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void counters(char *buf, size_t size)
{
	pthread_mutex_lock(&lock);
	snprintf(buf, size, "interrupts %d\nnotified %d\n", interrupts, notified);
	pthread_mutex_unlock(&lock);
}

static size_t content(fuse_ino_t ino, char *buf, size_t size)
{
	switch (ino) {
	case HELLO: snprintf(buf, size, "hello\n"); break;
	case LATE: snprintf(buf, size, "late\n"); break;
	case COUNTERS: counters(buf, size); break;
	case SLOW: snprintf(buf, size, "slow\n"); break;
	default: buf[0] = 0;
	}
	return strlen(buf);
}

static void stat_of(fuse_ino_t ino, struct stat *st)
{
	char buf[128];
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == ROOT) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t)content(ino, buf, sizeof(buf));
	}
}

static void t_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (parent != ROOT) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	for (fuse_ino_t ino = HELLO; ino < COUNT; ino++) {
		if (strcmp(name, names[ino]) != 0)
			continue;
		if (ino == TRIGGER) {
			int a = fuse_lowlevel_notify_inval_entry(session, ROOT, "trigger", 7);
			int b = fuse_lowlevel_notify_inval_entry(session, ROOT, "hello", 5);
			pthread_mutex_lock(&lock);
			notified += (a == 0) + (b == 0);
			pthread_mutex_unlock(&lock);
		}
		struct fuse_entry_param e;
		memset(&e, 0, sizeof(e));
		e.ino = ino;
		e.attr_timeout = 0;
		e.entry_timeout = 0;
		stat_of(ino, &e.attr);
		fuse_reply_entry(req, &e);
		return;
	}
	fuse_reply_err(req, ENOENT);
}

static void t_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	if (ino >= COUNT) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct stat st;
	stat_of(ino, &st);
	fuse_reply_attr(req, &st, 0);
}

static void t_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	if (ino != ROOT) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	char *buf = calloc(1, size);
	size_t used = 0;
	for (fuse_ino_t i = HELLO + (fuse_ino_t)off; i < COUNT; i++) {
		struct stat st;
		stat_of(i, &st);
		size_t n = fuse_add_direntry(req, buf + used, size - used, names[i], &st, (off_t)(i - HELLO + 1));
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void t_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino == ROOT) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	fi->direct_io = 1; /* every read reaches us */
	fuse_reply_open(req, fi);
}

struct late_reply {
	fuse_req_t req;
	size_t size;
	off_t off;
};

static void *answer_late(void *arg)
{
	struct late_reply *lr = arg;
	struct timespec ts = {0, 100 * 1000 * 1000};
	nanosleep(&ts, NULL);
	char buf[64];
	size_t len = content(LATE, buf, sizeof(buf));
	size_t off = (size_t)lr->off < len ? (size_t)lr->off : len;
	size_t n = len - off < lr->size ? len - off : lr->size;
	fuse_reply_buf(lr->req, buf + off, n);
	free(lr);
	return NULL;
}

static void on_interrupt(fuse_req_t req, void *data)
{
	(void)data;
	pthread_mutex_lock(&lock);
	interrupts++;
	pthread_mutex_unlock(&lock);
	fuse_reply_err(req, EINTR);
}

static void t_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	if (ino == LATE) {
		struct late_reply *lr = malloc(sizeof(*lr));
		lr->req = req;
		lr->size = size;
		lr->off = off;
		pthread_t t;
		pthread_create(&t, NULL, answer_late, lr);
		pthread_detach(t);
		return; /* answered later, from that thread */
	}
	if (ino == SLOW) {
		/* Only the interrupt answers this one. */
		fuse_req_interrupt_func(req, on_interrupt, NULL);
		return;
	}
	char buf[128];
	size_t len = content(ino, buf, sizeof(buf));
	if ((size_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	size_t n = len - (size_t)off < size ? len - (size_t)off : size;
	fuse_reply_buf(req, buf + off, n);
}

static void t_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* What the kernel offered, and what libfuse asks for by default. */
	fprintf(stderr, "ll_testfs: init proto %u.%u async_read %s/%s\n", conn->proto_major, conn->proto_minor,
		(conn->capable & FUSE_CAP_ASYNC_READ) ? "capable" : "-",
		(conn->want & FUSE_CAP_ASYNC_READ) ? "wanted" : "-");
}

static void t_destroy(void *userdata)
{
	(void)userdata;
	fprintf(stderr, "ll_testfs: destroy\n");
}

static const struct fuse_lowlevel_ops ops = {
	.init = t_init,
	.destroy = t_destroy,
	.lookup = t_lookup,
	.getattr = t_getattr,
	.readdir = t_readdir,
	.open = t_open,
	.read = t_read,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	int ret = -1; /* until the loop ran: a failure */

	if (fuse_parse_cmdline(&args, &opts) != 0)
		return 1;
	if (opts.show_help) {
		printf("usage: %s [options] <mountpoint>\n\n", argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out_args;
	}
	if (opts.show_version) {
		printf("FUSE library version %s\n", fuse_pkgversion());
		fuse_lowlevel_version();
		ret = 0;
		goto out_args;
	}
	if (opts.mountpoint == NULL) {
		fprintf(stderr, "usage: %s [options] <mountpoint>\n", argv[0]);
		goto out_args;
	}
	session = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (session == NULL)
		goto out_args;
	if (fuse_set_signal_handlers(session) != 0)
		goto out_session;
	if (fuse_session_mount(session, opts.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(opts.foreground);
	if (opts.singlethread) {
		ret = fuse_session_loop(session);
	} else {
#if FUSE_USE_VERSION < 32
		ret = fuse_session_loop_mt(session, opts.clone_fd);
#elif FUSE_USE_VERSION < FUSE_MAKE_VERSION(3, 12)
		struct fuse_loop_config config = {opts.clone_fd, opts.max_idle_threads};
		ret = fuse_session_loop_mt(session, &config);
#else
		struct fuse_loop_config *config = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(config, (unsigned)opts.clone_fd);
		fuse_loop_cfg_set_max_threads(config, opts.max_threads);
		ret = fuse_session_loop_mt(session, config);
		fuse_loop_cfg_destroy(config);
#endif
	}
	fuse_session_unmount(session);
out_signals:
	fuse_remove_signal_handlers(session);
out_session:
	fuse_session_destroy(session);
out_args:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	/* Ended by a signal (the loop returns its number) is a clean end here. */
	return ret < 0 ? 1 : 0;
}
