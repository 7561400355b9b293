// The request dispatcher: one table maps each opcode to its handler, its fixed
// input size and the number of names that follow; it drives validation,
// dispatch and the debug log.
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

struct OpcodeInfo {
  const char* name = nullptr;
  void (*fn)(Volume::Op&) = nullptr;
  uint16_t in_size = 0;  // fixed input struct
  uint8_t names = 0;     // NUL-terminated strings after it
};

constexpr size_t kMaxOpcode = 64;

constexpr std::array<OpcodeInfo, kMaxOpcode> make_table() {
  std::array<OpcodeInfo, kMaxOpcode> t{};
  auto set = [&t](uint32_t op, const char* name, void (*fn)(Volume::Op&), size_t in, int names) {
    t[op] = {name, fn, static_cast<uint16_t>(in), static_cast<uint8_t>(names)};
  };
  set(FUSE_LOOKUP, "LOOKUP", Handlers::lookup, 0, 1);
  set(FUSE_FORGET, "FORGET", Handlers::forget, sizeof(fuse_forget_in), 0);
  set(FUSE_GETATTR, "GETATTR", Handlers::getattr, sizeof(fuse_getattr_in), 0);
  set(FUSE_SETATTR, "SETATTR", Handlers::setattr, sizeof(fuse_setattr_in), 0);
  set(FUSE_READLINK, "READLINK", Handlers::readlink, 0, 0);
  set(FUSE_SYMLINK, "SYMLINK", Handlers::symlink, 0, 2);
  set(FUSE_MKNOD, "MKNOD", Handlers::mknod, sizeof(fuse_mknod_in), 1);
  set(FUSE_MKDIR, "MKDIR", Handlers::mkdir, sizeof(fuse_mkdir_in), 1);
  set(FUSE_UNLINK, "UNLINK", Handlers::unlink, 0, 1);
  set(FUSE_RMDIR, "RMDIR", Handlers::rmdir, 0, 1);
  set(FUSE_RENAME, "RENAME", Handlers::rename, sizeof(fuse_rename_in), 2);
  set(FUSE_LINK, "LINK", Handlers::link, sizeof(fuse_link_in), 1);
  set(FUSE_OPEN, "OPEN", Handlers::open, sizeof(fuse_open_in), 0);
  set(FUSE_READ, "READ", Handlers::read, sizeof(fuse_read_in), 0);
  set(FUSE_WRITE, "WRITE", Handlers::write, sizeof(fuse_write_in), 0);
  set(FUSE_STATFS, "STATFS", Handlers::statfs, 0, 0);
  set(FUSE_RELEASE, "RELEASE", Handlers::release, sizeof(fuse_release_in), 0);
  set(FUSE_FSYNC, "FSYNC", Handlers::fsync, sizeof(fuse_fsync_in), 0);
  // Without FUSE_SETXATTR_EXT the kernel sends the short, 8-byte form.
  set(FUSE_SETXATTR, "SETXATTR", Handlers::setxattr, FUSE_COMPAT_SETXATTR_IN_SIZE, 1);
  set(FUSE_GETXATTR, "GETXATTR", Handlers::getxattr, sizeof(fuse_getxattr_in), 1);
  set(FUSE_LISTXATTR, "LISTXATTR", Handlers::listxattr, sizeof(fuse_getxattr_in), 0);
  set(FUSE_REMOVEXATTR, "REMOVEXATTR", Handlers::removexattr, 0, 1);
  set(FUSE_FLUSH, "FLUSH", Handlers::flush, sizeof(fuse_flush_in), 0);
  set(FUSE_OPENDIR, "OPENDIR", Handlers::opendir, sizeof(fuse_open_in), 0);
  set(FUSE_READDIR, "READDIR", Handlers::readdir, sizeof(fuse_read_in), 0);
  set(FUSE_RELEASEDIR, "RELEASEDIR", Handlers::releasedir, sizeof(fuse_release_in), 0);
  set(FUSE_FSYNCDIR, "FSYNCDIR", Handlers::fsyncdir, sizeof(fuse_fsync_in), 0);
  set(FUSE_GETLK, "GETLK", Handlers::not_supported, 0, 0);
  set(FUSE_SETLK, "SETLK", Handlers::not_supported, 0, 0);
  set(FUSE_SETLKW, "SETLKW", Handlers::not_supported, 0, 0);
  set(FUSE_ACCESS, "ACCESS", Handlers::access, sizeof(fuse_access_in), 0);
  set(FUSE_CREATE, "CREATE", Handlers::create, sizeof(fuse_create_in), 1);
  set(FUSE_INTERRUPT, "INTERRUPT", Handlers::interrupt, sizeof(fuse_interrupt_in), 0);
  set(FUSE_BMAP, "BMAP", Handlers::not_supported, 0, 0);
  set(FUSE_DESTROY, "DESTROY", Handlers::destroy, 0, 0);
  set(FUSE_IOCTL, "IOCTL", Handlers::not_supported, 0, 0);
  set(FUSE_POLL, "POLL", Handlers::not_supported, 0, 0);
  set(FUSE_BATCH_FORGET, "BATCH_FORGET", Handlers::batch_forget, sizeof(fuse_batch_forget_in), 0);
  set(FUSE_FALLOCATE, "FALLOCATE", Handlers::fallocate, sizeof(fuse_fallocate_in), 0);
  set(FUSE_READDIRPLUS, "READDIRPLUS", Handlers::readdirplus, sizeof(fuse_read_in), 0);
  set(FUSE_RENAME2, "RENAME2", Handlers::rename2, sizeof(fuse_rename2_in), 2);
  set(FUSE_LSEEK, "LSEEK", Handlers::lseek, sizeof(fuse_lseek_in), 0);
  set(FUSE_COPY_FILE_RANGE, "COPY_FILE_RANGE", Handlers::copy_file_range,
      sizeof(fuse_copy_file_range_in), 0);
  set(FUSE_SYNCFS, "SYNCFS", Handlers::ok, 0, 0);
  set(FUSE_TMPFILE, "TMPFILE", Handlers::tmpfile, sizeof(fuse_create_in), 1);
  return t;
}

constexpr auto kOpcodes = make_table();

bool has_reply(uint32_t opcode) {
  return opcode != FUSE_FORGET && opcode != FUSE_BATCH_FORGET && opcode != FUSE_INTERRUPT;
}

}  // namespace

// Requests in flight, so that INTERRUPT can reach them: a slot per request
// thread, written with one relaxed store per request. An INTERRUPT that
// arrives before its request is remembered until the request shows up.
struct Volume::InFlight {
  struct Slot {
    std::atomic<uint64_t> unique{0};
    std::atomic<bool> interrupted{false};
  };
  static constexpr size_t kSlots = 256;
  Slot slots[kSlots];
  std::atomic<size_t> used{0};
  std::atomic<bool> has_early{false};
  std::mutex mutex;
  std::vector<uint64_t> early;  // guarded by mutex; bounded

  Slot* slot_for_this_thread(const void* owner) {
    thread_local const void* cached_owner = nullptr;
    thread_local Slot* cached = nullptr;
    if (cached_owner != owner) {
      size_t i = used.fetch_add(1);
      cached = i < kSlots ? &slots[i] : nullptr;
      cached_owner = owner;
    }
    return cached;
  }

  void begin(Slot* slot, uint64_t unique) {
    if (!slot) return;
    slot->interrupted.store(false, std::memory_order_relaxed);
    slot->unique.store(unique, std::memory_order_release);
    if (has_early.load(std::memory_order_acquire)) {
      std::lock_guard lock(mutex);
      for (auto it = early.begin(); it != early.end(); ++it) {
        if (*it == unique) {
          slot->interrupted = true;
          early.erase(it);
          break;
        }
      }
      has_early = !early.empty();
    }
  }

  void interrupt(uint64_t unique) {
    size_t n = std::min(used.load(), kSlots);
    for (size_t i = 0; i < n; ++i) {
      if (slots[i].unique.load(std::memory_order_acquire) == unique) {
        slots[i].interrupted = true;
        return;
      }
    }
    std::lock_guard lock(mutex);
    if (early.size() >= 64) early.erase(early.begin());  // stale: the request finished
    early.push_back(unique);
    has_early = true;
  }
};

Volume::Volume(FileSystemBase& fs, VolumeOptions options)
    : fs_(fs), options_(options), in_flight_(std::make_unique<InFlight>()) {}

Volume::~Volume() {
  if (notify_) notify_->stop();
  close_all();
}

Status Volume::open_root() {
  FileInfo info;
  Status s = fs_.get_file_info("/", nullptr, &info);
  if (!s) return s;
  if (!S_ISDIR(info.mode)) return Status::error(ENOTDIR, "the file system's root is not a directory");
  nodes_ = std::make_unique<NodeTable>(info.ino);
  nodes_->set_context_closer([this](void* context) { fs_.close(context); });
  nodes_->set_keep_named(options_.export_support);
  notify_ = std::make_unique<NotifyEngine>(rename_resource_, *nodes_, options_.debug);
  return Status::ok();
}

std::string Volume::check_consistency() {
  if (std::string problem = nodes_->check(); !problem.empty()) return problem;
  SharedGuard names_stable(rename_resource_);
  for (const auto& [ino, path] : nodes_->paths()) {
    FileInfo info;
    if (Status s = fs_.get_file_info(path, nullptr, &info); !s) {
      return "the node table names " + path + " but the file system says: " + s.message();
    }
    if (ino != 0 && info.ino != ino) {
      return path + " is file " + std::to_string(info.ino) + " but the node table says " + std::to_string(ino);
    }
  }
  return {};
}

void Volume::close_all() {
  std::lock_guard lock(open_mutex_);
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

void Volume::handle(const kernel::Request& request, kernel::Reply& reply) {
  const fuse_in_header& h = request.header;
  const OpcodeInfo* info = h.opcode < kOpcodes.size() && kOpcodes[h.opcode].fn ? &kOpcodes[h.opcode]
                                                                               : nullptr;
  if (info == nullptr) {
    if (options_.debug) std::fprintf(stderr, "[%lu] opcode %u: not supported\n", h.unique, h.opcode);
    reply.error(ENOSYS);
    return;
  }
  if (request.body_size < info->in_size) {
    reply.error(EINVAL);
    return;
  }
  // Names follow the fixed struct, each NUL-terminated inside the request.
  const char* p = request.body + info->in_size;
  size_t left = request.body_size - info->in_size;
  std::string_view names[2];
  for (int i = 0; i < info->names; ++i) {
    const char* end = static_cast<const char*>(std::memchr(p, '\0', left));
    if (end == nullptr) {
      reply.error(EINVAL);
      return;
    }
    names[i] = std::string_view(p, end - p);
    left -= end - p + 1;
    p = end + 1;
  }

  InFlight::Slot* slot = in_flight_->slot_for_this_thread(this);
  in_flight_->begin(slot, h.unique);
  Op op{*this, h, request.body, names[0], names[1], p, left,
        Caller{h.uid, h.gid, static_cast<pid_t>(h.pid), slot ? &slot->interrupted : nullptr},
        reply, {}};
  auto start = options_.debug ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  try {
    info->fn(op);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "linfsp: %s: exception from the file system: %s\n", info->name, e.what());
    if (!reply.sent() && has_reply(h.opcode)) reply.error(EIO);
  } catch (...) {
    std::fprintf(stderr, "linfsp: %s: unknown exception from the file system\n", info->name);
    if (!reply.sent() && has_reply(h.opcode)) reply.error(EIO);
  }
  if (slot) slot->unique.store(0, std::memory_order_relaxed);

  if (options_.debug) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
    std::string result = !has_reply(h.opcode) ? "no reply"
                         : reply.result() < 0 ? std::string(strerrorname_np(-reply.result()) ?: "error")
                                              : "OK " + std::to_string(reply.result()) + "B";
    std::fprintf(stderr, "[%lu] %s node=%lu%s%s%s%.*s -> %s (%ld us)\n", h.unique, info->name, h.nodeid,
                 op.path.empty() ? "" : " path=", op.path.c_str(), names[0].empty() ? "" : " name=",
                 static_cast<int>(names[0].size()), names[0].data(), result.c_str(),
                 static_cast<long>(us.count()));
  }
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

void Handlers::interrupt(Volume::Op& op) {
  op.vol.in_flight_->interrupt(op.arg<fuse_interrupt_in>().unique);
  // No reply: the interrupted request answers (with EINTR if it gives up).
}

void Handlers::destroy(Volume::Op& op) { op.reply.ok(); }
void Handlers::ok(Volume::Op& op) { op.reply.ok(); }
void Handlers::not_supported(Volume::Op& op) { op.reply.error(ENOSYS); }

}  // namespace linfsp
