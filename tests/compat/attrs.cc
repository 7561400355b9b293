// Attributes: chmod/chown (with set-group-ID directories and sticky bits),
// timestamps, access(2), statfs, and special files made with mknod.
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>

#include "compat.h"

using namespace compat;

namespace {

bool needs_root() {
  if (is_root()) return true;
  skip("needs root");
  return false;
}

struct timespec now_real() {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

// Sets atime and mtime far in the past so that any update is visible.
void age(const char* path) {
  struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  utimensat(AT_FDCWD, path, old, AT_SYMLINK_NOFOLLOW);
}

}  // namespace

GROUP("chmod.basic") {
  put("f", "x", 0644);
  CHECK_OK(chmod("f", 0600));
  CHECK_EQ(perms("f"), 0600u);
  CHECK(S_ISREG(lst("f").st_mode));
  int fd = CHECK_OK(open("f", O_RDONLY));
  CHECK_OK(fchmod(fd, 0750));
  CHECK_EQ(fst(fd).st_mode & 07777, 0750u);
  close(fd);
  CHECK_OK(chmod("f", 07777));
  CHECK_EQ(perms("f"), 07777u);  // root keeps set-ID bits
  CHECK_OK(chmod("f", 0));
  CHECK_EQ(perms("f"), 0u);
  CHECK_OK(fchmodat(AT_FDCWD, "f", 0644, 0));
  CHECK_EQ(perms("f"), 0644u);
  CHECK_OK(mkdir("d", 0755));
  CHECK_OK(chmod("d", 0700));
  CHECK_EQ(perms("d"), 0700u);
  CHECK(S_ISDIR(lst("d").st_mode));
  CHECK_ERRNO(chmod("missing", 0644), ENOENT);
  CHECK_ERRNO(chmod("f/x", 0644), ENOTDIR);
  // Symlinks have no mode of their own on Linux.
  CHECK_OK(symlink("f", "l"));
  CHECK_ERRNO(fchmodat(AT_FDCWD, "l", 0600, AT_SYMLINK_NOFOLLOW), EOPNOTSUPP);
  CHECK_EQ(perms("f"), 0644u);
}

GROUP("chown.root") {
  if (!needs_root()) return;
  put("f", "x", 0755);
  CHECK_OK(chown("f", 1234, 5678));
  CHECK_EQ(st("f").st_uid, 1234u);
  CHECK_EQ(st("f").st_gid, 5678u);
  CHECK_OK(chown("f", -1, 42));  // -1 leaves the owner alone
  CHECK_EQ(st("f").st_uid, 1234u);
  CHECK_EQ(st("f").st_gid, 42u);
  CHECK_OK(chown("f", 99, -1));
  CHECK_EQ(st("f").st_uid, 99u);
  CHECK_EQ(st("f").st_gid, 42u);
  int fd = CHECK_OK(open("f", O_RDONLY));
  CHECK_OK(fchown(fd, 0, 0));
  CHECK_EQ(fst(fd).st_uid, 0u);
  close(fd);
  // A change of owner clears set-user-ID, and set-group-ID on group-executable files.
  CHECK_OK(chmod("f", 06755));
  CHECK_OK(chown("f", 1000, 1000));
  CHECK_EQ(perms("f"), 0755u);
  // Without group execute, S_ISGID means mandatory locking and stays.
  put("g", "x", 0644);
  CHECK_OK(chmod("g", 02644));
  CHECK_OK(chown("g", 1000, 1000));
  CHECK_EQ(perms("g"), 02644u);
  // Directories keep their set-ID bits.
  CHECK_OK(mkdir("d", 0755));
  CHECK_OK(chmod("d", 02755));
  CHECK_OK(chown("d", 1000, 1000));
  CHECK_EQ(perms("d"), 02755u);
  CHECK_OK(chown("d", 0, 0));
  CHECK_ERRNO(chown("missing", 0, 0), ENOENT);
}

GROUP("chmod.setgid_dir") {
  if (!needs_root()) return;
  CHECK_OK(mkdir("sg", 0775));
  CHECK_OK(chown("sg", 0, kGroupOther));
  CHECK_OK(chmod("sg", 02775));
  CHECK_EQ(perms("sg"), 02775u);
  // New entries take the directory's group, not the creator's.
  put("sg/f", "x", 0644);
  CHECK_EQ(st("sg/f").st_gid, kGroupOther);
  CHECK_EQ(perms("sg/f") & S_ISGID, 0u);
  CHECK_OK(mkdir("sg/sub", 0755));
  CHECK_EQ(st("sg/sub").st_gid, kGroupOther);
  CHECK((perms("sg/sub") & S_ISGID) != 0);  // and subdirectories inherit the bit
  CHECK_OK(mkdir("sg/sub/deeper", 0700));
  CHECK_EQ(st("sg/sub/deeper").st_gid, kGroupOther);
  CHECK((perms("sg/sub/deeper") & S_ISGID) != 0);
  CHECK_OK(symlink("f", "sg/l"));
  CHECK_EQ(lst("sg/l").st_gid, kGroupOther);
  CHECK_OK(mkfifo("sg/fifo", 0644));
  CHECK_EQ(lst("sg/fifo").st_gid, kGroupOther);
  // Outside the directory: the creator's group again.
  put("plain", "x");
  CHECK_EQ(st("plain").st_gid, getegid());
  // Moving a file in does not change its group.
  CHECK_OK(rename("plain", "sg/plain"));
  CHECK_EQ(st("sg/plain").st_gid, getegid());
  // Clearing the bit stops the inheritance.
  CHECK_OK(chmod("sg", 0775));
  put("sg/after", "x");
  CHECK_EQ(st("sg/after").st_gid, getegid());
}

GROUP("chmod.sticky") {
  CHECK_OK(mkdir("t", 0777));
  CHECK_OK(chmod("t", 01777));
  CHECK_EQ(perms("t"), 01777u);
  CHECK((st("t").st_mode & S_ISVTX) != 0);
  put("t/f", "x");
  CHECK_OK(unlink("t/f"));  // the owner (and root) may always delete
  CHECK_OK(chmod("t", 0777));
  CHECK_EQ(perms("t"), 0777u);
  put("file", "x");
  CHECK_OK(chmod("file", 01644));
  CHECK_EQ(perms("file"), 01644u);
}

GROUP("times.set") {
  put("f", "x");
  // Nanoseconds round-trip exactly.
  struct timespec t[2] = {{1234567890, 123456789}, {1300000000, 987654321}};
  CHECK_OK(utimensat(AT_FDCWD, "f", t, 0));
  struct stat s = st("f");
  CHECK_EQ(s.st_atim.tv_sec, 1234567890);
  CHECK_EQ(s.st_atim.tv_nsec, 123456789);
  CHECK_EQ(s.st_mtim.tv_sec, 1300000000);
  CHECK_EQ(s.st_mtim.tv_nsec, 987654321);
  // UTIME_OMIT leaves one alone.
  struct timespec omit_a[2] = {{0, UTIME_OMIT}, {1400000000, 5}};
  CHECK_OK(utimensat(AT_FDCWD, "f", omit_a, 0));
  CHECK_EQ(st("f").st_atim.tv_sec, 1234567890);
  CHECK_EQ(st("f").st_atim.tv_nsec, 123456789);
  CHECK_EQ(st("f").st_mtim.tv_sec, 1400000000);
  CHECK_EQ(st("f").st_mtim.tv_nsec, 5);
  struct timespec omit_m[2] = {{1450000000, 7}, {0, UTIME_OMIT}};
  CHECK_OK(utimensat(AT_FDCWD, "f", omit_m, 0));
  CHECK_EQ(st("f").st_atim.tv_sec, 1450000000);
  CHECK_EQ(st("f").st_mtim.tv_sec, 1400000000);
  // UTIME_NOW, and a null pointer, mean now.
  struct timespec before = now_real();
  before.tv_sec -= 2;
  struct timespec now_m[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  CHECK_OK(utimensat(AT_FDCWD, "f", now_m, 0));
  CHECK(newer(st("f").st_mtim, before));
  CHECK_EQ(st("f").st_atim.tv_sec, 1450000000);
  CHECK_OK(utimensat(AT_FDCWD, "f", t, 0));
  CHECK_OK(utimensat(AT_FDCWD, "f", nullptr, 0));
  CHECK(newer(st("f").st_atim, before));
  CHECK(newer(st("f").st_mtim, before));
  // futimens on a descriptor; far future and whole seconds.
  int fd = CHECK_OK(open("f", O_RDONLY));
  struct timespec future[2] = {{4102444800, 0}, {4102444801, 999999999}};  // 2100-01-01
  CHECK_OK(futimens(fd, future));
  CHECK_EQ(fst(fd).st_atim.tv_sec, 4102444800);
  CHECK_EQ(fst(fd).st_mtim.tv_sec, 4102444801);
  CHECK_EQ(fst(fd).st_mtim.tv_nsec, 999999999);
  close(fd);
  // Directories too.
  CHECK_OK(mkdir("d", 0755));
  CHECK_OK(utimensat(AT_FDCWD, "d", t, 0));
  CHECK_EQ(st("d").st_mtim.tv_nsec, 987654321);
  // Invalid nanoseconds.
  struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
  CHECK_ERRNO(utimensat(AT_FDCWD, "f", bad, 0), EINVAL);
  CHECK_ERRNO(utimensat(AT_FDCWD, "missing", t, 0), ENOENT);
}

GROUP("times.ctime") {
  // ctime cannot be set; every change of the inode moves it forward.
  put("f", "x");
  struct timespec c = st("f").st_ctim;
  pause_for_clock();
  struct timespec t[2] = {{1000000000, 0}, {1000000000, 0}};
  CHECK_OK(utimensat(AT_FDCWD, "f", t, 0));
  CHECK(newer(st("f").st_ctim, c));
  c = st("f").st_ctim;
  pause_for_clock();
  CHECK_OK(chmod("f", 0600));
  CHECK(newer(st("f").st_ctim, c));
  CHECK_EQ(st("f").st_mtim.tv_sec, 1000000000);  // chmod does not touch mtime
  c = st("f").st_ctim;
  pause_for_clock();
  CHECK_OK(link("f", "f2"));
  CHECK(newer(st("f").st_ctim, c));
  c = st("f").st_ctim;
  pause_for_clock();
  CHECK_OK(rename("f2", "f3"));
  CHECK(newer(st("f").st_ctim, c));
  c = st("f").st_ctim;
  pause_for_clock();
  CHECK_OK(unlink("f3"));
  CHECK(newer(st("f").st_ctim, c));
  if (is_root()) {
    c = st("f").st_ctim;
    pause_for_clock();
    CHECK_OK(chown("f", 10, 10));
    CHECK(newer(st("f").st_ctim, c));
  }
  if (setxattr("f", "user.t", "v", 1, 0) == 0) {
    c = st("f").st_ctim;
    pause_for_clock();
    CHECK_OK(setxattr("f", "user.t", "w", 1, 0));
    CHECK(newer(st("f").st_ctim, c));
  }
  CHECK_EQ(st("f").st_mtim.tv_sec, 1000000000);
}

GROUP("times.write_truncate") {
  put("f", "0123456789");
  int fd = CHECK_OK(open("f", O_RDWR));
  age("f");
  struct timespec c = st("f").st_ctim;
  pause_for_clock();
  CHECK_EQ(pwrite(fd, "x", 1, 3), 1);
  CHECK(st("f").st_mtim.tv_sec != 1000000000);
  CHECK(newer(st("f").st_ctim, c));
  CHECK_EQ(st("f").st_atim.tv_sec, 1000000000);  // writing is not an access
  age("f");
  c = st("f").st_ctim;
  pause_for_clock();
  CHECK_OK(ftruncate(fd, 4));
  CHECK(st("f").st_mtim.tv_sec != 1000000000);
  CHECK(newer(st("f").st_ctim, c));
  age("f");
  c = st("f").st_ctim;
  pause_for_clock();
  CHECK_OK(truncate("f", 100));
  CHECK(st("f").st_mtim.tv_sec != 1000000000);
  CHECK(newer(st("f").st_ctim, c));
  close(fd);
  // Through a write-only O_TRUNC open.
  age("f");
  CHECK_OK(closed(open("f", O_WRONLY | O_TRUNC)));
  CHECK(st("f").st_mtim.tv_sec != 1000000000);
  // The mtime after a write is "now", not some stale value.
  struct timespec before = now_real();
  before.tv_sec -= 2;
  put("g", "y");
  CHECK(newer(st("g").st_mtim, before));
}

GROUP("times.directory") {
  CHECK_OK(mkdir("d", 0755));
  CHECK_OK(mkdir("e", 0755));
  auto touched = [](const char* path) { return st(path).st_mtim.tv_sec != 1000000000; };
  age("d");
  put("d/f", "x");
  CHECK(touched("d"));  // create
  age("d");
  CHECK_OK(link("d/f", "d/g"));
  CHECK(touched("d"));  // link
  age("d");
  age("e");
  CHECK_OK(rename("d/g", "e/g"));
  CHECK(touched("d"));  // rename: the source directory
  CHECK(touched("e"));  // and the target directory
  age("e");
  CHECK_OK(unlink("e/g"));
  CHECK(touched("e"));  // unlink
  age("d");
  CHECK_OK(mkdir("d/sub", 0755));
  CHECK(touched("d"));  // mkdir
  age("d");
  CHECK_OK(rmdir("d/sub"));
  CHECK(touched("d"));  // rmdir
  age("d");
  CHECK_OK(symlink("x", "d/l"));
  CHECK(touched("d"));  // symlink
  // Writing a file inside does not change the directory.
  age("d");
  int fd = CHECK_OK(open("d/f", O_WRONLY));
  CHECK_EQ(write(fd, "more", 4), 4);
  close(fd);
  CHECK(!touched("d"));
}

GROUP("access.basic") {
  put("f", "x", 0644);
  put("x", "#!/bin/sh\n", 0744);
  put("none", "x", 0);
  CHECK_OK(mkdir("d", 0));
  CHECK_OK(access("f", F_OK));
  CHECK_OK(access("f", R_OK | W_OK));
  CHECK_ERRNO(access("missing", F_OK), ENOENT);
  CHECK_ERRNO(access("f/x", F_OK), ENOTDIR);
  CHECK_OK(access("x", X_OK));
  if (is_root()) {
    // Root reads and writes anything, but executes only what has an x bit.
    CHECK_OK(access("none", R_OK | W_OK));
    CHECK_ERRNO(access("f", X_OK), EACCES);
    CHECK_ERRNO(access("none", X_OK), EACCES);
    CHECK_OK(access("d", R_OK | W_OK | X_OK));  // directories are always searchable for root
  }
  CHECK_OK(faccessat(AT_FDCWD, "f", R_OK, AT_EACCESS));
  CHECK_OK(symlink("f", "l"));
  CHECK_OK(access("l", R_OK));
}

GROUP("statfs.basic") {
  struct statvfs v;
  CHECK_OK(statvfs(".", &v));
  CHECK(v.f_bsize > 0);
  CHECK(v.f_frsize > 0);
  CHECK(v.f_blocks > 0);
  CHECK(v.f_bfree <= v.f_blocks);
  CHECK(v.f_bavail <= v.f_bfree);
  CHECK(v.f_ffree <= v.f_files);
  CHECK(v.f_favail <= v.f_files);
  CHECK_EQ(v.f_namemax, 255u);
  int fd = CHECK_OK(open(".", O_RDONLY | O_DIRECTORY));
  struct statvfs fv;
  CHECK_OK(fstatvfs(fd, &fv));
  CHECK_EQ(fv.f_blocks, v.f_blocks);
  CHECK_EQ(fv.f_fsid, v.f_fsid);
  close(fd);
  struct statfs sf;
  CHECK_OK(statfs(".", &sf));
  CHECK(sf.f_type != 0);
  CHECK_EQ(static_cast<unsigned long>(sf.f_namelen), 255u);
  // All files of one file system share one st_dev.
  put("f", "x");
  CHECK_OK(mkdir("d", 0755));
  CHECK_EQ(st("f").st_dev, st(".").st_dev);
  CHECK_EQ(st("d").st_dev, st(".").st_dev);
  // Space is reported in the units of f_frsize; a file's blocks in 512-byte units.
  put("g", pattern(1 << 20, 3));
  CHECK(st("g").st_blocks * 512 >= (1 << 20));
  CHECK(st("g").st_blksize > 0);
}

GROUP("mknod.fifo") {
  CHECK_OK(mkfifo("p", 0640));
  struct stat s = lst("p");
  CHECK(S_ISFIFO(s.st_mode));
  CHECK_EQ(s.st_mode & 07777, 0640u);
  CHECK_EQ(s.st_size, 0);
  CHECK_OK(mknod("q", S_IFIFO | 0600, 0));
  CHECK(S_ISFIFO(lst("q").st_mode));
  CHECK_ERRNO(mkfifo("p", 0640), EEXIST);
  // No reader yet: a non-blocking writer gets ENXIO.
  CHECK_ERRNO(open("p", O_WRONLY | O_NONBLOCK), ENXIO);
  int r = CHECK_OK(open("p", O_RDONLY | O_NONBLOCK));
  int w = CHECK_OK(open("p", O_WRONLY | O_NONBLOCK));
  CHECK_EQ(write(w, "through the fifo", 16), 16);
  char buf[32];
  CHECK_EQ(read(r, buf, sizeof(buf)), 16);
  CHECK_EQ(std::string(buf, 16), "through the fifo");
  CHECK_ERRNO(read(r, buf, sizeof(buf)), EAGAIN);
  CHECK_ERRNO(lseek(r, 0, SEEK_SET), ESPIPE);
  close(w);
  close(r);
  // A fifo renames and links like any other file.
  CHECK_OK(rename("q", "q2"));
  CHECK(S_ISFIFO(lst("q2").st_mode));
  CHECK_OK(link("q2", "q3"));
  CHECK_EQ(lst("q3").st_nlink, 2u);
  CHECK_OK(unlink("q2"));
  CHECK_OK(unlink("q3"));
  CHECK(!exists("q3"));
}

GROUP("mknod.socket") {
  CHECK_OK(mknod("s", S_IFSOCK | 0644, 0));
  CHECK(S_ISSOCK(lst("s").st_mode));
  CHECK_EQ(perms("s"), 0644u);
  // A unix socket bound at a path in this file system works end to end.
  int srv = CHECK_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "bound");  // relative to the working directory
  CHECK_OK(bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
  CHECK(S_ISSOCK(lst("bound").st_mode));
  CHECK_OK(listen(srv, 1));
  int cli = CHECK_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  CHECK_OK(connect(cli, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
  int acc = CHECK_OK(accept(srv, nullptr, nullptr));
  CHECK_EQ(write(cli, "ping", 4), 4);
  char buf[8];
  CHECK_EQ(read(acc, buf, sizeof(buf)), 4);
  close(acc);
  close(cli);
  close(srv);
  // Binding to an existing path fails.
  int again = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK_ERRNO(bind(again, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), EADDRINUSE);
  close(again);
  CHECK_OK(unlink("bound"));
  // A socket file made by mknod has no listener.
  sockaddr_un s_addr{};
  s_addr.sun_family = AF_UNIX;
  std::snprintf(s_addr.sun_path, sizeof(s_addr.sun_path), "s");
  int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK_ERRNO(connect(c2, reinterpret_cast<sockaddr*>(&s_addr), sizeof(s_addr)), ECONNREFUSED);
  close(c2);
}

GROUP("mknod.devices") {
  if (!needs_root()) return;
  CHECK_OK(mknod("null", S_IFCHR | 0666, makedev(1, 3)));
  struct stat s = lst("null");
  CHECK(S_ISCHR(s.st_mode));
  CHECK_EQ(major(s.st_rdev), 1u);
  CHECK_EQ(minor(s.st_rdev), 3u);
  CHECK_EQ(perms("null"), 0666u);
  struct statvfs v;
  statvfs(".", &v);
  if (v.f_flag & ST_NODEV) {
    CHECK_ERRNO(open("null", O_WRONLY), EACCES);  // mounted nodev
  } else {
    int fd = CHECK_OK(open("null", O_RDWR));
    CHECK_EQ(write(fd, "discarded", 9), 9);
    char c;
    CHECK_EQ(read(fd, &c, 1), 0);
    close(fd);
  }
  CHECK_OK(mknod("blk", S_IFBLK | 0600, makedev(7, 200)));
  CHECK(S_ISBLK(lst("blk").st_mode));
  CHECK_EQ(lst("blk").st_rdev, makedev(7, 200));
  // Large device numbers survive.
  CHECK_OK(mknod("big", S_IFCHR | 0600, makedev(4000, 1000000)));
  CHECK_EQ(major(lst("big").st_rdev), 4000u);
  CHECK_EQ(minor(lst("big").st_rdev), 1000000u);
  CHECK_ERRNO(mknod("null", S_IFCHR | 0666, makedev(1, 3)), EEXIST);
  CHECK_OK(rename("null", "null2"));
  CHECK_EQ(lst("null2").st_rdev, makedev(1, 3));
}

GROUP("mknod.regular") {
  CHECK_OK(mknod("r", S_IFREG | 0640, 0));
  CHECK(S_ISREG(lst("r").st_mode));
  CHECK_EQ(perms("r"), 0640u);
  CHECK_EQ(lst("r").st_size, 0);
  CHECK_OK(mknod("r0", 0640, 0));  // type 0 means a regular file
  CHECK(S_ISREG(lst("r0").st_mode));
  CHECK_ERRNO(mknod("dir", S_IFDIR | 0755, 0), EPERM);
  CHECK(!exists("dir"));
}

namespace {

// Reads all of `path` after dropping its cached pages, so that on FUSE the
// read reaches the file system: reads served from the page cache never do,
// and so cannot update atime there (README, memfs).
void read_uncached(const char* path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return;
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  char buf[4096];
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
  close(fd);
}

bool relatime_mount() {
  struct statvfs sv;
  if (statvfs(".", &sv) != 0 || !(sv.f_flag & ST_RELATIME) || (sv.f_flag & ST_NOATIME)) {
    skip("not a relatime mount");
    return false;
  }
  return true;
}

}  // namespace

// relatime (the default): a read updates atime when atime is not newer than
// mtime or ctime, so the first read after a write shows; later reads do not.
GROUP("atime.relatime") {
  if (!relatime_mount()) return;
  put("f", pattern(8192, 3), 0644);
  age("f");  // atime == mtime: the next read is due
  pause_for_clock();
  read_uncached("f");
  struct stat first = st("f");
  CHECK(first.st_atime > 1000000000);
  CHECK(newer(first.st_atim, first.st_ctim));
  pause_for_clock();
  read_uncached("f");
  struct stat second = st("f");
  CHECK_EQ(second.st_atim.tv_sec, first.st_atim.tv_sec);
  CHECK_EQ(second.st_atim.tv_nsec, first.st_atim.tv_nsec);
  // A write makes the next read due again.
  pause_for_clock();
  int fd = CHECK_OK(open("f", O_WRONLY));
  CHECK(write_all(fd, "new", 3, 0));
  close(fd);
  pause_for_clock();
  read_uncached("f");
  CHECK(newer(st("f").st_atim, st("f").st_mtim));
}

// Listing a directory is an access of it: under relatime the first listing
// after a change updates its atime.
GROUP("atime.directory") {
  if (!relatime_mount()) return;
  CHECK_OK(mkdir("d", 0755));
  put("d/x", "x", 0644);
  age("d");
  pause_for_clock();
  CHECK_EQ(list_dir("d").size(), 1u);
  CHECK(st("d").st_atime > 1000000000);
}
