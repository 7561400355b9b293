// fsbench: declarations shared by the runner (fsbench.cc), the tests
// (tests.cc) and the checked system calls (sys.cc).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fsbench {

// A system call failed: the benchmark cannot go on. `message` names the call,
// its path and the errno; the runner adds the test's name.
struct Failure {
  std::string message;
};

// The file system refuses something a test needs (O_DIRECT, a shared
// mapping): the test is reported as skipped, not as failed.
struct Skip {
  std::string reason;
};

// "ENOENT (No such file or directory)".
std::string errno_text(int err);
[[noreturn]] void fail(const std::string& message);
// Fails with "call: ERRNO (description)".
[[noreturn]] void fail_errno(const std::string& call, int err);

// The signal that interrupted the run (SIGINT, SIGTERM, SIGHUP), or 0. The
// checked system calls stop the run with a Failure once it is set.
extern std::atomic<int> g_interrupted;
inline void poll_interrupted() {
  if (g_interrupted.load(std::memory_order_relaxed)) fail("interrupted");
}

// What every test is given (one worker's share when --threads N).
struct Config {
  long files = 1000;          // N: files per directory
  size_t size = 64ul << 20;   // S: bytes of the data file of the data tests
  long iterations = 1;        // K: passes of each test's timed loop
  int threads = 1;
};

// Heap memory aligned for O_DIRECT, filled with a pattern that no file
// system can store as a hole.
class Buffer {
 public:
  Buffer() = default;
  Buffer(size_t size, unsigned seed);
  char* data() const { return p_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(char* p) const;
  };
  std::unique_ptr<char, Free> p_;
  size_t size_ = 0;
};

// One thread's share of one run of one test: its directory, its files, the
// time its timed sections took and how much work they did.
class Worker {
 public:
  Worker(const Config& config, std::string dir, unsigned index);
  ~Worker();  // closes fd if a failure left it open
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  const Config& config;
  const std::string dir;
  const unsigned index;

  // DIR/f0000000 ... : the test's files. DIR/g0000000 ...: names for rename
  // targets and for names that do not exist.
  const std::string& file(long i) const { return files_[static_cast<size_t>(i)]; }
  const std::string& other(long i) const { return others_[static_cast<size_t>(i)]; }
  std::string data_path() const { return dir + "/data"; }

  // Runs f and adds the time it took to the measured time. Only what runs in
  // here counts; setup between timed sections does not.
  template <class F>
  void timed(F&& f) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  // Adds work done: operations, or bytes for the data tests.
  void count(double n) { amount += n; }

  double seconds = 0;
  double amount = 0;

  // State a test keeps from its setup to its body; the runner closes fd.
  int fd = -1;
  Buffer buf;
  std::vector<off_t> offsets;

 private:
  std::vector<std::string> files_, others_;
};

enum class Unit { kOps, kBytes };

struct Test {
  const char* name;
  const char* group;  // bench/run alternates file systems group by group
  Unit unit;          // kOps reports ops/s, kBytes reports MiB/s
  const char* what;
  void (*setup)(Worker&);  // untimed; may be null
  void (*body)(Worker&);   // times its own loop with Worker::timed
};

const std::vector<Test>& all_tests();

// Checked system calls: each throws Failure naming the call, the path and
// the errno; the ones that meet O_DIRECT or mmap refusals throw Skip.
namespace sys {
int open(const std::string& path, int flags, mode_t mode = 0644);
// Opens with O_DIRECT added; a refusal (EINVAL) is a Skip.
int open_direct(const std::string& path, int flags, mode_t mode = 0644);
void close(int fd, const std::string& path);
// pwrite/pread of exactly n bytes at off; a short transfer is a Failure.
// With direct, EINVAL (unaligned or unsupported direct I/O) is a Skip.
void write_at(int fd, const void* p, size_t n, off_t off, const std::string& path, bool direct = false);
void read_at(int fd, void* p, size_t n, off_t off, const std::string& path, bool direct = false);
void ftruncate(int fd, off_t size, const std::string& path);
void touch(const std::string& path);  // creates an empty file, O_EXCL
void stat(const std::string& path);
void stat_absent(const std::string& path);  // must fail with ENOENT
void unlink(const std::string& path);
void mkdir(const std::string& path);
void rmdir(const std::string& path);
void rename(const std::string& from, const std::string& to);
// Reads the whole directory (opendir/readdir/closedir), with stat_each also
// fstatat()s every entry; returns the entries other than . and ..
long list(const std::string& dir, bool stat_each);
// mmap of a whole file, MAP_SHARED; ENODEV (no mmap here) is a Skip.
void* map(size_t len, int prot, int fd, const std::string& path);
void msync(void* p, size_t len, const std::string& path);
void unmap(void* p, size_t len, const std::string& path);
// Writes a file of `size` bytes (untimed setup), optionally reads it back
// once so that it sits in the page cache.
void make_file(const std::string& path, size_t size, bool read_back);
// Removes path and everything under it. Checked, or with quiet ignoring
// errors (cleaning up after a failure).
void remove_tree(const std::string& path, bool quiet = false);
}  // namespace sys

}  // namespace fsbench
