// Hard links, symbolic links, unlink (including unlinked-but-open files).
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/xattr.h>

#include "compat.h"

using namespace compat;

GROUP("link.basic") {
  put("a", "shared");
  CHECK_OK(link("a", "b"));
  struct stat sa = st("a"), sb = st("b");
  CHECK_EQ(sa.st_ino, sb.st_ino);
  CHECK_EQ(sa.st_dev, sb.st_dev);
  CHECK_EQ(sa.st_nlink, 2u);
  CHECK_EQ(sb.st_nlink, 2u);
  CHECK_OK(mkdir("d", 0755));
  CHECK_OK(link("b", "d/c"));  // across directories
  CHECK_EQ(st("a").st_nlink, 3u);
  CHECK_EQ(st("d/c").st_ino, sa.st_ino);
  CHECK_EQ(get("d/c"), "shared");
  // The link count shows through an open descriptor too.
  int fd = CHECK_OK(open("a", O_RDONLY));
  CHECK_EQ(fst(fd).st_nlink, 3u);
  close(fd);
}

GROUP("link.errors") {
  put("a", "x");
  CHECK_OK(mkdir("d", 0755));
  put("exists", "y");
  CHECK_ERRNO(link("a", "exists"), EEXIST);
  CHECK_EQ(get("exists"), "y");
  CHECK_ERRNO(link("a", "a"), EEXIST);
  CHECK_ERRNO(link("d", "dlink"), EPERM);  // no hard links to directories
  CHECK_ERRNO(link("missing", "m"), ENOENT);
  CHECK_ERRNO(link("a", "missing/m"), ENOENT);
  CHECK_ERRNO(link("a", "a/m"), ENOTDIR);
  CHECK_ERRNO(link("a", "d"), EEXIST);
  CHECK_ERRNO(link("a/", "m"), ENOTDIR);
  CHECK_EQ(st("a").st_nlink, 1u);
}

GROUP("link.symlinks") {
  put("target", "t");
  CHECK_OK(symlink("target", "sym"));
  // linkat without AT_SYMLINK_FOLLOW links the symlink itself.
  CHECK_OK(linkat(AT_FDCWD, "sym", AT_FDCWD, "sym2", 0));
  CHECK(S_ISLNK(lst("sym2").st_mode));
  CHECK_EQ(lst("sym2").st_ino, lst("sym").st_ino);
  CHECK_EQ(lst("sym").st_nlink, 2u);
  CHECK_EQ(st("target").st_nlink, 1u);
  // With AT_SYMLINK_FOLLOW it links the target.
  CHECK_OK(linkat(AT_FDCWD, "sym", AT_FDCWD, "hard", AT_SYMLINK_FOLLOW));
  CHECK(S_ISREG(lst("hard").st_mode));
  CHECK_EQ(st("target").st_nlink, 2u);
  CHECK_EQ(lst("hard").st_ino, st("target").st_ino);
}

GROUP("link.shared_data") {
  put("a", "0123456789");
  CHECK_OK(link("a", "b"));
  int fa = CHECK_OK(open("a", O_RDWR));
  int fb = CHECK_OK(open("b", O_RDWR));
  // Data written through one name is read through the other, both open.
  CHECK_EQ(pwrite(fa, "AB", 2, 0), 2);
  CHECK_EQ(pread_str(fb, 0, 10), "AB23456789");
  CHECK_EQ(pwrite(fb, "xyz", 3, 10), 3);
  CHECK_EQ(pread_str(fa, 0, 20), "AB23456789xyz");
  CHECK_EQ(fst(fa).st_size, 13);
  CHECK_OK(ftruncate(fb, 4));
  CHECK_EQ(fst(fa).st_size, 4);
  CHECK_EQ(get("a"), "AB23");
  // Attributes are shared as well.
  CHECK_OK(fchmod(fa, 0600));
  CHECK_EQ(perms("b"), 0600u);
  struct timespec t[2] = {{1500000000, 111}, {1600000000, 222}};
  CHECK_OK(futimens(fb, t));
  CHECK_EQ(st("a").st_mtim.tv_sec, 1600000000);
  CHECK_EQ(st("a").st_atim.tv_sec, 1500000000);
  if (is_root()) {
    CHECK_OK(fchown(fa, 1234, 5678));
    CHECK_EQ(st("b").st_uid, 1234u);
    CHECK_EQ(st("b").st_gid, 5678u);
  }
  if (fsetxattr(fa, "user.shared", "v", 1, 0) == 0) {
    char v[4] = {};
    CHECK_EQ(getxattr("b", "user.shared", v, sizeof(v)), 1);
  }
  close(fa);
  close(fb);
}

GROUP("link.nlink") {
  put("f", "data");
  bool ok = true;
  for (int i = 0; i < 10; ++i) ok = ok && link("f", ("l" + std::to_string(i)).c_str()) == 0;
  CHECK(ok);
  CHECK_EQ(st("f").st_nlink, 11u);
  CHECK_EQ(st("l9").st_nlink, 11u);
  for (int i = 0; i < 5; ++i) ok = ok && unlink(("l" + std::to_string(i)).c_str()) == 0;
  CHECK(ok);
  CHECK_EQ(st("l7").st_nlink, 6u);
  CHECK_OK(unlink("f"));  // the original name goes; the data stays
  CHECK_EQ(st("l5").st_nlink, 5u);
  CHECK_EQ(get("l8"), "data");
  CHECK_OK(rename("l5", "f"));  // rename does not change the count
  CHECK_EQ(st("f").st_nlink, 5u);
}

GROUP("link.unlink_one") {
  put("a", "survives");
  CHECK_OK(link("a", "b"));
  int fd = CHECK_OK(open("a", O_RDWR));
  CHECK_OK(unlink("a"));
  CHECK(!exists("a"));
  CHECK_EQ(st("b").st_nlink, 1u);
  CHECK_EQ(fst(fd).st_nlink, 1u);
  CHECK_EQ(write(fd, "S", 1), 1);
  CHECK_EQ(get("b"), "Survives");
  close(fd);
  CHECK_EQ(get("b"), "Survives");
}

GROUP("symlink.basic") {
  put("target", "hello");
  CHECK_OK(symlink("target", "l"));
  struct stat ls = lst("l");
  CHECK(S_ISLNK(ls.st_mode));
  CHECK_EQ(ls.st_size, 6);  // the length of the target
  CHECK_EQ(st("l").st_ino, st("target").st_ino);  // stat follows, lstat does not
  CHECK(ls.st_ino != st("target").st_ino);
  CHECK_EQ(get("l"), "hello");
  char buf[256];
  CHECK_EQ(readlink("l", buf, sizeof(buf)), 6);
  CHECK_EQ(std::string(buf, 6), "target");
  // A short buffer truncates silently, without a terminating NUL.
  std::memset(buf, '#', sizeof(buf));
  CHECK_EQ(readlink("l", buf, 3), 3);
  CHECK_EQ(std::string(buf, 4), "tar#");
  CHECK_ERRNO(readlink("target", buf, sizeof(buf)), EINVAL);
  CHECK_ERRNO(readlink("missing", buf, sizeof(buf)), ENOENT);
  CHECK_ERRNO(symlink("other", "l"), EEXIST);
  CHECK_ERRNO(symlink("other", "target"), EEXIST);
  CHECK_ERRNO(symlink("", "empty"), ENOENT);
  CHECK_ERRNO(symlink("x", "missing/l"), ENOENT);
  // readlinkat on an O_PATH descriptor of the link with an empty path.
  int fd = CHECK_OK(open("l", O_PATH | O_NOFOLLOW));
  CHECK_EQ(readlinkat(fd, "", buf, sizeof(buf)), 6);
  close(fd);
  // Writing through the symlink changes the target.
  int w = CHECK_OK(open("l", O_WRONLY | O_APPEND));
  CHECK_EQ(write(w, "!", 1), 1);
  close(w);
  CHECK_EQ(get("target"), "hello!");
  CHECK_OK(unlink("l"));  // removes the link, not the target
  CHECK(exists("target"));
}

GROUP("symlink.dangling") {
  CHECK_OK(symlink("nowhere", "l"));
  CHECK(S_ISLNK(lst("l").st_mode));
  struct stat s;
  CHECK_ERRNO(stat("l", &s), ENOENT);
  CHECK_ERRNO(open("l", O_RDONLY), ENOENT);
  CHECK_ERRNO(access("l", F_OK), ENOENT);
  CHECK_OK(faccessat(AT_FDCWD, "l", F_OK, AT_SYMLINK_NOFOLLOW));
  CHECK(list_dir(".") == std::vector<std::string>{"l"});
  put("nowhere", "now here");  // the link starts working once the target exists
  CHECK_EQ(get("l"), "now here");
  CHECK_OK(unlink("nowhere"));
  CHECK_ERRNO(stat("l", &s), ENOENT);
}

GROUP("symlink.relative") {
  CHECK_OK(mkdir("d", 0755));
  CHECK_OK(mkdir("d/sub", 0755));
  put("top", "top");
  put("d/mid", "mid");
  // Relative targets resolve from the link's directory, not the caller's.
  CHECK_OK(symlink("../top", "d/up"));
  CHECK_OK(symlink("../mid", "d/sub/up"));
  CHECK_OK(symlink("sub/../mid", "d/down_up"));
  CHECK_OK(symlink("./mid", "d/dot"));
  CHECK_EQ(get("d/up"), "top");
  CHECK_EQ(get("d/sub/up"), "mid");
  CHECK_EQ(get("d/down_up"), "mid");
  CHECK_EQ(get("d/dot"), "mid");
  // Absolute targets.
  CHECK_OK(symlink((group_dir() + "/d/mid").c_str(), "abs"));
  CHECK_EQ(get("abs"), "mid");
  // A symlink to a directory in the middle of a path.
  CHECK_OK(symlink("d/sub", "ls"));
  CHECK_EQ(get("ls/up"), "mid");
  CHECK_EQ(get("ls/../mid"), "mid");  // ".." after a symlink is the target's parent
  CHECK(S_ISDIR(st("ls").st_mode));
  CHECK(S_ISLNK(lst("ls").st_mode));
  CHECK(S_ISDIR(lst("ls/").st_mode));  // a trailing slash follows the link
  char buf[64];
  CHECK_EQ(readlink("d/up", buf, sizeof(buf)), 6);
}

GROUP("symlink.loop") {
  CHECK_OK(symlink("l2", "l1"));
  CHECK_OK(symlink("l1", "l2"));
  CHECK_OK(symlink("self", "self"));
  struct stat s;
  CHECK_ERRNO(stat("l1", &s), ELOOP);
  CHECK_ERRNO(open("self", O_RDONLY), ELOOP);
  CHECK_ERRNO(open("l1/x", O_RDONLY), ELOOP);
  CHECK_ERRNO(open("l1", O_RDWR | O_CREAT, 0644), ELOOP);
  CHECK_OK(lstat("l1", &s));
  // A chain of 40 links is the limit; 41 is too many.
  put("t0", "end");
  bool ok = true;
  for (int i = 1; i <= 41; ++i) ok = ok && symlink(("t" + std::to_string(i - 1)).c_str(), ("t" + std::to_string(i)).c_str()) == 0;
  CHECK(ok);
  CHECK_EQ(get("t40"), "end");
  CHECK_ERRNO(stat("t41", &s), ELOOP);
  put("target", "x");
  CHECK_OK(symlink("target", "good"));
  CHECK_ERRNO(open("good", O_RDONLY | O_NOFOLLOW), ELOOP);
}

GROUP("symlink.long") {
  std::string target(4095, 'x');
  for (size_t i = 100; i < target.size(); i += 101) target[i] = '/';
  CHECK_OK(symlink(target.c_str(), "long"));
  std::string buf(8192, '\0');
  CHECK_EQ(readlink("long", buf.data(), buf.size()), 4095);
  CHECK(buf.compare(0, 4095, target) == 0);
  CHECK_EQ(lst("long").st_size, 4095);
  CHECK_ERRNO(symlink(std::string(4096, 'y').c_str(), "toolong"), ENAMETOOLONG);
  // Unusual bytes in a target are kept as they are.
  const char odd[] = "a b\t\xc3\xa9\\:*?\"<>|";
  CHECK_OK(symlink(odd, "odd"));
  CHECK_EQ(readlink("odd", buf.data(), buf.size()), static_cast<ssize_t>(sizeof(odd) - 1));
  CHECK_EQ(std::string(buf.data(), sizeof(odd) - 1), odd);
}

GROUP("symlink.dir_ops") {
  CHECK_OK(mkdir("d", 0755));
  put("d/f", "x");
  CHECK_OK(symlink("d", "ld"));
  CHECK_ERRNO(rmdir("ld"), ENOTDIR);
  CHECK_ERRNO(unlink("ld/"), ENOTDIR);
  CHECK_ERRNO(mkdir("ld", 0755), EEXIST);
  CHECK(list_dir("ld") == std::vector<std::string>{"f"});
  CHECK_OK(unlink("ld"));
  CHECK(exists("d/f"));
}

GROUP("symlink.attrs") {
  put("target", "x", 0600);
  CHECK_OK(symlink("target", "l"));
  // chmod follows the link.
  CHECK_OK(chmod("l", 0640));
  CHECK_EQ(perms("target"), 0640u);
  CHECK(S_ISLNK(lst("l").st_mode));
  // utimensat with AT_SYMLINK_NOFOLLOW changes the link, not the target.
  struct timespec t[2] = {{1000000001, 5}, {1000000002, 6}};
  CHECK_OK(utimensat(AT_FDCWD, "l", t, AT_SYMLINK_NOFOLLOW));
  CHECK_EQ(lst("l").st_mtim.tv_sec, 1000000002);
  CHECK(st("target").st_mtim.tv_sec != 1000000002);
  if (is_root()) {
    CHECK_OK(lchown("l", 4321, 4322));
    CHECK_EQ(lst("l").st_uid, 4321u);
    CHECK_EQ(st("target").st_uid, 0u);
    CHECK_OK(chown("l", 777, 778));
    CHECK_EQ(st("target").st_uid, 777u);
    CHECK_EQ(lst("l").st_uid, 4321u);
  }
}

GROUP("unlink.basic") {
  put("f", "x");
  CHECK_OK(mkdir("d", 0755));
  struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  CHECK_OK(utimensat(AT_FDCWD, ".", old, 0));
  CHECK_OK(unlink("f"));
  CHECK(!exists("f"));
  CHECK(st(".").st_mtim.tv_sec != 1000000000);
  CHECK_ERRNO(unlink("f"), ENOENT);
  CHECK_ERRNO(unlink("missing/f"), ENOENT);
  CHECK_ERRNO(unlink("d"), EISDIR);
  CHECK_ERRNO(unlink(""), ENOENT);
  put("g", "x");
  CHECK_ERRNO(unlink("g/"), ENOTDIR);
  CHECK_ERRNO(unlink("g/x"), ENOTDIR);
  CHECK(exists("g"));
  CHECK_OK(unlinkat(AT_FDCWD, "d", AT_REMOVEDIR));
  CHECK(!exists("d"));
  // The name can be reused at once, for a new file.
  put("g2", "first");
  CHECK_OK(unlink("g2"));
  put("g2", "second");
  CHECK_EQ(get("g2"), "second");
}

GROUP("unlink.open_file") {
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  CHECK_EQ(write(fd, "still here", 10), 10);
  int other = CHECK_OK(open("f", O_RDONLY));
  CHECK_OK(unlink("f"));
  CHECK(!exists("f"));
  CHECK(list_dir(".").empty());
  CHECK_EQ(fst(fd).st_nlink, 0u);
  CHECK_EQ(pread_str(fd, 0, 100), "still here");
  CHECK_EQ(pwrite(fd, " and growing", 12, 10), 12);
  CHECK_EQ(pread_str(other, 0, 100), "still here and growing");
  CHECK_EQ(fst(other).st_size, 22);
  CHECK_OK(ftruncate(fd, 5));
  CHECK_EQ(fst(other).st_size, 5);
  CHECK_OK(fchmod(fd, 0600));
  CHECK_EQ(fst(other).st_mode & 07777, 0600u);
  struct timespec t[2] = {{1000000000, 0}, {1000000000, 0}};
  CHECK_OK(futimens(fd, t));
  CHECK_EQ(fst(other).st_mtim.tv_sec, 1000000000);
  CHECK_OK(fsync(fd));
  // A new file with the same name is a different file.
  put("f", "new file");
  CHECK_EQ(pread_str(fd, 0, 100), "still");
  CHECK(st("f").st_ino != fst(fd).st_ino);
  close(fd);
  CHECK_EQ(pread_str(other, 0, 100), "still");  // the last descriptor still reads
  close(other);
  CHECK_EQ(get("f"), "new file");
}

GROUP("unlink.open_mapped") {
  const size_t len = 8192;
  put("f", pattern(len, 9));
  int fd = CHECK_OK(open("f", O_RDWR));
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  CHECK(p != MAP_FAILED);
  if (p == MAP_FAILED) return;
  close(fd);
  CHECK_OK(unlink("f"));
  static_cast<char*>(p)[100] = 'M';
  CHECK(std::memcmp(static_cast<char*>(p) + 200, pattern(len, 9).data() + 200, 100) == 0);
  CHECK_OK(munmap(p, len));
}

GROUP("unlink.open_dir") {
  CHECK_OK(mkdir("d", 0755));
  int dfd = CHECK_OK(open("d", O_RDONLY | O_DIRECTORY));
  CHECK_OK(rmdir("d"));
  CHECK_EQ(fst(dfd).st_nlink, 0u);
  // Nothing can be created in a removed directory.
  CHECK_ERRNO(openat(dfd, "x", O_CREAT | O_WRONLY, 0644), ENOENT);
  CHECK_ERRNO(mkdirat(dfd, "sub", 0755), ENOENT);
  CHECK(!exists("d"));
  close(dfd);
}
