// open(2) and file creation: flags, errors, O_CREAT/O_EXCL/O_TRUNC/O_APPEND,
// O_DIRECTORY, O_NOFOLLOW, O_PATH, O_TMPFILE.
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <thread>

#include "compat.h"

using namespace compat;

GROUP("open.access_modes") {
  put("f", "hello");
  char buf[16];
  int fd = CHECK_OK(open("f", O_RDONLY));
  CHECK_EQ(read(fd, buf, sizeof(buf)), 5);
  CHECK_ERRNO(write(fd, "x", 1), EBADF);
  close(fd);

  fd = CHECK_OK(open("f", O_WRONLY));
  CHECK_ERRNO(read(fd, buf, 1), EBADF);
  CHECK_EQ(write(fd, "J", 1), 1);
  close(fd);
  CHECK_EQ(get("f"), "Jello");

  fd = CHECK_OK(open("f", O_RDWR));
  CHECK_EQ(pwrite(fd, "Y", 1, 4), 1);
  CHECK_EQ(pread_str(fd, 0, 16), "JellY");
  CHECK_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
  close(fd);
}

GROUP("open.errors") {
  put("f", "x");
  CHECK_OK(mkdir("d", 0755));
  CHECK_ERRNO(open("missing", O_RDONLY), ENOENT);
  CHECK_ERRNO(open("missing/x", O_RDONLY), ENOENT);
  CHECK_ERRNO(open("missing/x", O_RDWR | O_CREAT, 0644), ENOENT);
  CHECK_ERRNO(open("f/x", O_RDONLY), ENOTDIR);
  CHECK_ERRNO(open("f/x", O_RDWR | O_CREAT, 0644), ENOTDIR);
  CHECK_ERRNO(open("f/", O_RDONLY), ENOTDIR);
  CHECK_ERRNO(open("", O_RDONLY), ENOENT);
  CHECK_ERRNO(open("d", O_WRONLY), EISDIR);
  CHECK_ERRNO(open("d", O_RDWR), EISDIR);
  CHECK_ERRNO(open("d", O_RDONLY | O_CREAT, 0644), EISDIR);
  CHECK_ERRNO(open("d/", O_RDWR | O_CREAT, 0644), EISDIR);
  CHECK_ERRNO(open("newdir/", O_RDWR | O_CREAT, 0644), EISDIR);
  CHECK(!exists("newdir"));
  int dfd = CHECK_OK(open("d", O_RDONLY));
  char c;
  CHECK_ERRNO(read(dfd, &c, 1), EISDIR);
  CHECK_ERRNO(write(dfd, "x", 1), EBADF);
  CHECK_OK(close(dfd));
  CHECK_OK(closed(open("d/", O_RDONLY)));
  CHECK_OK(closed(open("d/.", O_RDONLY)));
  CHECK_OK(closed(open("d/../f", O_RDONLY)));
}

GROUP("open.offsets") {
  put("f", "0123456789");
  int a = CHECK_OK(open("f", O_RDONLY));
  int b = CHECK_OK(open("f", O_RDONLY));
  char buf[4];
  CHECK_EQ(read(a, buf, 4), 4);
  CHECK_EQ(lseek(b, 0, SEEK_CUR), 0);  // independent opens: independent offsets
  int c = CHECK_OK(dup(a));
  CHECK_EQ(lseek(c, 0, SEEK_CUR), 4);  // dup shares the offset
  CHECK_EQ(read(c, buf, 2), 2);
  CHECK_EQ(lseek(a, 0, SEEK_CUR), 6);
  CHECK_EQ(lseek(a, -1, SEEK_END), 9);
  CHECK_EQ(read(a, buf, 4), 1);
  CHECK_EQ(buf[0], '9');
  CHECK_EQ(lseek(a, 100, SEEK_SET), 100);
  CHECK_EQ(read(a, buf, 4), 0);
  CHECK_ERRNO(lseek(a, -1, SEEK_SET), EINVAL);
  CHECK_ERRNO(lseek(a, 0, 12345), EINVAL);
  close(a);
  close(b);
  close(c);
}

GROUP("open.shared_view") {
  // Two descriptors of the same file see each other's writes at once.
  int w = CHECK_OK(open("f", O_RDWR | O_CREAT, 0644));
  int r = CHECK_OK(open("f", O_RDONLY));
  CHECK_EQ(write(w, "abc", 3), 3);
  CHECK_EQ(pread_str(r, 0, 10), "abc");
  CHECK_EQ(fst(r).st_size, 3);
  CHECK_EQ(pwrite(w, "Z", 1, 1), 1);
  CHECK_EQ(pread_str(r, 0, 10), "aZc");
  CHECK_OK(ftruncate(w, 1));
  CHECK_EQ(pread_str(r, 0, 10), "a");
  close(w);
  close(r);
}

GROUP("open.cloexec") {
  put("f", "x");
  int a = CHECK_OK(open("f", O_RDONLY | O_CLOEXEC));
  CHECK((fcntl(a, F_GETFD) & FD_CLOEXEC) != 0);
  int b = CHECK_OK(open("f", O_RDONLY));
  CHECK((fcntl(b, F_GETFD) & FD_CLOEXEC) == 0);
  close(a);
  close(b);
}

GROUP("open.directory") {
  put("f", "x");
  CHECK_OK(mkdir("d", 0755));
  CHECK_OK(symlink("d", "ld"));
  CHECK_OK(symlink("f", "lf"));
  CHECK_OK(closed(open("d", O_RDONLY | O_DIRECTORY)));
  CHECK_OK(closed(open("ld", O_RDONLY | O_DIRECTORY)));
  CHECK_ERRNO(open("f", O_RDONLY | O_DIRECTORY), ENOTDIR);
  CHECK_ERRNO(open("lf", O_RDONLY | O_DIRECTORY), ENOTDIR);
  CHECK_ERRNO(open("missing", O_RDONLY | O_DIRECTORY), ENOENT);
  CHECK_ERRNO(open("d", O_WRONLY | O_DIRECTORY), EISDIR);
  // The O_DIRECTORY test comes first on Linux.
  CHECK_ERRNO(open("ld", O_RDONLY | O_DIRECTORY | O_NOFOLLOW), ENOTDIR);
}

GROUP("open.nofollow") {
  put("f", "data");
  CHECK_OK(mkdir("d", 0755));
  put("d/g", "gee");
  CHECK_OK(symlink("f", "lf"));
  CHECK_OK(symlink("d", "ld"));
  CHECK_ERRNO(open("lf", O_RDONLY | O_NOFOLLOW), ELOOP);
  CHECK_ERRNO(open("lf", O_WRONLY | O_CREAT | O_NOFOLLOW, 0644), ELOOP);
  CHECK_ERRNO(open("ld", O_RDONLY | O_NOFOLLOW), ELOOP);
  CHECK_OK(closed(open("f", O_RDONLY | O_NOFOLLOW)));
  // O_NOFOLLOW concerns the last component only.
  int fd = CHECK_OK(open("ld/g", O_RDONLY | O_NOFOLLOW));
  CHECK_EQ(pread_str(fd, 0, 10), "gee");
  close(fd);
  // O_PATH|O_NOFOLLOW opens the link itself.
  fd = CHECK_OK(open("lf", O_PATH | O_NOFOLLOW));
  CHECK(S_ISLNK(fst(fd).st_mode));
  close(fd);
  CHECK_EQ(get("f"), "data");
}

GROUP("open.path") {
  put("f", "data");
  int fd = CHECK_OK(open("f", O_PATH));
  char c;
  CHECK_ERRNO(read(fd, &c, 1), EBADF);
  CHECK_ERRNO(write(fd, "x", 1), EBADF);
  CHECK(S_ISREG(fst(fd).st_mode));
  CHECK_EQ(fst(fd).st_size, 4);
  close(fd);
  CHECK_OK(mkdir("d", 0755));
  int dfd = CHECK_OK(open("d", O_PATH | O_DIRECTORY));
  CHECK_OK(closed(openat(dfd, "x", O_CREAT | O_WRONLY, 0600)));
  CHECK(exists("d/x"));
  close(dfd);
}

GROUP("create.basic") {
  struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  CHECK_OK(utimensat(AT_FDCWD, ".", old, 0));
  int fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0640));
  struct stat s = fst(fd);
  CHECK(S_ISREG(s.st_mode));
  CHECK_EQ(s.st_mode & 07777, 0640u);
  CHECK_EQ(s.st_size, 0);
  CHECK_EQ(s.st_nlink, 1u);
  CHECK_EQ(s.st_uid, geteuid());
  CHECK_EQ(s.st_gid, getegid());
  CHECK(s.st_ino != 0);
  CHECK_EQ(lst("f").st_ino, s.st_ino);
  CHECK(st(".").st_mtim.tv_sec != 1000000000);  // the directory changed
  CHECK(st(".").st_ctim.tv_sec != 1000000000);
  CHECK_EQ(write(fd, "abc", 3), 3);
  close(fd);

  // O_CREAT of an existing file neither truncates nor changes its mode.
  fd = CHECK_OK(open("f", O_RDWR | O_CREAT, 0777));
  CHECK_EQ(fst(fd).st_size, 3);
  CHECK_EQ(fst(fd).st_ino, s.st_ino);
  CHECK_EQ(perms("f"), 0640u);
  close(fd);

  // creat() is O_CREAT|O_WRONLY|O_TRUNC.
  fd = CHECK_OK(creat("g", 0600));
  CHECK_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_WRONLY);
  CHECK_EQ(perms("g"), 0600u);
  close(fd);

  // A mode without any permission bit: the creator still gets its descriptor.
  fd = CHECK_OK(open("none", O_RDWR | O_CREAT, 0));
  CHECK_EQ(write(fd, "z", 1), 1);
  CHECK_EQ(perms("none"), 0u);
  close(fd);
}

GROUP("create.umask") {
  umask(022);
  CHECK_OK(closed(open("a", O_CREAT | O_WRONLY, 0666)));
  CHECK_EQ(perms("a"), 0644u);
  umask(077);
  CHECK_OK(closed(open("b", O_CREAT | O_WRONLY, 0666)));
  CHECK_EQ(perms("b"), 0600u);
  umask(0);
  CHECK_OK(closed(open("c", O_CREAT | O_WRONLY, 0777)));
  CHECK_EQ(perms("c"), 0777u);
}

GROUP("create.excl") {
  put("f", "keep");
  CHECK_OK(mkdir("d", 0755));
  CHECK_OK(symlink("f", "lf"));
  CHECK_OK(symlink("nowhere", "dangling"));
  int fd = CHECK_OK(open("new", O_RDWR | O_CREAT | O_EXCL, 0644));
  CHECK(S_ISREG(fst(fd).st_mode));
  close(fd);
  CHECK_ERRNO(open("new", O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST);
  CHECK_ERRNO(open("f", O_RDWR | O_CREAT | O_EXCL | O_TRUNC, 0644), EEXIST);
  CHECK_EQ(get("f"), "keep");
  CHECK_ERRNO(open("d", O_RDONLY | O_CREAT | O_EXCL, 0644), EEXIST);
  CHECK_ERRNO(open("lf", O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST);
  // O_EXCL never follows a symlink, not even a dangling one.
  CHECK_ERRNO(open("dangling", O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST);
  CHECK(!exists("nowhere"));
}

GROUP("create.excl_race") {
  // Several threads race to create each name exclusively: exactly one wins.
  constexpr int kThreads = 4, kNames = 64;
  std::atomic<int> wins[kNames];
  for (auto& w : wins) w = 0;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kNames; ++i) {
        std::string name = "n" + std::to_string(i);
        int fd = open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) {
          ++wins[i];
          close(fd);
        } else if (errno != EEXIST) {
          ++errors;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  bool exactly_one = true;
  for (auto& w : wins) exactly_one = exactly_one && w == 1;
  CHECK(exactly_one);
  CHECK_EQ(errors.load(), 0);
  CHECK_EQ(list_dir(".").size(), static_cast<size_t>(kNames));
}

GROUP("create.dangling_symlink") {
  // O_CREAT without O_EXCL follows a dangling symlink and creates its target.
  CHECK_OK(symlink("target", "link"));
  int fd = CHECK_OK(open("link", O_WRONLY | O_CREAT, 0600));
  CHECK_EQ(write(fd, "via link", 8), 8);
  close(fd);
  CHECK(S_ISREG(lst("target").st_mode));
  CHECK(S_ISLNK(lst("link").st_mode));
  CHECK_EQ(get("target"), "via link");
}

GROUP("create.trunc") {
  put("f", "hello world", 0640);
  struct stat before = st("f");
  struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  CHECK_OK(utimensat(AT_FDCWD, "f", old, 0));
  int fd = CHECK_OK(open("f", O_WRONLY | O_TRUNC));
  struct stat s = fst(fd);
  CHECK_EQ(s.st_size, 0);
  CHECK_EQ(s.st_ino, before.st_ino);
  CHECK_EQ(s.st_mode & 07777, 0640u);
  CHECK(s.st_mtim.tv_sec != 1000000000);
  CHECK_EQ(write(fd, "new", 3), 3);
  close(fd);
  CHECK_EQ(get("f"), "new");
  fd = CHECK_OK(open("f", O_RDWR | O_CREAT | O_TRUNC, 0600));
  CHECK_EQ(fst(fd).st_size, 0);
  CHECK_EQ(perms("f"), 0640u);  // mode of an existing file is kept
  close(fd);
  // O_TRUNC through a second descriptor is visible through the first.
  put("g", "0123456789");
  int a = CHECK_OK(open("g", O_RDONLY));
  int b = CHECK_OK(open("g", O_WRONLY | O_TRUNC));
  CHECK_EQ(fst(a).st_size, 0);
  CHECK_EQ(pread_str(a, 0, 10), "");
  close(a);
  close(b);
}

GROUP("create.append") {
  put("f", "start");
  int fd = CHECK_OK(open("f", O_WRONLY | O_APPEND));
  CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
  CHECK_EQ(write(fd, "+1", 2), 2);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 7);  // the offset follows the append
  int other = CHECK_OK(open("f", O_WRONLY | O_APPEND));
  CHECK_EQ(write(other, "+2", 2), 2);
  CHECK_EQ(write(fd, "+3", 2), 2);  // still at the true end, past other's data
  close(other);
  close(fd);
  CHECK_EQ(get("f"), "start+1+2+3");
  CHECK((fcntl(CHECK_OK(open("f", O_RDWR | O_APPEND)), F_GETFL) & O_APPEND) != 0);
  // Clearing O_APPEND with F_SETFL makes writes positional again.
  fd = CHECK_OK(open("f", O_RDWR | O_APPEND));
  CHECK_OK(fcntl(fd, F_SETFL, 0));
  CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
  CHECK_EQ(write(fd, "S", 1), 1);
  close(fd);
  CHECK_EQ(get("f"), "Start+1+2+3");
}

GROUP("create.append_concurrent") {
  // Appends from threads and from a second process never overwrite each other.
  constexpr int kThreads = 4, kRecords = 200, kLen = 64;
  CHECK_OK(closed(open("log", O_WRONLY | O_CREAT, 0644)));
  auto writer = [](char tag) {
    int fd = open("log", O_WRONLY | O_APPEND);
    bool ok = fd >= 0;
    for (int i = 0; ok && i < kRecords; ++i) {
      std::string rec(kLen - 1, tag);
      rec += '\n';
      ok = write(fd, rec.data(), rec.size()) == kLen;
    }
    if (fd >= 0) close(fd);
    return ok;
  };
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) _exit(writer('P') ? 0 : 1);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back([&, t] { ok += writer(static_cast<char>('a' + t)); });
  for (auto& t : threads) t.join();
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK_EQ(ok.load(), kThreads);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::string all = get("log");
  CHECK_EQ(all.size(), static_cast<size_t>((kThreads + 1) * kRecords * kLen));
  bool intact = all.size() % kLen == 0;
  int per_tag[256] = {};
  for (size_t i = 0; intact && i < all.size(); i += kLen) {
    char tag = all[i];
    intact = all.compare(i, kLen - 1, std::string(kLen - 1, tag)) == 0 && all[i + kLen - 1] == '\n';
    per_tag[static_cast<unsigned char>(tag)]++;
  }
  CHECK(intact);
  CHECK_EQ(per_tag[static_cast<unsigned char>('P')], kRecords);
}

GROUP("create.tmpfile") {
  int fd = open(".", O_TMPFILE | O_RDWR, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    skip(std::string("O_TMPFILE not supported: ") + errstr(errno));
    return;
  }
  CHECK(fd >= 0);
  if (fd < 0) return;
  CHECK(list_dir(".").empty());
  CHECK_EQ(fst(fd).st_nlink, 0u);
  CHECK_EQ(write(fd, "anon", 4), 4);
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  CHECK_OK(linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, "named", AT_SYMLINK_FOLLOW));
  CHECK_EQ(get("named"), "anon");
  CHECK_EQ(fst(fd).st_nlink, 1u);
  close(fd);
  // O_EXCL: the file can never get a name.
  fd = open(".", O_TMPFILE | O_RDWR | O_EXCL, 0600);
  CHECK(fd >= 0);
  proc = "/proc/self/fd/" + std::to_string(fd);
  CHECK_ERRNO(linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, "never", AT_SYMLINK_FOLLOW), ENOENT);
  close(fd);
}
