// The native contract on a real mount: per-open flags chosen by the file
// system, an access() it overrides, and the Caller that every operation
// receives.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "embedded_host.h"
#include "mount_guard.h"

namespace linfsp::testing {
namespace {

// "/cached" keeps the host's defaults; "/direct" is opened direct_io;
// "/stream" nonseekable; "/secret" is refused by access() whatever its mode.
class ContractFs : public FileSystemBase {
 public:
  Status get_file_info(const Caller& caller, const std::string& path, void*, FileInfo* info) override {
    {
      std::lock_guard lock(mutex_);
      if (caller.pid != 0) last_getattr_pid_ = caller.pid;
    }
    if (path == "/") {
      *info = FileInfo{1, S_IFDIR | 0755, 2};
      return Status::ok();
    }
    uint64_t ino = path == "/cached" ? 2 : path == "/direct" ? 3 : path == "/stream" ? 4 : path == "/secret" ? 5 : 0;
    if (ino == 0) return Status::error(ENOENT);
    *info = FileInfo{ino, S_IFREG | 0644, 1};
    info->size = 4;
    return Status::ok();
  }
  Status access(const Caller& caller, const std::string& path, void* file, int mask) override {
    if (path == "/secret") return Status::error(EACCES);
    return FileSystemBase::access(caller, path, file, mask);
  }
  Status open(const Caller&, const std::string& path, int, void** file, FileInfo* info,
              OpenFlags* open_flags) override {
    if (path == "/direct") open_flags->direct_io = true;
    if (path == "/stream") open_flags->nonseekable = true;
    *file = new std::string(path);
    return get_file_info(Caller{}, path, nullptr, info);
  }
  void close(void* file) override { delete static_cast<std::string*>(file); }
  Result<size_t> read(const Caller&, void* file, void* buffer, uint64_t offset, size_t size) override {
    ++reads_;
    if (offset >= 4) return size_t{0};
    size_t n = std::min<size_t>(size, 4 - offset);
    std::memcpy(buffer, "data" + offset, n);
    (void)file;
    return n;
  }
  int reads() const { return reads_; }
  pid_t last_getattr_pid() {
    std::lock_guard lock(mutex_);
    return last_getattr_pid_;
  }

 private:
  std::atomic<int> reads_{0};
  std::mutex mutex_;
  pid_t last_getattr_pid_ = 0;  // guarded by mutex_
};

struct ContractHolder {
  ContractFs fs;
};
class EmbeddedContractFs : private ContractHolder, public EmbeddedHost {
 public:
  EmbeddedContractFs() : EmbeddedHost(ContractHolder::fs, HostOptions{}, "contract") {}
  ContractFs& fs() { return ContractHolder::fs; }
};

std::string read_all(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return strerror(errno);
  char buf[16];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  return n < 0 ? strerror(errno) : std::string(buf, n);
}

TEST(Contract, OpenFlagsFromTheFileSystemShapeEachOpen) {
  EmbeddedContractFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  // keep_cache (the default): the second open reads from the page cache.
  EXPECT_EQ(m.within("read", [&] { return read_all(m.path("cached")); }), "data");
  int before = m.fs().reads();
  EXPECT_EQ(m.within("read", [&] { return read_all(m.path("cached")); }), "data");
  EXPECT_EQ(m.fs().reads(), before) << "a kept cache should have answered";
  // direct_io: every read reaches the file system.
  EXPECT_EQ(m.within("read", [&] { return read_all(m.path("direct")); }), "data");
  before = m.fs().reads();
  EXPECT_EQ(m.within("read", [&] { return read_all(m.path("direct")); }), "data");
  EXPECT_GT(m.fs().reads(), before) << "direct_io reads must reach the file system";
  // nonseekable: lseek fails.
  int fd = open(m.path("stream").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(lseek(fd, 2, SEEK_SET), -1);
  EXPECT_EQ(errno, ESPIPE);
  close(fd);
}

TEST(Contract, AccessIsTheFileSystemsToDecide) {
  EmbeddedContractFs m;  // no default_permissions: the kernel asks us
  ASSERT_TRUE(m.status()) << m.status().message();
  EXPECT_EQ(access(m.path("cached").c_str(), R_OK), 0);
  EXPECT_EQ(access(m.path("secret").c_str(), R_OK), -1);
  EXPECT_EQ(errno, EACCES);
  // The default checks mode bits: 0644 gives no one execute.
  EXPECT_EQ(access(m.path("cached").c_str(), X_OK), -1);
  EXPECT_EQ(errno, EACCES);
}

TEST(Contract, GetFileInfoReceivesTheCaller) {
  EmbeddedContractFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  pid_t child = fork();
  if (child == 0) {
    struct stat st;
    _exit(stat((m.dir() + "/cached").c_str(), &st) == 0 ? 0 : 1);
  }
  int status = -1;
  m.wait_until("the child's stat", [&] { return waitpid(child, &status, WNOHANG) == child; });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(m.fs().last_getattr_pid(), child);
}

}  // namespace
}  // namespace linfsp::testing
