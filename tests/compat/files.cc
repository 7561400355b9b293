// open, read/write, truncate, unlink, fallocate and seek, copy_file_range,
// access, name limits.
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <atomic>
#include <random>
#include <thread>

#include "compat.h"

namespace compat {
namespace {

GROUP(open) {
  std::string f = dir + "/f";
  int fd = CHECK_OK(open(f.c_str(), O_CREAT | O_EXCL | O_RDWR, 0640));
  CHECK_EQ(st(f).st_mode & 07777, 0640u);
  CHECK(S_ISREG(st(f).st_mode));
  CHECK_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
  close(fd);
  CHECK_ERR(open(f.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
  CHECK_ERR(open((dir + "/missing").c_str(), O_RDONLY), ENOENT);
  CHECK_ERR(open((dir + "/nodir/x").c_str(), O_CREAT | O_WRONLY, 0644), ENOENT);
  CHECK_ERR(open((f + "/x").c_str(), O_RDONLY), ENOTDIR);
  CHECK_ERR(open(f.c_str(), O_RDONLY | O_DIRECTORY), ENOTDIR);
  int dfd = CHECK_OK(open(dir.c_str(), O_RDONLY | O_DIRECTORY));
  close(dfd);
  CHECK_ERR(open(dir.c_str(), O_WRONLY), EISDIR);
  CHECK_ERR(open(dir.c_str(), O_RDWR), EISDIR);
  CHECK_OK(symlink("f", (dir + "/link").c_str()));
  CHECK_ERR(open((dir + "/link").c_str(), O_RDONLY | O_NOFOLLOW), ELOOP);
  CHECK_ERR(open((dir + "/link").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
  // O_CREAT through a dangling symlink creates the target.
  CHECK_OK(symlink("target", (dir + "/dangling").c_str()));
  fd = CHECK_OK(open((dir + "/dangling").c_str(), O_CREAT | O_WRONLY, 0600));
  close(fd);
  CHECK(exists(dir + "/target"));
  // O_TRUNC empties, O_APPEND appends.
  CHECK(put(f, "hello world"));
  fd = CHECK_OK(open(f.c_str(), O_WRONLY | O_TRUNC));
  close(fd);
  CHECK_EQ(st(f).st_size, 0);
  CHECK(put(f, "abc"));
  fd = CHECK_OK(open(f.c_str(), O_WRONLY | O_APPEND));
  CHECK_EQ(write(fd, "def", 3), 3);
  CHECK_EQ(pwrite(fd, "ghi", 3, 0), 3);  // Linux: pwrite on O_APPEND appends too
  close(fd);
  CHECK_EQ(get(f), std::string("abcdefghi"));
  fd = CHECK_OK(open(f.c_str(), O_RDONLY));
  CHECK_ERR(write(fd, "x", 1), EBADF);
  close(fd);
  fd = CHECK_OK(open(f.c_str(), O_WRONLY));
  char c;
  CHECK_ERR(read(fd, &c, 1), EBADF);
  close(fd);
  // Exactly one of several racing O_EXCL creators wins.
  std::atomic<int> winners{0}, losers{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      int r = open((dir + "/race").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
      if (r >= 0) {
        winners++;
        close(r);
      } else if (errno == EEXIST) {
        losers++;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK_EQ(winners.load(), 1);
  CHECK_EQ(losers.load(), 7);
}

GROUP(readwrite) {
  std::string f = dir + "/f";
  int fd = CHECK_OK(open(f.c_str(), O_CREAT | O_RDWR, 0644));
  CHECK_EQ(write(fd, "0123456789", 10), 10);
  char buf[64] = {};
  CHECK_EQ(pread(fd, buf, 4, 3), 4);
  CHECK_EQ(std::string(buf, 4), std::string("3456"));
  CHECK_EQ(pread(fd, buf, 64, 8), 2);
  CHECK_EQ(pread(fd, buf, 64, 10), 0);
  CHECK_EQ(pread(fd, buf, 64, 1000), 0);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 10);
  CHECK_EQ(lseek(fd, 2, SEEK_SET), 2);
  CHECK_EQ(read(fd, buf, 3), 3);
  CHECK_EQ(lseek(fd, 0, SEEK_CUR), 5);
  CHECK_EQ(lseek(fd, -1, SEEK_END), 9);
  CHECK_ERR(lseek(fd, -100, SEEK_SET), EINVAL);
  CHECK_EQ(pwrite(fd, "X", 1, 20), 1);
  CHECK_EQ(st(f).st_size, 21);
  CHECK_EQ(pread(fd, buf, 10, 10), 10);
  CHECK_EQ(std::string(buf, 10), std::string(10, '\0'));
  iovec iov[3] = {{const_cast<char*>("ab"), 2}, {const_cast<char*>("cd"), 2}, {const_cast<char*>("ef"), 2}};
  CHECK_EQ(pwritev(fd, iov, 3, 0), 6);
  char a[2], b[4];
  iovec riov[2] = {{a, 2}, {b, 4}};
  CHECK_EQ(preadv(fd, riov, 2, 0), 6);
  CHECK_EQ(std::string(a, 2) + std::string(b, 4), std::string("abcdef"));
  CHECK_OK(fsync(fd));
  CHECK_OK(fdatasync(fd));
  close(fd);

  // A 5 MiB pattern survives a round trip.
  std::string big(5 << 20, '\0');
  std::mt19937 rng(1);
  for (auto& ch : big) ch = static_cast<char>(rng());
  CHECK(put(dir + "/big", big));
  CHECK(get(dir + "/big") == big);

  // Writers on disjoint ranges, from threads and from another process.
  fd = CHECK_OK(open((dir + "/shared").c_str(), O_CREAT | O_RDWR, 0644));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([fd, t] {
      std::string chunk(65536, static_cast<char>('a' + t));
      for (int i = 0; i < 8; ++i) (void)!pwrite(fd, chunk.data(), chunk.size(), (t * 8 + i) * 65536);
    });
  }
  for (auto& t : threads) t.join();
  pid_t pid = fork();
  if (pid == 0) {
    std::string chunk(65536, 'z');
    _exit(pwrite(fd, chunk.data(), chunk.size(), 32 * 65536) == 65536 ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::string all = get(dir + "/shared");
  CHECK_EQ(all.size(), size_t{33 * 65536});
  bool intact = all.size() == 33 * 65536;
  for (int t = 0; t < 4 && intact; ++t) intact = all.find_first_not_of(static_cast<char>('a' + t), t * 8 * 65536) >= static_cast<size_t>((t + 1) * 8 * 65536);
  CHECK(intact);
  CHECK_EQ(all.back(), 'z');
  close(fd);

  // Shared mmap writes show up in read(2) and the other way round.
  fd = CHECK_OK(open((dir + "/mapped").c_str(), O_CREAT | O_RDWR, 0644));
  CHECK_OK(ftruncate(fd, 8192));
  void* m = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  CHECK(m != MAP_FAILED);
  if (m != MAP_FAILED) {
    std::memcpy(static_cast<char*>(m) + 4096, "mapped!", 7);
    CHECK_OK(msync(m, 8192, MS_SYNC));
    CHECK_EQ(pread(fd, buf, 7, 4096), 7);
    CHECK_EQ(std::string(buf, 7), std::string("mapped!"));
    CHECK_EQ(pwrite(fd, "written", 7, 0), 7);
    CHECK_EQ(std::string(static_cast<char*>(m), 7), std::string("written"));
    munmap(m, 8192);
  }
  close(fd);

  // O_DIRECT, where the file system offers it.
  fd = open((dir + "/direct").c_str(), O_CREAT | O_RDWR | O_DIRECT, 0644);
  if (fd < 0 && errno == EINVAL) {
    skip("O_DIRECT is not supported here");
  } else if (CHECK(fd >= 0)) {
    void* p = nullptr;
    CHECK_EQ(posix_memalign(&p, 4096, 8192), 0);
    std::memset(p, 'd', 8192);
    CHECK_EQ(pwrite(fd, p, 8192, 0), 8192);
    std::memset(p, 0, 8192);
    CHECK_EQ(pread(fd, p, 8192, 0), 8192);
    CHECK_EQ(static_cast<char*>(p)[8191], 'd');
    free(p);
    close(fd);
  }
}

GROUP(truncate) {
  std::string f = dir + "/f";
  CHECK(put(f, "0123456789"));
  CHECK_OK(truncate(f.c_str(), 4));
  CHECK_EQ(get(f), std::string("0123"));
  CHECK_OK(truncate(f.c_str(), 8));
  CHECK_EQ(get(f), std::string("0123\0\0\0\0", 8));
  CHECK_OK(truncate(f.c_str(), 0));
  CHECK_EQ(st(f).st_size, 0);
  CHECK_ERR(truncate((dir + "/missing").c_str(), 1), ENOENT);
  CHECK_ERR(truncate(dir.c_str(), 1), EISDIR);
  CHECK_ERR(truncate(f.c_str(), -1), EINVAL);
  int fd = CHECK_OK(open(f.c_str(), O_RDONLY));
  CHECK_ERR(ftruncate(fd, 1), EINVAL);
  close(fd);
  // Shrinking then growing must not resurrect old bytes.
  std::string data(100000, 'q');
  CHECK(put(f, data));
  fd = CHECK_OK(open(f.c_str(), O_RDWR));
  CHECK_OK(ftruncate(fd, 10));
  CHECK_OK(ftruncate(fd, 100000));
  std::string back = get(f);
  CHECK_EQ(back.size(), size_t{100000});
  CHECK(back.find('q', 10) == std::string::npos);
  // Truncation changes mtime and ctime.
  timespec old[2] = {{1000, 0}, {1000, 0}};
  CHECK_OK(futimens(fd, old));
  CHECK_OK(ftruncate(fd, 5));
  struct stat s;
  CHECK_OK(fstat(fd, &s));
  CHECK(s.st_mtim.tv_sec > 1000);
  CHECK(s.st_ctim.tv_sec > 1000);
  close(fd);
  CHECK(st(f).st_blocks * 512 < 100000);
}

GROUP(unlink) {
  std::string f = dir + "/f";
  CHECK(put(f, "keep reading"));
  struct stat before = st(f);
  int fd = CHECK_OK(open(f.c_str(), O_RDWR));
  CHECK_OK(unlink(f.c_str()));
  CHECK(!exists(f));
  CHECK_ERR(unlink(f.c_str()), ENOENT);
  char buf[32] = {};
  CHECK_EQ(pread(fd, buf, sizeof(buf), 0), 12);
  CHECK_EQ(std::string(buf, 12), std::string("keep reading"));
  CHECK_EQ(pwrite(fd, "K", 1, 0), 1);
  struct stat s;
  CHECK_OK(fstat(fd, &s));
  CHECK_EQ(s.st_nlink, nlink_t{0});
  CHECK_EQ(s.st_ino, before.st_ino);
  CHECK(put(f, "new"));
  CHECK(st(f).st_ino != before.st_ino);
  CHECK_EQ(pread(fd, buf, 1, 0), 1);
  CHECK_EQ(buf[0], 'K');
  close(fd);
  CHECK_ERR(unlink(dir.c_str()), EISDIR);
  // A mapping outlives the name too.
  CHECK(put(dir + "/m", std::string(4096, 'm')));
  fd = CHECK_OK(open((dir + "/m").c_str(), O_RDONLY));
  void* m = mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  CHECK_OK(unlink((dir + "/m").c_str()));
  CHECK(m != MAP_FAILED && static_cast<char*>(m)[4095] == 'm');
  if (m != MAP_FAILED) munmap(m, 4096);
}

GROUP(fallocate) {
  std::string f = dir + "/f";
  int fd = CHECK_OK(open(f.c_str(), O_CREAT | O_RDWR, 0644));
  int r = fallocate(fd, 0, 0, 65536);
  if (r != 0 && errno == EOPNOTSUPP) {
    skip("fallocate is not supported here");
    close(fd);
    return;
  }
  CHECK_EQ(r, 0);
  struct stat s;
  CHECK_OK(fstat(fd, &s));
  CHECK_EQ(s.st_size, 65536);
  CHECK(s.st_blocks * 512 >= 65536);
  CHECK_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 65536, 65536));
  CHECK_OK(fstat(fd, &s));
  CHECK_EQ(s.st_size, 65536);
  std::string data(65536, 'p');
  CHECK_EQ(pwrite(fd, data.data(), data.size(), 0), 65536);
  CHECK_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 16384));
  CHECK_OK(fstat(fd, &s));
  CHECK_EQ(s.st_size, 65536);
  char buf[16384];
  CHECK_EQ(pread(fd, buf, sizeof(buf), 4096), 16384);
  CHECK(std::string(buf, sizeof(buf)) == std::string(sizeof(buf), '\0'));
  CHECK_EQ(pread(fd, buf, 1, 4095), 1);
  CHECK_EQ(buf[0], 'p');
  CHECK_ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP);
  CHECK_ERR(fallocate(fd, 0, 0, 0), EINVAL);
  close(fd);
}

GROUP(seek_data_hole) {
  std::string f = dir + "/sparse";
  int fd = CHECK_OK(open(f.c_str(), O_CREAT | O_RDWR, 0644));
  CHECK_EQ(pwrite(fd, "data", 4, 0), 4);
  CHECK_EQ(pwrite(fd, "more", 4, 4 << 20), 4);
  off_t size = (4 << 20) + 4;
  CHECK_EQ(lseek(fd, 0, SEEK_DATA), 0);
  off_t hole = lseek(fd, 0, SEEK_HOLE);
  CHECK(hole > 0 && hole <= size);  // a file system may report all as data
  off_t data = lseek(fd, 1 << 20, SEEK_DATA);
  CHECK(data >= (1 << 20) && data <= (4 << 20));
  CHECK_EQ(lseek(fd, size - 1, SEEK_HOLE), size);
  CHECK_ERR(lseek(fd, size, SEEK_DATA), ENXIO);
  CHECK_ERR(lseek(fd, size + 10, SEEK_HOLE), ENXIO);
  struct stat s;
  CHECK_OK(fstat(fd, &s));
  CHECK(s.st_blocks * 512 < (1 << 20));  // the hole is not allocated
  close(fd);
}

GROUP(copy_file_range) {
  std::string src = dir + "/src", dst = dir + "/dst";
  CHECK(put(src, "0123456789abcdef"));
  CHECK(put(dst, ""));
  int in = CHECK_OK(open(src.c_str(), O_RDONLY));
  int out = CHECK_OK(open(dst.c_str(), O_WRONLY));
  loff_t off_in = 4, off_out = 2;
  CHECK_EQ(copy_file_range(in, &off_in, out, &off_out, 6, 0), 6);
  CHECK_EQ(off_in, 10);
  CHECK_EQ(off_out, 8);
  CHECK_EQ(get(dst), std::string("\0\0" "456789", 8));
  off_in = 100;
  CHECK_EQ(copy_file_range(in, &off_in, out, &off_out, 6, 0), 0);
  close(in);
  close(out);
  int both = CHECK_OK(open(src.c_str(), O_RDWR));
  off_in = 0;
  off_out = 16;
  CHECK_EQ(copy_file_range(both, &off_in, both, &off_out, 4, 0), 4);
  close(both);
  CHECK_EQ(get(src), std::string("0123456789abcdef0123"));
}

GROUP(access) {
  std::string f = dir + "/f";
  CHECK(put(f, "x", 0644));
  CHECK_OK(access(f.c_str(), F_OK));
  CHECK_OK(access(f.c_str(), R_OK | W_OK));
  CHECK_ERR(access((dir + "/missing").c_str(), F_OK), ENOENT);
  if (geteuid() == 0) CHECK_ERR(access(f.c_str(), X_OK), EACCES);  // root needs some x bit
  CHECK_OK(chmod(f.c_str(), 0755));
  CHECK_OK(access(f.c_str(), X_OK));
  CHECK_OK(access(dir.c_str(), R_OK | W_OK | X_OK));
}

GROUP(names) {
  std::string n255(255, 'n'), n256(256, 'n');
  CHECK(put(dir + "/" + n255, "long"));
  CHECK_EQ(get(dir + "/" + n255), std::string("long"));
  CHECK_ERR(open((dir + "/" + n256).c_str(), O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
  CHECK_ERR(mkdir((dir + "/" + n256).c_str(), 0755), ENAMETOOLONG);
  CHECK_ERR(rename((dir + "/" + n255).c_str(), (dir + "/" + n256).c_str()), ENAMETOOLONG);
  CHECK_ERR(symlink("x", (dir + "/" + n256).c_str()), ENAMETOOLONG);
  std::string deep = dir;
  while (deep.size() < 4200) deep += "/" + std::string(200, 'd');
  CHECK_ERR(open(deep.c_str(), O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
  CHECK(list(dir).size() == 1);
  // Names with odd but legal bytes.
  for (std::string odd : {" spaced name ", "tab\tname", "unicode-\xc3\xa9\xe2\x82\xac", "-dash", "a:b;c"}) {
    CHECK(put(dir + "/" + odd, odd));
    CHECK_EQ(get(dir + "/" + odd), odd);
  }
}

}  // namespace
}  // namespace compat
