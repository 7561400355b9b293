// volume/: the FSD equivalent, one client of the session. Resolves nodeids
// to paths under the rename resource, calls the file system through the
// native API, and encodes the reply.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <memory>
#include <string>
#include <unordered_set>

#include "kernel/channel.h"
#include "session/session.h"
#include "linfsp/filesystem.h"
#include "util/mutex.h"
#include "volume/node_table.h"
#include "volume/notify.h"
#include "volume/resource.h"

namespace linfsp {

struct PollChannel;  // extra_ops.cc

struct VolumeOptions {
  double entry_timeout = 1.0;
  double attr_timeout = 1.0;
  double negative_timeout = 0.0;
  bool keep_cache = true;
  // The kernel sends no OPEN or RELEASE for files (answered ENOSYS once);
  // the volume opens each file once, when a request first needs it, and
  // closes it when the kernel forgets the file.
  bool no_open = false;
  // Keep named nodes after FORGET and answer LOOKUP of "." and ".." by
  // nodeid, so file handles outlive the kernel's caches.
  bool export_support = false;
  bool debug = false;
  // The mount point's type (S_IFDIR or S_IFREG): the root must be of it.
  mode_t root_type = S_IFDIR;
};

// An open file or directory: the handle (fh) the kernel holds.
struct OpenFile {
  Node* node;
  void* context;  // the file system's
  bool directory;
};

class Volume final : public session::Client {
 public:
  Volume(FileSystemBase& fs, VolumeOptions options);
  ~Volume() override;

  // Reads the root's attributes; call before the kernel can send requests.
  // Invalidations go to `notifications`.
  Status open_root(session::NotificationQueue& notifications);
  // Adopts what INIT negotiated (e.g. whether readdirplus is on).
  void set_negotiated(const kernel::Negotiated& negotiated) { negotiated_ = negotiated; }
  // Closes every context the kernel did not release (after the connection ended).
  void close_all();
  // Checks that the node table is consistent and that every name it holds
  // resolves in the file system to the same file; returns the first problem.
  std::string check_consistency();

  void dispatch(session::Request& request) override;

  NodeTable& nodes() { return *nodes_; }
  Resource& rename_resource() RETURN_CAPABILITY(rename_resource_) { return rename_resource_; }
  NotifyEngine& notify() { return *notify_; }
  FileSystemBase& fs() { return fs_; }
  // Writes pending now (pending.cc counts them; see NodeChanges).
  const std::shared_ptr<std::atomic<int>>& pending_writes() const { return pending_writes_; }

  struct Op;  // one request being handled

 private:
  friend struct Handlers;
  friend class NodeChanges;
  FileSystemBase& fs_;
  const VolumeOptions options_;
  kernel::Negotiated negotiated_;
  std::unique_ptr<NodeTable> nodes_;
  // Held shared by every name-dependent operation while it resolves paths and
  // calls the file system; exclusive by rename. See DESIGN.md.
  Resource rename_resource_;
  std::unique_ptr<NotifyEngine> notify_;  // after open_root()
  // Open handles, for close_all().
  Mutex open_mutex_;
  std::unordered_set<OpenFile*> open_files_ GUARDED_BY(open_mutex_);
  // Where poll() wake-ups go; set by open_root(), cut by the destructor.
  std::shared_ptr<PollChannel> poll_channel_;
  // Writes pending now; while any is, no fresh attributes are kept (NodeChanges).
  std::shared_ptr<std::atomic<int>> pending_writes_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace linfsp
