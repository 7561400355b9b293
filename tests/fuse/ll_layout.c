/* Prints the layout of libfuse's public structures: sizes, member offsets,
 * and the bit each fuse_file_info bitfield occupies. Built twice, against
 * Debian's libfuse headers and against LinFsp's; CTest compares the two
 * outputs (tests/fuse/lowlevel.cmake). */
#define FUSE_USE_VERSION 314
#include <cuse_lowlevel.h>
#include <fuse_lowlevel.h>

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define SIZE(type) printf("sizeof(%s) %zu\n", #type, sizeof(type))
#define OFF(type, member) printf("offsetof(%s, %s) %zu\n", #type, #member, offsetof(type, member))

/* The bit of fuse_file_info that setting `member` to 1 sets. */
#define BIT(member)                                                      \
	do {                                                             \
		struct fuse_file_info fi;                                \
		unsigned char raw[sizeof(fi)];                           \
		memset(&fi, 0, sizeof(fi));                              \
		fi.member = 1;                                           \
		memcpy(raw, &fi, sizeof(fi));                            \
		for (size_t i = 0; i < sizeof(fi) * 8; i++)              \
			if (raw[i / 8] & (1u << (i % 8)))                \
				printf("bit(fuse_file_info, %s) %zu\n", \
				       #member, i);                      \
	} while (0)

int main(void)
{
	SIZE(struct fuse_file_info);
	OFF(struct fuse_file_info, flags);
	OFF(struct fuse_file_info, fh);
	OFF(struct fuse_file_info, lock_owner);
	OFF(struct fuse_file_info, poll_events);
	BIT(writepage);
	BIT(direct_io);
	BIT(keep_cache);
	BIT(flush);
	BIT(nonseekable);
	BIT(flock_release);
	BIT(cache_readdir);
	BIT(noflush);

	SIZE(struct fuse_conn_info);
	OFF(struct fuse_conn_info, proto_major);
	OFF(struct fuse_conn_info, proto_minor);
	OFF(struct fuse_conn_info, max_write);
	OFF(struct fuse_conn_info, max_read);
	OFF(struct fuse_conn_info, max_readahead);
	OFF(struct fuse_conn_info, capable);
	OFF(struct fuse_conn_info, want);
	OFF(struct fuse_conn_info, max_background);
	OFF(struct fuse_conn_info, congestion_threshold);
	OFF(struct fuse_conn_info, time_gran);
	OFF(struct fuse_conn_info, reserved);

	SIZE(struct fuse_entry_param);
	OFF(struct fuse_entry_param, ino);
	OFF(struct fuse_entry_param, generation);
	OFF(struct fuse_entry_param, attr);
	OFF(struct fuse_entry_param, attr_timeout);
	OFF(struct fuse_entry_param, entry_timeout);

	SIZE(struct fuse_ctx);
	OFF(struct fuse_ctx, uid);
	OFF(struct fuse_ctx, gid);
	OFF(struct fuse_ctx, pid);
	OFF(struct fuse_ctx, umask);

	SIZE(struct fuse_forget_data);
	SIZE(struct fuse_custom_io);

	SIZE(struct fuse_lowlevel_ops);
	OFF(struct fuse_lowlevel_ops, init);
	OFF(struct fuse_lowlevel_ops, destroy);
	OFF(struct fuse_lowlevel_ops, lookup);
	OFF(struct fuse_lowlevel_ops, forget);
	OFF(struct fuse_lowlevel_ops, getattr);
	OFF(struct fuse_lowlevel_ops, setattr);
	OFF(struct fuse_lowlevel_ops, readlink);
	OFF(struct fuse_lowlevel_ops, mknod);
	OFF(struct fuse_lowlevel_ops, mkdir);
	OFF(struct fuse_lowlevel_ops, unlink);
	OFF(struct fuse_lowlevel_ops, rmdir);
	OFF(struct fuse_lowlevel_ops, symlink);
	OFF(struct fuse_lowlevel_ops, rename);
	OFF(struct fuse_lowlevel_ops, link);
	OFF(struct fuse_lowlevel_ops, open);
	OFF(struct fuse_lowlevel_ops, read);
	OFF(struct fuse_lowlevel_ops, write);
	OFF(struct fuse_lowlevel_ops, flush);
	OFF(struct fuse_lowlevel_ops, release);
	OFF(struct fuse_lowlevel_ops, fsync);
	OFF(struct fuse_lowlevel_ops, opendir);
	OFF(struct fuse_lowlevel_ops, readdir);
	OFF(struct fuse_lowlevel_ops, releasedir);
	OFF(struct fuse_lowlevel_ops, fsyncdir);
	OFF(struct fuse_lowlevel_ops, statfs);
	OFF(struct fuse_lowlevel_ops, setxattr);
	OFF(struct fuse_lowlevel_ops, getxattr);
	OFF(struct fuse_lowlevel_ops, listxattr);
	OFF(struct fuse_lowlevel_ops, removexattr);
	OFF(struct fuse_lowlevel_ops, access);
	OFF(struct fuse_lowlevel_ops, create);
	OFF(struct fuse_lowlevel_ops, getlk);
	OFF(struct fuse_lowlevel_ops, setlk);
	OFF(struct fuse_lowlevel_ops, bmap);
	OFF(struct fuse_lowlevel_ops, ioctl);
	OFF(struct fuse_lowlevel_ops, poll);
	OFF(struct fuse_lowlevel_ops, write_buf);
	OFF(struct fuse_lowlevel_ops, retrieve_reply);
	OFF(struct fuse_lowlevel_ops, forget_multi);
	OFF(struct fuse_lowlevel_ops, flock);
	OFF(struct fuse_lowlevel_ops, fallocate);
	OFF(struct fuse_lowlevel_ops, readdirplus);
	OFF(struct fuse_lowlevel_ops, copy_file_range);
	OFF(struct fuse_lowlevel_ops, lseek);

	SIZE(struct fuse_buf);
	OFF(struct fuse_buf, size);
	OFF(struct fuse_buf, flags);
	OFF(struct fuse_buf, mem);
	OFF(struct fuse_buf, fd);
	OFF(struct fuse_buf, pos);
	SIZE(struct fuse_bufvec);
	OFF(struct fuse_bufvec, count);
	OFF(struct fuse_bufvec, idx);
	OFF(struct fuse_bufvec, off);
	OFF(struct fuse_bufvec, buf);

	SIZE(struct fuse_cmdline_opts);
	OFF(struct fuse_cmdline_opts, singlethread);
	OFF(struct fuse_cmdline_opts, foreground);
	OFF(struct fuse_cmdline_opts, debug);
	OFF(struct fuse_cmdline_opts, nodefault_subtype);
	OFF(struct fuse_cmdline_opts, mountpoint);
	OFF(struct fuse_cmdline_opts, show_version);
	OFF(struct fuse_cmdline_opts, show_help);
	OFF(struct fuse_cmdline_opts, clone_fd);
	OFF(struct fuse_cmdline_opts, max_idle_threads);
	OFF(struct fuse_cmdline_opts, max_threads);

	SIZE(struct fuse_loop_config_v1);
	OFF(struct fuse_loop_config_v1, clone_fd);
	OFF(struct fuse_loop_config_v1, max_idle_threads);

	SIZE(struct cuse_info);
	OFF(struct cuse_info, dev_info_argv);
	OFF(struct cuse_info, flags);
	SIZE(struct cuse_lowlevel_ops);
	OFF(struct cuse_lowlevel_ops, init_done);
	OFF(struct cuse_lowlevel_ops, open);
	OFF(struct cuse_lowlevel_ops, ioctl);
	OFF(struct cuse_lowlevel_ops, poll);

	/* Constants a program compiles in. */
	printf("FUSE_VERSION %d\n", FUSE_VERSION);
	printf("FUSE_CAP_EXPIRE_ONLY %d\n", FUSE_CAP_EXPIRE_ONLY);
	printf("FUSE_CAP_HANDLE_KILLPRIV %d\n", FUSE_CAP_HANDLE_KILLPRIV);
	printf("FUSE_CAP_POSIX_ACL %d\n", FUSE_CAP_POSIX_ACL);
	printf("FUSE_SET_ATTR_TOUCH %d\n", FUSE_SET_ATTR_TOUCH);
	printf("FUSE_IOCTL_MAX_IOV %d\n", FUSE_IOCTL_MAX_IOV);
	printf("FUSE_BUF_FD_RETRY %d\n", FUSE_BUF_FD_RETRY);
	printf("FUSE_BUF_SPLICE_NONBLOCK %d\n", FUSE_BUF_SPLICE_NONBLOCK);
	printf("FUSE_LL_EXPIRE_ONLY %d\n", FUSE_LL_EXPIRE_ONLY);
	{
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(42);
		printf("FUSE_BUFVEC_INIT %zu %zu %zu %zu %d %d %p %lld\n", bv.count, bv.idx, bv.off,
		       bv.buf[0].size, (int)bv.buf[0].flags, bv.buf[0].fd, bv.buf[0].mem,
		       (long long)bv.buf[0].pos);
	}
	return 0;
}
