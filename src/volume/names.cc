// Operations on names: lookup, forget, creation of non-regular files, link,
// unlink, rmdir, rename, readlink. All hold the rename resource shared while
// they resolve names and call the file system; rename holds it exclusive and
// updates the node table before releasing it.
#include <linux/fs.h>

#include <chrono>
#include <optional>

#include "volume/ops.h"

namespace linfsp {
namespace {

// Resolves (node, name), calls `make` to create or find the file there, and
// answers with an entry that the node table records.
template <typename Make>
void reply_with_entry(Volume::Op& op, Make make) {
  Node* parent = op.node();
  SharedGuard names_stable(op.vol.rename_resource());
  std::string path;
  if (Status s = op.resolve_child(parent, op.name, &path); !s) return op.reply_status(s);
  FileInfo info;
  if (Status s = make(path, &info); !s) {
    if (s.err() == ENOENT && op.options().negative_timeout > 0 && op.header.opcode == FUSE_LOOKUP) {
      return op.reply_entry(nullptr, FileInfo{});  // a cacheable "no such name"
    }
    return op.reply_status(s);
  }
  op.reply_entry(op.vol.nodes().add_lookup(parent, op.name, info.ino, info.dev), info);
}

template <typename Remove>
void remove_name(Volume::Op& op, Remove remove) {
  Node* parent = op.node();
  SharedGuard names_stable(op.vol.rename_resource());
  std::string path;
  if (Status s = op.resolve_child(parent, op.name, &path); !s) return op.reply_status(s);
  Status s = remove(path);
  if (s) op.vol.nodes().remove_name(parent, op.name);
  op.reply_status(s);
}

void rename_common(Volume::Op& op, uint64_t newdir, unsigned flags) {
  if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
      (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE)) {
    return op.fail(EINVAL);
  }
  NodeTable& nodes = op.vol.nodes();
  Node* from_parent = op.node();
  Node* to_parent = nodes.get(newdir);
  // A rename waits while notify sessions hold the resource; a signal to the
  // renaming process ends the wait.
  std::optional<ExclusiveGuard> names_changing;
  while (!(names_changing = ExclusiveGuard::try_acquire_for(op.vol.rename_resource(),
                                                           std::chrono::milliseconds(50)))) {
    if (op.caller.is_interrupted()) return op.fail(EINTR);
  }
  op.vol.rename_resource().assert_held_exclusive();  // for the analysis: held inside the optional
  std::string from, to;
  Status s = op.resolve_child(from_parent, op.name, &from);
  if (s) s = op.resolve_child(to_parent, op.name2, &to);
  if (s && !(flags & RENAME_EXCHANGE)) op.keep_open(nodes.child(to_parent, op.name2), to);
  if (s) s = op.fs().rename(op.caller, from, to, flags);
  if (s) nodes.rename(from_parent, op.name, to_parent, op.name2, flags);
  names_changing.reset();
  op.reply_status(s);
}

// LOOKUP of "." or "..": the kernel opens a file handle whose node it had
// forgotten (FUSE_EXPORT_SUPPORT). ESTALE unless the node still names the
// same file.
void lookup_by_nodeid(Volume::Op& op) {
  NodeTable& nodes = op.vol.nodes();
  SharedGuard names_stable(op.vol.rename_resource());
  Node* node = nodes.add_lookup_by_id(op.header.nodeid, op.name == "..");
  if (node == nullptr) return op.fail(ESTALE);
  FileInfo info;
  Status s = op.resolve(node) ? op.fs().get_file_info(op.caller, op.path, nullptr, &info) : Status::error(ESTALE);
  if (s && !node->is(info.ino, info.dev)) s = Status::error(ESTALE);
  if (!s) {
    nodes.forget(node->nodeid, 1);
    return op.fail(s.err() == ENOENT || s.err() == ENOTDIR ? ESTALE : s.err());
  }
  op.reply_entry(node, info);
}

}  // namespace

void Handlers::lookup(Volume::Op& op) {
  if (op.name == "." || op.name == "..") return lookup_by_nodeid(op);
  reply_with_entry(op, [&](const std::string& path, FileInfo* info) {
    return op.fs().get_file_info(op.caller, path, nullptr, info);
  });
}

void Handlers::forget(Volume::Op& op) {
  op.vol.nodes().forget(op.header.nodeid, op.arg<fuse_forget_in>().nlookup);
}

void Handlers::batch_forget(Volume::Op& op) {
  uint32_t count = op.arg<fuse_batch_forget_in>().count;
  size_t room = (op.tail_size) / sizeof(fuse_forget_one);
  const auto* one = reinterpret_cast<const fuse_forget_one*>(op.tail);
  for (uint32_t i = 0; i < count && i < room; ++i) op.vol.nodes().forget(one[i].nodeid, one[i].nlookup);
}

void Handlers::mkdir(Volume::Op& op) {
  const auto& in = op.arg<fuse_mkdir_in>();
  reply_with_entry(op, [&](const std::string& path, FileInfo* info) {
    return op.fs().mkdir(op.caller, path, (in.mode & 07777) | S_IFDIR, info);
  });
}

void Handlers::mknod(Volume::Op& op) {
  const auto& in = op.arg<fuse_mknod_in>();
  reply_with_entry(op, [&](const std::string& path, FileInfo* info) {
    return op.fs().mknod(op.caller, path, in.mode, in.rdev, info);
  });
}

void Handlers::symlink(Volume::Op& op) {
  // SYMLINK carries the new name first, then the target.
  std::string target(op.name2);
  if (target.empty()) return op.fail(ENOENT);
  if (target.size() >= PATH_MAX) return op.fail(ENAMETOOLONG);
  reply_with_entry(op, [&](const std::string& path, FileInfo* info) {
    return op.fs().symlink(op.caller, path, target, info);
  });
}

void Handlers::link(Volume::Op& op) {
  Node* existing = op.vol.nodes().get(op.arg<fuse_link_in>().oldnodeid);
  reply_with_entry(op, [&](const std::string& path, FileInfo* info) {
    if (existing == nullptr) return Status::error(ENOENT);
    // A file without a name (O_TMPFILE) is known by its open context.
    std::string from;
    void* file = nullptr;
    if (!op.vol.nodes().path(existing, &from) && (file = op.vol.nodes().any_open(existing)) == nullptr) {
      return Status::error(ENOENT);
    }
    return op.fs().link(op.caller, from, file, path, info);
  });
}

void Handlers::unlink(Volume::Op& op) {
  remove_name(op, [&](const std::string& path) {
    op.vol.rename_resource().assert_held_shared();  // for the analysis: remove_name holds it
    op.keep_open(op.vol.nodes().child(op.node(), op.name), path);
    return op.fs().unlink(op.caller, path);
  });
}

void Handlers::rmdir(Volume::Op& op) {
  remove_name(op, [&](const std::string& path) { return op.fs().rmdir(op.caller, path); });
}

void Handlers::rename(Volume::Op& op) { rename_common(op, op.arg<fuse_rename_in>().newdir, 0); }

void Handlers::rename2(Volume::Op& op) {
  const auto& in = op.arg<fuse_rename2_in>();
  rename_common(op, in.newdir, in.flags);
}

void Handlers::readlink(Volume::Op& op) {
  SharedGuard names_stable(op.vol.rename_resource());
  if (!op.resolve(op.node())) return op.fail(ENOENT);
  std::string target;
  Status s = op.fs().read_link(op.caller, op.path, &target);
  if (!s) return op.reply_status(s);
  op.reply.ok(target.data(), target.size());
}

}  // namespace linfsp
