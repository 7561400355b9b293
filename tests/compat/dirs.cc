// Directories: mkdir, rmdir, readdir (also while the directory changes),
// seekdir/telldir, and the name and path length limits.
#include <dirent.h>
#include <sys/syscall.h>

#include <algorithm>
#include <map>
#include <set>

#include "compat.h"

using namespace compat;

GROUP("mkdir.basic") {
  struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  CHECK_OK(utimensat(AT_FDCWD, ".", old, 0));
  nlink_t parent_links = st(".").st_nlink;
  CHECK_OK(mkdir("d", 0755));
  struct stat s = st("d");
  CHECK(S_ISDIR(s.st_mode));
  CHECK_EQ(s.st_mode & 07777, 0755u);
  CHECK_EQ(s.st_nlink, 2u);
  CHECK_EQ(s.st_uid, geteuid());
  CHECK_EQ(s.st_gid, getegid());
  CHECK_EQ(st(".").st_nlink, parent_links + 1);
  CHECK(st(".").st_mtim.tv_sec != 1000000000);
  CHECK(list_dir("d").empty());
  CHECK_EQ(st("d/.").st_ino, s.st_ino);
  CHECK_EQ(st("d/..").st_ino, st(".").st_ino);
  CHECK_OK(mkdir("d/sub", 0700));
  CHECK_EQ(st("d").st_nlink, 3u);
  CHECK_OK(mkdir("e/", 0755));  // a trailing slash is fine
  CHECK(S_ISDIR(st("e").st_mode));
  CHECK_OK(mkdir("zero", 0));
  CHECK_EQ(perms("zero"), 0u);
}

GROUP("mkdir.errors") {
  CHECK_OK(mkdir("d", 0755));
  put("f", "x");
  CHECK_OK(symlink("d", "ld"));
  CHECK_OK(symlink("nowhere", "dangling"));
  CHECK_ERRNO(mkdir("d", 0755), EEXIST);
  CHECK_ERRNO(mkdir("f", 0755), EEXIST);
  CHECK_ERRNO(mkdir("ld", 0755), EEXIST);
  CHECK_ERRNO(mkdir("dangling", 0755), EEXIST);
  CHECK(!exists("nowhere"));
  CHECK_ERRNO(mkdir("missing/d", 0755), ENOENT);
  CHECK_ERRNO(mkdir("f/d", 0755), ENOTDIR);
  CHECK_ERRNO(mkdir("", 0755), ENOENT);
  CHECK_ERRNO(mkdir(".", 0755), EEXIST);
  CHECK_ERRNO(mkdir("..", 0755), EEXIST);
  CHECK_ERRNO(mkdir("d/.", 0755), EEXIST);
}

GROUP("mkdir.mode_umask") {
  umask(027);
  CHECK_OK(mkdir("a", 0777));
  CHECK_EQ(perms("a"), 0750u);
  umask(0);
  CHECK_OK(mkdir("b", 0777));
  CHECK_EQ(perms("b"), 0777u);
  CHECK_OK(mkdir("sticky", 01777));
  CHECK_EQ(perms("sticky"), 01777u);  // Linux keeps S_ISVTX from mkdir's mode
  CHECK_OK(mkdir("nogid", 02755));
  CHECK_EQ(perms("nogid"), 0755u);  // S_ISGID only comes from a set-group-ID parent
  umask(022);
  CHECK_OK(mkdir("c", 0777));
  CHECK_EQ(perms("c"), 0755u);
}

GROUP("rmdir.basic") {
  CHECK_OK(mkdir("d", 0755));
  nlink_t links = st(".").st_nlink;
  struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  CHECK_OK(utimensat(AT_FDCWD, ".", old, 0));
  CHECK_OK(rmdir("d"));
  CHECK(!exists("d"));
  CHECK_EQ(st(".").st_nlink, links - 1);
  CHECK(st(".").st_mtim.tv_sec != 1000000000);
  CHECK_OK(mkdir("e", 0755));
  CHECK_OK(rmdir("e/"));
  CHECK(!exists("e"));
  // Emptied again: removable.
  CHECK_OK(mkdir("g", 0755));
  put("g/f", "x");
  CHECK_OK(mkdir("g/sub", 0755));
  CHECK_OK(unlink("g/f"));
  CHECK_OK(rmdir("g/sub"));
  CHECK_OK(rmdir("g"));
  CHECK(list_dir(".").empty());
}

GROUP("rmdir.errors") {
  CHECK_OK(mkdir("full", 0755));
  put("full/f", "x");
  CHECK_OK(mkdir("hidden", 0755));
  put("hidden/.dot", "x");
  CHECK_OK(mkdir("nested", 0755));
  CHECK_OK(mkdir("nested/sub", 0755));
  CHECK_OK(mkdir("d", 0755));
  put("f", "x");
  CHECK_OK(symlink("d", "ld"));
  // rmdir(2): "ENOTEMPTY or EEXIST: pathname contains entries other than . and ..".
  CHECK_ERRNO(rmdir("full"), ENOTEMPTY, EEXIST);
  CHECK_ERRNO(rmdir("hidden"), ENOTEMPTY, EEXIST);
  CHECK_ERRNO(rmdir("nested"), ENOTEMPTY, EEXIST);
  CHECK_ERRNO(rmdir("f"), ENOTDIR);
  CHECK_ERRNO(rmdir("f/"), ENOTDIR);
  CHECK_ERRNO(rmdir("ld"), ENOTDIR);
  CHECK_ERRNO(rmdir("missing"), ENOENT);
  CHECK_ERRNO(rmdir("missing/x"), ENOENT);
  CHECK_ERRNO(rmdir(""), ENOENT);
  // rmdir(2): "EINVAL: pathname has . as last component"; POSIX also allows EBUSY.
  CHECK_ERRNO(rmdir("."), EINVAL, EBUSY);
  CHECK_ERRNO(rmdir("d/."), EINVAL, EBUSY);
  CHECK_ERRNO(rmdir("d/.."), ENOTEMPTY, EINVAL);  // Linux: ENOTEMPTY; POSIX: EINVAL
  CHECK(exists("d") && exists("full/f") && exists("nested/sub"));
}

namespace {

struct Entry {
  std::string name;
  unsigned char type;
  ino_t ino;
};

std::vector<Entry> read_all(const char* path) {
  std::vector<Entry> out;
  DIR* d = opendir(path);
  if (!d) return out;
  while (dirent* e = readdir(d)) out.push_back({e->d_name, e->d_type, e->d_ino});
  closedir(d);
  return out;
}

bool once_each(const std::vector<Entry>& entries, const std::set<std::string>& want) {
  std::map<std::string, int> seen;
  for (const auto& e : entries) seen[e.name]++;
  if (seen.size() != want.size()) return false;
  for (const auto& [name, n] : seen) {
    if (n != 1 || !want.count(name)) return false;
  }
  return true;
}

}  // namespace

GROUP("readdir.basic") {
  CHECK_OK(mkdir("d", 0755));
  CHECK(once_each(read_all("d"), {".", ".."}));
  std::set<std::string> want = {".", ".."};
  std::map<std::string, unsigned char> type;
  bool made = true;
  for (int i = 0; i < 150; ++i) {
    std::string n = "file" + std::to_string(i);
    made = made && put(("d/" + n).c_str(), n);
    want.insert(n);
    type[n] = DT_REG;
  }
  for (int i = 0; i < 5; ++i) {
    std::string n = "dir" + std::to_string(i);
    made = made && mkdir(("d/" + n).c_str(), 0755) == 0;
    want.insert(n);
    type[n] = DT_DIR;
  }
  made = made && symlink("file1", "d/link") == 0 && mkfifo("d/fifo", 0644) == 0;
  want.insert("link");
  want.insert("fifo");
  type["link"] = DT_LNK;
  type["fifo"] = DT_FIFO;
  type["."] = type[".."] = DT_DIR;
  CHECK(made);
  auto entries = read_all("d");
  CHECK_EQ(entries.size(), want.size());
  CHECK(once_each(entries, want));
  // d_type is right, or DT_UNKNOWN, which callers must handle anyway.
  bool types = true;
  for (const auto& e : entries) types = types && (e.type == DT_UNKNOWN || e.type == type[e.name]);
  CHECK(types);
  bool some_known = false;
  for (const auto& e : entries) some_known = some_known || e.type != DT_UNKNOWN;
  if (!some_known) skip("readdir reports DT_UNKNOWN for every entry");
  // d_ino agrees with lstat (".." may name the parent of a mount point).
  bool inos = true;
  for (const auto& e : entries) {
    if (e.name != "..") inos = inos && e.ino == lst(("d/" + e.name).c_str()).st_ino;
  }
  CHECK(inos);
  // rewinddir shows entries created after opendir.
  DIR* dir = opendir("d");
  CHECK(dir != nullptr);
  if (!dir) return;
  while (readdir(dir)) {
  }
  put("d/late", "x");
  rewinddir(dir);
  bool late = false;
  while (dirent* e = readdir(dir)) late = late || std::strcmp(e->d_name, "late") == 0;
  CHECK(late);
  closedir(dir);
}

GROUP("readdir.mutation") {
  // Reads with a small getdents64 buffer and changes the directory between
  // calls: names that exist throughout are returned exactly once; removed
  // or added names at most once.
  constexpr int kStable = 300, kChanged = 100;
  bool made = true;
  for (int i = 0; i < kStable; ++i) made = made && put(("s" + std::to_string(i)).c_str(), "");
  for (int i = 0; i < kChanged; ++i) made = made && put(("v" + std::to_string(i)).c_str(), "");
  CHECK(made);
  int fd = CHECK_OK(open(".", O_RDONLY | O_DIRECTORY));
  std::map<std::string, int> seen;
  char buf[600] __attribute__((aligned(8)));
  int removed = 0, added = 0, calls = 0;
  bool ok = true;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
    if (n < 0) ok = false;
    if (n <= 0) break;
    ++calls;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      seen[d->d_name]++;
      off += d->d_reclen;
    }
    // Remove victims from both ends of the name space, and add new names.
    for (int k = 0; k < 3 && removed < kChanged; ++k, ++removed) {
      int v = removed % 2 == 0 ? removed / 2 : kChanged - 1 - removed / 2;
      ok = ok && unlink(("v" + std::to_string(v)).c_str()) == 0;
    }
    for (int k = 0; k < 3 && added < kChanged; ++k, ++added) ok = ok && put(("n" + std::to_string(added)).c_str(), "");
  }
  close(fd);
  CHECK(ok);
  CHECK(calls > 3);  // the buffer really was small
  bool stable_once = seen["."] == 1 && seen[".."] == 1;
  for (int i = 0; i < kStable; ++i) stable_once = stable_once && seen["s" + std::to_string(i)] == 1;
  CHECK(stable_once);
  bool others_at_most_once = true, no_strangers = true;
  for (const auto& [name, n] : seen) {
    if (n > 1) others_at_most_once = false;
    if (n > 0 && name != "." && name != ".." && std::string("svn").find(name[0]) == std::string::npos) no_strangers = false;
  }
  CHECK(others_at_most_once);
  CHECK(no_strangers);
  // Afterwards the listing is exactly the stable names plus the added ones.
  CHECK_EQ(list_dir(".").size(), static_cast<size_t>(kStable + kChanged - removed + added));
}

GROUP("readdir.rename_back") {
  // Renames each entry it reads away and back while listing: a file system
  // that gives the renamed-back entry a new place at the end would list it
  // again and again. The listing must end, and names nobody renamed must
  // appear exactly once. (btrfs once had this bug: "infinite directory reads".)
  constexpr int kRenamed = 5000, kStable = 500;
  bool made = true;
  for (int i = 0; i < kRenamed; ++i) made = made && put(("e" + std::to_string(i)).c_str(), "");
  for (int i = 0; i < kStable; ++i) made = made && put(("s" + std::to_string(i)).c_str(), "");
  CHECK(made);
  DIR* d = opendir(".");
  CHECK(d != nullptr);
  if (!d) return;
  constexpr long kLimit = 3L * (kRenamed + kStable + 2);
  long read = 0;
  bool renamed = true;
  std::map<std::string, int> stable_seen;
  while (dirent* e = readdir(d)) {
    if (++read > kLimit) break;
    std::string name = e->d_name;
    if (name[0] == 's') stable_seen[name]++;
    if (name[0] != 'e') continue;
    std::string away = "t" + name.substr(1);
    renamed = renamed && rename(name.c_str(), away.c_str()) == 0 && rename(away.c_str(), name.c_str()) == 0;
  }
  closedir(d);
  CHECK(renamed);
  report(read <= kLimit, __FILE__, __LINE__, "the listing ends",
         "still going after " + std::to_string(kLimit) + " entries");
  bool once = stable_seen.size() == kStable;
  for (const auto& [name, n] : stable_seen) once = once && n == 1;
  CHECK(once);
  std::vector<std::string> names = list_dir(".");
  std::set<std::string> all(names.begin(), names.end());
  bool every = names.size() == kRenamed + kStable;
  for (int i = 0; i < kRenamed; ++i) every = every && all.count("e" + std::to_string(i));
  CHECK(every);
}

GROUP("readdir.seekdir") {
  // 2000 entries; telldir positions revisited with seekdir give the same entries.
  constexpr int kEntries = 2000;
  bool made = true;
  for (int i = 0; i < kEntries; ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "entry-%04d-%s", i, std::string(i % 40, 'x').c_str());
    made = made && mknodat(AT_FDCWD, name, S_IFREG | 0644, 0) == 0;
  }
  CHECK(made);
  DIR* d = opendir(".");
  CHECK(d != nullptr);
  if (!d) return;
  std::vector<std::pair<long, std::string>> pos;
  for (;;) {
    long p = telldir(d);
    dirent* e = readdir(d);
    if (!e) break;
    pos.push_back({p, e->d_name});
  }
  CHECK_EQ(pos.size(), static_cast<size_t>(kEntries + 2));
  std::set<std::string> names;
  for (const auto& [p, n] : pos) names.insert(n);
  CHECK_EQ(names.size(), pos.size());
  // Revisit a spread of positions, in a scrambled order.
  bool same = true;
  for (size_t k = 0; k < pos.size(); k += 1) {
    size_t i = (k * 7919) % pos.size();
    if (i % 13 != 0 && i + 1 != pos.size()) continue;
    seekdir(d, pos[i].first);
    dirent* e = readdir(d);
    same = same && e && pos[i].second == e->d_name;
  }
  CHECK(same);
  // From the middle to the end: exactly the recorded tail.
  const size_t mid = pos.size() / 2;
  seekdir(d, pos[mid].first);
  CHECK_EQ(telldir(d), pos[mid].first);
  bool tail = true;
  size_t i = mid;
  while (dirent* e = readdir(d)) tail = tail && i < pos.size() && pos[i++].second == e->d_name;
  CHECK(tail && i == pos.size());
  // Back to the first position: the first entry again.
  seekdir(d, pos[0].first);
  dirent* e = readdir(d);
  CHECK(e != nullptr && pos[0].second == e->d_name);
  // After the end, seeking to the last entry returns it and then the end.
  seekdir(d, pos.back().first);
  e = readdir(d);
  CHECK(e != nullptr && pos.back().second == e->d_name);
  CHECK(readdir(d) == nullptr);
  closedir(d);
}

GROUP("readdir.getdents") {
  // Tiny buffers still make progress and list everything once.
  bool made = true;
  for (int i = 0; i < 100; ++i) made = made && put(("name_" + std::to_string(i) + std::string(i, 'z')).c_str(), "");
  CHECK(made);
  int fd = CHECK_OK(open(".", O_RDONLY | O_DIRECTORY));
  char buf[512] __attribute__((aligned(8)));
  std::map<std::string, int> seen;
  long n;
  while ((n = syscall(SYS_getdents64, fd, buf, 400)) > 0) {
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      seen[d->d_name]++;
      off += d->d_reclen;
    }
  }
  CHECK_EQ(n, 0);
  bool once = seen.size() == 102;
  for (const auto& [name, count] : seen) once = once && count == 1;
  CHECK(once);
  CHECK_EQ(syscall(SYS_getdents64, fd, buf, 400), 0);  // still at the end
  CHECK_OK(lseek(fd, 0, SEEK_SET));
  CHECK(syscall(SYS_getdents64, fd, buf, 400) > 0);  // rewound
  CHECK_ERRNO(syscall(SYS_getdents64, fd, buf, 8), EINVAL);  // too small for any entry
  close(fd);
  int file = CHECK_OK(open("name_0", O_RDONLY));
  CHECK_ERRNO(syscall(SYS_getdents64, file, buf, sizeof(buf)), ENOTDIR);
  close(file);
}

GROUP("names.name_max") {
  const std::string n255(255, 'n'), n256(256, 'n');
  int fd = CHECK_OK(open(n255.c_str(), O_CREAT | O_RDWR, 0644));
  CHECK_EQ(write(fd, "255", 3), 3);
  close(fd);
  CHECK_EQ(get(n255.c_str()), "255");
  auto names = list_dir(".");
  CHECK(std::find(names.begin(), names.end(), n255) != names.end());
  const std::string m255 = std::string(254, 'm') + "d";
  CHECK_OK(mkdir(m255.c_str(), 0755));
  CHECK_OK(rename(n255.c_str(), (m255 + "/" + std::string(255, 'r')).c_str()));
  CHECK_OK(symlink(n255.c_str(), std::string(255, 's').c_str()));
  CHECK_EQ(pathconf(".", _PC_NAME_MAX), 255);

  put("f", "x");
  struct stat s;
  CHECK_ERRNO(open(n256.c_str(), O_CREAT | O_RDWR, 0644), ENAMETOOLONG);
  CHECK_ERRNO(stat(n256.c_str(), &s), ENAMETOOLONG);
  CHECK_ERRNO(mkdir(n256.c_str(), 0755), ENAMETOOLONG);
  CHECK_ERRNO(symlink("f", n256.c_str()), ENAMETOOLONG);
  CHECK_ERRNO(link("f", n256.c_str()), ENAMETOOLONG);
  CHECK_ERRNO(rename("f", n256.c_str()), ENAMETOOLONG);
  CHECK_ERRNO(mkfifo(n256.c_str(), 0644), ENAMETOOLONG);
  CHECK_ERRNO(unlink(n256.c_str()), ENAMETOOLONG);
  CHECK_ERRNO(rmdir(n256.c_str()), ENAMETOOLONG);
  CHECK_ERRNO(open((n256 + "/x").c_str(), O_RDONLY), ENAMETOOLONG);
  // The limit counts bytes: 85 three-byte characters fit, 86 do not.
  std::string e85, e86;
  for (int i = 0; i < 85; ++i) e85 += "\xe2\x82\xac";  // U+20AC
  e86 = e85 + "\xe2\x82\xac";
  CHECK_OK(closed(open(e85.c_str(), O_CREAT | O_RDWR, 0644)));
  CHECK_ERRNO(open(e86.c_str(), O_CREAT | O_RDWR, 0644), ENAMETOOLONG);
  CHECK(exists("f"));
}

GROUP("names.path_max") {
  // Relative paths of exactly PATH_MAX-1 bytes work; PATH_MAX bytes do not.
  const std::string comp(200, 'p');
  std::string prefix;
  int dirfd = AT_FDCWD;
  bool made = true;
  for (int i = 0; i < 20; ++i) {  // 20 * 201 = 4020 bytes of directories
    made = made && mkdirat(dirfd, comp.c_str(), 0755) == 0;
    int next = openat(dirfd, comp.c_str(), O_RDONLY | O_DIRECTORY);
    if (dirfd != AT_FDCWD) close(dirfd);
    dirfd = next;
    made = made && dirfd >= 0;
    prefix += comp + "/";
  }
  CHECK(made);
  const std::string p4095 = prefix + std::string(4095 - prefix.size(), 'f');
  const std::string p4096 = p4095 + "g";
  CHECK_EQ(p4095.size(), 4095u);
  int fd = CHECK_OK(open(p4095.c_str(), O_CREAT | O_RDWR, 0644));
  if (fd >= 0) {
    CHECK_EQ(write(fd, "deep", 4), 4);
    close(fd);
    CHECK_EQ(get(p4095.c_str()), "deep");
  }
  CHECK_ERRNO(open(p4096.c_str(), O_CREAT | O_RDWR, 0644), ENAMETOOLONG);
  struct stat s;
  CHECK_ERRNO(stat(p4096.c_str(), &s), ENAMETOOLONG);
  CHECK_ERRNO(mkdir(p4096.c_str(), 0755), ENAMETOOLONG);
  // Absolute paths past PATH_MAX fail, but the tree is reachable relatively.
  CHECK_ERRNO(stat((group_dir() + "/" + p4095).c_str(), &s), ENAMETOOLONG);
  CHECK_OK(mkdirat(dirfd, "deeper", 0755));
  CHECK_OK(closed(openat(dirfd, "deeper/file", O_CREAT | O_RDWR, 0644)));
  CHECK_OK(fstatat(dirfd, "deeper/file", &s, 0));
  close(dirfd);
}

GROUP("names.characters") {
  const std::vector<std::string> names = {
      "with space",  "tab\there",   "new\nline",    "caf\xc3\xa9",      "\xf0\x9f\x98\x80 emoji",
      "-leading",    "...",         "..x",          ".hidden",           "a:b*c?d\"e<f>g|h\\i",
      "\x01\x1f",    "\xff\xfe",    "trailing ",    "UPPER",             "upper",
      "%s%n",        "=",           "'quoted'",     "#hash",             "~tilde"};
  bool made = true;
  for (const auto& n : names) made = made && put(n.c_str(), "content of " + n);
  CHECK(made);
  auto listed = list_dir(".");
  std::sort(listed.begin(), listed.end());
  auto want = names;
  std::sort(want.begin(), want.end());
  CHECK(listed == want);
  bool contents = true;
  for (const auto& n : names) contents = contents && get(n.c_str()) == "content of " + n;
  CHECK(contents);
  // Case matters: "UPPER" and "upper" are two files.
  CHECK(st("UPPER").st_ino != st("upper").st_ino);
  CHECK_EQ(get("upper"), "content of upper");
  CHECK_ERRNO(access("Upper", F_OK), ENOENT);
  bool removed = true;
  for (const auto& n : names) removed = removed && unlink(n.c_str()) == 0;
  CHECK(removed);
  CHECK(list_dir(".").empty());
}

GROUP("names.dots") {
  put("f", "x");
  CHECK_ERRNO(open(".", O_CREAT | O_RDWR, 0644), EISDIR);
  CHECK_ERRNO(open("..", O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST);
  CHECK_ERRNO(link("f", "."), EEXIST);
  CHECK_ERRNO(symlink("f", ".."), EEXIST);
  CHECK_ERRNO(mkfifo(".", 0644), EEXIST);
  CHECK_EQ(st("./f").st_ino, st("f").st_ino);
  CHECK_EQ(st(".//f").st_ino, st("f").st_ino);
  CHECK_OK(mkdir("d", 0755));
  CHECK_EQ(st("d/../f").st_ino, st("f").st_ino);
  CHECK_EQ(st("d/./.././d/..").st_ino, st(".").st_ino);
}
