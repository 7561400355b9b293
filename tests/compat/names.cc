// rename, link, symlink, mkdir/rmdir, readdir, mknod, statfs.
#include <dirent.h>
#include <linux/fs.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "compat.h"

namespace compat {
namespace {

int rename2(const std::string& a, const std::string& b, unsigned flags) {
  return static_cast<int>(syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), flags));
}

GROUP(rename) {
  std::string a = dir + "/a", b = dir + "/b";
  CHECK(put(a, "A"));
  ino_t ino = st(a).st_ino;
  CHECK_OK(rename(a.c_str(), b.c_str()));
  CHECK(!exists(a));
  CHECK_EQ(st(b).st_ino, ino);
  CHECK_EQ(get(b), std::string("A"));
  CHECK_OK(rename(b.c_str(), b.c_str()));  // to itself: nothing happens
  CHECK_EQ(get(b), std::string("A"));
  CHECK_ERR(rename((dir + "/missing").c_str(), a.c_str()), ENOENT);
  // Replace an existing file.
  CHECK(put(a, "new A"));
  CHECK_OK(rename(a.c_str(), b.c_str()));
  CHECK_EQ(get(b), std::string("new A"));
  CHECK_EQ(list(dir).size(), size_t{1});
  // Across directories.
  CHECK_OK(mkdir((dir + "/d1").c_str(), 0755));
  CHECK_OK(mkdir((dir + "/d2").c_str(), 0755));
  CHECK_OK(rename(b.c_str(), (dir + "/d1/b").c_str()));
  CHECK_OK(rename((dir + "/d1/b").c_str(), (dir + "/d2/c").c_str()));
  CHECK_EQ(get(dir + "/d2/c"), std::string("new A"));
  // RENAME_NOREPLACE and RENAME_EXCHANGE.
  CHECK(put(a, "1"));
  CHECK(put(b, "2"));
  CHECK_ERR(rename2(a, b, RENAME_NOREPLACE), EEXIST);
  CHECK_OK(rename2(a, dir + "/fresh", RENAME_NOREPLACE));
  CHECK_OK(rename2(dir + "/fresh", a, 0));
  CHECK_OK(rename2(a, b, RENAME_EXCHANGE));
  CHECK_EQ(get(a), std::string("2"));
  CHECK_EQ(get(b), std::string("1"));
  CHECK_ERR(rename2(a, dir + "/nothing", RENAME_EXCHANGE), ENOENT);
  CHECK_ERR(rename2(a, b, RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL);
  CHECK_OK(rename2(a, dir + "/d1", RENAME_EXCHANGE));  // a file and a directory trade places
  CHECK(S_ISDIR(st(a).st_mode));
  CHECK(S_ISREG(st(dir + "/d1").st_mode));
  CHECK_OK(rename2(a, dir + "/d1", RENAME_EXCHANGE));
  // Directories.
  CHECK_OK(mkdir((dir + "/empty").c_str(), 0755));
  CHECK_OK(rename((dir + "/d2").c_str(), (dir + "/empty").c_str()));  // over an empty directory
  CHECK_EQ(get(dir + "/empty/c"), std::string("new A"));
  CHECK_OK(mkdir((dir + "/full").c_str(), 0755));
  CHECK(put(dir + "/full/x", "x"));
  int r = rename((dir + "/d1").c_str(), (dir + "/full").c_str());
  CHECK(r == -1 && (errno == ENOTEMPTY || errno == EEXIST));
  CHECK_ERR(rename((dir + "/d1").c_str(), a.c_str()), ENOTDIR);
  CHECK_ERR(rename(a.c_str(), (dir + "/d1").c_str()), EISDIR);
  CHECK_OK(mkdir((dir + "/d1/sub").c_str(), 0755));
  CHECK_ERR(rename((dir + "/d1").c_str(), (dir + "/d1/sub/inside").c_str()), EINVAL);
  CHECK_ERR(rename((dir + "/d1").c_str(), (dir + "/d1/sub").c_str()), EINVAL);
  // Parent link counts follow a moved subdirectory.
  nlink_t d1 = st(dir + "/d1").st_nlink, full = st(dir + "/full").st_nlink;
  CHECK_OK(rename((dir + "/d1/sub").c_str(), (dir + "/full/sub").c_str()));
  CHECK_EQ(st(dir + "/d1").st_nlink, d1 - 1);
  CHECK_EQ(st(dir + "/full").st_nlink, full + 1);
  // Open files survive renames of themselves and of their parents.
  CHECK(put(dir + "/full/sub/open", "before"));
  int fd = CHECK_OK(open((dir + "/full/sub/open").c_str(), O_RDWR));
  CHECK_OK(rename((dir + "/full/sub/open").c_str(), (dir + "/full/sub/moved").c_str()));
  CHECK_OK(rename((dir + "/full").c_str(), (dir + "/renamed").c_str()));
  CHECK_EQ(pwrite(fd, "AFTER!", 6, 0), 6);
  close(fd);
  CHECK_EQ(get(dir + "/renamed/sub/moved"), std::string("AFTER!"));
  // Two names of one file: renaming one onto the other changes nothing.
  CHECK_OK(link(a.c_str(), (dir + "/a2").c_str()));
  CHECK_OK(rename(a.c_str(), (dir + "/a2").c_str()));
  CHECK(exists(a));
  CHECK(exists(dir + "/a2"));
  // Renames update ctime of the file and the times of the directories.
  timespec old[2] = {{1000, 0}, {1000, 0}};
  CHECK_OK(utimensat(AT_FDCWD, b.c_str(), old, 0));
  CHECK_OK(utimensat(AT_FDCWD, (dir + "/d1").c_str(), old, 0));
  CHECK_OK(rename(b.c_str(), (dir + "/d1/b").c_str()));
  CHECK(st(dir + "/d1/b").st_ctim.tv_sec > 1000);
  CHECK(st(dir + "/d1").st_mtim.tv_sec > 1000);
  CHECK_EQ(st(dir + "/d1/b").st_mtim.tv_sec, 1000);  // the data did not change
}

GROUP(link) {
  std::string a = dir + "/a", b = dir + "/b";
  CHECK(put(a, "shared"));
  CHECK_OK(link(a.c_str(), b.c_str()));
  struct stat sa = st(a), sb = st(b);
  CHECK_EQ(sa.st_ino, sb.st_ino);
  CHECK_EQ(sa.st_nlink, nlink_t{2});
  CHECK_EQ(get(b), std::string("shared"));
  CHECK(put(b, "changed via b"));
  CHECK_EQ(get(a), std::string("changed via b"));
  CHECK_OK(chmod(a.c_str(), 0600));
  CHECK_EQ(st(b).st_mode & 07777, 0600u);
  // Both names open at once see each other's writes.
  int fa = CHECK_OK(open(a.c_str(), O_RDWR));
  int fb = CHECK_OK(open(b.c_str(), O_RDWR));
  CHECK_EQ(pwrite(fa, "XY", 2, 0), 2);
  char buf[2];
  CHECK_EQ(pread(fb, buf, 2, 0), 2);
  CHECK_EQ(std::string(buf, 2), std::string("XY"));
  close(fa);
  close(fb);
  CHECK_OK(unlink(a.c_str()));
  CHECK_EQ(st(b).st_nlink, nlink_t{1});
  CHECK_EQ(st(b).st_ino, sa.st_ino);
  CHECK(get(b).rfind("XY", 0) == 0);
  CHECK_ERR(link(dir.c_str(), (dir + "/dirlink").c_str()), EPERM);
  CHECK_ERR(link(b.c_str(), b.c_str()), EEXIST);
  CHECK_ERR(link((dir + "/missing").c_str(), (dir + "/x").c_str()), ENOENT);
  timespec old[2] = {{1000, 0}, {1000, 0}};
  CHECK_OK(utimensat(AT_FDCWD, b.c_str(), old, 0));
  CHECK_OK(link(b.c_str(), (dir + "/c").c_str()));
  CHECK(st(b).st_ctim.tv_sec > 1000);  // a new link changes ctime
  CHECK_EQ(st(dir + "/c").st_nlink, nlink_t{2});
  // Links across directories.
  CHECK_OK(mkdir((dir + "/sub").c_str(), 0755));
  CHECK_OK(link(b.c_str(), (dir + "/sub/d").c_str()));
  CHECK_EQ(st(dir + "/sub/d").st_nlink, nlink_t{3});
  CHECK_OK(rename((dir + "/sub").c_str(), (dir + "/sub2").c_str()));
  CHECK_EQ(st(dir + "/sub2/d").st_ino, sa.st_ino);
}

GROUP(symlink) {
  std::string t = dir + "/target", l = dir + "/link";
  CHECK(put(t, "pointed at"));
  CHECK_OK(symlink("target", l.c_str()));
  char buf[256] = {};
  CHECK_EQ(readlink(l.c_str(), buf, sizeof(buf)), 6);
  CHECK_EQ(std::string(buf, 6), std::string("target"));
  CHECK(S_ISLNK(lst(l).st_mode));
  CHECK_EQ(lst(l).st_size, 6);
  CHECK(S_ISREG(st(l).st_mode));
  CHECK_EQ(st(l).st_ino, st(t).st_ino);
  CHECK_EQ(get(l), std::string("pointed at"));
  CHECK_EQ(readlink(l.c_str(), buf, 3), 3);  // truncated, not an error
  CHECK_ERR(readlink(t.c_str(), buf, sizeof(buf)), EINVAL);
  CHECK_ERR(symlink("x", l.c_str()), EEXIST);
  CHECK_OK(symlink("nowhere", (dir + "/dangling").c_str()));
  struct stat ignored;
  CHECK_ERR(stat((dir + "/dangling").c_str(), &ignored), ENOENT);
  CHECK(S_ISLNK(lst(dir + "/dangling").st_mode));
  CHECK_OK(symlink("loop2", (dir + "/loop1").c_str()));
  CHECK_OK(symlink("loop1", (dir + "/loop2").c_str()));
  CHECK_ERR(open((dir + "/loop1").c_str(), O_RDONLY), ELOOP);
  CHECK_OK(mkdir((dir + "/d").c_str(), 0755));
  CHECK_OK(symlink("../target", (dir + "/d/up").c_str()));
  CHECK_EQ(get(dir + "/d/up"), std::string("pointed at"));
  CHECK_OK(symlink("d", (dir + "/dlink").c_str()));
  CHECK(put(dir + "/dlink/through", "via"));
  CHECK_EQ(get(dir + "/d/through"), std::string("via"));
  std::string long_target(1000, 'x');
  CHECK_OK(symlink(long_target.c_str(), (dir + "/long").c_str()));
  char lbuf[2048];
  CHECK_EQ(readlink((dir + "/long").c_str(), lbuf, sizeof(lbuf)), 1000);
  CHECK_OK(chmod(l.c_str(), 0600));  // follows the link
  CHECK_EQ(st(t).st_mode & 07777, 0600u);
  CHECK_OK(unlink(l.c_str()));
  CHECK(exists(t));
}

GROUP(directories) {
  std::string d = dir + "/d";
  CHECK_OK(mkdir(d.c_str(), 0750));
  CHECK(S_ISDIR(st(d).st_mode));
  CHECK_EQ(st(d).st_mode & 07777, 0750u);
  CHECK_EQ(st(d).st_nlink, nlink_t{2});
  CHECK_ERR(mkdir(d.c_str(), 0755), EEXIST);
  CHECK_ERR(mkdir((dir + "/missing/x").c_str(), 0755), ENOENT);
  CHECK(put(dir + "/file", "f"));
  CHECK_ERR(mkdir((dir + "/file/x").c_str(), 0755), ENOTDIR);
  nlink_t parent = st(dir).st_nlink;
  CHECK_OK(mkdir((d + "/sub").c_str(), 0755));
  CHECK_EQ(st(d).st_nlink, nlink_t{3});
  CHECK_OK(mkdir((dir + "/trailing/").c_str(), 0755));
  CHECK_EQ(st(dir).st_nlink, parent + 1);
  CHECK_ERR(rmdir(d.c_str()), ENOTEMPTY);
  CHECK_ERR(rmdir((dir + "/file").c_str()), ENOTDIR);
  CHECK_ERR(rmdir((dir + "/missing").c_str()), ENOENT);
  CHECK_ERR(rmdir((d + "/.").c_str()), EINVAL);
  CHECK_OK(rmdir((d + "/sub").c_str()));
  CHECK_EQ(st(d).st_nlink, nlink_t{2});
  CHECK_OK(rmdir(d.c_str()));
  CHECK(!exists(d));
  umask(022);
  CHECK_OK(mkdir((dir + "/masked").c_str(), 0777));
  CHECK_EQ(st(dir + "/masked").st_mode & 07777, 0755u);
  CHECK(put(dir + "/masked/f", "", 0666));
  CHECK_EQ(st(dir + "/masked/f").st_mode & 07777, 0644u);
  umask(0);
  // A directory removed while open lists nothing more.
  CHECK_OK(mkdir((dir + "/gone").c_str(), 0755));
  DIR* h = opendir((dir + "/gone").c_str());
  CHECK(h != nullptr);
  CHECK_OK(rmdir((dir + "/gone").c_str()));
  if (h) {
    int entries = 0;
    while (dirent* e = readdir(h)) entries += std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..");
    CHECK_EQ(entries, 0);
    closedir(h);
  }
  CHECK_ERR(open((dir + "/gone/x").c_str(), O_CREAT | O_WRONLY, 0644), ENOENT);
}

GROUP(readdir) {
  std::set<std::string> made;
  for (int i = 0; i < 300; ++i) {
    std::string n = "entry-" + std::to_string(i);
    CHECK(put(dir + "/" + n, n));
    made.insert(n);
  }
  CHECK_OK(mkdir((dir + "/subdir").c_str(), 0755));
  CHECK_OK(symlink("entry-1", (dir + "/sym").c_str()));
  std::map<std::string, int> seen;
  std::map<std::string, unsigned char> types;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) {
    seen[e->d_name]++;
    types[e->d_name] = e->d_type;
  }
  closedir(d);
  CHECK_EQ(seen.size(), size_t{304});
  CHECK(std::all_of(seen.begin(), seen.end(), [](auto& kv) { return kv.second == 1; }));
  CHECK(seen.count(".") && seen.count(".."));
  CHECK_EQ(types["entry-7"], DT_REG);
  CHECK_EQ(types["subdir"], DT_DIR);
  CHECK_EQ(types["sym"], DT_LNK);
  // While the directory changes, an entry untouched during the listing is
  // returned exactly once.
  d = opendir(dir.c_str());
  std::map<std::string, int> during;
  int n = 0;
  while (dirent* e = readdir(d)) {
    during[e->d_name]++;
    if (++n % 10 == 0) {
      put(dir + "/added-" + std::to_string(n), "");
      unlink((dir + "/entry-" + std::to_string(299 - n / 10)).c_str());
    }
  }
  closedir(d);
  bool stable = true;
  for (int i = 0; i < 200; ++i) stable &= during["entry-" + std::to_string(i)] == 1;
  CHECK(stable);
  CHECK(std::all_of(during.begin(), during.end(), [](auto& kv) { return kv.second == 1; }));
  // getdents on a file fails.
  int fd = CHECK_OK(open((dir + "/entry-1").c_str(), O_RDONLY));
  char buf[1024];
  CHECK_ERR(syscall(SYS_getdents64, fd, buf, sizeof(buf)), ENOTDIR);
  close(fd);
}

GROUP(seekdir) {
  for (int i = 0; i < 2000; ++i) {
    int fd = open((dir + "/n" + std::to_string(i)).c_str(), O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) close(fd);
  }
  DIR* d = opendir(dir.c_str());
  std::vector<std::pair<long, std::string>> positions;
  for (;;) {
    long pos = telldir(d);
    dirent* e = readdir(d);
    if (!e) break;
    positions.emplace_back(pos, e->d_name);
  }
  CHECK_EQ(positions.size(), size_t{2002});
  bool same = true;
  for (size_t i = 0; i < positions.size(); i += 97) {
    seekdir(d, positions[i].first);
    dirent* e = readdir(d);
    same &= e && positions[i].second == e->d_name;
  }
  CHECK(same);
  // Positions stay valid while other entries come and go.
  for (int i = 0; i < 100; ++i) unlink((dir + "/n" + std::to_string(i * 7)).c_str());
  for (int i = 0; i < 50; ++i) close(open((dir + "/late" + std::to_string(i)).c_str(), O_CREAT | O_WRONLY, 0644));
  size_t checked = 0, matched = 0;
  for (size_t i = 1; i < positions.size(); i += 53) {
    if (!exists(dir + "/" + positions[i].second)) continue;
    seekdir(d, positions[i].first);
    dirent* e = readdir(d);
    ++checked;
    matched += e && positions[i].second == e->d_name;
  }
  CHECK(checked > 10);
  CHECK_EQ(matched, checked);
  rewinddir(d);
  dirent* first = readdir(d);
  CHECK(first != nullptr);
  closedir(d);
}

GROUP(mknod) {
  std::string fifo = dir + "/fifo";
  CHECK_OK(mkfifo(fifo.c_str(), 0644));
  CHECK(S_ISFIFO(lst(fifo).st_mode));
  std::thread writer([&] {
    int w = open(fifo.c_str(), O_WRONLY);
    if (w >= 0) {
      (void)!write(w, "through the pipe", 16);
      close(w);
    }
  });
  int r = CHECK_OK(open(fifo.c_str(), O_RDONLY));
  char buf[32] = {};
  ssize_t got = 0, n;
  while (r >= 0 && (n = read(r, buf + got, sizeof(buf) - got)) > 0) got += n;
  writer.join();
  if (r >= 0) close(r);
  CHECK_EQ(std::string(buf, got), std::string("through the pipe"));
  CHECK_OK(mknod((dir + "/sock").c_str(), S_IFSOCK | 0644, 0));
  CHECK(S_ISSOCK(lst(dir + "/sock").st_mode));
  CHECK_OK(mknod((dir + "/reg").c_str(), S_IFREG | 0600, 0));
  CHECK(S_ISREG(lst(dir + "/reg").st_mode));
  CHECK_ERR(mknod(fifo.c_str(), S_IFIFO | 0644, 0), EEXIST);
  if (geteuid() == 0) {
    CHECK_OK(mknod((dir + "/chr").c_str(), S_IFCHR | 0600, makedev(1, 3)));
    struct stat s = lst(dir + "/chr");
    CHECK(S_ISCHR(s.st_mode));
    CHECK_EQ(major(s.st_rdev), 1u);
    CHECK_EQ(minor(s.st_rdev), 3u);
    CHECK_OK(mknod((dir + "/blk").c_str(), S_IFBLK | 0600, makedev(7, 0)));
    CHECK(S_ISBLK(lst(dir + "/blk").st_mode));
  }
}

GROUP(statfs) {
  struct statfs a;
  CHECK_OK(statfs(dir.c_str(), &a));
  CHECK(a.f_bsize > 0);
  CHECK(a.f_blocks >= a.f_bfree);
  CHECK(a.f_bfree >= a.f_bavail);
  CHECK_EQ(a.f_namelen, 255);
  CHECK(put(dir + "/fill", std::string(8 << 20, 'f')));
  for (int i = 0; i < 50; ++i) put(dir + "/n" + std::to_string(i), "");
  struct statfs b;
  CHECK_OK(statfs(dir.c_str(), &b));
  CHECK(b.f_bfree < a.f_bfree);
  CHECK(a.f_files == 0 || b.f_ffree < a.f_ffree);  // some file systems do not count inodes
}

}  // namespace
}  // namespace compat
