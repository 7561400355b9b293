// chmod/chown, timestamps, extended attributes, permissions as an
// unprivileged user.
#include <sys/xattr.h>

#include <chrono>
#include <thread>

#include "compat.h"

namespace compat {
namespace {

bool root() { return geteuid() == 0; }

GROUP(chmod_chown) {
  std::string f = dir + "/f";
  CHECK(put(f, "x"));
  CHECK_OK(chmod(f.c_str(), 0421));
  CHECK_EQ(st(f).st_mode & 07777, 0421u);
  int fd = CHECK_OK(open(f.c_str(), O_RDONLY));
  CHECK_OK(fchmod(fd, 0644));
  CHECK_EQ(st(f).st_mode & 07777, 0644u);
  CHECK_OK(chmod(f.c_str(), 07755));
  CHECK_EQ(st(f).st_mode & 07777, 07755u);
  CHECK(S_ISREG(st(f).st_mode));  // the type bits never change
  timespec old[2] = {{1000, 0}, {1000, 0}};
  CHECK_OK(futimens(fd, old));
  CHECK_OK(fchmod(fd, 0600));
  CHECK(st(f).st_ctim.tv_sec > 1000);
  CHECK_EQ(st(f).st_mtim.tv_sec, 1000);
  close(fd);
  if (!root()) return skip("chown checks need root");
  CHECK_OK(chown(f.c_str(), 1234, 5678));
  CHECK_EQ(st(f).st_uid, 1234u);
  CHECK_EQ(st(f).st_gid, 5678u);
  CHECK_OK(chown(f.c_str(), static_cast<uid_t>(-1), 42));
  CHECK_EQ(st(f).st_uid, 1234u);
  CHECK_EQ(st(f).st_gid, 42u);
  fd = CHECK_OK(open(f.c_str(), O_RDONLY));
  CHECK_OK(fchown(fd, 7, 8));
  close(fd);
  CHECK_EQ(st(f).st_uid, 7u);
  // chown clears set-user-ID (and set-group-ID with group execute).
  CHECK_OK(chmod(f.c_str(), 06755));
  CHECK_OK(chown(f.c_str(), 9, 9));
  CHECK_EQ(st(f).st_mode & 07777, 0755u);
  // lchown changes the link, not its target.
  CHECK_OK(symlink("f", (dir + "/l").c_str()));
  CHECK_OK(lchown((dir + "/l").c_str(), 55, 66));
  CHECK_EQ(lst(dir + "/l").st_uid, 55u);
  CHECK_EQ(st(f).st_uid, 9u);
  // A set-group-ID directory hands down its group, and its bit to subdirectories.
  std::string sg = dir + "/sgid";
  CHECK_OK(mkdir(sg.c_str(), 0777));
  CHECK_OK(chown(sg.c_str(), 0, 4321));
  CHECK_OK(chmod(sg.c_str(), 02777));
  CHECK(put(sg + "/file", "x"));
  CHECK_EQ(st(sg + "/file").st_gid, 4321u);
  CHECK_OK(mkdir((sg + "/sub").c_str(), 0755));
  CHECK_EQ(st(sg + "/sub").st_gid, 4321u);
  CHECK(st(sg + "/sub").st_mode & S_ISGID);
  // The sticky bit is kept.
  CHECK_OK(mkdir((dir + "/sticky").c_str(), 01777));
  CHECK_EQ(st(dir + "/sticky").st_mode & 07777, 01777u);
}

GROUP(times) {
  std::string f = dir + "/f";
  CHECK(put(f, "x"));
  timespec set[2] = {{1000000000, 123456789}, {1100000000, 987654321}};
  CHECK_OK(utimensat(AT_FDCWD, f.c_str(), set, 0));
  struct stat s = st(f);
  CHECK_EQ(s.st_atim.tv_sec, 1000000000);
  CHECK_EQ(s.st_atim.tv_nsec, 123456789);
  CHECK_EQ(s.st_mtim.tv_sec, 1100000000);
  CHECK_EQ(s.st_mtim.tv_nsec, 987654321);
  timespec omit_atime[2] = {{0, UTIME_OMIT}, {1200000000, 5}};
  CHECK_OK(utimensat(AT_FDCWD, f.c_str(), omit_atime, 0));
  s = st(f);
  CHECK_EQ(s.st_atim.tv_sec, 1000000000);
  CHECK_EQ(s.st_mtim.tv_nsec, 5);
  time_t before = time(nullptr);
  timespec now_mtime[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  CHECK_OK(utimensat(AT_FDCWD, f.c_str(), now_mtime, 0));
  s = st(f);
  CHECK(s.st_mtim.tv_sec >= before - 1 && s.st_mtim.tv_sec <= time(nullptr) + 1);
  CHECK_EQ(s.st_atim.tv_sec, 1000000000);
  CHECK_OK(utimensat(AT_FDCWD, f.c_str(), nullptr, 0));  // both now
  CHECK(st(f).st_atim.tv_sec >= before - 1);
  // Data changes move mtime and ctime; reads do not move mtime.
  timespec old[2] = {{1000, 0}, {1000, 0}};
  int fd = CHECK_OK(open(f.c_str(), O_RDWR));
  CHECK_OK(futimens(fd, old));
  char c;
  CHECK_EQ(pread(fd, &c, 1, 0), 1);
  CHECK_EQ(st(f).st_mtim.tv_sec, 1000);
  CHECK_EQ(pwrite(fd, "y", 1, 0), 1);
  s = st(f);
  CHECK(s.st_mtim.tv_sec > 1000);
  CHECK(s.st_ctim.tv_sec > 1000);
  close(fd);
  // Creating and removing names changes the directory's times.
  std::string d = dir + "/d";
  CHECK_OK(mkdir(d.c_str(), 0755));
  CHECK_OK(utimensat(AT_FDCWD, d.c_str(), old, 0));
  CHECK(put(d + "/new", ""));
  CHECK(st(d).st_mtim.tv_sec > 1000);
  CHECK(st(d).st_ctim.tv_sec > 1000);
  CHECK_OK(utimensat(AT_FDCWD, d.c_str(), old, 0));
  CHECK_OK(unlink((d + "/new").c_str()));
  CHECK(st(d).st_mtim.tv_sec > 1000);
  // A symlink's own times.
  CHECK_OK(symlink("f", (dir + "/l").c_str()));
  CHECK_OK(utimensat(AT_FDCWD, (dir + "/l").c_str(), set, AT_SYMLINK_NOFOLLOW));
  CHECK_EQ(lst(dir + "/l").st_mtim.tv_sec, 1100000000);
  CHECK(st(f).st_mtim.tv_sec != 1100000000);
  // ctime never goes backwards with an explicit time.
  time_t c_before = st(f).st_ctim.tv_sec;
  CHECK_OK(utimensat(AT_FDCWD, f.c_str(), old, 0));
  CHECK(st(f).st_ctim.tv_sec >= c_before);
}

GROUP(xattr) {
  std::string f = dir + "/f";
  CHECK(put(f, "x"));
  CHECK_OK(setxattr(f.c_str(), "user.color", "blue", 4, 0));
  char buf[256] = {};
  CHECK_EQ(getxattr(f.c_str(), "user.color", buf, sizeof(buf)), 4);
  CHECK_EQ(std::string(buf, 4), std::string("blue"));
  CHECK_EQ(getxattr(f.c_str(), "user.color", nullptr, 0), 4);  // size query
  CHECK_ERR(getxattr(f.c_str(), "user.color", buf, 2), ERANGE);
  CHECK_ERR(getxattr(f.c_str(), "user.missing", buf, sizeof(buf)), ENODATA);
  CHECK_ERR(setxattr(f.c_str(), "user.color", "red", 3, XATTR_CREATE), EEXIST);
  CHECK_ERR(setxattr(f.c_str(), "user.none", "x", 1, XATTR_REPLACE), ENODATA);
  CHECK_OK(setxattr(f.c_str(), "user.color", "red", 3, XATTR_REPLACE));
  CHECK_EQ(getxattr(f.c_str(), "user.color", buf, sizeof(buf)), 3);
  CHECK_OK(setxattr(f.c_str(), "user.empty", "", 0, 0));
  CHECK_EQ(getxattr(f.c_str(), "user.empty", buf, sizeof(buf)), 0);
  std::string binary("a\0b\xff", 4);
  CHECK_OK(setxattr(f.c_str(), "user.bin", binary.data(), binary.size(), 0));
  CHECK_EQ(getxattr(f.c_str(), "user.bin", buf, sizeof(buf)), 4);
  CHECK(std::string(buf, 4) == binary);
  ssize_t need = listxattr(f.c_str(), nullptr, 0);
  CHECK(need > 0);
  std::string names(static_cast<size_t>(std::max<ssize_t>(need, 0)), '\0');
  CHECK_EQ(listxattr(f.c_str(), names.data(), names.size()), need);
  CHECK(names.find("user.color") != std::string::npos);
  CHECK(names.find("user.bin") != std::string::npos);
  if (need > 1) CHECK_ERR(listxattr(f.c_str(), names.data(), 1), ERANGE);
  CHECK_OK(removexattr(f.c_str(), "user.color"));
  CHECK_ERR(removexattr(f.c_str(), "user.color"), ENODATA);
  CHECK_ERR(getxattr(f.c_str(), "user.color", buf, sizeof(buf)), ENODATA);
  std::string name255 = "user." + std::string(250, 'n');
  CHECK_OK(setxattr(f.c_str(), name255.c_str(), "v", 1, 0));
  std::string name256 = "user." + std::string(251, 'n');
  CHECK_ERR(setxattr(f.c_str(), name256.c_str(), "v", 1, 0), ERANGE);
  std::string huge(65537, 'h');
  CHECK_ERR(setxattr(f.c_str(), "user.huge", huge.data(), huge.size(), 0), E2BIG);
  CHECK_OK(setxattr(dir.c_str(), "user.ondir", "d", 1, 0));
  CHECK_EQ(getxattr(dir.c_str(), "user.ondir", buf, sizeof(buf)), 1);
  int fd = CHECK_OK(open(f.c_str(), O_RDONLY));
  CHECK_OK(fsetxattr(fd, "user.viafd", "fd", 2, 0));
  CHECK_EQ(fgetxattr(fd, "user.viafd", buf, sizeof(buf)), 2);
  close(fd);
  CHECK_ERR(setxattr(f.c_str(), "bogus.ns", "x", 1, 0), EOPNOTSUPP);
  // Attributes belong to the file, not the name.
  CHECK_OK(link(f.c_str(), (dir + "/g").c_str()));
  CHECK_EQ(getxattr((dir + "/g").c_str(), "user.viafd", buf, sizeof(buf)), 2);
  CHECK_OK(rename(f.c_str(), (dir + "/h").c_str()));
  CHECK_EQ(getxattr((dir + "/h").c_str(), "user.bin", buf, sizeof(buf)), 4);
}

// As an unprivileged user the kernel's permission rules hold.
GROUP(permissions) {
  if (!root()) return skip("needs root to switch users");
  const uid_t user = 65534, other = 65533;
  const gid_t group = 65534;
  std::string secret = dir + "/secret", open_file = dir + "/public";
  CHECK(put(secret, "s", 0600));
  CHECK(put(open_file, "p", 0644));
  CHECK_OK(mkdir((dir + "/rootdir").c_str(), 0755));
  CHECK(put(dir + "/rootdir/file", "r", 0666));
  CHECK_OK(mkdir((dir + "/shared").c_str(), 0777));
  CHECK_OK(mkdir((dir + "/sticky").c_str(), 01777));
  CHECK_OK(mkdir((dir + "/noexec").c_str(), 0700));
  CHECK_OK(chmod((dir + "/noexec").c_str(), 0766));  // rw for all, search for owner only
  CHECK(put(dir + "/noexec/inner", "i", 0644));
  CHECK(put(dir + "/sticky/others", "o", 0666));
  CHECK_OK(chown((dir + "/sticky/others").c_str(), other, group));
  CHECK(put(dir + "/writable", "w", 0666));
  as_user(user, group, [&] {
    CHECK_ERR(open(secret.c_str(), O_RDONLY), EACCES);
    int fd = CHECK_OK(open(open_file.c_str(), O_RDONLY));
    if (fd >= 0) close(fd);
    CHECK_ERR(open(open_file.c_str(), O_WRONLY), EACCES);
    CHECK_ERR(open((dir + "/rootdir/new").c_str(), O_CREAT | O_WRONLY, 0644), EACCES);
    CHECK_ERR(mkdir((dir + "/rootdir/sub").c_str(), 0755), EACCES);
    CHECK_ERR(unlink((dir + "/rootdir/file").c_str()), EACCES);
    CHECK(put(dir + "/shared/mine", "m"));
    CHECK_EQ(st(dir + "/shared/mine").st_uid, user);
    CHECK_OK(unlink((dir + "/shared/mine").c_str()));
    CHECK(put(dir + "/sticky/mine", "m"));
    CHECK_OK(unlink((dir + "/sticky/mine").c_str()));
    CHECK_ERR(unlink((dir + "/sticky/others").c_str()), EPERM);
    CHECK_ERR(rename((dir + "/sticky/others").c_str(), (dir + "/sticky/taken").c_str()), EPERM);
    CHECK_ERR(chmod(open_file.c_str(), 0777), EPERM);
    CHECK_ERR(chown(open_file.c_str(), user, group), EPERM);
    timespec t[2] = {{5, 0}, {5, 0}};
    CHECK_ERR(utimensat(AT_FDCWD, (dir + "/writable").c_str(), t, 0), EPERM);
    CHECK_OK(utimensat(AT_FDCWD, (dir + "/writable").c_str(), nullptr, 0));  // "now" needs only write access
    CHECK_ERR(open((dir + "/noexec/inner").c_str(), O_RDONLY), EACCES);
    CHECK_ERR(setxattr(open_file.c_str(), "user.x", "x", 1, 0), EACCES);
    CHECK_OK(access(open_file.c_str(), R_OK));
    CHECK_ERR(access(open_file.c_str(), W_OK), EACCES);
    CHECK_ERR(access(secret.c_str(), R_OK), EACCES);
  });
  CHECK_EQ(get(dir + "/sticky/others"), std::string("o"));
}

}  // namespace
}  // namespace compat
