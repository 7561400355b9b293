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

void list(Volume::Op& op, bool plus) {
  const auto& in = op.arg<fuse_read_in>();
  OpenFile* dir = Volume::Op::handle(in.fh);
  char* buffer = reply_buffer(in.size);
  size_t used = 0;
  NodeTable& nodes = op.vol.nodes();
  thread_local std::vector<Node*> added;  // lookups to undo if the reply is lost
  added.clear();

  auto emit = [&](std::string_view name, const FileInfo& info, uint64_t next) {
    size_t fixed = plus ? sizeof(fuse_entry_out) + sizeof(fuse_dirent) : sizeof(fuse_dirent);
    size_t size = align8(fixed + name.size());
    if (used + size > in.size) return false;
    char* p = buffer + used;
    std::memset(p, 0, size);
    fuse_dirent* d = reinterpret_cast<fuse_dirent*>(p + (plus ? sizeof(fuse_entry_out) : 0));
    bool dot = name == "." || name == "..";
    if (plus && !dot) {
      // Each entry of a readdirplus reply is a lookup the kernel will forget.
      auto* e = reinterpret_cast<fuse_entry_out*>(p);
      Node* node = nodes.add_lookup(dir->node, name, info.ino);
      added.push_back(node);
      e->nodeid = node->nodeid;
      split_timeout(op.options().entry_timeout, &e->entry_valid, &e->entry_valid_nsec);
      split_timeout(op.options().attr_timeout, &e->attr_valid, &e->attr_valid_nsec);
      fill_attr(info, &e->attr);
    }
    d->ino = info.ino;
    d->off = next;
    d->namelen = static_cast<uint32_t>(name.size());
    d->type = (info.mode & S_IFMT) >> 12;
    std::memcpy(d->name, name.data(), name.size());
    used += size;
    return true;
  };

  uint64_t offset = in.offset;
  FileInfo self;
  self.ino = dir->node->ino;
  self.mode = S_IFDIR;
  if (offset < 1 && !emit(".", self, 1)) return op.fail(EINVAL);
  if (offset < 2 && !emit("..", self, 2)) {
    op.reply.ok(buffer, used);
    return;
  }
  Status s;
  {
    // readdirplus records names: hold names stable while listing.
    std::optional<SharedGuard> names_stable;
    if (plus) names_stable.emplace(op.vol.rename_resource());
    s = op.fs().read_directory(dir->context, offset > kDotEntries ? offset - kDotEntries : 0,
                               [&](std::string_view name, const FileInfo& info, uint64_t next) {
                                 return emit(name, info, next + kDotEntries);
                               });
  }
  if (!s && used == 0) return op.reply_status(s);
  if (!op.reply.ok(buffer, used)) {
    for (Node* n : added) nodes.forget(n->nodeid, 1);
  }
}

}  // namespace

void Handlers::opendir(Volume::Op& op) {
  void* dir = nullptr;
  Node* node = op.node();
  if (node == nullptr) return op.fail(ESTALE);
  Status s;
  {
    SharedGuard names_stable(op.vol.rename_resource());
    if (!op.resolve(node)) return op.fail(ENOENT);
    s = op.fs().open_directory(op.caller, op.path, &dir);
  }
  if (!s) return op.reply_status(s);
  // The kernel may cache listings: it drops them when it changes the
  // directory itself, and notifications drop them for changes it did not make.
  open_common(op, node, dir, true, op.options().keep_cache ? FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE : 0);
}

void Handlers::readdir(Volume::Op& op) { list(op, false); }
void Handlers::readdirplus(Volume::Op& op) { list(op, true); }

void Handlers::releasedir(Volume::Op& op) {
  release_handle(op.vol, Volume::Op::handle(op.arg<fuse_release_in>().fh));
  op.reply.ok();
}

void Handlers::fsyncdir(Volume::Op& op) { op.reply.ok(); }

}  // namespace linfsp
