/* The low-level API's parts that need no mount: fuse_buf_copy between
 * memory and descriptors, fuse_parse_cmdline (3.12 and 3.0 layouts),
 * fuse_parse_conn_info_opts / fuse_apply_conn_info_opts, fuse_session_new's
 * option checks, fuse_add_direntry, and the loop configuration. Prints one
 * line per failed check; exits 1 if there was any. */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fuse_parse_cmdline_30(struct fuse_args *args, struct fuse_cmdline_opts *opts);
int fuse_parse_cmdline_312(struct fuse_args *args, struct fuse_cmdline_opts *opts);

static int failures;

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			printf("%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                              \
		}                                                                \
	} while (0)

static int temp_fd(const char *content)
{
	char name[] = "/tmp/ll_api.XXXXXX";
	int fd = mkstemp(name);
	unlink(name);
	if (content && write(fd, content, strlen(content)) < 0)
		return -1;
	return fd;
}

static void test_buf_copy(void)
{
	/* Memory to memory, across buffer boundaries on both sides. */
	char a[] = "hello ", b[] = "world";
	char out1[4], out2[8];
	struct fuse_bufvec *src = calloc(1, sizeof(struct fuse_bufvec) + sizeof(struct fuse_buf));
	struct fuse_bufvec *dst = calloc(1, sizeof(struct fuse_bufvec) + sizeof(struct fuse_buf));
	src->count = 2;
	src->buf[0].size = 6; src->buf[0].mem = a; src->buf[0].fd = -1;
	src->buf[1].size = 5; src->buf[1].mem = b; src->buf[1].fd = -1;
	dst->count = 2;
	dst->buf[0].size = sizeof(out1); dst->buf[0].mem = out1; dst->buf[0].fd = -1;
	dst->buf[1].size = sizeof(out2); dst->buf[1].mem = out2; dst->buf[1].fd = -1;
	CHECK(fuse_buf_size(src) == 11);
	CHECK(fuse_buf_copy(dst, src, FUSE_BUF_SPLICE_MOVE) == 11);
	CHECK(memcmp(out1, "hell", 4) == 0 && memcmp(out2, "o world", 7) == 0);
	CHECK(src->idx == 2);
	free(src);
	free(dst);

	/* A descriptor read at a position (FD_SEEK), into memory. */
	int fd = temp_fd("0123456789");
	char mem[16] = {0};
	struct fuse_bufvec from = FUSE_BUFVEC_INIT(4);
	from.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
	from.buf[0].fd = fd;
	from.buf[0].pos = 3;
	struct fuse_bufvec to = FUSE_BUFVEC_INIT(sizeof(mem));
	to.buf[0].mem = mem;
	CHECK(fuse_buf_copy(&to, &from, 0) == 4);
	CHECK(memcmp(mem, "3456", 4) == 0);

	/* Short at the end of the file. */
	struct fuse_bufvec tail = FUSE_BUFVEC_INIT(100);
	tail.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	tail.buf[0].fd = fd;
	tail.buf[0].pos = 8;
	struct fuse_bufvec to2 = FUSE_BUFVEC_INIT(sizeof(mem));
	to2.buf[0].mem = mem;
	CHECK(fuse_buf_copy(&to2, &tail, 0) == 2);

	/* Memory to a descriptor, and descriptor to descriptor. */
	int out = temp_fd(NULL);
	struct fuse_bufvec w = FUSE_BUFVEC_INIT(5);
	w.buf[0].mem = "abcde";
	struct fuse_bufvec wfd = FUSE_BUFVEC_INIT(5);
	wfd.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	wfd.buf[0].fd = out;
	wfd.buf[0].pos = 2;
	CHECK(fuse_buf_copy(&wfd, &w, 0) == 5);
	struct fuse_bufvec f2f_src = FUSE_BUFVEC_INIT(10);
	f2f_src.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	f2f_src.buf[0].fd = fd;
	struct fuse_bufvec f2f_dst = FUSE_BUFVEC_INIT(10);
	f2f_dst.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	f2f_dst.buf[0].fd = out;
	f2f_dst.buf[0].pos = 7;
	CHECK(fuse_buf_copy(&f2f_dst, &f2f_src, 0) == 10);
	char back[32] = {0};
	CHECK(pread(out, back, sizeof(back), 0) == 17);
	CHECK(memcmp(back, "\0\0abcde0123456789", 17) == 0);

	/* A bad descriptor: nothing copied, -EBADF. */
	struct fuse_bufvec bad = FUSE_BUFVEC_INIT(4);
	bad.buf[0].flags = FUSE_BUF_IS_FD;
	bad.buf[0].fd = -1;
	struct fuse_bufvec to3 = FUSE_BUFVEC_INIT(4);
	to3.buf[0].mem = mem;
	CHECK(fuse_buf_copy(&to3, &bad, 0) == -EBADF);
	close(fd);
	close(out);
}

static void test_parse_cmdline(void)
{
	char *argv[] = {"/usr/bin/myfs", "-f", "-s", "-d", "-o", "clone_fd,max_threads=7,allow_other", "/tmp", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(7, argv);
	struct fuse_cmdline_opts opts;
	CHECK(fuse_parse_cmdline(&args, &opts) == 0);
	CHECK(opts.foreground == 1 && opts.singlethread == 1 && opts.debug == 1 && opts.clone_fd == 1);
	CHECK(opts.max_threads == 7 && opts.max_idle_threads == UINT_MAX);
	CHECK(opts.mountpoint && strcmp(opts.mountpoint, "/tmp") == 0);
	CHECK(opts.show_help == 0 && opts.show_version == 0 && opts.nodefault_subtype == 0);
	/* Left for fuse_session_new: -d, allow_other, and the default subtype. */
	int saw_d = 0, saw_allow = 0, saw_subtype = 0;
	for (int i = 0; i < args.argc; i++) {
		saw_d |= strcmp(args.argv[i], "-d") == 0;
		saw_allow |= strstr(args.argv[i], "allow_other") != NULL;
		saw_subtype |= strcmp(args.argv[i], "-osubtype=myfs") == 0;
		CHECK(strstr(args.argv[i], "clone_fd") == NULL && strcmp(args.argv[i], "/tmp") != 0);
	}
	CHECK(saw_d && saw_allow && saw_subtype);
	free(opts.mountpoint);
	fuse_opt_free_args(&args);

	/* -o subtype= given: no default; --help, -V. */
	char *argv2[] = {"myfs", "--help", "-V", "-o", "subtype=x", NULL};
	struct fuse_args args2 = FUSE_ARGS_INIT(5, argv2);
	CHECK(fuse_parse_cmdline(&args2, &opts) == 0);
	CHECK(opts.show_help && opts.show_version && opts.nodefault_subtype && opts.mountpoint == NULL);
	for (int i = 0; i < args2.argc; i++)
		CHECK(strcmp(args2.argv[i], "-osubtype=myfs") != 0);
	fuse_opt_free_args(&args2);

	/* Two mount points, a bad one. */
	char *argv3[] = {"myfs", "/tmp", "/var", NULL};
	struct fuse_args args3 = FUSE_ARGS_INIT(3, argv3);
	CHECK(fuse_parse_cmdline(&args3, &opts) == -1);
	free(opts.mountpoint);
	fuse_opt_free_args(&args3);
	char *argv4[] = {"myfs", "/no/such/dir/here", NULL};
	struct fuse_args args4 = FUSE_ARGS_INIT(2, argv4);
	CHECK(fuse_parse_cmdline(&args4, &opts) == -1);
	fuse_opt_free_args(&args4);

	/* The 3.0 layout ends before max_threads: it must not be written. */
	struct {
		struct fuse_cmdline_opts opts;
	} wrap;
	memset(&wrap, 0xab, sizeof(wrap));
	char *argv5[] = {"myfs", "-f", NULL};
	struct fuse_args args5 = FUSE_ARGS_INIT(2, argv5);
	CHECK(fuse_parse_cmdline_30(&args5, &wrap.opts) == 0);
	CHECK(wrap.opts.foreground == 1 && wrap.opts.max_idle_threads == UINT_MAX);
	CHECK(wrap.opts.max_threads == 0xabababab);
	fuse_opt_free_args(&args5);
}

static void test_conn_opts(void)
{
	char *argv[] = {"myfs", "-o", "max_write=65536,writeback_cache,no_remote_lock,readdirplus=no,other", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fuse_conn_info_opts *co = fuse_parse_conn_info_opts(&args);
	CHECK(co != NULL);
	CHECK(args.argc == 3 && strcmp(args.argv[1], "-o") == 0 && strcmp(args.argv[2], "other") == 0);
	struct fuse_conn_info conn;
	memset(&conn, 0, sizeof(conn));
	conn.capable = FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_READDIRPLUS;
	conn.want = FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_READDIRPLUS;
	fuse_apply_conn_info_opts(co, &conn);
	CHECK(conn.want == FUSE_CAP_WRITEBACK_CACHE);
	CHECK(conn.max_write == 65536);
	free(co);
	fuse_opt_free_args(&args);
}

static void test_session_new(void)
{
	struct fuse_lowlevel_ops ops;
	memset(&ops, 0, sizeof(ops));
	char *good[] = {"myfs", "-o", "allow_other,default_permissions,fsname=x,subtype=y,noatime,io_uring,auto_unmount", "-d", NULL};
	struct fuse_args a = FUSE_ARGS_INIT(4, good);
	struct fuse_session *se = fuse_session_new(&a, &ops, sizeof(ops), NULL);
	CHECK(se != NULL);
	CHECK(fuse_session_exited(se) == 0);
	fuse_session_exit(se);
	CHECK(fuse_session_exited(se) == 1);
	fuse_session_reset(se);
	CHECK(fuse_session_exited(se) == 0);
	CHECK(fuse_session_fd(se) == -1);
	CHECK(fuse_lowlevel_notify_inval_entry(se, 1, "x", 1) == -ENOTCONN);
	fuse_session_destroy(se);

	char *bad[] = {"myfs", "-o", "no_such_option", NULL};
	struct fuse_args b = FUSE_ARGS_INIT(3, bad);
	CHECK(fuse_session_new(&b, &ops, sizeof(ops), NULL) == NULL);
	char *stray[] = {"myfs", "/tmp", NULL};
	struct fuse_args c = FUSE_ARGS_INIT(2, stray);
	CHECK(fuse_session_new(&c, &ops, sizeof(ops), NULL) == NULL);
	/* A shorter operations table (an older program) is accepted. */
	struct fuse_args d = FUSE_ARGS_INIT(1, good);
	se = fuse_session_new(&d, &ops, offsetof(struct fuse_lowlevel_ops, copy_file_range), NULL);
	CHECK(se != NULL);
	fuse_session_destroy(se);
}

static void test_direntry(void)
{
	struct stat st;
	memset(&st, 0, sizeof(st));
	st.st_ino = 42;
	st.st_mode = S_IFREG;
	/* 24 bytes of header, the name, padded to 8. */
	CHECK(fuse_add_direntry(NULL, NULL, 0, "abc", &st, 1) == 32);
	char buf[64];
	CHECK(fuse_add_direntry(NULL, buf, 16, "abc", &st, 1) == 32); /* does not fit: size only */
	CHECK(fuse_add_direntry(NULL, buf, sizeof(buf), "abcdefgh", &st, 7) == 32);
	uint64_t ino, off;
	memcpy(&ino, buf, 8);
	memcpy(&off, buf + 8, 8);
	CHECK(ino == 42 && off == 7);
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.ino = 42;
	e.attr = st;
	/* 128 bytes of entry, 24 of header, the name, padded to 8. */
	CHECK(fuse_add_direntry_plus(NULL, NULL, 0, "abc", &e, 1) == 160);
}

static void test_loop_config(void)
{
	struct fuse_loop_config *c = fuse_loop_cfg_create();
	CHECK(c != NULL);
	fuse_loop_cfg_set_max_threads(c, 3);
	fuse_loop_cfg_set_idle_threads(c, 2);
	fuse_loop_cfg_set_clone_fd(c, 1);
	struct fuse_loop_config_v1 v1 = {0, 5};
	fuse_loop_cfg_convert(c, &v1);
	fuse_loop_cfg_destroy(c);
	CHECK(fuse_version() == 314);
	CHECK(strncmp(fuse_pkgversion(), "3.14", 4) == 0);
}

int main(void)
{
	test_buf_copy();
	test_parse_cmdline();
	test_conn_opts();
	test_session_new();
	test_direntry();
	test_loop_config();
	if (failures == 0)
		printf("all checks passed\n");
	return failures ? 1 : 0;
}
