// fuse/: the low-level API's private parts. A LowLevelFs is the
// NodeFileSystem that calls a program's fuse_lowlevel_ops; a fuse_req owns
// the NodeRequest of one call and what fuse_req_ctx() returns.
#pragma once

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "fuse/session.h"
#include "fuse_lowlevel.h"
#include "linfsp/node_api.h"

namespace linfsp::fuse {

class LowLevelFs;

}  // namespace linfsp::fuse

// One request, from the call of its handler until its fuse_reply_*. Freed
// when both the reply and any interrupt callback still running are done
// (refs); a second reply to the same request is refused, not a double free.
struct fuse_req {
  linfsp::NodeRequest request;  // empty (has_reply false) for forget, forget_multi, retrieve_reply
  bool has_reply = true;
  fuse_session* se;
  linfsp::fuse::LowLevelFs* fs;
  fuse_ctx ctx{};
  std::atomic<int> refs{1};
  std::atomic<bool> answered{false};

  std::mutex mutex;  // guards the three below
  fuse_interrupt_func_t interrupt_func = nullptr;
  void* interrupt_data = nullptr;
  bool interrupt_hooked = false;  // NodeRequest::on_interrupt was called

  fuse_req(linfsp::NodeRequest r, fuse_session* s, linfsp::fuse::LowLevelFs* f)
      : request(std::move(r)), se(s), fs(f) {}
};

// A poll wake-up handle (fuse_lowlevel_ops::poll).
struct fuse_pollhandle {
  uint64_t kernel_handle;
  fuse_session* se;
};

namespace linfsp::fuse {

// Drops one reference; the last frees the request.
void release_request(fuse_req* req);

class LowLevelFs final : public NodeFileSystem {
 public:
  LowLevelFs(const fuse_lowlevel_ops& ops, void* userdata, fuse_session* se) : ops_(ops), userdata_(userdata), se_(se) {}

  void* userdata() const { return userdata_; }
  const fuse_lowlevel_ops& ops() const { return ops_; }
  // The notifier, once serving; null before and after.
  NodeNotifier* notifier() const { return notifier_.load(std::memory_order_acquire); }
  // Which capabilities init() asked for (conn.want).
  unsigned want() const { return want_; }

  // retrieve cookies: the program's void* travels as a number of ours.
  uint64_t remember_cookie(void* cookie);
  void* take_cookie(uint64_t id);

  // Calls the program's destroy() once, if init() ran: after the session
  // stopped serving (no request thread is left), as libfuse does.
  void finish();

  void wants(NodeMountWants* w) override;
  void negotiate(NodeInit* init) override;
  void init(NodeNotifier& notifier) override;
  void destroy() override;

  void lookup(NodeRequest req, uint64_t parent, std::string_view name) override;
  void forget(uint64_t nodeid, uint64_t nlookup) override;
  void forget_multi(std::span<const Forget> forgets) override;
  void mknod(NodeRequest req, uint64_t parent, std::string_view name, mode_t mode, dev_t rdev) override;
  void mkdir(NodeRequest req, uint64_t parent, std::string_view name, mode_t mode) override;
  void symlink(NodeRequest req, std::string_view target, uint64_t parent, std::string_view name) override;
  void link(NodeRequest req, uint64_t nodeid, uint64_t new_parent, std::string_view new_name) override;
  void unlink(NodeRequest req, uint64_t parent, std::string_view name) override;
  void rmdir(NodeRequest req, uint64_t parent, std::string_view name) override;
  void rename(NodeRequest req, uint64_t parent, std::string_view name, uint64_t new_parent,
              std::string_view new_name, unsigned flags) override;
  void readlink(NodeRequest req, uint64_t nodeid) override;
  void getattr(NodeRequest req, uint64_t nodeid, const uint64_t* fh) override;
  void setattr(NodeRequest req, uint64_t nodeid, const struct stat& attr, uint32_t fields,
               const uint64_t* fh) override;
  void access(NodeRequest req, uint64_t nodeid, int mask) override;
  void statfs(NodeRequest req, uint64_t nodeid) override;
  void open(NodeRequest req, uint64_t nodeid, int flags) override;
  void create(NodeRequest req, uint64_t parent, std::string_view name, mode_t mode, int flags) override;
  void read(NodeRequest req, uint64_t nodeid, size_t size, off_t offset, uint64_t fh) override;
  void write(NodeRequest req, uint64_t nodeid, std::string_view data, off_t offset, uint64_t fh,
             uint32_t write_flags) override;
  void flush(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t lock_owner) override;
  void release(NodeRequest req, uint64_t nodeid, uint64_t fh, int flags) override;
  void fsync(NodeRequest req, uint64_t nodeid, bool datasync, uint64_t fh) override;
  void fallocate(NodeRequest req, uint64_t nodeid, int mode, off_t offset, off_t length, uint64_t fh) override;
  void lseek(NodeRequest req, uint64_t nodeid, off_t offset, int whence, uint64_t fh) override;
  void copy_file_range(NodeRequest req, uint64_t in_node, off_t in_offset, uint64_t in_fh, uint64_t out_node,
                       off_t out_offset, uint64_t out_fh, size_t length, int flags) override;
  void bmap(NodeRequest req, uint64_t nodeid, size_t block_size, uint64_t index) override;
  void ioctl(NodeRequest req, uint64_t nodeid, unsigned cmd, uint64_t arg, uint64_t fh, unsigned flags,
             std::string_view in, size_t out_size) override;
  void poll(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t poll_handle, unsigned events) override;
  void getlk(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t owner, const struct flock& lock) override;
  void setlk(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t owner, const struct flock& lock,
             bool wait) override;
  void flock(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t owner, int operation) override;
  void opendir(NodeRequest req, uint64_t nodeid, int flags) override;
  void readdir(NodeRequest req, uint64_t nodeid, size_t size, off_t offset, uint64_t fh) override;
  void readdirplus(NodeRequest req, uint64_t nodeid, size_t size, off_t offset, uint64_t fh) override;
  void releasedir(NodeRequest req, uint64_t nodeid, uint64_t fh) override;
  void fsyncdir(NodeRequest req, uint64_t nodeid, bool datasync, uint64_t fh) override;
  void setxattr(NodeRequest req, uint64_t nodeid, std::string_view name, std::string_view value,
                int flags) override;
  void getxattr(NodeRequest req, uint64_t nodeid, std::string_view name, size_t size) override;
  void listxattr(NodeRequest req, uint64_t nodeid, size_t size) override;
  void removexattr(NodeRequest req, uint64_t nodeid, std::string_view name) override;
  void retrieve_reply(uint64_t cookie, uint64_t nodeid, uint64_t offset, std::string_view data) override;

 private:
  // Held around each call into the program while the session is
  // single-threaded (fuse_session_loop).
  class CallGuard {
   public:
    explicit CallGuard(LowLevelFs* fs) {
      if (fs->se_->single_threaded.load(std::memory_order_relaxed)) lock_ = std::unique_lock(fs->call_mutex_);
    }

   private:
    std::unique_lock<std::mutex> lock_;
  };

  fuse_req* make(NodeRequest req);
  fuse_req* make_unanswerable();

  fuse_lowlevel_ops ops_;
  void* const userdata_;
  fuse_session* const se_;
  std::atomic<NodeNotifier*> notifier_{nullptr};
  unsigned want_ = 0;  // set during INIT, before any request
  std::atomic<bool> initialized_{false};  // the program's init() ran
  std::atomic<bool> destroyed_{false};    // its destroy() ran

  std::mutex call_mutex_;  // see CallGuard
  std::mutex cookie_mutex_;
  uint64_t next_cookie_ = 1;                           // guarded by cookie_mutex_
  std::unordered_map<uint64_t, void*> cookies_;        // guarded by cookie_mutex_
};

}  // namespace linfsp::fuse
