// Test support: a real MEMFS process mounted on a fresh directory, and a
// per-test watchdog. Every mount is unmounted (lazily) when the guard goes,
// when the test fails, and when the watchdog fires.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace linfsp::testing {

// The memfs program under test (set by CMake).
std::string memfs_binary();
// The README's example, samples/hello (set by CMake).
std::string hello_binary();

// Waits until `dir` is a FUSE mount (true) or the timeout passes (false).
bool wait_for_mount(const std::string& dir, std::chrono::milliseconds timeout);
bool is_mounted(const std::string& dir);

// A memfs process serving a temporary directory.
class MountedMemfs {
 public:
  // Starts `memfs DIR args...` and waits for the mount; null on failure
  // (with the reason in *error).
  static std::unique_ptr<MountedMemfs> start(const std::vector<std::string>& args = {},
                                             std::string* error = nullptr);
  // The same for any file system program: starts `binary DIR args...` and
  // waits for the mount. The process is also killed (SIGKILL) if the test
  // process dies first, e.g. through the watchdog.
  static std::unique_ptr<MountedMemfs> start_binary(const std::string& binary,
                                                    const std::vector<std::string>& args = {},
                                                    std::string* error = nullptr);
  ~MountedMemfs();  // SIGTERM, reap (SIGKILL after a timeout), lazy unmount, rmdir
  MountedMemfs(const MountedMemfs&) = delete;
  MountedMemfs& operator=(const MountedMemfs&) = delete;

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& rel) const { return dir_ + "/" + rel; }
  pid_t pid() const { return pid_; }
  // Sends SIGTERM and waits for the exit status (-1 if it had to be killed).
  int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Waits for the process to exit by itself; -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout);
  // What the process wrote to stderr so far.
  std::string log() const;
  // True while the process runs; once it has exited (it is reaped here),
  // false, with the status in exit_status().
  bool alive();
  // The exit code, or 128 + signal; -1 while it runs.
  int exit_status() const { return status_; }

 private:
  MountedMemfs() = default;
  static std::unique_ptr<MountedMemfs> launch(const std::string& binary, const std::vector<std::string>& args,
                                              std::string* error, bool die_with_parent);
  std::string dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  int status_ = -1;
};

// A scratch directory removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Registers a directory to unmount lazily if the watchdog fires or the
// process dies of a failed assertion.
void register_mount(const std::string& dir);
void unregister_mount(const std::string& dir);

// Aborts the FUSE connection mounted at `dir` (through fusectl, mounting it
// if need be): every request waiting on it ends. False if there is none.
bool abort_fuse_connection(const std::string& dir);

// Reports a hang with its diagnostics, unmounts what is registered, and
// ends the test process: a hang fails fast instead of wedging the run.
[[noreturn]] void fail_hang(const std::string& what, const std::string& diagnostics);

// Runs a shell command, returns its exit status, output in *out.
int run(const std::string& command, std::string* out = nullptr);

}  // namespace linfsp::testing
