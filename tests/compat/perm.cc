// Permission checks as unprivileged users (forked children that drop to
// uid 65534 "nobody" or to a second uid). Needs root to set things up.
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <cstdio>
#include <cstdlib>

#include "compat.h"

using namespace compat;

namespace {

bool setup_as_root() {
  if (is_root()) return true;
  skip("permission checks need root to switch users");
  return false;
}

void own(const char* path, uid_t uid, gid_t gid) {
  if (lchown(path, uid, gid) != 0) report(false, __FILE__, __LINE__, std::string("lchown ") + path, errstr(errno));
}

}  // namespace

GROUP("perm.read") {
  if (!setup_as_root()) return;
  put("secret", "root only", 0600);
  put("public", "everyone", 0644);
  put("mine", "A's", 0400);
  own("mine", kUserA, kGroupA);
  put("groupwise", "group", 0640);
  own("groupwise", 0, kGroupA);
  as_user(kUserA, kGroupA, [] {
    CHECK_ERRNO(open("secret", O_RDONLY), EACCES);
    CHECK_ERRNO(open("secret", O_WRONLY), EACCES);
    CHECK_ERRNO(access("secret", R_OK), EACCES);
    struct stat s;
    CHECK_OK(stat("secret", &s));  // stat needs no permission on the file
    CHECK_EQ(get("public"), "everyone");
    CHECK_ERRNO(open("public", O_WRONLY), EACCES);
    CHECK_ERRNO(truncate("public", 0), EACCES);
    CHECK_EQ(get("mine"), "A's");
    CHECK_ERRNO(open("mine", O_RDWR), EACCES);  // even the owner obeys the mode
    CHECK_OK(chmod("mine", 0600));
    CHECK_OK(closed(open("mine", O_RDWR)));
  });
  // Group membership: readable through the group class.
  as_user(kUserB, kGroupA, [] { CHECK_EQ(get("groupwise"), "group"); });
  as_user(kUserB, kGroupB, [] { CHECK_ERRNO(open("groupwise", O_RDONLY), EACCES); });
}

GROUP("perm.owner_class") {
  if (!setup_as_root()) return;
  // The owner class is decided first: the owner gets the owner bits even
  // when the group or other bits would allow more.
  put("f", "x", 0066);
  own("f", kUserA, kGroupA);
  as_user(kUserA, kGroupA, [] {
    CHECK_ERRNO(open("f", O_RDONLY), EACCES);
    CHECK_ERRNO(access("f", W_OK), EACCES);
  });
  as_user(kUserB, kGroupA, [] { CHECK_EQ(get("f"), "x"); });  // group member
  as_user(kUserB, kGroupB, [] { CHECK_EQ(get("f"), "x"); });  // other
  put("g", "y", 0606);
  own("g", 0, kGroupA);
  as_user(kUserB, kGroupA, [] { CHECK_ERRNO(open("g", O_RDONLY), EACCES); });  // the group class applies
}

GROUP("perm.write_dir") {
  if (!setup_as_root()) return;
  CHECK_OK(mkdir("rd", 0755));
  put("rd/f", "x", 0666);
  CHECK_OK(mkdir("rd/sub", 0777));
  CHECK_OK(mkdir("w1", 0777));
  CHECK_OK(mkdir("w2", 0777));
  CHECK_OK(mkdir("w1/rootsub", 0755));
  as_user(kUserA, kGroupA, [] {
    CHECK_ERRNO(open("rd/new", O_CREAT | O_WRONLY, 0644), EACCES);
    CHECK_ERRNO(mkdir("rd/newdir", 0755), EACCES);
    CHECK_ERRNO(unlink("rd/f"), EACCES);
    CHECK_ERRNO(rename("rd/f", "moved"), EACCES);
    CHECK_ERRNO(symlink("x", "rd/l"), EACCES);
    CHECK_ERRNO(mkfifo("rd/p", 0644), EACCES);
    CHECK_ERRNO(rmdir("rd/sub"), EACCES);
    // Moving a directory to another parent needs write permission on the
    // directory itself (its ".." changes); renaming it in place does not.
    CHECK_ERRNO(rename("w1/rootsub", "w2/rootsub"), EACCES);
    CHECK_OK(rename("w1/rootsub", "w1/renamed"));
    // The file itself stays writable: the mode of the file decides that.
    int fd = CHECK_OK(open("rd/f", O_WRONLY | O_TRUNC));
    CHECK_EQ(write(fd, "w", 1), 1);
    close(fd);
    // In the world-writable subdirectory everything is allowed.
    CHECK_OK(closed(open("rd/sub/mine", O_CREAT | O_WRONLY, 0644)));
    CHECK_EQ(st("rd/sub/mine").st_uid, kUserA);
    CHECK_EQ(st("rd/sub/mine").st_gid, kGroupA);
    CHECK_OK(unlink("rd/sub/mine"));
  });
  CHECK(exists("rd/f") && exists("rd/sub") && !exists("rd/new"));
}

GROUP("perm.sticky") {
  if (!setup_as_root()) return;
  CHECK_OK(mkdir("tmp", 0777));
  CHECK_OK(chmod("tmp", 01777));
  put("tmp/b_file", "B", 0666);
  own("tmp/b_file", kUserB, kGroupB);
  CHECK_OK(mkdir("tmp/b_dir", 0777));
  own("tmp/b_dir", kUserB, kGroupB);
  CHECK_OK(mkdir("owned", 0777));
  CHECK_OK(chmod("owned", 01777));
  own("owned", kUserA, kGroupA);
  put("owned/b_file", "B", 0666);
  own("owned/b_file", kUserB, kGroupB);
  as_user(kUserA, kGroupA, [] {
    CHECK_ERRNO(unlink("tmp/b_file"), EPERM);
    CHECK_ERRNO(rename("tmp/b_file", "tmp/renamed"), EPERM);
    CHECK_ERRNO(rmdir("tmp/b_dir"), EPERM);
    put("tmp/a_file", "A");
    CHECK_ERRNO(rename("tmp/a_file", "tmp/b_file"), EPERM);  // replacing B's file is deleting it
    CHECK_OK(rename("tmp/a_file", "tmp/a_file2"));  // A's own file is fine
    CHECK_OK(unlink("tmp/a_file2"));
    CHECK_EQ(get("tmp/b_file"), "B");  // reading and writing are not affected
    int fd = CHECK_OK(open("tmp/b_file", O_WRONLY | O_APPEND));
    CHECK_EQ(write(fd, "+A", 2), 2);
    close(fd);
    // The owner of the sticky directory may delete anything in it.
    CHECK_OK(unlink("owned/b_file"));
  });
  CHECK_EQ(get("tmp/b_file"), "B+A");
  CHECK(!exists("owned/b_file"));
  CHECK_OK(unlink("tmp/b_file"));  // and root may too
}

GROUP("perm.chmod") {
  if (!setup_as_root()) return;
  put("roots", "x", 0666);
  put("mine", "x", 0644);
  own("mine", kUserA, kGroupA);
  put("foreign_group", "x", 0755);
  own("foreign_group", kUserA, kGroupOther);
  CHECK_OK(mkdir("d", 0777));
  own("d", kUserA, kGroupOther);
  as_user(kUserA, kGroupA, [] {
    CHECK_ERRNO(chmod("roots", 0600), EPERM);
    CHECK_ERRNO(fchmod(CHECK_OK(open("roots", O_RDWR)), 0600), EPERM);  // an open descriptor is no licence
    CHECK_OK(chmod("mine", 0600));
    CHECK_EQ(perms("mine"), 0600u);
    CHECK_OK(chmod("mine", 04755));  // set-user-ID on one's own file is allowed
    CHECK_EQ(perms("mine"), 04755u);
    // Set-group-ID for a group one is not in is silently dropped.
    CHECK_OK(chmod("foreign_group", 02755));
    CHECK_EQ(perms("foreign_group"), 0755u);
    CHECK_OK(chmod("d", 02777));
    CHECK_EQ(perms("d"), 0777u);
    // The sticky bit on one's own directory is fine.
    CHECK_OK(chmod("d", 01777));
    CHECK_EQ(perms("d"), 01777u);
  });
  CHECK_EQ(perms("roots"), 0666u);
}

GROUP("perm.chown") {
  if (!setup_as_root()) return;
  put("mine", "x", 0644);
  own("mine", kUserA, kGroupA);
  put("roots", "x", 0666);
  as_user(kUserA, kGroupA, [] {
    CHECK_ERRNO(chown("mine", kUserB, kGroupA), EPERM);  // giving a file away
    CHECK_ERRNO(chown("mine", -1, kGroupB), EPERM);  // to a group one is not in
    CHECK_ERRNO(chown("roots", kUserA, kGroupA), EPERM);  // taking a file
    CHECK_ERRNO(lchown("roots", -1, kGroupA), EPERM);
    CHECK_OK(chown("mine", kUserA, kGroupA));  // no change is allowed
    CHECK_OK(chown("mine", -1, -1));
  });
  CHECK_EQ(st("mine").st_uid, kUserA);
  CHECK_EQ(st("roots").st_uid, 0u);
}

GROUP("perm.utimens") {
  if (!setup_as_root()) return;
  put("writable", "x", 0666);
  put("readonly", "x", 0644);
  put("mine", "x", 0644);
  own("mine", kUserA, kGroupA);
  struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  utimensat(AT_FDCWD, "writable", old, 0);
  as_user(kUserA, kGroupA, [] {
    struct timespec t[2] = {{1200000000, 0}, {1200000000, 0}};
    CHECK_ERRNO(utimensat(AT_FDCWD, "writable", t, 0), EPERM);  // explicit times: owner only
    CHECK_ERRNO(utimensat(AT_FDCWD, "readonly", t, 0), EPERM);
    struct timespec omit[2] = {{0, UTIME_OMIT}, {1200000000, 0}};
    CHECK_ERRNO(utimensat(AT_FDCWD, "writable", omit, 0), EPERM);
    CHECK_OK(utimensat(AT_FDCWD, "writable", nullptr, 0));  // "now" needs only write access
    CHECK(st("writable").st_mtim.tv_sec != 1000000000);
    struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    CHECK_OK(utimensat(AT_FDCWD, "writable", now, 0));
    CHECK_ERRNO(utimensat(AT_FDCWD, "readonly", nullptr, 0), EACCES);
    CHECK_OK(utimensat(AT_FDCWD, "mine", t, 0));
    CHECK_EQ(st("mine").st_mtim.tv_sec, 1200000000);
  });
}

GROUP("perm.search") {
  if (!setup_as_root()) return;
  CHECK_OK(mkdir("noexec", 0777));
  put("noexec/f", "x", 0644);
  CHECK_OK(chmod("noexec", 0666));  // read and write, but no search
  CHECK_OK(mkdir("noread", 0777));
  put("noread/f", "hidden name", 0644);
  CHECK_OK(chmod("noread", 0311));  // search without read
  CHECK_OK(mkdir("outer", 0700));  // nested: a closed parent blocks everything below
  CHECK_OK(mkdir("outer/inner", 0777));
  put("outer/inner/f", "x", 0666);
  as_user(kUserA, kGroupA, [] {
    struct stat s;
    CHECK_ERRNO(stat("noexec/f", &s), EACCES);
    CHECK_ERRNO(open("noexec/f", O_RDONLY), EACCES);
    CHECK_ERRNO(open("noexec/new", O_CREAT | O_WRONLY, 0644), EACCES);
    CHECK_ERRNO(chdir("noexec"), EACCES);
    CHECK_ERRNO(unlink("noexec/f"), EACCES);
    auto names = list_dir("noexec");  // the names are readable without search
    CHECK(names == std::vector<std::string>{"f"});
    CHECK_ERRNO(open("noread", O_RDONLY | O_DIRECTORY), EACCES);
    CHECK_EQ(get("noread/f"), "hidden name");  // a known name is reachable
    CHECK_ERRNO(stat("outer/inner/f", &s), EACCES);
    CHECK_ERRNO(access("outer/inner", F_OK), EACCES);
  });
}

GROUP("perm.setgid_create") {
  if (!setup_as_root()) return;
  CHECK_OK(mkdir("sg", 0777));
  own("sg", 0, kGroupOther);
  CHECK_OK(chmod("sg", 02777));
  as_user(kUserA, kGroupA, [] {
    // A file asking for set-group-ID for a group the creator is not in loses the bit.
    CHECK_OK(closed(open("sg/f", O_CREAT | O_WRONLY, 02755)));
    CHECK_EQ(st("sg/f").st_gid, kGroupOther);
    CHECK_EQ(perms("sg/f"), 0755u);
    CHECK_EQ(st("sg/f").st_uid, kUserA);
    CHECK_OK(mkdir("sg/d", 0755));
    CHECK_EQ(st("sg/d").st_gid, kGroupOther);
    CHECK((perms("sg/d") & S_ISGID) != 0);  // directories inherit it regardless
  });
}

GROUP("perm.kill_suid") {
  if (!setup_as_root()) return;
  // A write or truncate by someone else clears set-user-ID and set-group-ID.
  put("w", "0123", 0777);
  CHECK_OK(chmod("w", 06777));
  put("t", "0123", 0777);
  CHECK_OK(chmod("t", 06777));
  as_user(kUserA, kGroupA, [] {
    int fd = CHECK_OK(open("w", O_WRONLY));
    CHECK_EQ(write(fd, "x", 1), 1);
    close(fd);
    CHECK_OK(truncate("t", 1));
  });
  CHECK_EQ(perms("w"), 0777u);
  CHECK_EQ(perms("t"), 0777u);
  // Root's own writes keep them (CAP_FSETID).
  put("r", "0123", 0755);
  CHECK_OK(chmod("r", 06755));
  int fd = CHECK_OK(open("r", O_WRONLY));
  CHECK_EQ(write(fd, "x", 1), 1);
  close(fd);
  CHECK_EQ(perms("r"), 06755u);
}

namespace {

// Each way of changing a file's data, done by a user who is not the owner
// (buffered write first: the others must behave as it does). Each returns 0
// or the errno of the call that failed.
struct DataChange {
  const char* name;
  int (*run)(const char* path);
};

int change_buffered(const char* path) {
  int fd = open(path, O_WRONLY);
  if (fd < 0) return errno;
  int e = pwrite(fd, "x", 1, 0) == 1 ? 0 : errno;
  close(fd);
  return e;
}

int change_direct(const char* path) {
  int fd = open(path, O_WRONLY | O_DIRECT);
  if (fd < 0) return errno;
  void* buf = nullptr;
  if (posix_memalign(&buf, 4096, 4096) != 0) std::abort();
  std::memset(buf, 'y', 4096);
  int e = pwrite(fd, buf, 4096, 0) == 4096 ? 0 : errno;
  free(buf);
  close(fd);
  return e;
}

template <int Mode>
int change_fallocate(const char* path) {
  int fd = open(path, O_WRONLY);
  if (fd < 0) return errno;
  int e = fallocate(fd, Mode, 0, 4096) == 0 ? 0 : errno;
  close(fd);
  return e;
}

constexpr DataChange kDataChanges[] = {
    {"write", change_buffered},
    {"O_DIRECT write", change_direct},
    {"fallocate", change_fallocate<0>},
    {"punch hole", change_fallocate<FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE>},
    {"zero range", change_fallocate<FALLOC_FL_ZERO_RANGE>},
};

}  // namespace

GROUP("perm.kill_suid_data") {
  if (!setup_as_root()) return;
  // Set-user-ID always goes; set-group-ID goes when the file is
  // group-executable or the writer is not in the file's group (Linux since
  // 6.2: "sgid without group exec" is no longer left for non-members).
  struct Case {
    mode_t before;
    gid_t group;
    mode_t after;  // when changed by kUserA, whose group is kGroupA
  };
  constexpr Case kCases[] = {
      {06666, 0, 00666},
      {06676, 0, 00676},
      {06666, kGroupA, 02666},
      {06676, kGroupA, 00676},
  };
  int n = 0;
  for (const DataChange& change : kDataChanges) {
    for (const Case& c : kCases) {
      std::string path = "f" + std::to_string(n++);
      put(path.c_str(), std::string(8192, 'a'), 0666);
      own(path.c_str(), 0, c.group);
      CHECK_OK(chmod(path.c_str(), c.before));
      // The child reports through the file: its mode says whether it ran.
      std::string errfile = path + ".err";
      as_user(kUserA, kGroupA, [&] {
        int e = change.run(path.c_str());
        if (e != 0) put(errfile.c_str(), std::to_string(e));
      });
      if (exists(errfile.c_str())) {
        int e = std::atoi(get(errfile.c_str()).c_str());
        if (e == EOPNOTSUPP) {
          skip(std::string(change.name) + " is not supported here");
          break;
        }
        report(false, __FILE__, __LINE__, change.name, "failed: " + errstr(e));
        continue;
      }
      mode_t got = perms(path.c_str());
      char what[160];
      std::snprintf(what, sizeof(what), "%s by a non-owner: %04o (group %u) becomes %04o", change.name,
                    c.before, c.group, c.after);
      char detail[64];
      std::snprintf(detail, sizeof(detail), "got %04o", got);
      report(got == c.after, __FILE__, __LINE__, what, detail);
    }
  }
}

GROUP("perm.access") {
  if (!setup_as_root()) return;
  put("ro", "x", 0444);
  put("rx", "x", 0755);
  put("none", "x", 0);
  as_user(kUserA, kGroupA, [] {
    CHECK_OK(access("ro", R_OK));
    CHECK_ERRNO(access("ro", W_OK), EACCES);
    CHECK_ERRNO(access("ro", X_OK), EACCES);
    CHECK_OK(access("rx", R_OK | X_OK));
    CHECK_ERRNO(access("none", R_OK), EACCES);
    CHECK_OK(access("none", F_OK));
    CHECK_ERRNO(faccessat(AT_FDCWD, "ro", W_OK, AT_EACCESS), EACCES);
  });
}

GROUP("perm.special") {
  if (!setup_as_root()) return;
  put("f", "x", 0644);
  as_user(kUserA, kGroupA, [] {
    CHECK_ERRNO(mknod("chr", S_IFCHR | 0666, makedev(1, 3)), EPERM);
    CHECK_ERRNO(mknod("blk", S_IFBLK | 0666, makedev(7, 0)), EPERM);
    CHECK_OK(mkfifo("fifo", 0644));  // a fifo needs no privilege
    CHECK_EQ(lst("fifo").st_uid, kUserA);
    // protected_hardlinks or not, linking one's own file works.
    put("own", "o");
    CHECK_OK(link("own", "own2"));
    // user.* xattrs need write permission on the file.
    CHECK_ERRNO(setxattr("f", "user.x", "v", 1, 0), EACCES);
  });
}
