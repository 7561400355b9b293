/* LinFsp's libfuse 3.14 low-level API: a file system that works on inode
 * numbers and answers each request with one fuse_reply_* call. Names,
 * layouts, constants and symbol versions are libfuse 3.14's; the
 * implementation (src/fuse/lowlevel*.cc) stands on LinFsp's node-level API
 * (linfsp/node_api.h).
 *
 * Define FUSE_USE_VERSION before including this header (it defaults to the
 * API level of this library, 3.14). */
#ifndef FUSE_LOWLEVEL_H_
#define FUSE_LOWLEVEL_H_

#include "fuse_common.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <utime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The root directory's inode number. */
#define FUSE_ROOT_ID 1

/* An inode number: the file system's own name for a file, given to the
 * kernel in entry replies and handed back with every request on the file. */
typedef uint64_t fuse_ino_t;

/* One request. Every request but forget/forget_multi is answered exactly
 * once with a fuse_reply_* call, which also frees it. LinFsp lets a request
 * be answered after its handler returned, from any thread. */
typedef struct fuse_req *fuse_req_t;

struct fuse_session;

/* A name's answer (lookup, mknod, mkdir, symlink, link, create,
 * readdirplus). ino 0 in a lookup: a negative entry, cached for
 * entry_timeout seconds. */
struct fuse_entry_param {
	fuse_ino_t ino;
	uint64_t generation;  /* (ino, generation) is unique for the mount's life */
	struct stat attr;
	double attr_timeout;  /* seconds the kernel may keep attr */
	double entry_timeout; /* seconds the kernel may keep the name */
};

/* Who sent a request. umask is the caller's (with FUSE_CAP_DONT_MASK). */
struct fuse_ctx {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	mode_t umask;
};

struct fuse_forget_data {
	fuse_ino_t ino;
	uint64_t nlookup;
};

/* Replacement I/O functions for fuse_session_custom_io() (not supported by
 * LinFsp, which speaks to /dev/fuse or io_uring itself). */
struct fuse_custom_io {
	ssize_t (*writev)(int fd, struct iovec *iov, int count, void *userdata);
	ssize_t (*read)(int fd, void *buf, size_t buf_len, void *userdata);
	ssize_t (*splice_receive)(int fdin, off_t *offin, int fdout, off_t *offout,
				  size_t len, unsigned int flags, void *userdata);
	ssize_t (*splice_send)(int fdin, off_t *offin, int fdout, off_t *offout,
			       size_t len, unsigned int flags, void *userdata);
};

/* fuse_lowlevel_notify_expire_entry() flags. */
enum fuse_expire_flags {
	FUSE_LL_EXPIRE_ONLY = (1 << 0),
};

/* setattr's to_set: which fields of attr to apply. */
#define FUSE_SET_ATTR_MODE (1 << 0)
#define FUSE_SET_ATTR_UID (1 << 1)
#define FUSE_SET_ATTR_GID (1 << 2)
#define FUSE_SET_ATTR_SIZE (1 << 3)
#define FUSE_SET_ATTR_ATIME (1 << 4)
#define FUSE_SET_ATTR_MTIME (1 << 5)
#define FUSE_SET_ATTR_ATIME_NOW (1 << 7)
#define FUSE_SET_ATTR_MTIME_NOW (1 << 8)
#define FUSE_SET_ATTR_FORCE (1 << 9)
#define FUSE_SET_ATTR_CTIME (1 << 10)
#define FUSE_SET_ATTR_KILL_SUID (1 << 11)
#define FUSE_SET_ATTR_KILL_SGID (1 << 12)
#define FUSE_SET_ATTR_FILE (1 << 13)
#define FUSE_SET_ATTR_KILL_PRIV (1 << 14)
#define FUSE_SET_ATTR_OPEN (1 << 15)
#define FUSE_SET_ATTR_TIMES_SET (1 << 16)
#define FUSE_SET_ATTR_TOUCH (1 << 17)

/* The operations. Any may be NULL: the request is then answered ENOSYS (or
 * as the kernel expects of a file system that lacks it). The replies each
 * may use are named beside it; fuse_reply_err() is always allowed. */
struct fuse_lowlevel_ops {
	/* Before the first request: read conn->capable, set conn->want. */
	void (*init)(void *userdata, struct fuse_conn_info *conn);
	/* After the last request, when the session ends. */
	void (*destroy)(void *userdata);
	/* entry */
	void (*lookup)(fuse_req_t req, fuse_ino_t parent, const char *name);
	/* none: the kernel drops nlookup lookups of ino */
	void (*forget)(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
	/* attr */
	void (*getattr)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
	/* attr */
	void (*setattr)(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi);
	/* readlink */
	void (*readlink)(fuse_req_t req, fuse_ino_t ino);
	/* entry */
	void (*mknod)(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev);
	/* entry */
	void (*mkdir)(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
	/* err (0 for success) */
	void (*unlink)(fuse_req_t req, fuse_ino_t parent, const char *name);
	void (*rmdir)(fuse_req_t req, fuse_ino_t parent, const char *name);
	/* entry */
	void (*symlink)(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
	/* err; flags: RENAME_NOREPLACE, RENAME_EXCHANGE */
	void (*rename)(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		       const char *newname, unsigned int flags);
	/* entry */
	void (*link)(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
	/* open */
	void (*open)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
	/* buf, iov, data */
	void (*read)(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi);
	/* write */
	void (*write)(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi);
	/* err */
	void (*flush)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
	void (*release)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
	void (*fsync)(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
	/* open */
	void (*opendir)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
	/* buf (entries from fuse_add_direntry), data, iov */
	void (*readdir)(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi);
	/* err */
	void (*releasedir)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
	void (*fsyncdir)(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
	/* statfs */
	void (*statfs)(fuse_req_t req, fuse_ino_t ino);
	/* err */
	void (*setxattr)(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags);
	/* size 0: xattr; else buf, iov, data (or ERANGE) */
	void (*getxattr)(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
	void (*listxattr)(fuse_req_t req, fuse_ino_t ino, size_t size);
	/* err */
	void (*removexattr)(fuse_req_t req, fuse_ino_t ino, const char *name);
	void (*access)(fuse_req_t req, fuse_ino_t ino, int mask);
	/* create */
	void (*create)(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi);
	/* lock */
	void (*getlk)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		      struct flock *lock);
	/* err */
	void (*setlk)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		      struct flock *lock, int sleep);
	/* bmap */
	void (*bmap)(fuse_req_t req, fuse_ino_t ino, size_t blocksize, uint64_t idx);
	/* ioctl, ioctl_iov, ioctl_retry */
#if FUSE_USE_VERSION < 35
	void (*ioctl)(fuse_req_t req, fuse_ino_t ino, int cmd, void *arg,
		      struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		      size_t in_bufsz, size_t out_bufsz);
#else
	void (*ioctl)(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		      struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		      size_t in_bufsz, size_t out_bufsz);
#endif
	/* poll; keep ph for fuse_lowlevel_notify_poll(), free it with
	 * fuse_pollhandle_destroy() */
	void (*poll)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct fuse_pollhandle *ph);
	/* write; preferred over write when both are set */
	void (*write_buf)(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
			  struct fuse_file_info *fi);
	/* none: the data fuse_lowlevel_notify_retrieve() asked for */
	void (*retrieve_reply)(fuse_req_t req, void *cookie, fuse_ino_t ino, off_t offset,
			       struct fuse_bufvec *bufv);
	/* none */
	void (*forget_multi)(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
	/* err; op: LOCK_SH, LOCK_EX, LOCK_UN, with LOCK_NB */
	void (*flock)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op);
	/* err */
	void (*fallocate)(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			  struct fuse_file_info *fi);
	/* buf (entries from fuse_add_direntry_plus), data, iov */
	void (*readdirplus)(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			    struct fuse_file_info *fi);
	/* write */
	void (*copy_file_range)(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
				struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
				struct fuse_file_info *fi_out, size_t len, int flags);
	/* lseek */
	void (*lseek)(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		      struct fuse_file_info *fi);
};

/* Replies. Each answers and frees req; 0, or -errno when the answer could
 * not be sent (the request was interrupted and is gone: not an error of the
 * file system's). */
int fuse_reply_err(fuse_req_t req, int err); /* err 0: success with no data */
void fuse_reply_none(fuse_req_t req);        /* forget, forget_multi, retrieve_reply */
int fuse_reply_entry(fuse_req_t req, const struct fuse_entry_param *e);
int fuse_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
		      const struct fuse_file_info *fi);
int fuse_reply_attr(fuse_req_t req, const struct stat *attr, double attr_timeout);
int fuse_reply_readlink(fuse_req_t req, const char *link);
int fuse_reply_open(fuse_req_t req, const struct fuse_file_info *fi);
int fuse_reply_write(fuse_req_t req, size_t count);
int fuse_reply_buf(fuse_req_t req, const char *buf, size_t size);
int fuse_reply_data(fuse_req_t req, struct fuse_bufvec *bufv, enum fuse_buf_copy_flags flags);
int fuse_reply_iov(fuse_req_t req, const struct iovec *iov, int count);
int fuse_reply_statfs(fuse_req_t req, const struct statvfs *stbuf);
int fuse_reply_xattr(fuse_req_t req, size_t count);
int fuse_reply_lock(fuse_req_t req, const struct flock *lock);
int fuse_reply_bmap(fuse_req_t req, uint64_t idx);

/* Directory entries for readdir (readdirplus). Each writes one entry at buf
 * if it fits in bufsize bytes and returns its size either way; buf NULL
 * only measures. off is the offset that continues the listing after it. */
size_t fuse_add_direntry(fuse_req_t req, char *buf, size_t bufsize, const char *name,
			 const struct stat *stbuf, off_t off);
size_t fuse_add_direntry_plus(fuse_req_t req, char *buf, size_t bufsize, const char *name,
			      const struct fuse_entry_param *e, off_t off);

int fuse_reply_ioctl_retry(fuse_req_t req, const struct iovec *in_iov, size_t in_count,
			   const struct iovec *out_iov, size_t out_count);
int fuse_reply_ioctl(fuse_req_t req, int result, const void *buf, size_t size);
int fuse_reply_ioctl_iov(fuse_req_t req, int result, const struct iovec *iov, int count);
int fuse_reply_poll(fuse_req_t req, unsigned revents);
int fuse_reply_lseek(fuse_req_t req, off_t off);

/* Notifications. On LinFsp each is queued to a thread that holds no lock
 * of the file system's, so all are safe inside a request handler; 0 means
 * queued (the kernel is told shortly after), not delivered. -ENOTCONN before
 * the session serves or after it ended; -EINVAL for a bad name. */
int fuse_lowlevel_notify_poll(struct fuse_pollhandle *ph);
int fuse_lowlevel_notify_inval_inode(struct fuse_session *se, fuse_ino_t ino, off_t off,
				     off_t len);
int fuse_lowlevel_notify_inval_entry(struct fuse_session *se, fuse_ino_t parent,
				     const char *name, size_t namelen);
int fuse_lowlevel_notify_expire_entry(struct fuse_session *se, fuse_ino_t parent,
				      const char *name, size_t namelen,
				      enum fuse_expire_flags flags);
int fuse_lowlevel_notify_delete(struct fuse_session *se, fuse_ino_t parent, fuse_ino_t child,
				const char *name, size_t namelen);
int fuse_lowlevel_notify_store(struct fuse_session *se, fuse_ino_t ino, off_t offset,
			       struct fuse_bufvec *bufv, enum fuse_buf_copy_flags flags);
int fuse_lowlevel_notify_retrieve(struct fuse_session *se, fuse_ino_t ino, size_t size,
				  off_t offset, void *cookie);

/* About a request. */
void *fuse_req_userdata(fuse_req_t req);
const struct fuse_ctx *fuse_req_ctx(fuse_req_t req);
/* The caller's supplementary groups (read from /proc): their number, of
 * which at most size are stored in list; -errno on failure. */
int fuse_req_getgroups(fuse_req_t req, int size, gid_t list[]);

/* Called (once) when the kernel interrupts req; at once if it already has.
 * func may answer the request. NULL func: no callback. */
typedef void (*fuse_interrupt_func_t)(fuse_req_t req, void *data);
void fuse_req_interrupt_func(fuse_req_t req, fuse_interrupt_func_t func, void *data);
int fuse_req_interrupted(fuse_req_t req);

/* Help and version text (on stdout, as libfuse prints them). */
void fuse_lowlevel_version(void);
void fuse_lowlevel_help(void);
void fuse_cmdline_help(void);

/* What fuse_parse_cmdline() found. Programs built against API levels below
 * 3.12 know the structure without max_threads. */
struct fuse_cmdline_opts {
	int singlethread;
	int foreground;
	int debug;
	int nodefault_subtype;
	char *mountpoint; /* malloc'ed; the caller frees it */
	int show_version;
	int show_help;
	int clone_fd;
	unsigned int max_idle_threads;
	unsigned int max_threads; /* from 3.12 */
};

/* Takes the generic options (-h, -V, -d, -f, -s, -o clone_fd,
 * -o max_idle_threads=N, -o max_threads=N) and the mount point out of args,
 * leaving the rest for fuse_session_new(). 0 or -1. */
#if (defined(LIBFUSE_BUILT_WITH_VERSIONED_SYMBOLS))
int fuse_parse_cmdline(struct fuse_args *args, struct fuse_cmdline_opts *opts);
#else
#if FUSE_USE_VERSION < FUSE_MAKE_VERSION(3, 12)
int fuse_parse_cmdline_30(struct fuse_args *args, struct fuse_cmdline_opts *opts);
#define fuse_parse_cmdline(args, opts) fuse_parse_cmdline_30(args, opts)
#else
int fuse_parse_cmdline_312(struct fuse_args *args, struct fuse_cmdline_opts *opts);
#define fuse_parse_cmdline(args, opts) fuse_parse_cmdline_312(args, opts)
#endif
#endif

/* A session for ops (op_size bytes of it: a program built against an older
 * header passes a shorter table). args carries the -o options; an unknown
 * one is an error. NULL on failure. */
struct fuse_session *fuse_session_new(struct fuse_args *args, const struct fuse_lowlevel_ops *op,
				      size_t op_size, void *userdata);
/* Not supported on LinFsp: -EOPNOTSUPP. */
int fuse_session_custom_io(struct fuse_session *se, const struct fuse_custom_io *io, int fd);
/* Mounts (opens /dev/fuse and mounts it); no request is served until a loop
 * runs. A mountpoint of the form /dev/fd/N is not supported. 0 or -1. */
int fuse_session_mount(struct fuse_session *se, const char *mountpoint);
/* Serves with one thread (callbacks never run concurrently) until
 * fuse_session_exit() or an unmount; then unmounts. 0, a signal number
 * (ended by one of fuse_set_signal_handlers' signals) or -errno. */
int fuse_session_loop(struct fuse_session *se);

/* The same with a pool of request threads. */
#if FUSE_USE_VERSION < 32
int fuse_session_loop_mt_31(struct fuse_session *se, int clone_fd);
#define fuse_session_loop_mt(se, clone_fd) fuse_session_loop_mt_31(se, clone_fd)
#elif FUSE_USE_VERSION < FUSE_MAKE_VERSION(3, 12)
int fuse_session_loop_mt_32(struct fuse_session *se, struct fuse_loop_config *config);
#define fuse_session_loop_mt(se, config) fuse_session_loop_mt_32(se, config)
#else
#if (defined(LIBFUSE_BUILT_WITH_VERSIONED_SYMBOLS))
int fuse_session_loop_mt(struct fuse_session *se, struct fuse_loop_config *config);
#else
int fuse_session_loop_mt_312(struct fuse_session *se, struct fuse_loop_config *config);
#define fuse_session_loop_mt(se, config) fuse_session_loop_mt_312(se, config)
#endif
#endif

/* Makes the loop return (async-signal-safe). */
void fuse_session_exit(struct fuse_session *se);
void fuse_session_reset(struct fuse_session *se);
int fuse_session_exited(struct fuse_session *se);
void fuse_session_unmount(struct fuse_session *se);
void fuse_session_destroy(struct fuse_session *se);

/* Custom event loops: the /dev/fuse descriptor between fuse_session_mount()
 * and the loop. LinFsp reads the device itself: fuse_session_receive_buf()
 * serves the session on one thread until it ends and then returns 0;
 * fuse_session_process_buf() has nothing left to do. */
int fuse_session_fd(struct fuse_session *se);
void fuse_session_process_buf(struct fuse_session *se, const struct fuse_buf *buf);
int fuse_session_receive_buf(struct fuse_session *se, struct fuse_buf *buf);

#ifdef __cplusplus
}
#endif

#endif /* FUSE_LOWLEVEL_H_ */
