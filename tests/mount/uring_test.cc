// MEMFS served over FUSE-over-io_uring (memfs --uring): the negotiation, real
// file operations from many threads, interrupts, a slow request that must not
// hold up its CPU's queue, the ways a mount ends, and the fallback to
// /dev/fuse when the fuse module does not allow io_uring.
//
// Skipped when the kernel has no FUSE-over-io_uring. The module parameter is
// switched on for the suite when it is off and we may write it (root), and
// put back afterwards.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "mount_guard.h"
#include "uring_param.h"

namespace linfsp::testing {
namespace {

const char* const kParam = kUringParam;
bool write_param(const char* value) { return write_uring_param(value); }
bool param_on() { return uring_param_on(); }

// Threads of `pid` whose name starts with `prefix`, and the context switches
// they made so far. A ring thread and the requester it serves share a CPU, so
// every round trip switches the ring thread out at least once (it sleeps in
// io_uring_enter, or is preempted by the requester it woke).
struct Threads {
  int count = 0;
  long switches = 0;
};
Threads threads_named(pid_t pid, const std::string& prefix) {
  Threads t;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return t;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream status(dir + "/" + e->d_name + "/status");
    std::string line, name;
    long switches = 0;
    while (std::getline(status, line)) {
      if (line.rfind("Name:", 0) == 0) name = line.substr(line.find_first_not_of(" \t", 5));
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0) switches += std::stol(line.substr(24));
      if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) switches += std::stol(line.substr(27));
    }
    if (name.rfind(prefix, 0) == 0) {
      ++t.count;
      t.switches += switches;
    }
  }
  closedir(d);
  return t;
}

unsigned possible_cpus() {
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string list;
  in >> list;
  unsigned count = 0, lo, hi;
  std::stringstream ss(list);
  std::string range;
  while (std::getline(ss, range, ',')) {
    if (std::sscanf(range.c_str(), "%u-%u", &lo, &hi) == 2)
      count += hi - lo + 1;
    else
      count += 1;
  }
  return count;
}

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

class Uring : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { skip_reason_ = switch_.enable(); }
  static void TearDownTestSuite() { switch_.restore(); }
  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
  }
  std::unique_ptr<MountedMemfs> mount(std::vector<std::string> args) {
    args.insert(args.begin(), "--uring");
    std::string error;
    auto fs = MountedMemfs::start(args, &error);
    EXPECT_TRUE(fs) << error;
    return fs;
  }

  static std::string skip_reason_;
  static UringSwitch switch_;
};
std::string Uring::skip_reason_;
UringSwitch Uring::switch_;

TEST_F(Uring, NegotiatesOverIoUringAndServesOnTheRings) {
  auto fs = mount({"-d", "--attr-timeout", "0"});
  ASSERT_TRUE(fs);
  std::string file = fs->path("f");
  int fd = open(file.c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  // The host prints the negotiated flags once the request threads run.
  std::string log = fs->log();
  for (int i = 0; i < 500 && log.find("FUSE protocol") == std::string::npos; ++i) {
    usleep(10000);
    log = fs->log();
  }
  EXPECT_NE(log.find("OVER_IO_URING"), std::string::npos) << log;
  EXPECT_EQ(log.find("unavailable"), std::string::npos) << log;
  // The debug trace is written after the reply: the request (here the name)
  // must still be intact then.
  EXPECT_NE(log.find("CREATE node=1 path=/f name=f"), std::string::npos) << log;

  // One ring thread per queue at least, every one of them pinned to its CPU.
  Threads before = threads_named(fs->pid(), "linfsp-uring");
  EXPECT_GE(static_cast<unsigned>(before.count), possible_cpus());
  // With attr_timeout 0 each fstat is a GETATTR round trip; the ring threads
  // must be the ones that serve them.
  struct stat st;
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(fstat(fd, &st), 0) << std::strerror(errno);
  Threads after = threads_named(fs->pid(), "linfsp-uring");
  EXPECT_GE(after.switches - before.switches, 1000) << "the GETATTRs did not go through the rings";
  close(fd);
  EXPECT_EQ(fs->terminate(), 0) << fs->log();
  EXPECT_FALSE(is_mounted(fs->dir()));
}

// A file's life from many threads at once: create, write (small and larger
// than one request), read back past the page cache, stat, readdir, rename,
// unlink.
TEST_F(Uring, FileOperationsFromManyThreads) {
  auto fs = mount({});
  ASSERT_TRUE(fs);
  constexpr int kThreads = 8, kFiles = 60;
  std::atomic<int> failures{0};
  auto fail = [&](const std::string& what) {
    if (failures++ < 10) ADD_FAILURE() << what << ": " << std::strerror(errno);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      pin_to_cpu(t % static_cast<int>(std::thread::hardware_concurrency()));
      std::string dir = fs->path("t" + std::to_string(t));
      if (mkdir(dir.c_str(), 0755) != 0) return fail("mkdir " + dir);
      for (int i = 0; i < kFiles; ++i) {
        std::string name = dir + "/f" + std::to_string(i);
        // Every eighth file is 1.5 MiB, more than one WRITE and one READ.
        size_t size = i % 8 == 0 ? (3u << 19) + 123 : 100 + i * 37;
        std::string data(size, '\0');
        for (size_t k = 0; k < size; ++k) data[k] = static_cast<char>('a' + (k * 7 + i + t) % 26);
        int fd = open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0644);
        if (fd < 0) return fail("create " + name);
        if (pwrite(fd, data.data(), size, 0) != static_cast<ssize_t>(size)) fail("write " + name);
        fsync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);  // the read below goes to memfs
        std::string back(size, '\0');
        size_t got = 0;
        while (got < size) {
          ssize_t n = pread(fd, back.data() + got, size - got, static_cast<off_t>(got));
          if (n <= 0) break;
          got += static_cast<size_t>(n);
        }
        if (got != size || back != data) fail("read back " + name);
        close(fd);
        struct stat st;
        if (stat(name.c_str(), &st) != 0 || st.st_size != static_cast<off_t>(size)) fail("stat " + name);
        std::string renamed = dir + "/r" + std::to_string(i);
        if (rename(name.c_str(), renamed.c_str()) != 0) fail("rename " + name);
      }
      DIR* d = opendir(dir.c_str());
      if (!d) return fail("opendir " + dir);
      std::set<std::string> names;
      while (dirent* e = readdir(d)) names.insert(e->d_name);
      closedir(d);
      if (names.size() != kFiles + 2) fail("readdir " + dir + " lists " + std::to_string(names.size()));
      for (int i = 0; i < kFiles; ++i) {
        std::string renamed = dir + "/r" + std::to_string(i);
        if (unlink(renamed.c_str()) != 0) fail("unlink " + renamed);
      }
      if (rmdir(dir.c_str()) != 0) fail("rmdir " + dir);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  DIR* d = opendir(fs->dir().c_str());
  ASSERT_TRUE(d);
  int left = 0;
  while (dirent* e = readdir(d)) left += e->d_name[0] != '.';
  closedir(d);
  EXPECT_EQ(left, 0);
  EXPECT_EQ(fs->terminate(), 0) << fs->log();
}

TEST_F(Uring, SigtermUnmountsAndExitsZero) {
  auto fs = mount({});
  ASSERT_TRUE(fs);
  ASSERT_EQ(mkdir(fs->path("d").c_str(), 0755), 0);
  EXPECT_EQ(fs->terminate(), 0) << fs->log();
  EXPECT_FALSE(is_mounted(fs->dir()));
}

TEST_F(Uring, UmountFromOutsideEndsTheProcessWithZero) {
  auto fs = mount({});
  ASSERT_TRUE(fs);
  ASSERT_EQ(mkdir(fs->path("d").c_str(), 0755), 0);
  std::string out;
  ASSERT_EQ(run("umount " + fs->dir(), &out), 0) << out;
  EXPECT_EQ(fs->wait_exit(std::chrono::seconds(20)), 0) << fs->log();
  EXPECT_FALSE(is_mounted(fs->dir()));
}

TEST_F(Uring, UmountUnderLoadEndsTheProcessWithZero) {
  auto fs = mount({"--attr-timeout", "0"});
  ASSERT_TRUE(fs);
  // The load works relative to a descriptor of the mounted root, so that
  // after the (lazy) unmount it keeps reaching the detached file system, not
  // the directory underneath. The file system ends when the last user goes.
  int root = open(fs->dir().c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(root, 0);
  std::atomic<bool> done{false};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      std::string name = "load" + std::to_string(t);
      struct stat st;
      while (!done) {
        int fd = openat(root, name.c_str(), O_CREAT | O_RDWR, 0644);
        if (fd >= 0) close(fd);
        fstatat(root, name.c_str(), &st, 0);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::string out;
  EXPECT_EQ(run("umount -l " + fs->dir(), &out), 0) << out;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // load on the detached mount
  done = true;
  for (auto& th : load) th.join();
  close(root);
  EXPECT_EQ(fs->wait_exit(std::chrono::seconds(20)), 0) << fs->log();
  EXPECT_FALSE(is_mounted(fs->dir()));
}

TEST_F(Uring, SigtermWhileBusyDetachesTheMount) {
  auto fs = mount({});
  ASSERT_TRUE(fs);
  int fd = open(fs->path("held").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(fs->terminate(), 0) << fs->log();
  EXPECT_FALSE(is_mounted(fs->dir()));
  errno = 0;
  EXPECT_EQ(fchmod(fd, 0600), -1);
  EXPECT_TRUE(errno == ENOTCONN || errno == ECONNABORTED || errno == EIO) << std::strerror(errno);
  close(fd);
}

// With io_uring the kernel tears the rings down only after the process is
// gone (a few milliseconds), so a request that races the teardown waits for
// it and ends with ECONNABORTED or ECANCELED rather than ENOTCONN. Either way
// it fails at once and never hangs; after the teardown it is ENOTCONN.
TEST_F(Uring, KilledFileSystemLeavesAMountThatFailsFast) {
  auto fs = mount({});
  ASSERT_TRUE(fs);
  kill(fs->pid(), SIGKILL);
  fs->wait_exit(std::chrono::seconds(10));
  struct stat st;
  errno = 0;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(stat(fs->path("x").c_str(), &st), -1);
  EXPECT_TRUE(errno == ENOTCONN || errno == ECONNABORTED || errno == ECANCELED) << std::strerror(errno);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  for (int i = 0; i < 200 && errno != ENOTCONN; ++i) {
    usleep(10000);
    errno = 0;
    EXPECT_EQ(stat(fs->path("x").c_str(), &st), -1);
  }
  EXPECT_EQ(errno, ENOTCONN) << std::strerror(errno);
}

// INTERRUPT still comes over /dev/fuse and must reach a request served on a
// ring.
TEST_F(Uring, InterruptEndsASlowRequestWithEintr) {
  auto fs = mount({"--slow-io", "60000", "-d"});
  ASSERT_TRUE(fs);
  int fd = open(fs->path("slow").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  pid_t child = fork();
  if (child == 0) {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigaction(SIGUSR1, &sa, nullptr);   // no SA_RESTART: the write must end
    ssize_t n = pwrite(fd, "x", 1, 0);  // write-through: a synchronous request
    _exit(n == -1 && errno == EINTR ? 0 : 1);
  }
  auto in_pwrite = [&] {
    std::string out;
    run("cat /proc/" + std::to_string(child) + "/syscall", &out);
    return out.rfind("18 ", 0) == 0;  // pwrite64 on x86-64
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!in_pwrite() && std::chrono::steady_clock::now() < deadline) usleep(10000);
  ASSERT_TRUE(in_pwrite()) << "the writer never blocked in the file system";
  kill(child, SIGUSR1);
  int status = -1;
  for (int i = 0; i < 2000 && waitpid(child, &status, WNOHANG) == 0; ++i) usleep(10000);
  if (!WIFEXITED(status)) kill(child, SIGKILL), waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the slow write did not end with EINTR";
  close(fd);
  EXPECT_EQ(fs->terminate(), 0);
  EXPECT_NE(fs->log().find("INTERRUPT"), std::string::npos) << fs->log();
  EXPECT_NE(fs->log().find("-> EINTR"), std::string::npos) << fs->log();
}

// Requests from one CPU share that CPU's queue. A request that blocks in the
// file system must not hold up the next one from the same CPU.
TEST_F(Uring, SlowRequestDoesNotBlockItsQueue) {
  auto fs = mount({"--slow-io", "60000", "--attr-timeout", "0"});
  ASSERT_TRUE(fs);
  int fd = open(fs->path("slow").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  pid_t child = fork();
  if (child == 0) {
    pin_to_cpu(0);
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigaction(SIGUSR1, &sa, nullptr);
    pwrite(fd, "x", 1, 0);  // blocks in memfs until interrupted
    _exit(0);
  }
  auto in_pwrite = [&] {
    std::string out;
    run("cat /proc/" + std::to_string(child) + "/syscall", &out);
    return out.rfind("18 ", 0) == 0;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!in_pwrite() && std::chrono::steady_clock::now() < deadline) usleep(10000);
  ASSERT_TRUE(in_pwrite());
  std::thread probe([&] {
    pin_to_cpu(0);
    auto start = std::chrono::steady_clock::now();
    struct stat st;
    EXPECT_EQ(stat(fs->path("slow").c_str(), &st), 0) << std::strerror(errno);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5))
        << "a GETATTR waited behind the slow write on CPU 0's queue";
  });
  probe.join();
  kill(child, SIGUSR1);
  int status;
  waitpid(child, &status, 0);
  close(fd);
  EXPECT_EQ(fs->terminate(), 0) << fs->log();
}

// With the module parameter off, --uring still mounts and serves, over
// /dev/fuse, and says why on stderr.
TEST_F(Uring, FallsBackToDevFuseWhenTheModuleDisallowsIt) {
  struct SwitchedOff {
    ~SwitchedOff() { write_param("1"); }
  } switched_off;
  if (!write_param("0") || param_on()) GTEST_SKIP() << "cannot switch " << kParam << " off";
  auto fs = mount({"-d"});
  ASSERT_TRUE(fs);
  // INIT is answered by now; the parameter may go back on.
  ASSERT_EQ(mkdir(fs->path("d").c_str(), 0755), 0);
  write_param("1");
  int fd = open(fs->path("d/f").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(write(fd, "hello", 5), 5);
  close(fd);
  struct stat st;
  ASSERT_EQ(stat(fs->path("d/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 5);
  std::string log = fs->log();
  EXPECT_NE(log.find("FUSE-over-io_uring unavailable"), std::string::npos) << log;
  EXPECT_NE(log.find("enable_uring"), std::string::npos) << log;
  EXPECT_EQ(log.find("OVER_IO_URING"), std::string::npos) << log;
  EXPECT_EQ(threads_named(fs->pid(), "linfsp-uring").count, 0);
  EXPECT_EQ(fs->terminate(), 0) << fs->log();
}

}  // namespace
}  // namespace linfsp::testing
