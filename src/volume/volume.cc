// The volume as a client of the session: a table maps each opcode to its
// handler (the session's opcode table has already validated the request).
#include "volume/volume.h"

#include <linux/limits.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>

#include "volume/ops.h"

namespace linfsp {
namespace {

using Handler = void (*)(Volume::Op&);
constexpr size_t kMaxOpcode = 64;

// The handler of each opcode the session's table knows; null: ENOSYS.
constexpr std::array<Handler, kMaxOpcode> make_handlers() {
  std::array<Handler, kMaxOpcode> t{};
  t[FUSE_LOOKUP] = Handlers::lookup;
  t[FUSE_FORGET] = Handlers::forget;
  t[FUSE_GETATTR] = Handlers::getattr;
  t[FUSE_SETATTR] = Handlers::setattr;
  t[FUSE_READLINK] = Handlers::readlink;
  t[FUSE_SYMLINK] = Handlers::symlink;
  t[FUSE_MKNOD] = Handlers::mknod;
  t[FUSE_MKDIR] = Handlers::mkdir;
  t[FUSE_UNLINK] = Handlers::unlink;
  t[FUSE_RMDIR] = Handlers::rmdir;
  t[FUSE_RENAME] = Handlers::rename;
  t[FUSE_LINK] = Handlers::link;
  t[FUSE_OPEN] = Handlers::open;
  t[FUSE_READ] = Handlers::read;
  t[FUSE_WRITE] = Handlers::write;
  t[FUSE_STATFS] = Handlers::statfs;
  t[FUSE_RELEASE] = Handlers::release;
  t[FUSE_FSYNC] = Handlers::fsync;
  t[FUSE_SETXATTR] = Handlers::setxattr;
  t[FUSE_GETXATTR] = Handlers::getxattr;
  t[FUSE_LISTXATTR] = Handlers::listxattr;
  t[FUSE_REMOVEXATTR] = Handlers::removexattr;
  t[FUSE_FLUSH] = Handlers::flush;
  t[FUSE_OPENDIR] = Handlers::opendir;
  t[FUSE_READDIR] = Handlers::readdir;
  t[FUSE_RELEASEDIR] = Handlers::releasedir;
  t[FUSE_FSYNCDIR] = Handlers::fsyncdir;
  t[FUSE_ACCESS] = Handlers::access;
  t[FUSE_CREATE] = Handlers::create;
  t[FUSE_DESTROY] = Handlers::ok;
  t[FUSE_BATCH_FORGET] = Handlers::batch_forget;
  t[FUSE_FALLOCATE] = Handlers::fallocate;
  t[FUSE_READDIRPLUS] = Handlers::readdirplus;
  t[FUSE_RENAME2] = Handlers::rename2;
  t[FUSE_LSEEK] = Handlers::lseek;
  t[FUSE_COPY_FILE_RANGE] = Handlers::copy_file_range;
  t[FUSE_SYNCFS] = Handlers::ok;
  t[FUSE_TMPFILE] = Handlers::tmpfile;
  t[FUSE_IOCTL] = Handlers::ioctl;
  t[FUSE_POLL] = Handlers::poll;
  t[FUSE_GETLK] = Handlers::getlk;
  t[FUSE_SETLK] = Handlers::setlk;
  t[FUSE_SETLKW] = Handlers::setlkw;
  t[FUSE_BMAP] = Handlers::bmap;
  return t;
}

constexpr auto kHandlers = make_handlers();

}  // namespace

Volume::Volume(FileSystemBase& fs, VolumeOptions options) : fs_(fs), options_(options) {}

Volume::~Volume() {
  close_poll_channel(poll_channel_.get());
  if (notify_) notify_->stop();
  close_all();
}

Status Volume::open_root(session::NotificationQueue& notifications) {
  FileInfo info;
  Status s = fs_.get_file_info(Caller{}, "/", nullptr, &info);
  if (!s) return s;
  // The kernel takes the root's type from the mount point (rootmode): they must match.
  if ((info.mode & S_IFMT) != options_.root_type) {
    if (options_.root_type == S_IFDIR) return Status::error(ENOTDIR, "the file system's root is not a directory");
    if (S_ISDIR(info.mode)) {
      return Status::error(ENOTDIR, "the mount point is not a directory, but the file system's root is one");
    }
    return Status::error(EINVAL, "the file system's root is not of the mount point's type");
  }
  nodes_ = std::make_unique<NodeTable>(info.ino, info.dev);
  nodes_->set_context_closer([this](void* context) { fs_.close(context); });
  nodes_->set_keep_named(options_.export_support);
  notify_ = std::make_unique<NotifyEngine>(rename_resource_, *nodes_, notifications);
  poll_channel_ = make_poll_channel(notifications);
  return Status::ok();
}

std::string Volume::check_consistency() {
  if (std::string problem = nodes_->check(); !problem.empty()) return problem;
  SharedGuard names_stable(rename_resource_);
  for (const auto& [ino, path] : nodes_->paths()) {
    FileInfo info;
    if (Status s = fs_.get_file_info(Caller{}, path, nullptr, &info); !s) {
      return "the node table names " + path + " but the file system says: " + s.message();
    }
    if (ino != 0 && info.ino != ino) {
      return path + " is file " + std::to_string(info.ino) + " but the node table says " + std::to_string(ino);
    }
  }
  return {};
}

void Volume::close_all() {
  MutexLock lock(open_mutex_);
  for (OpenFile* f : open_files_) {
    if (f->directory) fs_.close_directory(f->context);
    else fs_.close(f->context);
    delete f;
  }
  open_files_.clear();
  if (nodes_) {
    for (void* context : nodes_->take_node_contexts()) fs_.close(context);
  }
}

void Volume::dispatch(session::Request& r) {
  Handler fn = r.header.opcode < kHandlers.size() ? kHandlers[r.header.opcode] : nullptr;
  if (fn == nullptr) {
    if (r.opcode.has_reply) r.reply.error(ENOSYS);
    return;
  }
  Op op{*this, r, r.header, r.in, r.name, r.name2, r.tail, r.tail_size, r.caller, r.reply, r.trace};
  NodeChanges changes(*this, r);
  op.changes = &changes;
  fn(op);
}

char* reply_buffer(size_t size) {
  thread_local std::vector<char> buffer;
  if (buffer.size() < size) buffer.resize(size);
  return buffer.data();
}

void split_timeout(double seconds, uint64_t* sec, uint32_t* nsec) {
  if (!(seconds > 0)) {
    *sec = 0;
    *nsec = 0;
    return;
  }
  double whole = std::floor(seconds);
  *sec = static_cast<uint64_t>(whole);
  *nsec = static_cast<uint32_t>((seconds - whole) * 1e9);
}

void fill_attr(const FileInfo& info, fuse_attr* a) {
  a->ino = info.ino;
  a->size = info.size;
  a->blocks = info.blocks;
  a->atime = info.atime.tv_sec;
  a->mtime = info.mtime.tv_sec;
  a->ctime = info.ctime.tv_sec;
  a->atimensec = static_cast<uint32_t>(info.atime.tv_nsec);
  a->mtimensec = static_cast<uint32_t>(info.mtime.tv_nsec);
  a->ctimensec = static_cast<uint32_t>(info.ctime.tv_nsec);
  a->mode = info.mode;
  a->nlink = info.nlink;
  a->uid = info.uid;
  a->gid = info.gid;
  a->rdev = static_cast<uint32_t>(info.rdev);
  a->blksize = 4096;
  a->flags = 0;
}

void Volume::Op::reply_entry(Node* node, const FileInfo& info) {
  fuse_entry_out out{};
  out.nodeid = node ? node->nodeid : 0;
  split_timeout(node ? vol.options_.entry_timeout : vol.options_.negative_timeout, &out.entry_valid,
                &out.entry_valid_nsec);
  split_timeout(vol.options_.attr_timeout, &out.attr_valid, &out.attr_valid_nsec);
  fill_attr(info, &out.attr);
  if (!reply.ok(&out, sizeof(out)) && node) vol.nodes_->forget(node->nodeid, 1);
}

void Volume::Op::reply_attr(const FileInfo& info) {
  fuse_attr_out out{};
  split_timeout(vol.options_.attr_timeout, &out.attr_valid, &out.attr_valid_nsec);
  fill_attr(info, &out.attr);
  reply.ok(&out, sizeof(out));
}

bool Volume::Op::resolve(Node* node) {
  return node != nullptr && vol.nodes_->path(node, &path);
}

Status Volume::Op::resolve_child(Node* parent, std::string_view child, std::string* out) {
  if (child.empty() || child.find('/') != std::string_view::npos || child == "." || child == "..") {
    return Status::error(EINVAL);
  }
  if (child.size() > NAME_MAX) return Status::error(ENAMETOOLONG);
  if (parent == nullptr || !vol.nodes_->path(parent, out)) return Status::error(ENOENT);
  if (out->size() > 1) out->push_back('/');
  out->append(child);
  if (path.empty()) path = *out;
  return Status::ok();
}

void Handlers::ok(Volume::Op& op) { op.reply.ok(); }

}  // namespace linfsp
