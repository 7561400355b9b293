// The state behind libfuse's opaque struct fuse_session. The low-level API
// (a NodeFileSystem built from fuse_lowlevel_ops) and the high-level API (a
// FileSystemBase built from fuse_operations, through struct fuse) both mount
// and serve through it, so fuse_session_mount/loop/exit/unmount/fd behave the
// same for either.
//
// Lifecycle (lowlevel_session.cc): fuse_session_mount() builds `host` and
// mounts (FileSystemHost::mount: /dev/fuse opened, mount(2) or fusermount3);
// the loop serves (FileSystemHost::serve: INIT, request threads) in the
// process that runs it, which may be a fuse_daemonize()d child; the loop
// returns on fuse_session_exit() or an unmount and then stops the host
// (destroy, unmount); fuse_session_unmount() stops it if the loop did not.
#pragma once

#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

#include "fuse_opt.h"
#include "linfsp/host.h"
#include "linfsp/node_api.h"

struct fuse_session {
  linfsp::HostOptions options;                  // from the -o options given to fuse_session_new/fuse_new
  linfsp::NodeFileSystem* node_fs = nullptr;    // one of these two
  linfsp::FileSystemBase* path_fs = nullptr;
  std::unique_ptr<linfsp::FileSystemHost> host;  // from fuse_session_mount on
  std::string mountpoint;
  std::atomic<int> exited{0};  // fuse_session_exit; the loop returns

  // The low-level API's adapter (node_fs points at it); null for struct fuse.
  std::unique_ptr<linfsp::NodeFileSystem> owned_node_fs;
  // What the loop returns besides 0: the signal that ended it (set by
  // fuse_set_signal_handlers' handler), or -errno.
  std::atomic<int> error{0};
  // An eventfd the loop waits on; fuse_session_exit writes it (it is
  // async-signal-safe). Created by the loop; -1 before.
  std::atomic<int> wake_fd{-1};
  // Set by fuse_session_loop (one request thread): callbacks must never run
  // concurrently, also where the transport runs more threads than asked
  // (FUSE-over-io_uring keeps a few per queue).
  std::atomic<bool> single_threaded{false};

  fuse_session() = default;
  fuse_session(const fuse_session&) = delete;
  fuse_session& operator=(const fuse_session&) = delete;
  ~fuse_session() {
    int fd = wake_fd.exchange(-1);
    if (fd >= 0) close(fd);
  }
};

// libfuse's loop configuration, opaque to programs built for API 3.12 and
// later (fuse_loop_cfg_*); older ones pass struct fuse_loop_config_v1.
struct fuse_loop_config {
  int clone_fd = 0;
  unsigned int max_idle_threads = 10;
  unsigned int max_threads = 10;
};

namespace linfsp::fuse {

// Applies libfuse's session and mount options (-d, --debug, -o debug,
// allow_other, allow_root, default_permissions, ro, fsname=, subtype=,
// auto_unmount, max_read=, io_uring, and the generic mount(8) options) in
// `args` (argv[0] is the program) to *options. Any other option or argument
// is an error: false, after one fuse_log line that names it.
bool parse_session_args(fuse_args* args, HostOptions* options);

// Serves a mounted session until fuse_session_exit() or an unmount, with
// `threads` request threads (1: callbacks never run concurrently), then
// stops the host. Returns what fuse_session_loop returns.
int serve_session(fuse_session* se, unsigned threads);

}  // namespace linfsp::fuse
