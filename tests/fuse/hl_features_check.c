/* Drives a mounted hl_features_fs through real system calls:
 *   hl_features_check MOUNTPOINT
 * Prints one line per failed check; exits 1 if any failed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hl_features.h"

static int failures;
#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			printf("FAIL %s:%d: %s (errno %s)\n", __FILE__, __LINE__, #cond, \
			       strerror(errno));                                            \
			failures++;                                                         \
		}                                                                           \
	} while (0)

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int ctl_fd;
static void *poller(void *arg)
{
	struct pollfd p = { ctl_fd, POLLIN, 0 };
	int n = poll(&p, 1, 10000);
	*(int *) arg = n == 1 && (p.revents & POLLIN);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2 || chdir(argv[1]) != 0) {
		fprintf(stderr, "usage: %s MOUNTPOINT\n", argv[0]);
		return 2;
	}

	/* The listing: every entry once, across several READDIR requests. */
	DIR *d = opendir(".");
	CHECK(d != NULL);
	int count = 0, dots = 0, dnames = 0;
	long mark = -1;
	char after_mark[256] = "";
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		count++;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) dots++;
		if (e->d_name[0] == 'd' && strlen(e->d_name) == 4) dnames++;
		if (count == 100) mark = telldir(d);
		else if (count == 101) snprintf(after_mark, sizeof(after_mark), "%s", e->d_name);
	}
	CHECK(dots == 2);
	CHECK(dnames == HL_DIR_ENTRIES);
	CHECK(count >= 4 + HL_DIR_ENTRIES);
	/* seekdir back to a cookie gives the same entry again. */
	if (d && mark >= 0) {
		seekdir(d, mark);
		e = readdir(d);
		CHECK(e != NULL && strcmp(e->d_name, after_mark) == 0);
	}
	if (d) closedir(d);
	struct stat st;
	CHECK(stat("d150", &st) == 0 && S_ISREG(st.st_mode));
	CHECK(stat("d200", &st) != 0 && errno == ENOENT);

	/* fuse_get_context(): the caller, and init()'s private data. */
	CHECK(stat("whoami", &st) == 0);
	CHECK(st.st_uid == getuid() && st.st_gid == getgid());
	CHECK(st.st_size == 1);

	/* ioctl. */
	ctl_fd = open("ctl", O_RDWR);
	CHECK(ctl_fd >= 0);
	int v = 0;
	CHECK(ioctl(ctl_fd, HL_GET, &v) == 0 && v == 42);
	v = 7;
	CHECK(ioctl(ctl_fd, HL_SET, &v) == 0);
	v = 0;
	CHECK(ioctl(ctl_fd, HL_STORED, &v) == 0 && v == 7);
	CHECK(ioctl(ctl_fd, _IO('Z', 9)) < 0 && errno == EINVAL);
	CHECK(ioctl(ctl_fd, HL_INVALIDATE) == 100);

	/* poll: not ready, then woken by fuse_notify_poll from another request. */
	struct pollfd p = { ctl_fd, POLLIN, 0 };
	CHECK(poll(&p, 1, 0) == 0);
	int woken = 0;
	pthread_t t;
	pthread_create(&t, NULL, poller, &woken);
	usleep(300 * 1000);
	double start = now();
	CHECK(ioctl(ctl_fd, HL_READY) == 7);
	pthread_join(t, NULL);
	CHECK(woken);
	CHECK(now() - start < 5);

	/* POSIX locks reach lock(); flock() reaches flock(). */
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100 };
	CHECK(fcntl(ctl_fd, F_GETLK, &fl) == 0);
	CHECK(fl.l_type == F_WRLCK && fl.l_start == 10 && fl.l_len == 10);
	fl.l_type = F_WRLCK;
	CHECK(fcntl(ctl_fd, F_SETLK, &fl) == 0);
	CHECK(flock(ctl_fd, LOCK_EX) == 0);
	CHECK(flock(ctl_fd, LOCK_UN) == 0);
	CHECK(stat("ctl", &st) == 0 && st.st_size >= 2);
	close(ctl_fd);

	/* No create(): a new file comes from mknod() and open(). */
	int fd = open("made1", O_CREAT | O_WRONLY | O_EXCL, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, "abc", 3) == 3);
	close(fd);
	char buf[8] = "";
	fd = open("made1", O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, sizeof(buf)) == 3 && memcmp(buf, "abc", 3) == 0);
	if (fd >= 0) close(fd);
	CHECK(stat("made1", &st) == 0 && st.st_size == 3);
	CHECK(open("made1", O_CREAT | O_WRONLY | O_EXCL, 0644) < 0 && errno == EEXIST);

	if (failures) printf("%d check(s) failed\n", failures);
	else printf("all checks passed\n");
	return failures ? 1 : 0;
}
