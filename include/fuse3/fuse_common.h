/* LinFsp's libfuse 3.14 API: the declarations shared by the high-level API
 * (fuse.h) and the low-level API (fuse_lowlevel.h). Names, layouts, constants
 * and symbol versions are libfuse 3.14's, so programs written for libfuse
 * build and run against LinFsp's libfuse3.so.3 unchanged; the implementation
 * is LinFsp's own (src/fuse/).
 *
 * Include <fuse.h> or <fuse_lowlevel.h>, not this header. */
#if !defined(FUSE_H_) && !defined(FUSE_LOWLEVEL_H_)
#error "include <fuse.h> or <fuse_lowlevel.h>; <fuse_common.h> is not included directly"
#endif

#ifndef FUSE_COMMON_H_
#define FUSE_COMMON_H_

#include "libfuse_config.h"

#include "fuse_opt.h"
#include "fuse_log.h"

#include <stdint.h>
#include <sys/types.h>

#define FUSE_MAJOR_VERSION 3
#define FUSE_MINOR_VERSION 14
#define FUSE_MAKE_VERSION(maj, min) ((maj) * 100 + (min))
#define FUSE_VERSION FUSE_MAKE_VERSION(FUSE_MAJOR_VERSION, FUSE_MINOR_VERSION)

/* A program that names no API level gets the one this library implements.
 * (Either spelling works: 31 and 314 both mean "3.x"; every comparison
 * below is against FUSE_MAKE_VERSION(3, N) or a two-digit 3N.) */
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 14)
#endif

#if FUSE_USE_VERSION < 30
#error "this libfuse implements API level 30 and later; FUSE_USE_VERSION is too old"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* What the kernel and the file system say about one open file. The
 * bitfields sit where libfuse 3.14 puts them (after `flags`, 64 bits in all),
 * so a program compiled against libfuse sees its fields at the same bits. */
struct fuse_file_info {
	/* open(2) flags (open, create) */
	int flags;

	/* Set when a write comes from the page cache (writeback), not from a
	 * process's write(2). */
	unsigned int writepage : 1;
	/* The file system asks the kernel to bypass its page cache. */
	unsigned int direct_io : 1;
	/* The file system says cached data from earlier opens is still good. */
	unsigned int keep_cache : 1;
	/* The kernel flushes on this release (or lock) call. */
	unsigned int flush : 1;
	/* The file cannot be seeked (pipes, sockets, streams). */
	unsigned int nonseekable : 1;
	/* This release should drop the flock locks of lock_owner. */
	unsigned int flock_release : 1;
	/* (opendir) the kernel may cache the listing. */
	unsigned int cache_readdir : 1;
	/* The kernel need not send FLUSH when the file is closed. */
	unsigned int noflush : 1;
	unsigned int padding : 24;
	unsigned int padding2 : 32;

	/* The file system's handle for the open file, returned with every
	 * later call on it. */
	uint64_t fh;
	/* The lock owner (flush, release with flock_release, locks). */
	uint64_t lock_owner;
	/* (poll) the events the caller waits for. */
	uint32_t poll_events;
};

/* The multi-threaded loop's settings. Below API 3.12 a program fills this
 * structure itself; from 3.12 it is opaque and set through fuse_loop_cfg_*,
 * and the old layout is kept as fuse_loop_config_v1. */
#if FUSE_USE_VERSION < FUSE_MAKE_VERSION(3, 12)
struct fuse_loop_config_v1;
struct fuse_loop_config {
#else
struct fuse_loop_config_v1 {
#endif
	/* a cloned /dev/fuse descriptor per thread */
	int clone_fd;
	/* threads kept waiting when idle */
	unsigned int max_idle_threads;
};

/* Capabilities: fuse_conn_info.capable says what the kernel offers,
 * fuse_conn_info.want what the file system asks for. */
#define FUSE_CAP_ASYNC_READ (1 << 0)
#define FUSE_CAP_POSIX_LOCKS (1 << 1)
#define FUSE_CAP_ATOMIC_O_TRUNC (1 << 3)
#define FUSE_CAP_EXPORT_SUPPORT (1 << 4)
#define FUSE_CAP_DONT_MASK (1 << 6)
#define FUSE_CAP_SPLICE_WRITE (1 << 7)
#define FUSE_CAP_SPLICE_MOVE (1 << 8)
#define FUSE_CAP_SPLICE_READ (1 << 9)
#define FUSE_CAP_FLOCK_LOCKS (1 << 10)
#define FUSE_CAP_IOCTL_DIR (1 << 11)
#define FUSE_CAP_AUTO_INVAL_DATA (1 << 12)
#define FUSE_CAP_READDIRPLUS (1 << 13)
#define FUSE_CAP_READDIRPLUS_AUTO (1 << 14)
#define FUSE_CAP_ASYNC_DIO (1 << 15)
#define FUSE_CAP_WRITEBACK_CACHE (1 << 16)
#define FUSE_CAP_NO_OPEN_SUPPORT (1 << 17)
#define FUSE_CAP_PARALLEL_DIROPS (1 << 18)
#define FUSE_CAP_POSIX_ACL (1 << 19)
#define FUSE_CAP_HANDLE_KILLPRIV (1 << 20)
#define FUSE_CAP_CACHE_SYMLINKS (1 << 23)
#define FUSE_CAP_NO_OPENDIR_SUPPORT (1 << 24)
#define FUSE_CAP_EXPLICIT_INVAL_DATA (1 << 25)
#define FUSE_CAP_EXPIRE_ONLY (1 << 26)

/* ioctl flags (the `flags` argument of the ioctl operations). */
#define FUSE_IOCTL_COMPAT (1 << 0)
#define FUSE_IOCTL_UNRESTRICTED (1 << 1)
#define FUSE_IOCTL_RETRY (1 << 2)
#define FUSE_IOCTL_DIR (1 << 4)
#define FUSE_IOCTL_MAX_IOV 256

/* The connection, as negotiated at INIT. init() reads capable and the
 * protocol version and may change want and the limits. */
struct fuse_conn_info {
	unsigned proto_major;
	unsigned proto_minor;
	unsigned max_write;
	unsigned max_read;
	unsigned max_readahead;
	unsigned capable;
	unsigned want;
	unsigned max_background;
	unsigned congestion_threshold;
	unsigned time_gran;
	unsigned reserved[22];
};

struct fuse_session;
struct fuse_pollhandle;
struct fuse_conn_info_opts;

/* Takes the connection options (-o max_write=, writeback_cache, async_read,
 * ...) out of args; apply them in init() with fuse_apply_conn_info_opts().
 * NULL on a bad value. The result is freed with free(). */
struct fuse_conn_info_opts *fuse_parse_conn_info_opts(struct fuse_args *args);
void fuse_apply_conn_info_opts(struct fuse_conn_info_opts *opts, struct fuse_conn_info *conn);

/* Unless foreground, detaches into the background (fork, setsid, chdir /,
 * stdio to /dev/null); the parent exits once the child is set up. 0 or -1. */
int fuse_daemonize(int foreground);

int fuse_version(void);
const char *fuse_pkgversion(void);

void fuse_pollhandle_destroy(struct fuse_pollhandle *ph);

/* Data buffers: memory, or a file descriptor read or written at `pos`
 * (FUSE_BUF_FD_SEEK) or at its current offset. */
enum fuse_buf_flags {
	FUSE_BUF_IS_FD = (1 << 1),
	FUSE_BUF_FD_SEEK = (1 << 2),
	FUSE_BUF_FD_RETRY = (1 << 3)
};

/* Splice preferences for fuse_buf_copy(); LinFsp copies through memory and
 * accepts them all. */
enum fuse_buf_copy_flags {
	FUSE_BUF_NO_SPLICE = (1 << 1),
	FUSE_BUF_FORCE_SPLICE = (1 << 2),
	FUSE_BUF_SPLICE_MOVE = (1 << 3),
	FUSE_BUF_SPLICE_NONBLOCK = (1 << 4)
};

struct fuse_buf {
	size_t size;
	enum fuse_buf_flags flags;
	void *mem;    /* memory buffers */
	int fd;       /* FUSE_BUF_IS_FD */
	off_t pos;    /* FUSE_BUF_FD_SEEK */
};

/* A sequence of buffers and a cursor (idx, off) into it; allocate more than
 * one buffer by over-allocating the array at the end. */
struct fuse_bufvec {
	size_t count;
	size_t idx;
	size_t off;
	struct fuse_buf buf[1];
};

/* One empty memory buffer of size__ bytes (fill in .mem or .fd/.flags). */
#define FUSE_BUFVEC_INIT(size__)                                                      \
	((struct fuse_bufvec){ 1, 0, 0,                                               \
			       { { (size__), (enum fuse_buf_flags)0, NULL, -1, 0 } } })

/* The bytes left in bufv from its cursor on. */
size_t fuse_buf_size(const struct fuse_bufvec *bufv);
/* Copies from src to dst until either runs out; moves both cursors. Returns
 * the bytes copied, or -errno if nothing could be. */
ssize_t fuse_buf_copy(struct fuse_bufvec *dst, struct fuse_bufvec *src,
		      enum fuse_buf_copy_flags flags);

/* SIGINT, SIGTERM and SIGHUP end the session's loop (fuse_session_exit);
 * SIGPIPE is ignored. One session at a time. 0 or -1. */
int fuse_set_signal_handlers(struct fuse_session *se);
void fuse_remove_signal_handlers(struct fuse_session *se);

/* The 3.12 loop configuration (opaque). */
struct fuse_loop_config *fuse_loop_cfg_create(void);
void fuse_loop_cfg_destroy(struct fuse_loop_config *config);
void fuse_loop_cfg_set_idle_threads(struct fuse_loop_config *config, unsigned int value);
void fuse_loop_cfg_set_max_threads(struct fuse_loop_config *config, unsigned int value);
void fuse_loop_cfg_set_clone_fd(struct fuse_loop_config *config, unsigned int value);
void fuse_loop_cfg_convert(struct fuse_loop_config *config, struct fuse_loop_config_v1 *v1_conf);

#ifdef __cplusplus
}
#endif

/* The whole API passes file offsets as off_t; it must be 64 bits wide
 * (build with -D_FILE_OFFSET_BITS=64, as `pkg-config --cflags fuse3` says). */
#if defined(__cplusplus)
static_assert(sizeof(off_t) == 8, "libfuse needs a 64-bit off_t: build with -D_FILE_OFFSET_BITS=64");
#elif defined(__GNUC__)
_Static_assert(sizeof(off_t) == 8, "libfuse needs a 64-bit off_t: build with -D_FILE_OFFSET_BITS=64");
#else
struct fuse_off_t_is_64_bits_check { unsigned off_t_is_64_bits : (sizeof(off_t) == 8) ? 1 : -1; };
#endif

#endif /* FUSE_COMMON_H_ */
