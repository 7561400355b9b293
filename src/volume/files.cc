// Operations on files: attributes, open/create/close, data, xattrs, statfs.
// Operations that come with a file handle use the open context and need no
// path; the rest resolve the node's path under the rename resource.
#include <fcntl.h>
#include <linux/xattr.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "volume/ops.h"

namespace linfsp {
namespace {

// Calls fn(file) with op.path set to the node's path under the rename
// resource. An unlinked node has no path: then `file` is one of its open
// contexts (the file system's only way to find it), else the call fails.
template <typename Fn>
Status with_path(Volume::Op& op, Fn fn) {
  Node* node = op.node();
  if (node == nullptr) return Status::error(ESTALE);
  SharedGuard names_stable(op.vol.rename_resource());
  void* file = nullptr;
  if (!op.resolve(node)) {
    file = op.vol.nodes().any_open(node);
    if (file == nullptr) return Status::error(ENOENT);
  }
  return fn(file);
}

void* context_of(uint64_t fh) { return Volume::Op::handle(fh)->context; }

// Opens `node` for the volume unless it already is. REQUIRES: the rename
// resource held and node->open_mutex locked (in that order: with_path takes
// them so too).
Status open_node_locked(Volume::Op& op, Node* node, const std::string& path)
    REQUIRES_SHARED(op.vol.rename_resource()) REQUIRES(node->open_mutex) {
  if (node->node_context != nullptr) return Status::ok();
  FileInfo info;
  OpenFlags unused;  // the volume's own open: no kernel open to shape
  Status s = op.fs().open(op.caller, path, O_RDWR, &node->node_context, &info, &unused);
  if (s.err() == EROFS || s.err() == EACCES || s.err() == EPERM) {
    s = op.fs().open(op.caller, path, O_RDONLY, &node->node_context, &info, &unused);  // reads still work
  }
  return s;
}

SetAttr to_set_attr(const fuse_setattr_in& in) {
  SetAttr a;
  auto both = [&](uint32_t fattr, uint32_t bit) {
    if (in.valid & fattr) a.valid |= bit;
  };
  both(FATTR_MODE, SetAttr::kMode);
  both(FATTR_UID, SetAttr::kUid);
  both(FATTR_GID, SetAttr::kGid);
  both(FATTR_SIZE, SetAttr::kSize);
  both(FATTR_CTIME, SetAttr::kCtime);
  if (in.valid & FATTR_ATIME) a.valid |= (in.valid & FATTR_ATIME_NOW) ? SetAttr::kAtimeNow : SetAttr::kAtime;
  if (in.valid & FATTR_MTIME) a.valid |= (in.valid & FATTR_MTIME_NOW) ? SetAttr::kMtimeNow : SetAttr::kMtime;
  if (in.valid & FATTR_KILL_SUIDGID) a.valid |= SetAttr::kKillSuid;
  a.mode = in.mode;
  a.uid = in.uid;
  a.gid = in.gid;
  a.size = in.size;
  a.atime = {static_cast<time_t>(in.atime), static_cast<long>(in.atimensec)};
  a.mtime = {static_cast<time_t>(in.mtime), static_cast<long>(in.mtimensec)};
  a.ctime = {static_cast<time_t>(in.ctime), static_cast<long>(in.ctimensec)};
  return a;
}

// Answers a size query (size 0) with the size, else the data if it fits.
void reply_sized(Volume::Op& op, uint32_t room, const std::string& data) {
  if (room == 0) {
    fuse_getxattr_out out{static_cast<uint32_t>(data.size()), 0};
    op.reply.ok(&out, sizeof(out));
  } else if (data.size() > room) {
    op.fail(ERANGE);
  } else {
    op.reply.ok(data.data(), data.size());
  }
}

// Whether the caller belongs to group `gid`. FUSE sends only the primary
// group; when the supplementary ones cannot be read the answer is no, which
// clears a set-group-ID bit rather than keep it.
bool caller_in_group(const Caller& caller, gid_t gid) {
  if (caller.gid == gid) return true;
  std::vector<gid_t> groups;
  if (!caller.supplementary_groups(&groups)) return false;
  return std::find(groups.begin(), groups.end(), gid) != groups.end();
}

// `names` is a sequence of NUL-terminated names.
std::string without_trusted(const std::string& names) {
  std::string kept;
  for (size_t at = 0; at < names.size();) {
    size_t end = names.find('\0', at);
    if (end == std::string::npos) end = names.size();
    std::string_view name(names.data() + at, end - at);
    if (!name.starts_with(XATTR_TRUSTED_PREFIX)) kept.append(name).push_back('\0');
    at = end + 1;
  }
  return kept;
}

}  // namespace

OpenFlags default_open_flags(Volume::Op& op, bool directory) {
  OpenFlags of;
  of.keep_cache = op.options().keep_cache;
  of.cache_listing = directory && op.options().keep_cache;
  return of;
}

uint32_t fopen_bits(const OpenFlags& of) {
  return (of.direct_io ? FOPEN_DIRECT_IO : 0) | (of.keep_cache ? FOPEN_KEEP_CACHE : 0) |
         (of.nonseekable ? FOPEN_NONSEEKABLE : 0) | (of.cache_listing ? FOPEN_CACHE_DIR : 0);
}

// The kernel leaves clearing set-user-ID and set-group-ID bits after a write
// or truncating open to us (which spares a getxattr per write); the file
// system does it through set_file_info.
// The rule is the kernel's own (setattr_should_drop_sgid): set-user-ID
// always; set-group-ID when group-executable or the caller is outside the
// group. REQUIRES: the caller lacks CAP_FSETID (the kernel said so, or we judged).
void kill_suid_sgid(FileSystemBase& fs, const Caller& caller, const std::string& path, void* file,
                    FileInfo* info) {
  if (!(info->mode & (S_ISUID | S_ISGID))) return;
  SetAttr attr;
  attr.valid = SetAttr::kKillSuid;
  bool sgid = (info->mode & S_ISGID) && ((info->mode & S_IXGRP) || !caller_in_group(caller, info->gid));
  if (sgid && !(info->mode & S_IXGRP)) attr.valid |= SetAttr::kKillSgid;
  if (!(info->mode & S_ISUID) && !sgid) return;
  fs.set_file_info(caller, path, file, attr, info);
}

Result<void*> Volume::Op::file(uint64_t fh, Node* node) {
  if (fh != 0) return context_of(fh);
  if (node == nullptr) return Status::error(ESTALE);
  SharedGuard names_stable(vol.rename_resource());
  MutexLock lock(node->open_mutex);
  if (node->node_context == nullptr) {
    std::string where;
    if (!vol.nodes().path(node, &where)) return Status::error(ENOENT);
    if (Status s = open_node_locked(*this, node, where); !s) return s;
  }
  return node->node_context;
}

void Volume::Op::keep_open(Node* node, const std::string& path) {
  if (!vol.options_.no_open || node == nullptr) return;
  FileInfo info;
  if (!fs().get_file_info(caller, path, nullptr, &info) || !S_ISREG(info.mode)) return;
  MutexLock lock(node->open_mutex);
  open_node_locked(*this, node, path);  // failing to: only reads after the removal would fail
}

void Handlers::getattr(Volume::Op& op) {
  const auto& in = op.arg<fuse_getattr_in>();
  FileInfo info;
  if (Node* node = op.node(); node && node->fresh->get(&info)) return op.reply_attr(info);
  Status s = (in.getattr_flags & FUSE_GETATTR_FH) && in.fh != 0
                 ? op.fs().get_file_info(op.caller, op.path, context_of(in.fh), &info)
                 : with_path(op, [&](void* file) { return op.fs().get_file_info(op.caller, op.path, file, &info); });
  if (!s) return op.reply_status(s);
  op.reply_attr(info);
}

void Handlers::setattr(Volume::Op& op) {
  const auto& in = op.arg<fuse_setattr_in>();
  SetAttr attr = to_set_attr(in);
  FileInfo info;
  Status s = (in.valid & FATTR_FH) && in.fh != 0
                 ? op.fs().set_file_info(op.caller, op.path, context_of(in.fh), attr, &info)
                 : with_path(op, [&](void* file) {
                     return op.fs().set_file_info(op.caller, op.path, file, attr, &info);
                   });
  if (!s) return op.reply_status(s);
  op.reply_attr(info);
}

void Handlers::open_common(Volume::Op& op, Node* node, void* context, bool directory,
                           uint32_t open_flags, const FileInfo* created) {
  auto* f = new OpenFile{node, context, directory};
  {
    MutexLock lock(op.vol.open_mutex_);
    op.vol.open_files_.insert(f);
  }
  op.vol.nodes().add_open(node, context);
  if (!reply_open(op, node, reinterpret_cast<uint64_t>(f), open_flags, created)) {
    // The opener is gone (interrupted): the kernel will never release this.
    Handlers::release_handle(op.vol, f);
  }
}

bool Handlers::reply_open(Volume::Op& op, Node* node, uint64_t fh, uint32_t open_flags,
                          const FileInfo* created) {
  fuse_open_out out{};
  out.fh = fh;
  out.open_flags = open_flags;
  iovec iov[2];
  size_t n = 0;
  fuse_entry_out entry{};
  if (created) {
    entry.nodeid = node->nodeid;
    split_timeout(op.options().entry_timeout, &entry.entry_valid, &entry.entry_valid_nsec);
    split_timeout(op.options().attr_timeout, &entry.attr_valid, &entry.attr_valid_nsec);
    fill_attr(*created, &entry.attr);
    iov[n++] = {&entry, sizeof(entry)};
  }
  iov[n++] = {&out, sizeof(out)};
  if (op.reply.ok({iov, n})) return true;
  if (created) op.vol.nodes().forget(node->nodeid, 1);
  return false;
}

void Handlers::release_handle(Volume& vol, OpenFile* f) {
  {
    MutexLock lock(vol.open_mutex_);
    vol.open_files_.erase(f);
  }
  if (f->directory) vol.fs().close_directory(f->context);
  else vol.fs().close(f->context);
  vol.nodes().remove_open(f->node, f->context);
  delete f;
}

void Handlers::open(Volume::Op& op) {
  // The kernel takes ENOSYS as "no OPEN or RELEASE for files from now on".
  if (op.options().no_open) return op.fail(ENOSYS);
  const auto& in = op.arg<fuse_open_in>();
  void* context = nullptr;
  FileInfo info;
  OpenFlags of = default_open_flags(op, false);
  Status s = with_path(op, [&](void*) {
    return op.fs().open(op.caller, op.path, static_cast<int>(in.flags), &context, &info, &of);
  });
  if (!s) return op.reply_status(s);
  if (in.open_flags & FUSE_OPEN_KILL_SUIDGID) kill_suid_sgid(op.fs(), op.caller, op.path, context, &info);
  open_common(op, op.node(), context, false, fopen_bits(of));
}

void Handlers::create(Volume::Op& op) {
  const auto& in = op.arg<fuse_create_in>();
  Node* parent = op.node();
  SharedGuard names_stable(op.vol.rename_resource());
  std::string path;
  if (Status s = op.resolve_child(parent, op.name, &path); !s) return op.reply_status(s);
  void* context = nullptr;
  FileInfo info;
  int flags = static_cast<int>(in.flags);
  OpenFlags of = default_open_flags(op, false);
  Status s = op.fs().create(op.caller, path, (in.mode & 07777) | S_IFREG, flags, &context, &info, &of);
  if (s.err() == EEXIST && !(flags & O_EXCL)) {
    s = op.fs().open(op.caller, path, flags & ~O_CREAT, &context, &info, &of);  // lost a race to a creator
  }
  if (!s) return op.reply_status(s);
  reply_created(op, op.vol.nodes().add_lookup(parent, op.name, info.ino, info.dev), context, info, of);
}

void Handlers::tmpfile(Volume::Op& op) {
  // The name the kernel sends ("/") means nothing: the file has none.
  const auto& in = op.arg<fuse_create_in>();
  SharedGuard names_stable(op.vol.rename_resource());
  if (!op.resolve(op.node())) return op.fail(ENOENT);
  void* context = nullptr;
  FileInfo info;
  OpenFlags of = default_open_flags(op, false);
  Status s = op.fs().create_unnamed(op.caller, op.path, (in.mode & 07777) | S_IFREG,
                                    static_cast<int>(in.flags), &context, &info, &of);
  if (!s) return op.reply_status(s);
  reply_created(op, op.vol.nodes().add_unnamed(info.ino, info.dev), context, info, of);
}

void Handlers::reply_created(Volume::Op& op, Node* node, void* context, const FileInfo& info,
                             const OpenFlags& of) {
  if (op.options().no_open) {
    // Once the kernel has learned no_open it sends no RELEASE, not even for
    // files it created: the node holds the context, as after a plain open.
    {
      MutexLock lock(node->open_mutex);
      if (node->node_context == nullptr) node->node_context = std::exchange(context, nullptr);
    }
    if (context != nullptr) op.fs().close(context);  // the node was open already
    reply_open(op, node, 0, fopen_bits(of), &info);
    return;
  }
  open_common(op, node, context, false, fopen_bits(of), &info);
}

void Handlers::read(Volume::Op& op) {
  const auto& in = op.arg<fuse_read_in>();
  char* buffer = reply_buffer(in.size);
  Result<void*> file = op.file(in.fh, op.node());
  if (!file) return op.reply_status(file.status());
  op.caller.request = &op;
  Result<size_t> n = op.fs().read(op.caller, *file, buffer, in.offset, in.size);
  if (went_pending(op, n.status())) return;
  if (!n) return op.fail(n.err());
  op.reply.ok(buffer, std::min<size_t>(*n, in.size));
}

void Handlers::write(Volume::Op& op) {
  const auto& in = op.arg<fuse_write_in>();
  if (in.size > op.tail_size) return op.fail(EINVAL);
  FileInfo info;
  Result<void*> file = op.file(in.fh, op.node());
  if (!file) return op.reply_status(file.status());
  op.caller.request = &op;
  op.pending_file = *file;
  Result<size_t> n = op.fs().write(op.caller, *file, op.tail, in.offset, in.size, &info);
  if (went_pending(op, n.status())) return;
  if (!n) return op.fail(n.err());
  if (in.write_flags & FUSE_WRITE_KILL_SUIDGID) kill_suid_sgid(op.fs(), op.caller, op.path, *file, &info);
  op.changes->keep(op.header.nodeid, info);
  fuse_write_out out{static_cast<uint32_t>(*n), 0};
  op.reply.ok(&out, sizeof(out));
}

void Handlers::release(Volume::Op& op) {
  // Handle 0: a file created with no_open before the kernel learned it; the
  // node holds its context.
  if (uint64_t fh = op.arg<fuse_release_in>().fh; fh != 0) release_handle(op.vol, Volume::Op::handle(fh));
  op.reply.ok();
}

void Handlers::flush(Volume::Op& op) {
  Result<void*> file = op.file(op.arg<fuse_flush_in>().fh, op.node());
  op.reply_status(file ? op.fs().flush(op.caller, *file) : file.status());
}

void Handlers::fsync(Volume::Op& op) {
  const auto& in = op.arg<fuse_fsync_in>();
  Result<void*> file = op.file(in.fh, op.node());
  op.reply_status(file ? op.fs().fsync(op.caller, *file, in.fsync_flags & FUSE_FSYNC_FDATASYNC) : file.status());
}

void Handlers::fallocate(Volume::Op& op) {
  const auto& in = op.arg<fuse_fallocate_in>();
  FileInfo info;
  Result<void*> file = op.file(in.fh, op.node());
  if (!file) return op.reply_status(file.status());
  Status s = op.fs().fallocate(op.caller, *file, static_cast<int>(in.mode), in.offset, in.length, &info);
  // FALLOCATE carries no kill flag and the kernel leaves the bits to us, as
  // for a write. FUSE does not pass capabilities: uid 0 stands for CAP_FSETID.
  if (s && op.caller.uid != 0) kill_suid_sgid(op.fs(), op.caller, op.path, *file, &info);
  if (s) op.changes->keep(op.header.nodeid, info);
  op.reply_status(s);
}

void Handlers::lseek(Volume::Op& op) {
  // With the writeback cache the kernel holds data the file system has not
  // seen yet, so only the kernel can answer: ENOSYS makes it treat the whole
  // file as data, which is always correct.
  if (op.vol.negotiated_.flags & FUSE_WRITEBACK_CACHE) return op.fail(ENOSYS);
  const auto& in = op.arg<fuse_lseek_in>();
  Result<void*> file = op.file(in.fh, op.node());
  if (!file) return op.reply_status(file.status());
  Result<uint64_t> off = op.fs().seek(op.caller, *file, in.offset, static_cast<int>(in.whence));
  if (!off) return op.fail(off.err());
  fuse_lseek_out out{*off};
  op.reply.ok(&out, sizeof(out));
}

void Handlers::copy_file_range(Volume::Op& op) {
  const auto& in = op.arg<fuse_copy_file_range_in>();
  FileInfo info;
  Result<void*> from = op.file(in.fh_in, op.node());
  if (!from) return op.reply_status(from.status());
  Node* out_node = op.vol.nodes().get(in.nodeid_out);
  Result<void*> to = op.file(in.fh_out, out_node);
  if (!to) return op.reply_status(to.status());
  Result<size_t> n = op.fs().copy_range(op.caller, *from, in.off_in, *to, in.off_out, in.len, &info);
  if (!n) return op.fail(n.err());
  op.changes->keep(in.nodeid_out, info);
  fuse_write_out out{static_cast<uint32_t>(*n), 0};
  op.reply.ok(&out, sizeof(out));
}

void Handlers::statfs(Volume::Op& op) {
  VolumeInfo v;
  if (Status s = op.fs().get_volume_info(op.caller, &v); !s) return op.reply_status(s);
  fuse_statfs_out out{};
  uint32_t bsize = v.block_size ? v.block_size : 4096;
  out.st.bsize = bsize;
  out.st.frsize = bsize;
  out.st.blocks = v.total_bytes / bsize;
  out.st.bfree = v.free_bytes / bsize;
  out.st.bavail = v.free_bytes / bsize;
  out.st.files = v.total_files;
  out.st.ffree = v.free_files;
  out.st.namelen = v.name_max;
  op.reply.ok(&out, sizeof(out));
}

void Handlers::access(Volume::Op& op) {
  // Sent only without default_permissions.
  int mask = static_cast<int>(op.arg<fuse_access_in>().mask);
  op.reply_status(with_path(op, [&](void* file) { return op.fs().access(op.caller, op.path, file, mask); }));
}

void Handlers::setxattr(Volume::Op& op) {
  const auto& in = op.arg<fuse_setxattr_in>();
  if (in.size > op.tail_size) return op.fail(EINVAL);
  if (op.name.empty() || op.name.size() > XATTR_NAME_MAX) return op.fail(ERANGE);
  if (in.size > XATTR_SIZE_MAX) return op.fail(E2BIG);
  std::string name(op.name);
  std::string_view value(op.tail, in.size);
  op.reply_status(with_path(op, [&](void* file) {
    return op.fs().set_xattr(op.caller, op.path, file, name, value, static_cast<int>(in.flags));
  }));
}

void Handlers::getxattr(Volume::Op& op) {
  const auto& in = op.arg<fuse_getxattr_in>();
  if (op.name.empty() || op.name.size() > XATTR_NAME_MAX) return op.fail(ERANGE);
  std::string name(op.name), value;
  Status s = with_path(op, [&](void* file) { return op.fs().get_xattr(op.caller, op.path, file, name, &value); });
  if (!s) return op.reply_status(s);
  reply_sized(op, in.size, value);
}

void Handlers::listxattr(Volume::Op& op) {
  const auto& in = op.arg<fuse_getxattr_in>();
  std::string names;
  Status s = with_path(op, [&](void* file) { return op.fs().list_xattr(op.caller, op.path, file, &names); });
  if (!s) return op.reply_status(s);
  // The kernel refuses trusted.* get/set to unprivileged callers but leaves
  // listing to us; hide those names from them, as local file systems do.
  // (Privilege is judged by uid 0: FUSE does not pass capabilities.)
  if (op.caller.uid != 0) names = without_trusted(names);
  reply_sized(op, in.size, names);
}

void Handlers::removexattr(Volume::Op& op) {
  std::string name(op.name);
  op.reply_status(with_path(op, [&](void* file) { return op.fs().remove_xattr(op.caller, op.path, file, name); }));
}

}  // namespace linfsp
