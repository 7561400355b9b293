// Directory listing. Wire offsets 0 and 1 are "." and ".."; the file system's
// cookie c travels as c + 2, so its cookies stay stable across changes.
#include <cstring>
#include <optional>
#include <vector>

#include "volume/ops.h"

namespace linfsp {
namespace {

constexpr uint64_t kDotEntries = 2;

size_t align8(size_t n) { return (n + 7) & ~size_t{7}; }

// The directory a READDIR lists. Handle 0 means the kernel opened it
// itself (the file system answered OPENDIR with ENOSYS): then it is opened
// for this one listing and closed after it.
class ListedDirectory {
 public:
  explicit ListedDirectory(Volume::Op& op) : op_(op) {
    uint64_t fh = op.arg<fuse_read_in>().fh;
    if (fh != 0) {
      dir_ = Volume::Op::handle(fh);
      return;
    }
    Node* node = op.node();
    if (node == nullptr) {
      status_ = Status::error(ESTALE);
      return;
    }
    SharedGuard names_stable(op.vol.rename_resource());
    if (!op.resolve(node)) {
      status_ = Status::error(ENOENT);
      return;
    }
    temporary_ = OpenFile{node, nullptr, true};
    OpenFlags unused;  // the kernel opened it: nothing to shape
    status_ = op.fs().open_directory(op.caller, op.path, &temporary_.context, &unused);
    if (status_) dir_ = &temporary_;
  }
  ~ListedDirectory() {
    if (dir_ == &temporary_) op_.fs().close_directory(temporary_.context);
  }
  ListedDirectory(const ListedDirectory&) = delete;
  ListedDirectory& operator=(const ListedDirectory&) = delete;

  const Status& status() const { return status_; }
  bool temporary() const { return dir_ == &temporary_; }
  OpenFile* operator->() const { return dir_; }

 private:
  Volume::Op& op_;
  Status status_;
  OpenFile* dir_ = nullptr;
  OpenFile temporary_{nullptr, nullptr, true};
};

void list(Volume::Op& op, bool plus) {
  const auto& in = op.arg<fuse_read_in>();
  ListedDirectory dir(op);
  if (!dir.status()) return op.reply_status(dir.status());
  DirentWriter writer{reply_buffer(in.size), in.size, plus};
  NodeTable& nodes = op.vol.nodes();
  // Each entry of a readdirplus reply is a lookup the kernel will forget;
  // undone unless the kernel takes the reply (also if the file system throws).
  thread_local std::vector<uint64_t> added;
  added.clear();
  bool delivered = false;
  struct Undo {
    NodeTable& nodes;
    bool& delivered;
    ~Undo() {
      if (!delivered) {
        for (uint64_t id : added) nodes.forget(id, 1);
      }
    }
  } undo{nodes, delivered};

  auto emit = [&](std::string_view name, const FileInfo& info, uint64_t next) {
    fuse_entry_out* e = nullptr;
    if (!writer.add(name, info, next, &e)) return false;
    if (plus && name != "." && name != "..") {
      Node* node = nodes.add_lookup(dir->node, name, info.ino, info.dev);
      added.push_back(node->nodeid);
      e->nodeid = node->nodeid;
      split_timeout(op.options().entry_timeout, &e->entry_valid, &e->entry_valid_nsec);
      split_timeout(op.options().attr_timeout, &e->attr_valid, &e->attr_valid_nsec);
      fill_attr(info, &e->attr);
    }
    return true;
  };

  uint64_t offset = in.offset;
  FileInfo self;
  self.ino = dir->node->ino;
  self.mode = S_IFDIR;
  if (offset < 1 && !emit(".", self, 1)) return op.fail(EINVAL);
  if (offset < 2 && !emit("..", self, 2)) {
    delivered = op.reply.ok(writer.buffer, writer.used);
    return;
  }
  Status s;
  {
    // readdirplus records names: hold names stable while listing.
    std::optional<SharedGuard> names_stable;
    if (plus) names_stable.emplace(op.vol.rename_resource());
    op.caller.request = &op;
    // A directory opened for this listing only closes when it returns: no pending then.
    op.listing = dir.temporary() ? nullptr : &writer;
    s = op.fs().read_directory(op.caller, dir->context, offset > kDotEntries ? offset - kDotEntries : 0,
                               [&](std::string_view name, const FileInfo& info, uint64_t next) {
                                 return emit(name, info, next + kDotEntries);
                               });
  }
  if (went_pending(op, s)) {
    delivered = op.pended;  // the pending reply carries the lookups made so far
    return;
  }
  if (!s && writer.used == 0) return op.reply_status(s);
  delivered = op.reply.ok(writer.buffer, writer.used);
}

}  // namespace

bool DirentWriter::add(std::string_view name, const FileInfo& info, uint64_t next, fuse_entry_out** entry) {
  size_t fixed = plus ? sizeof(fuse_entry_out) + sizeof(fuse_dirent) : sizeof(fuse_dirent);
  size_t size = align8(fixed + name.size());
  if (used + size > room) return false;
  char* p = buffer + used;
  std::memset(p, 0, size);
  auto* d = reinterpret_cast<fuse_dirent*>(p + (plus ? sizeof(fuse_entry_out) : 0));
  d->ino = info.ino;
  d->off = next;
  d->namelen = static_cast<uint32_t>(name.size());
  d->type = (info.mode & S_IFMT) >> 12;
  std::memcpy(d->name, name.data(), name.size());
  if (entry) *entry = plus ? reinterpret_cast<fuse_entry_out*>(p) : nullptr;
  used += size;
  return true;
}

void Handlers::opendir(Volume::Op& op) {
  void* dir = nullptr;
  Node* node = op.node();
  if (node == nullptr) return op.fail(ESTALE);
  OpenFlags of = default_open_flags(op, true);
  Status s;
  {
    SharedGuard names_stable(op.vol.rename_resource());
    if (!op.resolve(node)) return op.fail(ENOENT);
    s = op.fs().open_directory(op.caller, op.path, &dir, &of);
  }
  if (!s) return op.reply_status(s);
  // The kernel may cache listings: it drops them when it changes the
  // directory itself, and notifications drop them for changes it did not make.
  open_common(op, node, dir, true, fopen_bits(of));
}

void Handlers::readdir(Volume::Op& op) { list(op, false); }
void Handlers::readdirplus(Volume::Op& op) { list(op, true); }

void Handlers::releasedir(Volume::Op& op) {
  // Handle 0: the kernel opened the directory itself; nothing of ours is open.
  if (uint64_t fh = op.arg<fuse_release_in>().fh; fh != 0) release_handle(op.vol, Volume::Op::handle(fh));
  op.reply.ok();
}

void Handlers::fsyncdir(Volume::Op& op) {
  // Handle 0: the kernel opened the directory itself; nothing of ours to sync.
  const auto& in = op.arg<fuse_fsync_in>();
  if (in.fh == 0) {
    op.reply.ok();
    return;
  }
  Status s = op.fs().fsync_directory(op.caller, Volume::Op::handle(in.fh)->context,
                                     in.fsync_flags & FUSE_FSYNC_FDATASYNC);
  op.reply_status(s.err() == ENOSYS ? Status::ok() : s);  // nothing to sync
}

}  // namespace linfsp
