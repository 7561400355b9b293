// rename(2) and renameat2(2): replace, RENAME_NOREPLACE, RENAME_EXCHANGE,
// directories, error cases, open files across renames.
#include <dirent.h>
#include <sys/syscall.h>

#include "compat.h"

using namespace compat;

namespace {

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int rename2(const char* from, const char* to, unsigned flags) {
  return static_cast<int>(syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags));
}

// Probes renameat2 flag support on this file system; false after a SKIP.
bool flags_supported(unsigned flags, const char* what) {
  put("probe.a", "a");
  put("probe.b", "b");
  int r = rename2("probe.a", flags & RENAME_EXCHANGE ? "probe.b" : "probe.c", flags);
  int e = errno;
  unlink("probe.a");
  unlink("probe.b");
  unlink("probe.c");
  if (r != 0 && (e == EINVAL || e == ENOSYS || e == EOPNOTSUPP)) {
    skip(std::string(what) + " is not supported: " + errstr(e));
    return false;
  }
  return true;
}

}  // namespace

GROUP("rename.file") {
  put("a", "content");
  ino_t ino = st("a").st_ino;
  CHECK_OK(rename("a", "b"));
  CHECK(!exists("a"));
  CHECK_EQ(get("b"), "content");
  CHECK_EQ(st("b").st_ino, ino);
  CHECK_OK(mkdir("d", 0755));
  CHECK_OK(rename("b", "d/c"));  // into another directory
  CHECK_EQ(get("d/c"), "content");
  CHECK_EQ(st("d/c").st_ino, ino);
  CHECK(list_dir(".") == std::vector<std::string>{"d"});
  CHECK_OK(rename("d/c", "d/c"));  // onto itself: nothing happens
  CHECK_EQ(get("d/c"), "content");
  CHECK_OK(rename("d/c", "d/../e"));
  CHECK_EQ(get("e"), "content");
}

GROUP("rename.replace") {
  put("a", "new");
  put("b", "old");
  ino_t a_ino = st("a").st_ino;
  int old_fd = CHECK_OK(open("b", O_RDONLY));
  CHECK_OK(rename("a", "b"));
  CHECK(!exists("a"));
  CHECK_EQ(get("b"), "new");
  CHECK_EQ(st("b").st_ino, a_ino);
  // The replaced file lives on for its open descriptor, without a name.
  CHECK_EQ(pread_str(old_fd, 0, 10), "old");
  CHECK_EQ(fst(old_fd).st_nlink, 0u);
  close(old_fd);
  // Replacing a file with a symlink, and a symlink with a file.
  CHECK_OK(symlink("b", "l"));
  put("c", "c");
  CHECK_OK(rename("l", "c"));
  CHECK(S_ISLNK(lst("c").st_mode));
  CHECK_EQ(get("c"), "new");
  put("f", "plain");
  CHECK_OK(rename("f", "c"));
  CHECK(S_ISREG(lst("c").st_mode));
  CHECK_EQ(get("b"), "new");  // the symlink's target was not touched
  CHECK_EQ(list_dir(".").size(), 2u);
}

GROUP("rename.hardlinks") {
  // Renaming one name of a file onto another name of the same file does nothing.
  put("a", "x");
  CHECK_OK(link("a", "b"));
  CHECK_OK(rename("a", "b"));
  CHECK(exists("a"));
  CHECK(exists("b"));
  CHECK_EQ(st("b").st_nlink, 2u);
}

GROUP("rename.dir") {
  CHECK_OK(mkdir("d", 0755));
  put("d/f", "in d");
  CHECK_OK(mkdir("d/sub", 0755));
  CHECK_OK(mkdir("e", 0755));
  ino_t ino = st("d").st_ino;
  CHECK_OK(rename("d", "moved"));
  CHECK_EQ(st("moved").st_ino, ino);
  CHECK_EQ(get("moved/f"), "in d");
  CHECK(S_ISDIR(st("moved/sub").st_mode));
  // Over an empty directory: replaced.
  CHECK_OK(rename("moved", "e"));
  CHECK_EQ(st("e").st_ino, ino);
  CHECK(!exists("moved"));
  // Into another directory: ".." follows and the link counts move.
  CHECK_OK(mkdir("p", 0755));
  nlink_t root_links = st(".").st_nlink;
  nlink_t p_links = st("p").st_nlink;
  CHECK_OK(rename("e", "p/e"));
  CHECK_EQ(st("p/e/..").st_ino, st("p").st_ino);
  CHECK_EQ(st(".").st_nlink, root_links - 1);
  CHECK_EQ(st("p").st_nlink, p_links + 1);
  CHECK_EQ(get("p/e/f"), "in d");
  // Renaming a directory with a trailing slash.
  CHECK_OK(rename("p/e/", "p/e2/"));
  CHECK(S_ISDIR(st("p/e2").st_mode));
}

GROUP("rename.dir_errors") {
  CHECK_OK(mkdir("d", 0755));
  CHECK_OK(mkdir("d/sub", 0755));
  CHECK_OK(mkdir("full", 0755));
  put("full/x", "x");
  CHECK_OK(mkdir("empty", 0755));
  put("f", "file");
  // rename(2): "EEXIST or ENOTEMPTY: newpath is a nonempty directory".
  CHECK_ERRNO(rename("d", "full"), ENOTEMPTY, EEXIST);
  CHECK(exists("full/x"));
  CHECK_ERRNO(rename("f", "empty"), EISDIR);
  CHECK_ERRNO(rename("d", "f"), ENOTDIR);
  CHECK_ERRNO(rename("d", "d/sub/inside"), EINVAL);  // into its own subtree
  CHECK_ERRNO(rename("d", "d/new"), EINVAL);
  CHECK_ERRNO(rename("d/.", "x"), EBUSY, EINVAL);
  CHECK_ERRNO(rename("d/..", "x"), EBUSY, EINVAL);
  CHECK_ERRNO(rename("f", "d/."), EBUSY, EINVAL);
  CHECK_ERRNO(rename("f/", "g"), ENOTDIR);
  CHECK_ERRNO(rename("f", "g/"), ENOTDIR);
  CHECK(exists("f") && !exists("g"));
  // A parent cannot be renamed over its own child either.
  CHECK_ERRNO(rename("d/sub", "d"), ENOTEMPTY, EEXIST);
}

GROUP("rename.errors") {
  put("f", "file");
  CHECK_ERRNO(rename("missing", "x"), ENOENT);
  CHECK_ERRNO(rename("f", "missing/x"), ENOENT);
  CHECK_ERRNO(rename("f/x", "y"), ENOTDIR);
  CHECK_ERRNO(rename("f", "f/y"), ENOTDIR);
  CHECK_ERRNO(rename("", "y"), ENOENT);
  CHECK_ERRNO(rename("f", ""), ENOENT);
  CHECK_EQ(get("f"), "file");
}

GROUP("rename.symlink") {
  put("target", "t");
  CHECK_OK(symlink("target", "l"));
  CHECK_OK(rename("l", "l2"));
  CHECK(S_ISLNK(lst("l2").st_mode));
  char buf[64] = {};
  CHECK_EQ(readlink("l2", buf, sizeof(buf)), 6);
  CHECK(exists("target"));
  CHECK_EQ(get("l2"), "t");
  // A symlink to a directory is renamed as a link; the directory stays put.
  CHECK_OK(mkdir("d", 0755));
  CHECK_OK(symlink("d", "ld"));
  CHECK_OK(mkdir("e", 0755));
  CHECK_OK(rename("ld", "e/ld"));
  CHECK(S_ISLNK(lst("e/ld").st_mode));
  CHECK(S_ISDIR(lst("d").st_mode));
}

GROUP("rename.noreplace") {
  if (!flags_supported(RENAME_NOREPLACE, "RENAME_NOREPLACE")) return;
  put("a", "A");
  put("b", "B");
  CHECK_ERRNO(rename2("a", "b", RENAME_NOREPLACE), EEXIST);
  CHECK_EQ(get("a"), "A");
  CHECK_EQ(get("b"), "B");
  CHECK_OK(rename2("a", "c", RENAME_NOREPLACE));
  CHECK(!exists("a"));
  CHECK_EQ(get("c"), "A");
  CHECK_OK(mkdir("d", 0755));
  CHECK_OK(mkdir("e", 0755));
  CHECK_ERRNO(rename2("d", "e", RENAME_NOREPLACE), EEXIST);  // even over an empty directory
  CHECK_OK(symlink("nowhere", "dangling"));
  CHECK_ERRNO(rename2("b", "dangling", RENAME_NOREPLACE), EEXIST);
  CHECK_OK(rename2("d", "e/d", RENAME_NOREPLACE));
  CHECK(S_ISDIR(st("e/d").st_mode));
}

GROUP("rename.exchange") {
  if (!flags_supported(RENAME_EXCHANGE, "RENAME_EXCHANGE")) return;
  put("a", "A");
  put("b", "B");
  ino_t ia = st("a").st_ino, ib = st("b").st_ino;
  CHECK_OK(rename2("a", "b", RENAME_EXCHANGE));
  CHECK_EQ(get("a"), "B");
  CHECK_EQ(get("b"), "A");
  CHECK_EQ(st("a").st_ino, ib);
  CHECK_EQ(st("b").st_ino, ia);
  // A file and a directory in different parents.
  CHECK_OK(mkdir("p", 0755));
  CHECK_OK(mkdir("q", 0755));
  CHECK_OK(mkdir("q/dir", 0755));
  put("q/dir/inner", "inner");
  put("p/file", "file");
  nlink_t p_links = st("p").st_nlink, q_links = st("q").st_nlink;
  CHECK_OK(rename2("p/file", "q/dir", RENAME_EXCHANGE));
  CHECK_EQ(get("p/file/inner"), "inner");
  CHECK_EQ(get("q/dir"), "file");
  CHECK_EQ(st("p/file/..").st_ino, st("p").st_ino);
  CHECK_EQ(st("p").st_nlink, p_links + 1);
  CHECK_EQ(st("q").st_nlink, q_links - 1);
  // Both must exist.
  CHECK_ERRNO(rename2("a", "missing", RENAME_EXCHANGE), ENOENT);
  CHECK_ERRNO(rename2("a", "b", RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL);
  // Never into its own subtree.
  CHECK_ERRNO(rename2("p", "p/file", RENAME_EXCHANGE), EINVAL);
  // Exchanging a name with itself is allowed and changes nothing.
  CHECK_OK(rename2("a", "a", RENAME_EXCHANGE));
  CHECK_EQ(get("a"), "B");
}

GROUP("rename.open_file") {
  int fd = CHECK_OK(open("a", O_RDWR | O_CREAT, 0644));
  CHECK_EQ(write(fd, "before", 6), 6);
  ino_t ino = fst(fd).st_ino;
  CHECK_OK(rename("a", "b"));
  CHECK_EQ(write(fd, "+after", 6), 6);
  CHECK_EQ(fst(fd).st_ino, ino);
  CHECK_EQ(get("b"), "before+after");
  CHECK_EQ(pread_str(fd, 0, 100), "before+after");
  int second = CHECK_OK(open("b", O_RDWR));
  CHECK_EQ(pwrite(second, "B", 1, 0), 1);
  CHECK_EQ(pread_str(fd, 0, 1), "B");
  close(second);
  close(fd);
}

GROUP("rename.open_parent") {
  CHECK_OK(mkdir("d", 0755));
  CHECK_OK(mkdir("d/sub", 0755));
  int fd = CHECK_OK(open("d/sub/f", O_RDWR | O_CREAT, 0644));
  int dfd = CHECK_OK(open("d/sub", O_RDONLY | O_DIRECTORY));
  CHECK_EQ(write(fd, "one", 3), 3);
  CHECK_OK(rename("d", "e"));
  CHECK_EQ(write(fd, "two", 3), 3);
  CHECK_EQ(get("e/sub/f"), "onetwo");
  CHECK(!exists("d"));
  // The directory descriptor resolves names at the new place.
  put("e/sub/g", "gee");
  int g = CHECK_OK(openat(dfd, "g", O_RDONLY));
  CHECK_EQ(pread_str(g, 0, 10), "gee");
  close(g);
  CHECK_OK(closed(openat(dfd, "h", O_CREAT | O_WRONLY, 0644)));
  CHECK(exists("e/sub/h"));
  CHECK_OK(mkdir("x", 0755));
  CHECK_OK(rename("e/sub", "x/sub"));  // move again, to another parent
  CHECK_EQ(write(fd, "three", 5), 5);
  CHECK_EQ(get("x/sub/f"), "onetwothree");
  CHECK_OK(fchdir(dfd));
  CHECK_EQ(get("f"), "onetwothree");
  CHECK_OK(chdir(group_dir().c_str()));
  close(dfd);
  close(fd);
}

GROUP("rename.many") {
  // Many renames back and forth between two directories keep every name once.
  CHECK_OK(mkdir("a", 0755));
  CHECK_OK(mkdir("b", 0755));
  for (int i = 0; i < 200; ++i) put(("a/" + std::to_string(i)).c_str(), std::to_string(i));
  bool ok = true;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 200; ++i) {
      std::string n = std::to_string(i);
      const char* from = round % 2 == 0 ? "a/" : "b/";
      const char* to = round % 2 == 0 ? "b/" : "a/";
      ok = ok && rename((from + n).c_str(), (to + n + (round == 2 ? "x" : "")).c_str()) == 0;
    }
  }
  CHECK(ok);
  CHECK(list_dir("a").empty());
  auto names = list_dir("b");
  CHECK_EQ(names.size(), 200u);
  bool contents = true;
  for (int i = 0; i < 200; ++i) contents = contents && get(("b/" + std::to_string(i) + "x").c_str()) == std::to_string(i);
  CHECK(contents);
}
