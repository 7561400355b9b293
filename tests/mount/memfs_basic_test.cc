// MEMFS through the real kernel: real system calls on a real mount, from
// several threads and from a separate process.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "mount_guard.h"

namespace linfsp::testing {
namespace {

#define SYS_OK(expr)                                              \
  ({                                                              \
    auto _r = (expr);                                             \
    EXPECT_GE(_r, 0) << #expr << ": " << std::strerror(errno);    \
    _r;                                                           \
  })
#define SYS_FAILS(expr, err)                                          \
  do {                                                                \
    errno = 0;                                                        \
    EXPECT_EQ((expr), -1) << #expr << " succeeded";                   \
    EXPECT_EQ(errno, err) << #expr << ": " << std::strerror(errno);   \
  } while (0)

class Memfs : public ::testing::Test {
 protected:
  void SetUp() override { mount({}); }
  void mount(const std::vector<std::string>& args) {
    fs_.reset();
    std::string error;
    fs_ = MountedMemfs::start(args, &error);
    ASSERT_TRUE(fs_) << error;
  }
  std::string p(const std::string& rel) { return fs_->path(rel); }

  std::unique_ptr<MountedMemfs> fs_;
};

std::string read_all(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return "<" + std::string(std::strerror(errno)) + ">";
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fd);
  return out;
}

bool write_file(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return false;
  bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  return close(fd) == 0 && ok;
}

std::set<std::string> list(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (!d) return names;
  while (dirent* e = readdir(d)) names.insert(e->d_name);
  closedir(d);
  return names;
}

TEST_F(Memfs, WriteReadStat) {
  int fd = SYS_OK(open(p("a.txt").c_str(), O_CREAT | O_RDWR | O_EXCL, 0640));
  EXPECT_EQ(write(fd, "hello", 5), 5);
  char buf[16] = {};
  EXPECT_EQ(pread(fd, buf, sizeof(buf), 0), 5);
  EXPECT_STREQ(buf, "hello");
  struct stat st;
  SYS_OK(fstat(fd, &st));
  EXPECT_EQ(st.st_size, 5);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_nlink, 1u);
  EXPECT_EQ(st.st_uid, getuid());
  SYS_OK(fsync(fd));
  SYS_OK(fdatasync(fd));
  SYS_OK(close(fd));
  struct stat st2;
  SYS_OK(stat(p("a.txt").c_str(), &st2));
  EXPECT_EQ(st2.st_ino, st.st_ino);
  EXPECT_EQ(read_all(p("a.txt")), "hello");
  SYS_FAILS(open(p("a.txt").c_str(), O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST);
  SYS_FAILS(open(p("missing").c_str(), O_RDONLY), ENOENT);
}

TEST_F(Memfs, PwriteMakesSparseFilesAndTruncateCuts) {
  int fd = SYS_OK(open(p("sparse").c_str(), O_CREAT | O_RDWR, 0644));
  const off_t far = 3 << 20;
  EXPECT_EQ(pwrite(fd, "end", 3, far), 3);
  struct stat st;
  SYS_OK(fstat(fd, &st));
  EXPECT_EQ(st.st_size, far + 3);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "a hole must not be allocated";
  char buf[4096];
  EXPECT_EQ(pread(fd, buf, sizeof(buf), 4096), static_cast<ssize_t>(sizeof(buf)));
  EXPECT_EQ(std::count(buf, buf + sizeof(buf), 0), static_cast<long>(sizeof(buf)));
  SYS_OK(ftruncate(fd, 10));
  SYS_OK(fstat(fd, &st));
  EXPECT_EQ(st.st_size, 10);
  SYS_OK(ftruncate(fd, 20000));
  EXPECT_EQ(pread(fd, buf, 100, 0), 100);
  EXPECT_EQ(std::count(buf, buf + 100, 0), 100) << "bytes past a truncation read back as zeros";
  SYS_OK(truncate(p("sparse").c_str(), 0));
  SYS_OK(fstat(fd, &st));
  EXPECT_EQ(st.st_size, 0);
  close(fd);
}

TEST_F(Memfs, LargeFileRoundTripsThroughCacheAndDirectIo) {
  std::vector<char> data(8 << 20);
  std::mt19937 rng(42);
  for (auto& c : data) c = static_cast<char>(rng());
  int fd = SYS_OK(open(p("big").c_str(), O_CREAT | O_WRONLY, 0644));
  for (size_t off = 0; off < data.size(); off += 1 << 20) {
    ASSERT_EQ(write(fd, data.data() + off, 1 << 20), 1 << 20);
  }
  close(fd);
  EXPECT_EQ(read_all(p("big")), std::string(data.begin(), data.end()));
  // O_DIRECT bypasses the page cache: the data must really be in memfs.
  fd = SYS_OK(open(p("big").c_str(), O_RDONLY | O_DIRECT));
  void* buf;
  ASSERT_EQ(posix_memalign(&buf, 4096, 1 << 20), 0);
  ASSERT_EQ(pread(fd, buf, 1 << 20, 5 << 20), 1 << 20);
  EXPECT_EQ(std::memcmp(buf, data.data() + (5 << 20), 1 << 20), 0);
  free(buf);
  close(fd);
}

TEST_F(Memfs, DirectoriesListCreateAndRemove) {
  SYS_OK(mkdir(p("d").c_str(), 0755));
  SYS_FAILS(mkdir(p("d").c_str(), 0755), EEXIST);
  ASSERT_TRUE(write_file(p("d/x"), "1"));
  ASSERT_TRUE(write_file(p("d/y"), "2"));
  SYS_OK(mkdir(p("d/sub").c_str(), 0700));
  EXPECT_EQ(list(p("d")), (std::set<std::string>{".", "..", "x", "y", "sub"}));
  struct stat st;
  SYS_OK(stat(p("d").c_str(), &st));
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_nlink, 3u) << "2 + one subdirectory";
  SYS_FAILS(rmdir(p("d").c_str()), ENOTEMPTY);
  SYS_FAILS(rmdir(p("d/x").c_str()), ENOTDIR);
  SYS_FAILS(unlink(p("d/sub").c_str()), EISDIR);
  SYS_OK(unlink(p("d/x").c_str()));
  SYS_OK(unlink(p("d/y").c_str()));
  SYS_OK(rmdir(p("d/sub").c_str()));
  SYS_OK(rmdir(p("d").c_str()));
  SYS_FAILS(stat(p("d").c_str(), &st), ENOENT);
  EXPECT_EQ(list(fs_->dir()), (std::set<std::string>{".", ".."}));
}

TEST_F(Memfs, LargeDirectoryListsEveryNameOnce) {
  SYS_OK(mkdir(p("many").c_str(), 0755));
  for (int i = 0; i < 1500; ++i) {
    int fd = open(p("many/file-with-a-longish-name-" + std::to_string(i)).c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    close(fd);
  }
  DIR* d = opendir(p("many").c_str());
  ASSERT_NE(d, nullptr);
  std::multiset<std::string> seen;
  while (dirent* e = readdir(d)) seen.insert(e->d_name);
  closedir(d);
  EXPECT_EQ(seen.size(), 1502u);
  for (int i = 0; i < 1500; ++i) {
    EXPECT_EQ(seen.count("file-with-a-longish-name-" + std::to_string(i)), 1u);
  }
}

TEST_F(Memfs, RenameWithinAndAcrossDirectoriesKeepsOpenFiles) {
  SYS_OK(mkdir(p("a").c_str(), 0755));
  SYS_OK(mkdir(p("b").c_str(), 0755));
  ASSERT_TRUE(write_file(p("a/f"), "content"));
  int fd = SYS_OK(open(p("a/f").c_str(), O_RDWR));
  SYS_OK(rename(p("a/f").c_str(), p("a/g").c_str()));
  SYS_OK(rename(p("a/g").c_str(), p("b/h").c_str()));
  SYS_OK(rename(p("b").c_str(), p("c").c_str()));  // the parent moves too
  struct stat st;
  SYS_FAILS(stat(p("a/f").c_str(), &st), ENOENT);
  EXPECT_EQ(read_all(p("c/h")), "content");
  EXPECT_EQ(pwrite(fd, "C", 1, 0), 1) << "the open file survives renames of itself and its parent";
  SYS_OK(fsync(fd));
  close(fd);
  EXPECT_EQ(read_all(p("c/h")), "Content");
  ASSERT_TRUE(write_file(p("other"), "x"));
  SYS_OK(rename(p("other").c_str(), p("c/h").c_str()));  // replaces
  EXPECT_EQ(read_all(p("c/h")), "x");
}

TEST_F(Memfs, UnlinkedOpenFileStaysReadable) {
  ASSERT_TRUE(write_file(p("u"), "still here"));
  int fd = SYS_OK(open(p("u").c_str(), O_RDWR));
  SYS_OK(unlink(p("u").c_str()));
  struct stat st;
  SYS_FAILS(stat(p("u").c_str(), &st), ENOENT);
  char buf[32] = {};
  EXPECT_EQ(pread(fd, buf, sizeof(buf), 0), 10);
  EXPECT_STREQ(buf, "still here");
  SYS_OK(fstat(fd, &st));
  EXPECT_EQ(st.st_nlink, 0u);
  EXPECT_EQ(pwrite(fd, "S", 1, 0), 1);
  close(fd);
}

// MEMFS runs with no_open: the kernel sends no OPEN or RELEASE for files, and
// the volume opens a file itself when a request needs it.
TEST_F(Memfs, OpeningAnExistingFileCostsNoRequest) {
  mount({"-d"});
  ASSERT_TRUE(write_file(p("quiet"), "data"));
  EXPECT_EQ(read_all(p("quiet")), "data");  // the first open after no_open was learned
  size_t before = fs_->log().size();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(read_all(p("quiet")), "data");  // from the page cache
  std::string after = fs_->log().substr(before);
  EXPECT_EQ(after.find(" OPEN "), std::string::npos) << after;
  EXPECT_EQ(after.find("RELEASE"), std::string::npos) << after;
}

TEST_F(Memfs, UnlinkedOpenFileIsFreedAfterItsLastClose) {
  auto free_files = [&] {
    struct statfs sf;
    SYS_OK(statfs(fs_->dir().c_str(), &sf));
    return sf.f_ffree;
  };
  uint64_t initial = free_files();
  ASSERT_TRUE(write_file(p("gone"), std::string(100000, 'g')));
  int fd = SYS_OK(open(p("gone").c_str(), O_RDWR));
  SYS_OK(unlink(p("gone").c_str()));
  EXPECT_EQ(free_files(), initial - 1) << "an open file keeps its storage";
  std::string buf(100000, '\0');
  EXPECT_EQ(pread(fd, buf.data(), buf.size(), 0), 100000);
  EXPECT_EQ(buf, std::string(100000, 'g'));
  close(fd);
  // The kernel forgets the file soon after the close; then MEMFS frees it.
  for (int i = 0; i < 500 && free_files() != initial; ++i) usleep(10000);
  EXPECT_EQ(free_files(), initial) << "the file's storage outlived its last close";
}

TEST_F(Memfs, FilesCreatedAndDeletedLeaveNothingBehind) {
  auto free_files = [&] {
    struct statfs sf;
    SYS_OK(statfs(fs_->dir().c_str(), &sf));
    return sf.f_ffree;
  };
  const uint64_t initial = free_files();
  // The first open teaches the kernel no_open; creates before and after it
  // differ (only the first ones get a RELEASE).
  ASSERT_TRUE(write_file(p("first"), "1"));
  EXPECT_EQ(read_all(p("first")), "1");
  SYS_OK(unlink(p("first").c_str()));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(write_file(p("c" + std::to_string(i)), "content"));
    for (int i = 0; i < 50; ++i) EXPECT_EQ(read_all(p("c" + std::to_string(i))), "content");
    for (int i = 0; i < 50; ++i) SYS_OK(unlink(p("c" + std::to_string(i)).c_str()));
  }
  for (int i = 0; i < 500 && free_files() != initial; ++i) usleep(10000);
  EXPECT_EQ(free_files(), initial) << "deleted files still hold MEMFS nodes";
}

TEST_F(Memfs, StatfsReportsTheVolume) {
  struct statfs sf;
  SYS_OK(statfs(fs_->dir().c_str(), &sf));
  EXPECT_GT(sf.f_bsize, 0);
  EXPECT_GT(sf.f_blocks, 0u);
  EXPECT_LE(sf.f_bfree, sf.f_blocks);
  EXPECT_GT(sf.f_files, 0u);
  EXPECT_EQ(sf.f_namelen, 255);
  ASSERT_TRUE(write_file(p("x"), std::string(1 << 20, 'x')));
  struct statfs after;
  SYS_OK(statfs(fs_->dir().c_str(), &after));
  EXPECT_LT(after.f_bfree, sf.f_bfree) << "written data must use space";
  EXPECT_LT(after.f_ffree, sf.f_ffree);
}

TEST_F(Memfs, AttributesChange) {
  ASSERT_TRUE(write_file(p("f"), "x"));
  SYS_OK(chmod(p("f").c_str(), 0600));
  SYS_OK(chown(p("f").c_str(), 1234, 5678));
  timespec times[2] = {{1000, 111}, {2000, 222}};
  SYS_OK(utimensat(AT_FDCWD, p("f").c_str(), times, 0));
  struct stat st;
  SYS_OK(stat(p("f").c_str(), &st));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_atim.tv_sec, 1000);
  EXPECT_EQ(st.st_atim.tv_nsec, 111);
  EXPECT_EQ(st.st_mtim.tv_sec, 2000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 222);
}

// A write by someone without CAP_FSETID clears set-user-ID and (with group
// execute) set-group-ID, as on every Linux file system.
TEST_F(Memfs, WritesByOrdinaryUsersClearSetIdBits) {
  mount({"-o", "allow_other"});  // other users may not even look at a FUSE mount without it
  ASSERT_TRUE(write_file(p("suid"), "x"));
  SYS_OK(chown(p("suid").c_str(), 65534, 65534));
  SYS_OK(chmod(p("suid").c_str(), 06755));
  int fd = SYS_OK(open(p("suid").c_str(), O_WRONLY));
  EXPECT_EQ(write(fd, "root", 4), 4);
  close(fd);
  struct stat st;
  SYS_OK(stat(p("suid").c_str(), &st));
  EXPECT_EQ(st.st_mode & 07777, 06755u) << "root keeps the bits (CAP_FSETID)";
  std::string path = p("suid");
  pid_t child = fork();
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    int wfd = open(path.c_str(), O_WRONLY);
    _exit(wfd >= 0 && write(wfd, "user", 4) == 4 ? 0 : 1);
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  SYS_OK(stat(p("suid").c_str(), &st));
  EXPECT_EQ(st.st_mode & 07777, 0755u) << "an ordinary writer clears both bits";
}

TEST_F(Memfs, ManyThreadsWorkAtOnce) {
  constexpr int kThreads = 4, kFiles = 150;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string dir = p("t" + std::to_string(t));
      if (mkdir(dir.c_str(), 0755) != 0) failures++;
      for (int i = 0; i < kFiles; ++i) {
        std::string f = dir + "/f" + std::to_string(i);
        if (!write_file(f, f)) failures++;
        struct stat st;
        if (stat(f.c_str(), &st) != 0 || st.st_size != static_cast<off_t>(f.size())) failures++;
        if (i % 3 == 0 && rename(f.c_str(), (f + ".r").c_str()) != 0) failures++;
      }
    });
  }
  // Readers list the root while the writers work.
  threads.emplace_back([&] {
    for (int i = 0; i < 200; ++i) list(fs_->dir());
  });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kFiles; ++i) {
      std::string f = p("t" + std::to_string(t) + "/f" + std::to_string(i));
      std::string name = i % 3 == 0 ? f + ".r" : f;
      EXPECT_EQ(read_all(name), f);
    }
  }
}

TEST_F(Memfs, SeparateProcessesSeeEachOthersWork) {
  pid_t child = fork();
  if (child == 0) {
    bool ok = write_file(p("from-child"), "child data");
    ok = ok && mkdir(p("child-dir").c_str(), 0700) == 0;
    _exit(ok ? 0 : 1);
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(read_all(p("from-child")), "child data");
  ASSERT_TRUE(write_file(p("from-parent"), "parent data"));
  child = fork();
  if (child == 0) _exit(read_all(p("from-parent")) == "parent data" ? 0 : 1);
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(Memfs, MaxNodesGivesEnospc) {
  mount({"--max-nodes", "10"});
  int created = 0;
  for (int i = 0; i < 20; ++i) {
    int fd = open(p("f" + std::to_string(i)).c_str(), O_CREAT | O_WRONLY, 0644);
    if (fd < 0) {
      EXPECT_EQ(errno, ENOSPC);
      break;
    }
    close(fd);
    ++created;
  }
  EXPECT_EQ(created, 9) << "the root counts as a node";
  SYS_FAILS(mkdir(p("d").c_str(), 0755), ENOSPC);
  SYS_OK(unlink(p("f0").c_str()));
  // The unlinked file's node goes when the kernel forgets its inode, which
  // it tells us a moment later (FORGET is asynchronous).
  int rc = -1;
  for (int i = 0; i < 2000 && (rc = mkdir(p("d").c_str(), 0755)) != 0 && errno == ENOSPC; ++i) usleep(1000);
  EXPECT_EQ(rc, 0) << strerror(errno);
}

TEST_F(Memfs, MaxFileSizeGivesEfbig) {
  mount({"--max-file-size", "1M"});
  int fd = SYS_OK(open(p("f").c_str(), O_CREAT | O_RDWR, 0644));
  std::string chunk(4096, 'a');
  EXPECT_EQ(pwrite(fd, chunk.data(), chunk.size(), (1 << 20) - 4096), 4096);
  SYS_FAILS(pwrite(fd, chunk.data(), chunk.size(), 1 << 20), EFBIG);
  SYS_FAILS(ftruncate(fd, (1 << 20) + 1), EFBIG);
  close(fd);
}

TEST_F(Memfs, MaxSizeGivesEnospc) {
  mount({"--max-size", "2M"});
  int fd = SYS_OK(open(p("f").c_str(), O_CREAT | O_RDWR | O_DIRECT, 0644));
  void* buf;
  ASSERT_EQ(posix_memalign(&buf, 4096, 1 << 20), 0);
  std::memset(buf, 'z', 1 << 20);
  EXPECT_EQ(pwrite(fd, buf, 1 << 20, 0), 1 << 20);
  EXPECT_EQ(pwrite(fd, buf, 1 << 20, 1 << 20), 1 << 20);
  SYS_FAILS(pwrite(fd, buf, 1 << 20, 2 << 20), ENOSPC);
  free(buf);
  close(fd);
}

TEST_F(Memfs, CaseInsensitiveNamesFindTheSameFile) {
  mount({"--case-insensitive"});
  ASSERT_TRUE(write_file(p("Hello.TXT"), "hi"));
  EXPECT_EQ(read_all(p("hello.txt")), "hi");
  EXPECT_EQ(read_all(p("HELLO.txt")), "hi");
  struct stat a, b;
  SYS_OK(stat(p("Hello.TXT").c_str(), &a));
  SYS_OK(stat(p("hello.txt").c_str(), &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
  SYS_FAILS(open(p("HELLO.TXT").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
  EXPECT_EQ(list(fs_->dir()), (std::set<std::string>{".", "..", "Hello.TXT"})) << "the name keeps its case";
  // (A rename that only changes case never reaches MEMFS: the kernel sees
  // both names lead to one inode and treats it as a rename onto itself.)
  SYS_OK(mkdir(p("Dir").c_str(), 0755));
  ASSERT_TRUE(write_file(p("DIR/inner"), "x"));
  EXPECT_EQ(read_all(p("dir/INNER")), "x");
}

TEST_F(Memfs, ReadOnlyMountRefusesWrites) {
  mount({"-o", "ro"});
  SYS_FAILS(open(p("f").c_str(), O_CREAT | O_WRONLY, 0644), EROFS);
  SYS_FAILS(mkdir(p("d").c_str(), 0755), EROFS);
}

// atime follows the mount's mode, for every read that reaches MEMFS (the
// page cache is dropped first; a cached read never reaches it).
timespec atime_after_uncached_read(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return {};
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  char buf[4096];
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
  close(fd);
  struct stat st {};
  stat(path.c_str(), &st);
  return st.st_atim;
}

bool same_time(const timespec& a, const timespec& b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

TEST_F(Memfs, AtimeFollowsTheMountsMode) {
  const timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  // strictatime: every read updates atime.
  mount({"-o", "strictatime"});
  ASSERT_TRUE(write_file(p("f"), "data"));
  timespec first = atime_after_uncached_read(p("f"));
  std::this_thread::sleep_for(std::chrono::milliseconds(10));  // lets the clock move on
  timespec second = atime_after_uncached_read(p("f"));
  EXPECT_GT(first.tv_sec, 1000000000);
  EXPECT_FALSE(same_time(first, second)) << "strictatime: the second read must update atime too";
  // relatime: the second read leaves it.
  mount({});
  ASSERT_TRUE(write_file(p("f"), "data"));
  first = atime_after_uncached_read(p("f"));
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(same_time(first, atime_after_uncached_read(p("f"))));
  // noatime: no read updates it, not even the first after a change.
  mount({"-o", "noatime"});
  ASSERT_TRUE(write_file(p("f"), "data"));
  ASSERT_EQ(utimensat(AT_FDCWD, p("f").c_str(), old, 0), 0);
  EXPECT_EQ(atime_after_uncached_read(p("f")).tv_sec, 1000000000);
  // nodiratime: listings leave directories alone; reads of files still count.
  mount({"-o", "nodiratime"});
  ASSERT_EQ(mkdir(p("d").c_str(), 0755), 0);
  ASSERT_EQ(utimensat(AT_FDCWD, p("d").c_str(), old, 0), 0);
  list(p("d"));
  struct stat st {};
  ASSERT_EQ(stat(p("d").c_str(), &st), 0);
  EXPECT_EQ(st.st_atime, 1000000000);
}

}  // namespace
}  // namespace linfsp::testing
