// Pending replies (WinFsp's STATUS_PENDING) on a real mount: a file system
// that answers reads and writes later, from another thread. With two request
// threads and 64 reads pending, other requests are still answered; an
// interrupted pending request ends with EINTR; an unmount ends what is still
// pending and the file system exits 0.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "embedded_host.h"
#include "mount_guard.h"

namespace linfsp::testing {
namespace {

using namespace std::chrono_literals;

constexpr size_t kBlock = 4096;
char pattern(uint64_t offset) { return static_cast<char>('a' + offset % 23); }

// "/slow" pends every read and write until release(); "/fast" answers at once.
class PendingFs : public FileSystemBase {
 public:
  Status get_file_info(const std::string& path, void*, FileInfo* info) override {
    if (path == "/") {
      *info = FileInfo{1, S_IFDIR | 0755, 2};
    } else if (path == "/slow" || path == "/fast") {
      *info = FileInfo{path == "/slow" ? 2u : 3u, S_IFREG | 0666, 1};
      info->size = 1 << 20;
    } else {
      return Status::error(ENOENT);
    }
    return Status::ok();
  }
  Status open(const Caller&, const std::string& path, int, void** file, FileInfo* info) override {
    if (Status s = get_file_info(path, nullptr, info); !s) return s;
    *file = reinterpret_cast<void*>(info->ino);
    return Status::ok();
  }
  void close(void*) override {}
  Result<size_t> read(const Caller& caller, void* file, void* buffer, uint64_t offset, size_t size) override {
    if (reinterpret_cast<uintptr_t>(file) == 3) return fill(static_cast<char*>(buffer), offset, size);
    auto pending = pend_read(caller);
    if (!pending) return Status::error(EIO);
    pending->on_interrupt([pending] { pending->fail(Status::error(EINTR)); });
    std::lock_guard lock(mutex_);
    reads_.push_back({pending, offset});
    return Status::pending();
  }
  Result<size_t> write(const Caller& caller, void*, const void*, uint64_t, size_t, FileInfo*) override {
    auto pending = pend_write(caller);
    if (!pending) return Status::error(EIO);
    pending->on_interrupt([pending] { pending->fail(Status::error(EINTR)); });
    std::lock_guard lock(mutex_);
    writes_.push_back(pending);
    return Status::pending();
  }

  size_t pending_reads() {
    std::lock_guard lock(mutex_);
    return reads_.size();
  }
  size_t pending_writes() {
    std::lock_guard lock(mutex_);
    return writes_.size();
  }
  // Completes every pending read, from this (a non-request) thread.
  void release() {
    std::vector<Read> reads;
    {
      std::lock_guard lock(mutex_);
      reads.swap(reads_);
    }
    for (auto& r : reads) r.pending->complete(fill(r.pending->buffer(), r.offset, r.pending->size()));
  }

 private:
  static size_t fill(char* buffer, uint64_t offset, size_t size) {
    for (size_t i = 0; i < size; ++i) buffer[i] = pattern(offset + i);
    return size;
  }
  struct Read {
    std::shared_ptr<PendingRead> pending;
    uint64_t offset;
  };
  std::mutex mutex_;
  std::vector<Read> reads_;                           // guarded by mutex_
  std::vector<std::shared_ptr<PendingWrite>> writes_;  // guarded by mutex_
};

struct PendingFsHolder {
  PendingFs fs;
};
class EmbeddedPendingFs : private PendingFsHolder, public EmbeddedHost {
 public:
  EmbeddedPendingFs() : EmbeddedHost(PendingFsHolder::fs, options(), "pending") {}
  PendingFs& fs() { return PendingFsHolder::fs; }

  // Waits until `cond` holds; a hang otherwise.
  template <typename F>
  void wait_until(const std::string& what, F cond) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!cond()) {
      if (std::chrono::steady_clock::now() > deadline) hang(what);
      std::this_thread::sleep_for(1ms);
    }
  }

 private:
  static HostOptions options() {
    HostOptions o;
    o.threads = 2;
    o.keep_cache = false;
    return o;
  }
};

// Reads one block with O_DIRECT (so every read is its own request); exits 0
// when the data is right.
[[noreturn]] void read_block_and_exit(const std::string& path, uint64_t offset) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECT);
  void* buf = nullptr;
  if (fd < 0 || posix_memalign(&buf, kBlock, kBlock) != 0) _exit(2);
  ssize_t n = pread(fd, buf, kBlock, static_cast<off_t>(offset));
  if (n != static_cast<ssize_t>(kBlock)) _exit(3);
  for (size_t i = 0; i < kBlock; ++i) {
    if (static_cast<char*>(buf)[i] != pattern(offset + i)) _exit(4);
  }
  _exit(0);
}

bool exited(pid_t pid, int* status) { return waitpid(pid, status, WNOHANG) == pid; }

TEST(Pending, SixtyFourPendingReadsLeaveTwoRequestThreadsFree) {
  EmbeddedPendingFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  std::vector<pid_t> readers;
  for (int i = 0; i < 64; ++i) {
    pid_t pid = fork();
    if (pid == 0) read_block_and_exit(m.path("slow"), i * kBlock);
    readers.push_back(pid);
  }
  m.wait_until("64 reads pending", [&] { return m.fs().pending_reads() == 64; });

  // Both request threads are free: a stat and a read from another process
  // are answered while all 64 reads still wait.
  int status = -1;
  pid_t other = fork();
  if (other == 0) {
    struct stat st;
    if (stat(m.path("fast").c_str(), &st) != 0 || st.st_size != 1 << 20) _exit(5);
    read_block_and_exit(m.path("fast"), 3 * kBlock);
  }
  m.wait_until("a stat and a read beside 64 pending reads", [&] { return exited(other, &status); });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(m.fs().pending_reads(), 64u);
  for (pid_t pid : readers) EXPECT_FALSE(exited(pid, &status)) << "a pending read ended early";

  m.fs().release();
  for (pid_t pid : readers) {
    m.wait_until("a released read to end", [&] { return exited(pid, &status); });
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "reader status " << status;
  }
}

TEST(Pending, InterruptedPendingRequestEndsWithEintr) {
  EmbeddedPendingFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  pid_t child = fork();
  if (child == 0) {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigaction(SIGUSR1, &sa, nullptr);  // no SA_RESTART: the write must end
    int fd = open(m.path("slow").c_str(), O_WRONLY);
    ssize_t n = pwrite(fd, "x", 1, 0);  // a synchronous request: the kernel interrupts it
    _exit(n == -1 && errno == EINTR ? 0 : 1);
  }
  m.wait_until("the write to pend", [&] { return m.fs().pending_writes() == 1; });
  kill(child, SIGUSR1);
  int status = -1;
  m.wait_until("the interrupted write to end", [&] { return exited(child, &status); });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the pending write did not end with EINTR";
}

TEST(Pending, UnmountEndsPendingRequestsAndMemfsExitsZero) {
  auto fs = MountedMemfs::start({"--slow-io", "600000", "-t", "2"});
  ASSERT_TRUE(fs);
  int fd = open(fs->path("f").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 1 << 20), 0);  // not slow: only reads and writes are
  ASSERT_EQ(close(fd), 0);
  std::vector<pid_t> readers;
  for (int i = 0; i < 8; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      int rfd = open(fs->path("f").c_str(), O_RDONLY | O_DIRECT);
      void* buf = nullptr;
      if (rfd < 0 || posix_memalign(&buf, kBlock, kBlock) != 0) _exit(2);
      _exit(pread(rfd, buf, kBlock, 0) < 0 ? 0 : 1);  // the unmount ends it with an error
    }
    readers.push_back(pid);
  }
  usleep(200000);  // let the reads reach MEMFS and pend (not needed for correctness)
  EXPECT_EQ(fs->terminate(), 0) << fs->log();
  for (pid_t pid : readers) {
    int status = -1;
    for (int i = 0; i < 2000 && !exited(pid, &status); ++i) usleep(10000);
    if (!WIFEXITED(status)) kill(pid, SIGKILL), waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a pending read did not end with an error";
  }
}

}  // namespace
}  // namespace linfsp::testing
