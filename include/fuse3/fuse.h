/* LinFsp's libfuse 3.14 high-level API: file systems written against
 * libfuse's path-based `struct fuse_operations` build against this header
 * and run on LinFsp's libfuse3.so.3 unchanged. The declarations, struct
 * layouts and symbol versions are libfuse 3.14's; the implementation is
 * LinFsp's own (src/fuse/highlevel*.cc), a file system of LinFsp's native
 * path API that calls these operations.
 *
 * Conventions, as in libfuse: operations return 0 or a negated errno (read
 * and write: the byte count); paths are absolute from the mount's root;
 * an operation the table leaves NULL answers ENOSYS (or the documented
 * default). */
#ifndef FUSE_H_
#define FUSE_H_

#include "fuse_common.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A mounted (or mountable) high-level file system. */
struct fuse;

/* readdir's `flags`: the kernel wants attributes with every entry
 * (READDIRPLUS); the filler may then be given complete stat data. */
enum fuse_readdir_flags {
	FUSE_READDIR_PLUS = (1 << 0)
};

/* The filler's `flags`: `stbuf` holds complete attributes, not only the
 * type and inode bits. */
enum fuse_fill_dir_flags {
	FUSE_FILL_DIR_PLUS = (1 << 1)
};

/* Adds one entry to a listing. `off` 0 for every entry: the whole listing
 * is produced by one readdir call; otherwise `off` is the offset that
 * resumes after this entry. Returns 1 when the reply is full (stop). */
typedef int (*fuse_fill_dir_t) (void *buf, const char *name,
				const struct stat *stbuf, off_t off,
				enum fuse_fill_dir_flags flags);

/* Settings of the high-level layer, from -o options; init() may change
 * them before the first request. */
struct fuse_config {
	/* -o gid=N: every file reports group N */
	int set_gid;
	unsigned int gid;
	/* -o uid=N: every file reports owner N */
	int set_uid;
	unsigned int uid;
	/* -o umask=M: every file reports permissions 0777 & ~M */
	int set_mode;
	unsigned int umask;
	/* seconds the kernel caches names, negative lookups, attributes */
	double entry_timeout;
	double negative_timeout;
	double attr_timeout;
	/* -o intr: interrupted requests signal the thread serving them */
	int intr;
	int intr_signal;
	/* -o remember=T: keep inode numbers for T seconds after the kernel forgets */
	int remember;
	/* -o hard_remove: unlink open files at once (no .fuse_hidden rename) */
	int hard_remove;
	/* -o use_ino: report the file system's st_ino */
	int use_ino;
	/* -o readdir_ino: give listings the inode numbers known for the names */
	int readdir_ino;
	/* -o direct_io: bypass the page cache for every file */
	int direct_io;
	/* -o kernel_cache: never drop cached data on open */
	int kernel_cache;
	/* -o auto_cache: keep cached data on open unless mtime or size changed */
	int auto_cache;
	/* -o no_rofd_flush: no flush on close of read-only descriptors */
	int no_rofd_flush;
	/* -o ac_attr_timeout=T: how long auto_cache trusts attributes */
	int ac_attr_timeout_set;
	double ac_attr_timeout;
	/* operations on open files may be called with a NULL path */
	int nullpath_ok;
	/* internal: -h was given */
	int show_help;
	/* -o modules=M (refused by LinFsp) */
	char *modules;
	int debug;
};

/* The operations, in libfuse 3.14's order. Each may be NULL. Where a
 * `struct fuse_file_info *fi` is passed, it is the one open() / create() /
 * opendir() filled in for this open file (fh, direct_io, keep_cache...);
 * in getattr, chmod, chown, truncate and utimens it is NULL unless the
 * kernel named an open file. */
struct fuse_operations {
	int (*getattr) (const char *, struct stat *, struct fuse_file_info *fi);
	int (*readlink) (const char *, char *, size_t);
	int (*mknod) (const char *, mode_t, dev_t);
	int (*mkdir) (const char *, mode_t);
	int (*unlink) (const char *);
	int (*rmdir) (const char *);
	int (*symlink) (const char *, const char *);
	/* flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE */
	int (*rename) (const char *, const char *, unsigned int flags);
	int (*link) (const char *, const char *);
	int (*chmod) (const char *, mode_t, struct fuse_file_info *fi);
	int (*chown) (const char *, uid_t, gid_t, struct fuse_file_info *fi);
	int (*truncate) (const char *, off_t, struct fuse_file_info *fi);
	int (*open) (const char *, struct fuse_file_info *);
	int (*read) (const char *, char *, size_t, off_t,
		     struct fuse_file_info *);
	int (*write) (const char *, const char *, size_t, off_t,
		      struct fuse_file_info *);
	int (*statfs) (const char *, struct statvfs *);
	int (*flush) (const char *, struct fuse_file_info *);
	int (*release) (const char *, struct fuse_file_info *);
	int (*fsync) (const char *, int, struct fuse_file_info *);
	int (*setxattr) (const char *, const char *, const char *, size_t, int);
	int (*getxattr) (const char *, const char *, char *, size_t);
	int (*listxattr) (const char *, char *, size_t);
	int (*removexattr) (const char *, const char *);
	int (*opendir) (const char *, struct fuse_file_info *);
	int (*readdir) (const char *, void *, fuse_fill_dir_t, off_t,
			struct fuse_file_info *, enum fuse_readdir_flags);
	int (*releasedir) (const char *, struct fuse_file_info *);
	int (*fsyncdir) (const char *, int, struct fuse_file_info *);
	/* Before the first request; the result becomes the context's
	 * private_data and destroy()'s argument. */
	void *(*init) (struct fuse_conn_info *conn,
		       struct fuse_config *cfg);
	void (*destroy) (void *private_data);
	int (*access) (const char *, int);
	int (*create) (const char *, mode_t, struct fuse_file_info *);
	/* cmd: F_GETLK, F_SETLK or F_SETLKW */
	int (*lock) (const char *, struct fuse_file_info *, int cmd,
		     struct flock *);
	/* tv[0] atime, tv[1] mtime; tv_nsec may be UTIME_NOW or UTIME_OMIT */
	int (*utimens) (const char *, const struct timespec tv[2],
			struct fuse_file_info *fi);
	int (*bmap) (const char *, size_t blocksize, uint64_t *idx);
#if FUSE_USE_VERSION < 35
	int (*ioctl) (const char *, int cmd, void *arg,
		      struct fuse_file_info *, unsigned int flags, void *data);
#else
	int (*ioctl) (const char *, unsigned int cmd, void *arg,
		      struct fuse_file_info *, unsigned int flags, void *data);
#endif
	/* ph (may be NULL): wake the poller with fuse_notify_poll(ph); free
	 * it with fuse_pollhandle_destroy() */
	int (*poll) (const char *, struct fuse_file_info *,
		     struct fuse_pollhandle *ph, unsigned *reventsp);
	int (*write_buf) (const char *, struct fuse_bufvec *buf, off_t off,
			  struct fuse_file_info *);
	/* *bufp is allocated by the operation and freed by the caller */
	int (*read_buf) (const char *, struct fuse_bufvec **bufp,
			 size_t size, off_t off, struct fuse_file_info *);
	/* op: LOCK_SH, LOCK_EX or LOCK_UN, possibly with LOCK_NB */
	int (*flock) (const char *, struct fuse_file_info *, int op);
	int (*fallocate) (const char *, int, off_t, off_t,
			  struct fuse_file_info *);
	ssize_t (*copy_file_range) (const char *path_in,
				    struct fuse_file_info *fi_in,
				    off_t offset_in, const char *path_out,
				    struct fuse_file_info *fi_out,
				    off_t offset_out, size_t size, int flags);
	off_t (*lseek) (const char *, off_t off, int whence, struct fuse_file_info *);
};

/* Who the current operation is for (valid inside an operation). */
struct fuse_context {
	struct fuse *fuse;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	/* init()'s result, or the private_data given to fuse_main / fuse_new */
	void *private_data;
	mode_t umask;
};

/* Parses the command line (mount point, -f, -s, -d, -o ...), mounts, serves
 * until unmounted or signalled, unmounts. 0 on success. */
#define fuse_main(argc, argv, op, private_data)				\
	fuse_main_real(argc, argv, op, sizeof(*(op)), private_data)

/* Prints the options fuse_new understands. */
void fuse_lib_help(struct fuse_args *args);

/* Creates a file system from `op` (op_size: sizeof(*op) as the caller
 * knows it) and the -o options in args; NULL on a bad option. */
#if FUSE_USE_VERSION == 30
struct fuse *fuse_new_30(struct fuse_args *args, const struct fuse_operations *op,
			 size_t op_size, void *private_data);
#define fuse_new(args, op, size, data) fuse_new_30(args, op, size, data)
#else
#if (defined(LIBFUSE_BUILT_WITH_VERSIONED_SYMBOLS))
struct fuse *fuse_new(struct fuse_args *args, const struct fuse_operations *op,
		      size_t op_size, void *private_data);
#else
struct fuse *fuse_new_31(struct fuse_args *args,
			 const struct fuse_operations *op,
			 size_t op_size, void *user_data);
#define fuse_new(args, op, size, data) fuse_new_31(args, op, size, data)
#endif
#endif

/* Mounts at `mountpoint`; 0 or -1. */
int fuse_mount(struct fuse *f, const char *mountpoint);
void fuse_unmount(struct fuse *f);
/* Calls destroy() and frees f (after fuse_unmount). */
void fuse_destroy(struct fuse *f);
/* Serves until fuse_exit(), a signal handler's exit, or an unmount. LinFsp
 * always serves with its own pool of request threads; the single- and
 * multi-threaded loops differ only in name. */
int fuse_loop(struct fuse *f);
void fuse_exit(struct fuse *f);

#if FUSE_USE_VERSION < 32
int fuse_loop_mt_31(struct fuse *f, int clone_fd);
#define fuse_loop_mt(f, clone_fd) fuse_loop_mt_31(f, clone_fd)
#elif FUSE_USE_VERSION < FUSE_MAKE_VERSION(3, 12)
int fuse_loop_mt_32(struct fuse *f, struct fuse_loop_config *config);
#define fuse_loop_mt(f, config) fuse_loop_mt_32(f, config)
#else
#if (defined(LIBFUSE_BUILT_WITH_VERSIONED_SYMBOLS))
int fuse_loop_mt(struct fuse *f, struct fuse_loop_config *config);
#else
#define fuse_loop_mt(f, config) fuse_loop_mt_312(f, config)
#endif
#endif

/* The calling operation's context; inside no operation, one with zeros. */
struct fuse_context *fuse_get_context(void);
/* The caller's supplementary groups (up to size of them into list); the
 * number it has, or -errno. */
int fuse_getgroups(int size, gid_t list[]);
/* 1 if the kernel interrupted the current operation. */
int fuse_interrupted(void);
/* Drops the kernel's cached entry, attributes and data for path. */
int fuse_invalidate_path(struct fuse *f, const char *path);

int fuse_main_real(int argc, char *argv[], const struct fuse_operations *op,
		   size_t op_size, void *private_data);

/* The cache of forgotten inode numbers needs no cleaning thread in LinFsp;
 * these succeed and do nothing. */
int fuse_start_cleanup_thread(struct fuse *fuse);
void fuse_stop_cleanup_thread(struct fuse *fuse);
int fuse_clean_cache(struct fuse *fuse);

/* ----- Stacking: a file system object to call operations on directly ----- */

struct fuse_fs;

/* Each calls the operation of fs's table (-ENOSYS where it has none). */
int fuse_fs_getattr(struct fuse_fs *fs, const char *path, struct stat *buf,
		    struct fuse_file_info *fi);
int fuse_fs_rename(struct fuse_fs *fs, const char *oldpath,
		   const char *newpath, unsigned int flags);
int fuse_fs_unlink(struct fuse_fs *fs, const char *path);
int fuse_fs_rmdir(struct fuse_fs *fs, const char *path);
int fuse_fs_symlink(struct fuse_fs *fs, const char *linkname,
		    const char *path);
int fuse_fs_link(struct fuse_fs *fs, const char *oldpath, const char *newpath);
int fuse_fs_release(struct fuse_fs *fs, const char *path,
		    struct fuse_file_info *fi);
int fuse_fs_open(struct fuse_fs *fs, const char *path,
		 struct fuse_file_info *fi);
int fuse_fs_read(struct fuse_fs *fs, const char *path, char *buf, size_t size,
		 off_t off, struct fuse_file_info *fi);
int fuse_fs_read_buf(struct fuse_fs *fs, const char *path,
		     struct fuse_bufvec **bufp, size_t size, off_t off,
		     struct fuse_file_info *fi);
int fuse_fs_write(struct fuse_fs *fs, const char *path, const char *buf,
		  size_t size, off_t off, struct fuse_file_info *fi);
int fuse_fs_write_buf(struct fuse_fs *fs, const char *path,
		      struct fuse_bufvec *buf, off_t off,
		      struct fuse_file_info *fi);
int fuse_fs_fsync(struct fuse_fs *fs, const char *path, int datasync,
		  struct fuse_file_info *fi);
int fuse_fs_flush(struct fuse_fs *fs, const char *path,
		  struct fuse_file_info *fi);
int fuse_fs_statfs(struct fuse_fs *fs, const char *path, struct statvfs *buf);
int fuse_fs_opendir(struct fuse_fs *fs, const char *path,
		    struct fuse_file_info *fi);
int fuse_fs_readdir(struct fuse_fs *fs, const char *path, void *buf,
		    fuse_fill_dir_t filler, off_t off,
		    struct fuse_file_info *fi, enum fuse_readdir_flags flags);
int fuse_fs_fsyncdir(struct fuse_fs *fs, const char *path, int datasync,
		     struct fuse_file_info *fi);
int fuse_fs_releasedir(struct fuse_fs *fs, const char *path,
		       struct fuse_file_info *fi);
int fuse_fs_create(struct fuse_fs *fs, const char *path, mode_t mode,
		   struct fuse_file_info *fi);
int fuse_fs_lock(struct fuse_fs *fs, const char *path,
		 struct fuse_file_info *fi, int cmd, struct flock *lock);
int fuse_fs_flock(struct fuse_fs *fs, const char *path,
		  struct fuse_file_info *fi, int op);
int fuse_fs_chmod(struct fuse_fs *fs, const char *path, mode_t mode,
		  struct fuse_file_info *fi);
int fuse_fs_chown(struct fuse_fs *fs, const char *path, uid_t uid, gid_t gid,
		  struct fuse_file_info *fi);
int fuse_fs_truncate(struct fuse_fs *fs, const char *path, off_t size,
		     struct fuse_file_info *fi);
int fuse_fs_utimens(struct fuse_fs *fs, const char *path,
		    const struct timespec tv[2], struct fuse_file_info *fi);
int fuse_fs_access(struct fuse_fs *fs, const char *path, int mask);
int fuse_fs_readlink(struct fuse_fs *fs, const char *path, char *buf,
		     size_t len);
int fuse_fs_mknod(struct fuse_fs *fs, const char *path, mode_t mode,
		  dev_t rdev);
int fuse_fs_mkdir(struct fuse_fs *fs, const char *path, mode_t mode);
int fuse_fs_setxattr(struct fuse_fs *fs, const char *path, const char *name,
		     const char *value, size_t size, int flags);
int fuse_fs_getxattr(struct fuse_fs *fs, const char *path, const char *name,
		     char *value, size_t size);
int fuse_fs_listxattr(struct fuse_fs *fs, const char *path, char *list,
		      size_t size);
int fuse_fs_removexattr(struct fuse_fs *fs, const char *path,
			const char *name);
int fuse_fs_bmap(struct fuse_fs *fs, const char *path, size_t blocksize,
		 uint64_t *idx);
#if FUSE_USE_VERSION < 35
int fuse_fs_ioctl(struct fuse_fs *fs, const char *path, int cmd,
		  void *arg, struct fuse_file_info *fi, unsigned int flags,
		  void *data);
#else
int fuse_fs_ioctl(struct fuse_fs *fs, const char *path, unsigned int cmd,
		  void *arg, struct fuse_file_info *fi, unsigned int flags,
		  void *data);
#endif
int fuse_fs_poll(struct fuse_fs *fs, const char *path,
		 struct fuse_file_info *fi, struct fuse_pollhandle *ph,
		 unsigned *reventsp);
int fuse_fs_fallocate(struct fuse_fs *fs, const char *path, int mode,
		      off_t offset, off_t length, struct fuse_file_info *fi);
ssize_t fuse_fs_copy_file_range(struct fuse_fs *fs, const char *path_in,
				struct fuse_file_info *fi_in, off_t off_in,
				const char *path_out,
				struct fuse_file_info *fi_out, off_t off_out,
				size_t len, int flags);
off_t fuse_fs_lseek(struct fuse_fs *fs, const char *path, off_t off, int whence,
		    struct fuse_file_info *fi);
void fuse_fs_init(struct fuse_fs *fs, struct fuse_conn_info *conn,
		  struct fuse_config *cfg);
void fuse_fs_destroy(struct fuse_fs *fs);

/* Wakes the poll() waiter behind ph. 0 or -errno. */
int fuse_notify_poll(struct fuse_pollhandle *ph);

/* A file system object from an operations table (for modules). */
struct fuse_fs *fuse_fs_new(const struct fuse_operations *op, size_t op_size,
			    void *private_data);

/* Modules (-o modules=...) are declared for source compatibility; LinFsp
 * loads none. */
typedef struct fuse_fs *(*fuse_module_factory_t)(struct fuse_args *args,
						 struct fuse_fs *fs[]);
#define FUSE_REGISTER_MODULE(name_, factory_) \
	fuse_module_factory_t fuse_module_ ## name_ ## _factory = factory_

/* The session a file system serves through. */
struct fuse_session *fuse_get_session(struct fuse *f);

/* Opens /dev/fuse for a mount made elsewhere; LinFsp mounts itself, so
 * this answers -1 (ENOTSUP). */
int fuse_open_channel(const char *mountpoint, const char *options);

#ifdef __cplusplus
}
#endif

#endif /* FUSE_H_ */
