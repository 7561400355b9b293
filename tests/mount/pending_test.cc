// Pending replies (WinFsp's STATUS_PENDING) on a real mount: a file system
// that answers reads and writes later, from another thread. With two request
// threads and 64 reads pending, other requests are still answered; an
// interrupted pending request ends with EINTR; an unmount ends what is still
// pending and the file system exits 0. Each over /dev/fuse and over
// FUSE-over-io_uring (where a pending request parks its ring entry); and over
// io_uring, no request thread waits while requests pend.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "embedded_host.h"
#include "mount_guard.h"
#include "uring_param.h"

namespace linfsp::testing {
namespace {

using namespace std::chrono_literals;

constexpr size_t kBlock = 4096;
char pattern(uint64_t offset) { return static_cast<char>('a' + offset % 23); }

// "/slow" pends every read and write until release(); "/fast" answers at once.
class PendingFs : public FileSystemBase {
 public:
  Status get_file_info(const Caller&, const std::string& path, void*, FileInfo* info) override {
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
  Status open(const Caller& caller, const std::string& path, int, void** file, FileInfo* info, OpenFlags*) override {
    if (Status s = get_file_info(caller, path, nullptr, info); !s) return s;
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
  explicit EmbeddedPendingFs(bool uring) : EmbeddedHost(PendingFsHolder::fs, options(uring), "pending") {}
  PendingFs& fs() { return PendingFsHolder::fs; }


 private:
  // Two request threads. Over io_uring that means two per queue (one queue
  // per possible CPU), the fewest the transport runs.
  static HostOptions options(bool uring) {
    HostOptions o;
    o.threads = 2;
    o.keep_cache = false;
    o.uring = uring;
    return o;
  }
};

// Reads one block with O_DIRECT (so every read is its own request); exits 0
// when the data is right.
// A forked child first drops what it inherited: were the test process to die,
// a child holding its io_uring rings (or /dev/fuse) would keep them from
// being torn down, and would wait for ever for a request only they can end.
void drop_inherited_fds() { close_range(3, ~0U, 0); }

[[noreturn]] void read_block_and_exit(const std::string& path, uint64_t offset) {
  drop_inherited_fds();
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

// A process that stats "/fast" and reads a block of it; exits 0 when both
// were answered right.
pid_t stat_and_read_fast(EmbeddedHost& m) {
  pid_t pid = fork();
  if (pid == 0) {
    drop_inherited_fds();
    struct stat st;
    if (stat(m.path("fast").c_str(), &st) != 0 || st.st_size != 1 << 20) _exit(5);
    read_block_and_exit(m.path("fast"), 3 * kBlock);
  }
  return pid;
}

// The request threads of this process's io_uring transport, and the system
// call each is in: "426 ..." while it waits in io_uring_enter() for the
// kernel, "202 ..." in a futex (waiting for an answer inline), "running".
std::vector<std::string> uring_thread_syscalls() {
  std::vector<std::string> out;
  DIR* d = opendir("/proc/self/task");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string task = std::string("/proc/self/task/") + e->d_name;
    std::ifstream comm(task + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind("linfsp-uring", 0) != 0) continue;
    std::ifstream sc(task + "/syscall");
    std::string line;
    std::getline(sc, line);
    out.push_back(line);
  }
  closedir(d);
  return out;
}

bool all_in_io_uring_enter(const std::vector<std::string>& syscalls) {
  if (syscalls.empty()) return false;
  for (const auto& s : syscalls) {
    if (s.rfind("426 ", 0) != 0) return false;  // io_uring_enter on x86-64
  }
  return true;
}

enum class Transport { kDevFuse, kUring };

class Pending : public ::testing::TestWithParam<Transport> {
 protected:
  static void TearDownTestSuite() { switch_.restore(); }
  void SetUp() override {
    if (uring()) {
      if (std::string why = switch_.enable(); !why.empty()) GTEST_SKIP() << why;
    }
  }
  bool uring() const { return GetParam() == Transport::kUring; }
  // The mount runs over the transport it was asked for (no silent fallback).
  void expect_transport(EmbeddedPendingFs& m) {
    bool on_rings = !uring_thread_syscalls().empty();
    EXPECT_EQ(on_rings, uring()) << m.host().protocol_description();
  }

  static UringSwitch switch_;
};
UringSwitch Pending::switch_;

std::string transport_name(const ::testing::TestParamInfo<Transport>& info) {
  return info.param == Transport::kUring ? "Uring" : "DevFuse";
}

TEST_P(Pending, SixtyFourPendingReadsLeaveTwoRequestThreadsFree) {
  EmbeddedPendingFs m(uring());
  ASSERT_TRUE(m.status()) << m.status().message();
  expect_transport(m);
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
  pid_t other = stat_and_read_fast(m);
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

TEST_P(Pending, InterruptedPendingRequestEndsWithEintr) {
  EmbeddedPendingFs m(uring());
  ASSERT_TRUE(m.status()) << m.status().message();
  expect_transport(m);
  pid_t child = fork();
  if (child == 0) {
    drop_inherited_fds();
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

TEST_P(Pending, UnmountEndsPendingRequestsAndMemfsExitsZero) {
  std::vector<std::string> args = {"--slow-io", "600000", "-t", "2"};
  if (uring()) args.insert(args.begin(), "--uring");
  auto fs = MountedMemfs::start(args);
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


// Over io_uring a pending request parks its ring entry and its thread goes
// on with another: with 64 reads pending, every ring thread waits in
// io_uring_enter() for the kernel, none for an answer, and a stat and a read
// are answered. (Were the transport to refuse detach(), each thread would
// wait inline for its read's answer: the few ring threads would all be
// taken and fewer than 64 reads would ever reach the file system.)
TEST_P(Pending, OverIoUringNoRequestThreadWaitsForAPendingReply) {
  if (!uring()) GTEST_SKIP() << "over /dev/fuse a thread never waits either: its reply needs no ring entry";
  EmbeddedPendingFs m(true);
  ASSERT_TRUE(m.status()) << m.status().message();
  ASSERT_FALSE(uring_thread_syscalls().empty()) << "not served over io_uring: " << m.host().protocol_description();
  std::vector<pid_t> readers;
  for (int i = 0; i < 64; ++i) {
    pid_t pid = fork();
    if (pid == 0) read_block_and_exit(m.path("slow"), i * kBlock);
    readers.push_back(pid);
  }
  auto reap = [&] {
    int status;
    for (pid_t pid : readers) kill(pid, SIGKILL), waitpid(pid, &status, 0);
  };
  // Soft deadlines: a failure ends the test, not the process.
  auto eventually = [](auto cond) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!cond()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  };
  if (!eventually([&] { return m.fs().pending_reads() == 64; })) {
    ADD_FAILURE() << "only " << m.fs().pending_reads() << " of 64 reads reached the file system: "
                  << uring_thread_syscalls().size() << " ring threads, waiting for answers";
    m.abort_connection();
    reap();
    return;
  }
  std::vector<std::string> syscalls;
  bool idle = eventually([&] { return all_in_io_uring_enter(syscalls = uring_thread_syscalls()); });
  std::string states;
  for (const auto& s : syscalls) states += "\n  " + s.substr(0, s.find(' '));
  EXPECT_TRUE(idle) << "a ring thread is not waiting for the kernel while 64 reads pend:" << states;

  int status = -1;
  pid_t other = stat_and_read_fast(m);
  if (!eventually([&] { return exited(other, &status); })) {
    ADD_FAILURE() << "a stat and a read beside 64 pending reads were not answered";
    m.abort_connection();
    waitpid(other, &status, 0);
    reap();
    return;
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(m.fs().pending_reads(), 64u);
  m.fs().release();
  for (pid_t pid : readers) {
    m.wait_until("a released read to end", [&] { return exited(pid, &status); });
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "reader status " << status;
  }
}

INSTANTIATE_TEST_SUITE_P(Transports, Pending, ::testing::Values(Transport::kDevFuse, Transport::kUring),
                         transport_name);

}  // namespace
}  // namespace linfsp::testing
