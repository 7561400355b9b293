#include "volume/fresh_attrs.h"

#include <fcntl.h>

#include <iterator>

#include "volume/ops.h"

namespace linfsp {

uint64_t FreshAttrs::begin() {
  MutexLock lock(mutex_);
  kept_ = false;
  ++running_;
  return ++last_ticket_;
}

void FreshAttrs::end(uint64_t ticket, const FileInfo* info, Clock::time_point until) {
  MutexLock lock(mutex_);
  --running_;
  if (info == nullptr || ticket != last_ticket_ || running_ != 0) return;
  info_ = *info;
  until_ = until;
  kept_ = true;
}

void FreshAttrs::drop() {
  MutexLock lock(mutex_);
  kept_ = false;
  ++last_ticket_;  // a change still running must not keep what it saw before
}

bool FreshAttrs::get(FileInfo* info) const {
  MutexLock lock(mutex_);
  if (!kept_ || Clock::now() >= until_) return false;
  *info = info_;
  return true;
}


// NodeChanges (volume/ops.h): which requests may change which nodes.

namespace {

// Requests that change no file's attributes. Every other one is a change of
// the request's node (READ too: atime), and of the nodes it names.
bool changes_nothing(const session::Request& r) {
  switch (r.header.opcode) {
    case FUSE_LOOKUP: case FUSE_FORGET: case FUSE_BATCH_FORGET: case FUSE_GETATTR: case FUSE_STATFS:
    case FUSE_GETXATTR: case FUSE_LISTXATTR: case FUSE_ACCESS: case FUSE_OPENDIR: case FUSE_READDIR:
    case FUSE_READDIRPLUS: case FUSE_RELEASEDIR: case FUSE_LSEEK: case FUSE_INTERRUPT: case FUSE_POLL:
    case FUSE_GETLK: case FUSE_INIT: case FUSE_DESTROY:
      return true;
    case FUSE_OPEN:
      return !(r.arg<fuse_open_in>().flags & O_TRUNC);
    default:
      return false;
  }
}

}  // namespace

NodeChanges::NodeChanges(Volume& vol, const session::Request& r) : vol_(vol) {
  if (vol.nodes_ == nullptr || changes_nothing(r)) return;
  const NodeTable& nodes = *vol.nodes_;
  const uint64_t nodeid = r.header.nodeid;
  add(nodes.fresh_attrs(nodeid), nodeid);
  switch (r.header.opcode) {
    case FUSE_UNLINK: case FUSE_RMDIR:
      add(nodes.fresh_attrs(nodeid, r.name), 0);
      break;
    case FUSE_RENAME: case FUSE_RENAME2: {
      uint64_t to = r.header.opcode == FUSE_RENAME ? r.arg<fuse_rename_in>().newdir : r.arg<fuse_rename2_in>().newdir;
      add(nodes.fresh_attrs(nodeid, r.name), 0);
      add(nodes.fresh_attrs(to, r.name2), 0);
      break;
    }
    case FUSE_LINK: {
      uint64_t old_node = r.arg<fuse_link_in>().oldnodeid;
      add(nodes.fresh_attrs(old_node), old_node);
      break;
    }
    case FUSE_COPY_FILE_RANGE: {
      uint64_t out = r.arg<fuse_copy_file_range_in>().nodeid_out;
      add(nodes.fresh_attrs(out), out);
      break;
    }
  }
}

void NodeChanges::add(std::shared_ptr<FreshAttrs> fresh, uint64_t nodeid) {
  if (fresh == nullptr || count_ == std::size(changing_)) return;
  uint64_t ticket = fresh->begin();
  changing_[count_++] = Changing{std::move(fresh), nodeid, ticket};
}

FreshAttrs::Clock::time_point NodeChanges::fresh_until() const {
  return FreshAttrs::Clock::now() + std::chrono::duration_cast<FreshAttrs::Clock::duration>(
                                        std::chrono::duration<double>(vol_.options_.attr_timeout));
}

// Ends the node's change at once: the reply goes out next, and the GETATTR
// it prompts may be served by another thread before this request returns.
void NodeChanges::keep(uint64_t nodeid, const FileInfo& info) {
  for (size_t i = 0; i < count_; ++i) {
    Changing& c = changing_[i];
    if (c.nodeid != nodeid || nodeid == 0 || c.ended) continue;
    c.ended = true;
    c.fresh->end(c.ticket, vol_.pending_writes()->load() == 0 ? &info : nullptr, fresh_until());
  }
}

NodeChanges::~NodeChanges() {
  for (size_t i = 0; i < count_; ++i) {
    if (!changing_[i].ended) changing_[i].fresh->end(changing_[i].ticket, nullptr, {});
  }
}

}  // namespace linfsp
