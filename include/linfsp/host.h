// FileSystemHost: mounts a FileSystemBase and serves the kernel's requests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "linfsp/filesystem.h"
#include "linfsp/status.h"

namespace linfsp {

// Mount flags, equal to mount(2)'s MS_* values (checked where they are used).
inline constexpr uint32_t kMountNoSuid = 1u << 1;        // MS_NOSUID
inline constexpr uint32_t kMountNoDev = 1u << 2;         // MS_NODEV
inline constexpr uint32_t kMountNoExec = 1u << 3;        // MS_NOEXEC
inline constexpr uint32_t kMountSynchronous = 1u << 4;   // MS_SYNCHRONOUS
inline constexpr uint32_t kMountDirSync = 1u << 7;       // MS_DIRSYNC
inline constexpr uint32_t kMountNoAtime = 1u << 10;      // MS_NOATIME
inline constexpr uint32_t kMountNoDirAtime = 1u << 11;   // MS_NODIRATIME
inline constexpr uint32_t kMountRelatime = 1u << 21;     // MS_RELATIME
inline constexpr uint32_t kMountStrictAtime = 1u << 24;  // MS_STRICTATIME
inline constexpr uint32_t kMountLazyTime = 1u << 25;     // MS_LAZYTIME

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
  // Generic mount flags (-o noexec, nosuid, noatime...): kMount* bits, which
  // are mount(2)'s MS_* values. nosuid and nodev stay on unless -o suid or
  // -o dev clears them; only a privileged mount honours that.
  uint32_t mount_flags = kMountNoSuid | kMountNoDev;
  // --ready-fd N: once mounted, run() writes "READY=1\n" to descriptor N and
  // closes it, so that a starter (fsp-launcherd) knows the mount is usable;
  // -1: none. run() also sends READY=1 to $NOTIFY_SOCKET when it is set.
  int ready_fd = -1;
  // -h/--help, --version: the program should print usage() or version() and exit 0.
  bool help = false;
  bool version = false;
};

// One command-line option, declared once: the parser and usage() both read
// it. The host's own options and a file system's come in this same form.
struct Option {
  // Called with the option's value ("" for a switch). A failure's message
  // should say what was expected; the parser prefixes the spelling used.
  using Setter = std::function<Status(const std::string& value)>;
  // Spellings. "-t" or "--threads" is a command-line switch (its value is the
  // next argument, or follows '=' in the long form); a bare key such as
  // "max_write" is a -o key (-o max_write=N); a key ending in '*' matches
  // every key with that prefix ("x-*").
  std::vector<std::string> names;
  // The value's placeholder in usage ("N", "S"); empty for a switch. In
  // brackets ("[NAME]") the value may be left out (-o user, -o user=NAME).
  std::string value;
  std::string help;
  Setter set;
};

// Setters for the usual kinds of value; each error says what was expected.
Option::Setter set_flag(bool* field, bool value);
Option::Setter set_bits(uint32_t* field, uint32_t set, uint32_t clear);
Option::Setter set_seconds(double* field);              // 0 .. 1e9
Option::Setter set_count(uint64_t* field, uint64_t min, uint64_t max);
Option::Setter ignore_option();                         // accepted, no effect

// The host's own options (-d, -o allow_other, --entry-timeout, the generic
// options of mount(8) and /etc/fstab...), writing into *options.
std::vector<Option> host_options(HostOptions* options);

// Parses a command line: one MOUNTPOINT, the host's options and
// `fs_options`; a file system's option is looked up before the host's, so it
// may take over a spelling. -h/--help and --version set options->help or
// options->version and end parsing at once (no mount point needed).
// Every error is one line that names the offending argument.
Status parse_command_line(int argc, char** argv, HostOptions* options,
                          const std::vector<Option>& fs_options = {});
// The help text, generated from the same tables.
std::string usage(const std::string& program, const std::vector<Option>& fs_options = {});
// LinFsp's version ("0.1.0"), the project version given to CMake.
std::string version();

class NodeFileSystem;

// Mounts a file system and serves it: a path-API FileSystemBase, or a
// node-level NodeFileSystem (linfsp/node_api.h; its notifications come
// through the NodeNotifier handed to its init()).
class FileSystemHost final : public Notifier {
 public:
  FileSystemHost(FileSystemBase& fs, HostOptions options);
  FileSystemHost(NodeFileSystem& fs, HostOptions options);
  ~FileSystemHost() override;  // stops and unmounts
  FileSystemHost(const FileSystemHost&) = delete;
  FileSystemHost& operator=(const FileSystemHost&) = delete;

  // Checks the mount point, mounts, answers INIT, starts the request threads:
  // mount() then serve().
  Status start();
  // start() in two steps, for a program that forks between them (libfuse's
  // fuse_session_mount, fuse_daemonize, fuse_session_loop): mount() opens
  // /dev/fuse and mounts; serve() answers INIT and starts the request
  // threads (`threads`, 0: options().threads), in the process that serves.
  Status mount();
  Status serve(unsigned threads = 0);
  // The /dev/fuse descriptor between mount() and serve(), else -1.
  int fuse_fd() const;
  // Unmounts (lazily if busy) and stops the request threads. Idempotent.
  void stop();
  // Blocks until the volume is unmounted from outside or stop() is called.
  void wait();
  // For main(): start(), then serve until SIGINT/SIGTERM/SIGHUP or an outside
  // unmount, then stop(). Returns a process exit code.
  int run();

  // The notify API of the path API (see linfsp/notify.h and docs/notify.md);
  // ENOTSUP for a node-level file system.
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
  FileSystemBase* fs_ = nullptr;        // one of these two
  NodeFileSystem* node_fs_ = nullptr;
  HostOptions options_;
  std::unique_ptr<State> state_;
};

}  // namespace linfsp
