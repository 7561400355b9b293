// Test support: a file system served by a FileSystemHost in the test process
// on a fresh directory, with a watchdog for calls that might hang. A hang
// aborts the FUSE connection (fusectl) before it ends the process: a thread
// of this process that waits for a request the volume already read can be
// neither killed nor woken by a lazy unmount.
#pragma once

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "linfsp/host.h"
#include "mount_guard.h"

namespace linfsp::testing {

class EmbeddedHost {
 public:
  // Mounts `fs` (a FileSystemBase or a NodeFileSystem) with `options`; the
  // mount point is made here.
  template <typename FileSystem>
  EmbeddedHost(FileSystem& fs, HostOptions options, const std::string& name) {
    std::string tmpl = "/tmp/linfsp-" + name + "-XXXXXX";
    dir_ = mkdtemp(tmpl.data());
    register_mount(dir_);
    options.mountpoint = dir_;
    if (options.subtype.empty()) options.subtype = name;
    host_ = std::make_unique<FileSystemHost>(fs, options);
    status_ = host_->start();
  }
  ~EmbeddedHost() {
    host_.reset();
    umount2(dir_.c_str(), MNT_DETACH);
    unregister_mount(dir_);
    rmdir(dir_.c_str());
  }
  EmbeddedHost(const EmbeddedHost&) = delete;
  EmbeddedHost& operator=(const EmbeddedHost&) = delete;

  const Status& status() const { return status_; }
  FileSystemHost& host() { return *host_; }
  const std::string& dir() const { return dir_; }
  std::string path(const std::string& rel) const { return dir_ + "/" + rel; }

  // Runs `fn` on another thread; if it has not returned within `limit`, the
  // volume hangs: the connection is aborted, and fail_hang prints the
  // volume's state, unmounts and ends the process.
  template <typename F>
  auto within(const std::string& what, F fn, std::chrono::seconds limit = std::chrono::seconds(10)) {
    auto f = std::async(std::launch::async, fn);
    if (f.wait_for(limit) != std::future_status::ready) hang(what + " did not complete in time");
    return f.get();
  }

  // Waits until `cond` holds; if it does not within 20 s, a hang.
  template <typename F>
  void wait_until(const std::string& what, F cond) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!cond()) {
      if (std::chrono::steady_clock::now() > deadline) hang(what + " (waited 20 s)");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  [[noreturn]] void hang(const std::string& what) {
    std::string state = host_->describe_state();
    abort_connection();
    fail_hang(what, state);
  }

  void abort_connection() { abort_fuse_connection(dir_); }

 private:
  std::string dir_;
  std::unique_ptr<FileSystemHost> host_;
  Status status_;
};

}  // namespace linfsp::testing
