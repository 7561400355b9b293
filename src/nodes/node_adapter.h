// nodes/: the node-level API (linfsp/node_api.h) as a client of the session.
// Decodes each request into a NodeFileSystem call and encodes its replies;
// posts node-level notifications to the session's notification queue.
#pragma once

#include <memory>

#include "linfsp/node_api.h"
#include "session/notifications.h"
#include "session/session.h"

namespace linfsp {

// What a NodeRequest shares with the adapter. Guarded by `mutex`: a request
// may be answered from any thread while the request thread still runs.
struct NodeRequest::State {
  std::mutex mutex;
  session::Request* on_thread = nullptr;        // during dispatch; null after
  std::shared_ptr<session::Deferred> deferred;  // once the request outlives its dispatch
  Caller caller;                                // `interrupted` is null: use NodeRequest::interrupted()
  const char* opcode = "";
  bool answered = false;
  bool dropped = false;  // the request's NodeRequest is gone

  // Runs encode(reply) once, on whichever reply is current; false if the
  // request was answered already (or the kernel refused the answer).
  template <typename Encode>
  bool answer(Encode encode);
  // Moves the request off its thread. REQUIRES: mutex held, on_thread set.
  void defer_locked();
};

class NodeAdapter final : public session::Client, public NodeNotifier {
 public:
  NodeAdapter(NodeFileSystem& fs, session::NotificationQueue& out) : fs_(fs), out_(out) {}

  void dispatch(session::Request& request) override;

  Status inval_inode(uint64_t nodeid, int64_t offset, int64_t length) override;
  Status inval_entry(uint64_t parent, std::string_view name) override;
  Status expire_entry(uint64_t parent, std::string_view name) override;
  Status delete_entry(uint64_t parent, uint64_t child, std::string_view name) override;
  Status store(uint64_t nodeid, uint64_t offset, std::string_view data) override;
  Status retrieve(uint64_t nodeid, uint64_t offset, size_t size, uint64_t cookie) override;
  Status poll_wakeup(uint64_t poll_handle) override;

  NodeFileSystem& fs() { return fs_; }

 private:
  NodeFileSystem& fs_;
  session::NotificationQueue& out_;
};

// Wire helpers the node layer shares.
void fill_wire_attr(const struct stat& st, fuse_attr* attr);
void split_seconds(double seconds, uint64_t* sec, uint32_t* nsec);
// A lock to the end of the file, as the kernel writes it.
inline constexpr uint64_t kOffsetMax = 0x7fffffffffffffffULL;

}  // namespace linfsp
