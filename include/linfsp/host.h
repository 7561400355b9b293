// FileSystemHost: mounts a FileSystemBase and serves the kernel's requests.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "linfsp/filesystem.h"
#include "linfsp/status.h"

namespace linfsp {

struct HostOptions {
  std::string mountpoint;
  std::string fsname = "linfsp";
  std::string subtype;  // /proc/mounts shows fuse.<subtype>
  bool debug = false;   // one trace line per request on stderr
  bool allow_other = false;
  bool default_permissions = false;
  bool read_only = false;
  bool allow_nonempty = false;  // mount over a non-empty directory
  unsigned threads = 0;         // request threads; 0 = number of CPUs (at least 2)
  // Kernel cache timeouts, in seconds (WinFsp's FileInfoTimeout and friends).
  double entry_timeout = 1.0;
  double attr_timeout = 1.0;
  double negative_timeout = 0.0;
  bool keep_cache = true;        // keep the page cache across opens (FOPEN_KEEP_CACHE)
  bool writeback_cache = false;  // FUSE_WRITEBACK_CACHE
  // FUSE_AUTO_INVAL_DATA: the kernel drops a file's cached data when it sees
  // its mtime change. Needed when files change behind the kernel's back
  // without a notification; it also drops the cache after every write made
  // through the kernel itself, since the kernel does not know the new mtime.
  bool auto_inval_data = true;
  // -o no_open: the file system keeps no state per open of a file, so the
  // kernel need not send OPEN and RELEASE (one round trip each). The volume
  // then opens each file once, with O_RDWR (O_RDONLY if refused), when a
  // request first needs it, and closes it when the kernel forgets the file;
  // permissions are the kernel's to check (default_permissions). The page
  // cache is kept. Files created keep CREATE.
  bool no_open = false;
  // -o export_support: file handles (name_to_handle_at, NFS export) stay
  // valid while their file exists. The volume then keeps every node that
  // still has a name after the kernel forgets it, so that the kernel can
  // find it again by nodeid (FUSE_EXPORT_SUPPORT, LOOKUP of "." and "..").
  // Costs a node per file ever looked up; for file systems whose index
  // numbers are never reused while the volume runs.
  bool export_support = false;
  uint32_t max_write = 1 << 20;
  // FUSE-over-io_uring (-o uring, --uring): per-CPU request queues instead of
  // /dev/fuse reads and writes; falls back to /dev/fuse, saying why, when the
  // kernel or /sys/module/fuse/parameters/enable_uring does not allow it.
  bool uring = false;
};

// An option a file system adds to the command line (e.g. --max-nodes N).
struct ExtraOption {
  std::string name;  // "--max-nodes"
  bool takes_value;
  std::string help;
  std::function<Status(const std::string& value)> set;
};

// Parses a command line: MOUNTPOINT, -d, -f, -o opt[,opt...], -t/--threads N,
// --entry-timeout S, --attr-timeout S, --negative-timeout S, plus `extra`.
// Errors name the offending argument in one line.
Status parse_command_line(int argc, char** argv, HostOptions* options,
                          const std::vector<ExtraOption>& extra = {});
std::string usage(const std::string& program, const std::vector<ExtraOption>& extra = {});

class FileSystemHost final : public Notifier {
 public:
  FileSystemHost(FileSystemBase& fs, HostOptions options);
  ~FileSystemHost() override;  // stops and unmounts
  FileSystemHost(const FileSystemHost&) = delete;
  FileSystemHost& operator=(const FileSystemHost&) = delete;

  // Checks the mount point, mounts, answers INIT, starts the request threads.
  Status start();
  // Unmounts (lazily if busy) and stops the request threads. Idempotent.
  void stop();
  // Blocks until the volume is unmounted from outside or stop() is called.
  void wait();
  // For main(): start(), then serve until SIGINT/SIGTERM/SIGHUP or an outside
  // unmount, then stop(). Returns a process exit code.
  int run();

  // The notify API (see linfsp/notify.h and docs/notify.md).
  Status notify_begin(std::chrono::milliseconds timeout) override;
  Status notify(const void* batch, size_t size) override;
  Status notify_end() override;

  // Diagnostics, for watchdogs and tests.
  std::string describe_state() const;  // sessions, queues, rename resource
  bool rename_waiting() const;         // a rename is queued for the rename resource
  bool notify_drain(std::chrono::milliseconds timeout);  // all notifications delivered
  std::string check_consistency();     // empty when the volume is consistent

  const HostOptions& options() const { return options_; }
  // The negotiated protocol, e.g. "7.45 flags ASYNC_READ,..."; empty before start().
  std::string protocol_description() const;

 private:
  struct State;
  FileSystemBase& fs_;
  HostOptions options_;
  std::unique_ptr<State> state_;
};

}  // namespace linfsp
