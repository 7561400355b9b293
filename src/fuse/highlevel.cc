// The high-level API's file system: a linfsp::FileSystemBase that calls a
// struct fuse_operations table with paths. The volume below resolves every
// name under its rename resource; this layer keeps what libfuse keeps on top
// of that: the fuse_file_info of each open file, the path of each open file
// (for operations the volume gives only a context), index numbers without
// use_ino, listings of file systems that fill them whole, .fuse_hidden names.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fuse/highlevel.h"
#include "fuse/lowlevel.h"  // struct fuse_pollhandle

namespace linfsp::fuse {
namespace {

thread_local fuse_context t_context{};
thread_local const Caller* t_caller = nullptr;

Status from_result(long res) { return res < 0 ? Status::error(static_cast<int>(-res)) : Status::ok(); }

Handle* handle_of(void* file) { return static_cast<Handle*>(file); }

std::string join(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (out.size() > 1) out.push_back('/');
  out.append(name);
  return out;
}

std::string parent_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// `path` is `prefix` or lies under it.
bool under(const std::string& path, const std::string& prefix) {
  return path.size() >= prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
         (path.size() == prefix.size() || path[prefix.size()] == '/' || prefix == "/");
}

std::string replace_prefix(const std::string& path, const std::string& from, const std::string& to) {
  return to + path.substr(from.size());
}

bool is_dot(const char* name) { return std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0; }

// O_DIRECT: a file system that passes the open flags on to a file of its
// own (as passthrough does) needs the data in memory aligned for the device;
// the request's buffer is not. libfuse's splice achieves the same.
constexpr size_t kDirectAlign = 4096;

bool needs_alignment(const Handle* h, const void* buffer) {
  return (h->fi.flags & O_DIRECT) && reinterpret_cast<uintptr_t>(buffer) % kDirectAlign != 0;
}

struct AlignedBuffer {
  void* data = nullptr;
  bool allocate(size_t size) { return posix_memalign(&data, kDirectAlign, size ? size : 1) == 0; }
  ~AlignedBuffer() { std::free(data); }
};

}  // namespace

CallScope::CallScope(::fuse* f, const Caller* caller) : saved_context_(t_context), saved_caller_(t_caller) {
  t_context.fuse = f;
  t_context.uid = caller ? caller->uid : 0;
  t_context.gid = caller ? caller->gid : 0;
  t_context.pid = caller ? caller->pid : 0;
  t_context.private_data = f->fs->user_data;
  t_context.umask = 0;  // the kernel applied the caller's umask to every mode already
  t_caller = caller;
}

CallScope::~CallScope() {
  t_context = saved_context_;
  t_caller = saved_caller_;
}

const Caller* current_caller() { return t_caller; }

fuse_context* thread_context() { return &t_context; }

// ----- names, numbers, attributes -----

FuseFileSystem::OpPath FuseFileSystem::file_path(Handle* h, const std::string& given, bool nullpath_allowed) {
  OpPath p;
  if (nullpath_allowed && f_->conf.nullpath_ok) return p;
  if (!given.empty()) {
    p.text = given;
    p.null = false;
  } else if (h != nullptr) {
    std::lock_guard lock(names_mutex_);
    if (!h->path.empty()) {
      p.text = h->path;
      p.null = false;
    }
  }
  return p;
}

Status FuseFileSystem::name_of(Handle* h, const std::string& given, std::string* out) {
  if (!given.empty()) {
    *out = given;
    return Status::ok();
  }
  if (h != nullptr) {
    std::lock_guard lock(names_mutex_);
    if (!h->path.empty()) {
      *out = h->path;
      return Status::ok();
    }
  }
  return Status::error(ENOENT);
}

uint64_t FuseFileSystem::ino_for(const char* path, uint64_t fs_ino) {
  if (f_->conf.use_ino) return fs_ino;
  if (path == nullptr) return fs_ino;
  if (std::strcmp(path, "/") == 0) return 1;
  std::lock_guard lock(names_mutex_);
  auto [it, added] = inodes_.try_emplace(path, next_ino_);
  if (added) ++next_ino_;
  return it->second;
}

void FuseFileSystem::to_info(const char* path, const struct stat& st, FileInfo* info) {
  const fuse_config& c = f_->conf;
  info->ino = ino_for(path, st.st_ino);
  // The file system's numbers may repeat across the devices it spans (a
  // mirror of a tree with mounts below it); its own numbers never do.
  if (c.use_ino) info->dev = st.st_dev;
  info->mode = st.st_mode;
  if (c.set_mode) info->mode = (st.st_mode & S_IFMT) | (0777 & ~c.umask);
  info->nlink = static_cast<uint32_t>(st.st_nlink);
  // A file unlinked while open lives on under a hidden name the program did
  // not make: as in libfuse, that link is not counted.
  if (path != nullptr && info->nlink > 0 && is_hidden(path)) --info->nlink;
  info->uid = c.set_uid ? c.uid : st.st_uid;
  info->gid = c.set_gid ? c.gid : st.st_gid;
  info->rdev = st.st_rdev;
  info->size = static_cast<uint64_t>(st.st_size);
  info->blocks = static_cast<uint64_t>(st.st_blocks);
  info->atime = st.st_atim;
  info->mtime = st.st_mtim;
  info->ctime = st.st_ctim;
}

bool FuseFileSystem::is_hidden(const char* path) {
  const char* base = std::strrchr(path, '/');
  if (std::strncmp(base ? base + 1 : path, ".fuse_hidden", 12) != 0) return false;
  std::lock_guard lock(hidden_mutex_);
  return hidden_paths_.find(std::string_view(path)) != hidden_paths_.end();
}

Status FuseFileSystem::stat_path(const char* path, fuse_file_info* fi, FileInfo* info) {
  struct stat st {};
  if (Status s = from_result(fuse_fs_getattr(f_->fs, path, &st, fi)); !s) return s;
  to_info(path, st, info);
  return Status::ok();
}

void FuseFileSystem::forget_name(const std::string& path) {
  std::lock_guard lock(names_mutex_);
  for (auto it = inodes_.begin(); it != inodes_.end();) {
    it = under(it->first, path) ? inodes_.erase(it) : std::next(it);
  }
}

void FuseFileSystem::move_names(const std::string& from, const std::string& to, unsigned flags) {
  std::lock_guard lock(names_mutex_);
  if (to.empty()) {
    // `from` went away: open files there have no name now.
    for (Handle* h : handles_) {
      if (!h->path.empty() && under(h->path, from)) h->path.clear();
    }
    return;
  }
  const bool exchange = flags & RENAME_EXCHANGE;
  // Open files first: those at `to` lose their name unless exchanged.
  for (Handle* h : handles_) {
    if (h->path.empty()) continue;
    if (under(h->path, from)) {
      h->path = replace_prefix(h->path, from, to);
    } else if (under(h->path, to)) {
      h->path = exchange ? replace_prefix(h->path, to, from) : std::string();
    }
  }
  if (f_->conf.use_ino) return;
  std::unordered_map<std::string, uint64_t> moved;
  for (auto it = inodes_.begin(); it != inodes_.end();) {
    if (under(it->first, from)) {
      moved.emplace(replace_prefix(it->first, from, to), it->second);
      it = inodes_.erase(it);
    } else if (under(it->first, to)) {
      if (exchange) moved.emplace(replace_prefix(it->first, to, from), it->second);
      it = inodes_.erase(it);
    } else {
      ++it;
    }
  }
  inodes_.merge(moved);
}

bool FuseFileSystem::path_open(const std::string& path) {
  for (Handle* h : handles_) {
    if (!h->directory && h->path == path) return true;
  }
  return false;
}

Status FuseFileSystem::hide(const std::string& path) {
  const std::string dir = parent_of(path);
  for (int attempt = 0; attempt < 10; ++attempt) {
    char name[64];
    std::snprintf(name, sizeof(name), ".fuse_hidden%08x%08x", static_cast<unsigned>(getpid()),
                  static_cast<unsigned>(hidden_counter_.fetch_add(1) + 1));
    std::string hidden = join(dir, name);
    struct stat st {};
    if (fuse_fs_getattr(f_->fs, hidden.c_str(), &st, nullptr) == 0) continue;  // taken
    if (Status s = from_result(fuse_fs_rename(f_->fs, path.c_str(), hidden.c_str(), 0)); !s) return s;
    move_names(path, hidden, 0);
    {
      std::lock_guard hidden_lock(hidden_mutex_);
      hidden_paths_.insert(hidden);
    }
    std::lock_guard lock(names_mutex_);
    for (Handle* h : handles_) {
      if (h->path == hidden) h->hidden = true;
    }
    return Status::ok();
  }
  return Status::error(EBUSY);
}

void FuseFileSystem::add_handle(Handle* h, const std::string& path) {
  std::lock_guard lock(names_mutex_);
  h->path = path;
  handles_.insert(h);
}

void FuseFileSystem::finish_open(Handle* h, const FileInfo& info, OpenFlags* of) {
  const fuse_config& c = f_->conf;
  if (c.direct_io) h->fi.direct_io = 1;
  if (c.kernel_cache) h->fi.keep_cache = 1;
  if (c.auto_cache && !h->fi.keep_cache) {
    // Cached data stays good while the file's mtime and size are what they
    // were at the last open.
    std::lock_guard lock(cache_mutex_);
    auto [it, added] = seen_.try_emplace(info.ino, Seen{info.mtime, info.size});
    if (!added && it->second.size == info.size && it->second.mtime.tv_sec == info.mtime.tv_sec &&
        it->second.mtime.tv_nsec == info.mtime.tv_nsec) {
      h->fi.keep_cache = 1;
    }
    it->second = Seen{info.mtime, info.size};
  }
  of->direct_io = h->fi.direct_io;
  of->keep_cache = h->fi.keep_cache;
  of->nonseekable = h->fi.nonseekable;
  of->cache_listing = h->directory && h->fi.cache_readdir;
}

int FuseFileSystem::invalidate_path(const char* path) {
  if (path == nullptr || path[0] != '/') return -EINVAL;
  // Not serving yet: the kernel knows no name, so there is nothing to drop
  // (libfuse answers ENOENT for a name it does not know).
  Notifier* n = notifier_.load();
  if (n == nullptr) return -ENOENT;
  // "Added" drops the name's entry, its attributes and its data (and the
  // parent's attributes and listing).
  Status s = n->notify_change(NotifyAction::kAdded, path, std::chrono::seconds(5));
  return s ? 0 : -s.err();
}

int FuseFileSystem::wake_poll(uint64_t poll_id) {
  std::shared_ptr<PollWaker> waker;
  {
    std::lock_guard lock(names_mutex_);
    auto it = wakers_.find(poll_id);
    if (it == wakers_.end()) return 0;  // the file was closed: nobody waits
    waker = it->second;
  }
  Status s = waker->wake();
  return s ? 0 : -s.err();
}

// ----- mount -----

void FuseFileSystem::mounted(Notifier& notifier) { notifier_ = &notifier; }

void FuseFileSystem::unmounting() { notifier_ = nullptr; }

void FuseFileSystem::wants(MountWants* w) {
  w->posix_locks = f_->fs->op.lock != nullptr && (f_->conn.want & FUSE_CAP_POSIX_LOCKS);
  w->flock_locks = f_->fs->op.flock != nullptr && (f_->conn.want & FUSE_CAP_FLOCK_LOCKS);
}

Status FuseFileSystem::get_volume_info(const Caller& caller, VolumeInfo* info) {
  CallScope scope(f_, &caller);
  struct statvfs st {};
  if (Status s = from_result(fuse_fs_statfs(f_->fs, "/", &st)); !s) return s;
  uint64_t unit = st.f_frsize ? st.f_frsize : st.f_bsize;
  if (unit == 0) unit = 512;
  info->block_size = static_cast<uint32_t>(unit);
  info->total_bytes = st.f_blocks * unit;
  info->free_bytes = st.f_bavail * unit;
  info->total_files = st.f_files;
  info->free_files = st.f_ffree;
  info->name_max = static_cast<uint32_t>(st.f_namemax ? st.f_namemax : 255);
  return Status::ok();
}

// ----- attributes -----

Status FuseFileSystem::get_file_info(const Caller& caller, const std::string& path, void* file, FileInfo* info) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(file);
  if (h == nullptr) return stat_path(path.c_str(), nullptr, info);
  if (h->directory) {
    // libfuse gives getattr a fuse_file_info only for regular files (a
    // directory's fh is opendir's, which getattr does not expect).
    std::string name;
    if (Status s = name_of(h, path, &name); !s) return s;
    return stat_path(name.c_str(), nullptr, info);
  }
  OpPath p = file_path(h, path, true);
  // A file without a name (a directory removed while open, a file with
  // hard_remove) reaches getattr with a NULL path only under nullpath_ok.
  if (p.null && !f_->conf.nullpath_ok) return Status::error(ENOENT);
  struct stat st {};
  if (Status s = from_result(fuse_fs_getattr(f_->fs, p.c_str(), &st, &h->fi)); !s) return s;
  {
    // A file unlinked while open lives on under a hidden name that the
    // program did not make: as in libfuse, that link is not counted.
    std::lock_guard lock(names_mutex_);
    if (h->hidden && st.st_nlink > 0) --st.st_nlink;
  }
  to_info(nullptr, st, info);
  if (!f_->conf.use_ino) info->ino = h->ino;
  return Status::ok();
}

Status FuseFileSystem::set_file_info(const Caller& caller, const std::string& path, void* file,
                                     const SetAttr& attr, FileInfo* info) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(file);
  fuse_file_info* fi = h && !h->directory ? &h->fi : nullptr;
  OpPath p = file_path(h, path, fi != nullptr);
  if (p.null && (fi == nullptr || !f_->conf.nullpath_ok)) return Status::error(ENOENT);
  const char* cp = p.c_str();
  fuse_fs* fs = f_->fs;
  if (attr.valid & SetAttr::kKillSuid) {
    // Clearing set-user-ID/set-group-ID after a write: a chmod of the mode
    // the file has now, without them.
    FileInfo now;
    if (Status s = get_file_info(caller, path, file, &now); !s) return s;
    mode_t mode = now.mode & 07777 & ~S_ISUID;
    if ((attr.valid & SetAttr::kKillSgid) || (now.mode & S_IXGRP)) mode &= ~S_ISGID;
    if (mode != (now.mode & 07777)) {
      if (Status s = from_result(fuse_fs_chmod(fs, cp, mode, fi)); !s) return s;
    }
  }
  if (attr.valid & SetAttr::kMode) {
    if (Status s = from_result(fuse_fs_chmod(fs, cp, attr.mode, fi)); !s) return s;
  }
  if (attr.valid & (SetAttr::kUid | SetAttr::kGid)) {
    uid_t uid = (attr.valid & SetAttr::kUid) ? attr.uid : static_cast<uid_t>(-1);
    gid_t gid = (attr.valid & SetAttr::kGid) ? attr.gid : static_cast<gid_t>(-1);
    if (Status s = from_result(fuse_fs_chown(fs, cp, uid, gid, fi)); !s) return s;
  }
  if (attr.valid & SetAttr::kSize) {
    if (Status s = from_result(fuse_fs_truncate(fs, cp, static_cast<off_t>(attr.size), fi)); !s) return s;
  }
  const uint32_t times = SetAttr::kAtime | SetAttr::kAtimeNow | SetAttr::kMtime | SetAttr::kMtimeNow;
  if (attr.valid & times) {
    timespec tv[2];
    tv[0] = (attr.valid & SetAttr::kAtimeNow) ? timespec{0, UTIME_NOW}
            : (attr.valid & SetAttr::kAtime)  ? attr.atime
                                              : timespec{0, UTIME_OMIT};
    tv[1] = (attr.valid & SetAttr::kMtimeNow) ? timespec{0, UTIME_NOW}
            : (attr.valid & SetAttr::kMtime)  ? attr.mtime
                                              : timespec{0, UTIME_OMIT};
    if (Status s = from_result(fuse_fs_utimens(fs, cp, tv, fi)); !s) return s;
  }
  return get_file_info(caller, path, file, info);
}

Status FuseFileSystem::access(const Caller& caller, const std::string& path, void* file, int mask) {
  CallScope scope(f_, &caller);
  std::string name;
  if (Status s = name_of(handle_of(file), path, &name); !s) return s;
  // No access(): ENOSYS, which the kernel takes as "allowed" from then on.
  return from_result(fuse_fs_access(f_->fs, name.c_str(), mask));
}

// ----- files -----

Status FuseFileSystem::create(const Caller& caller, const std::string& path, mode_t mode, int flags, void** file,
                              FileInfo* info, OpenFlags* open_flags) {
  CallScope scope(f_, &caller);
  fuse_fs* fs = f_->fs;
  auto h = std::make_unique<Handle>();
  h->fi.flags = flags;
  const char* cp = path.c_str();
  int res;
  if (fs->op.create) {
    res = fuse_fs_create(fs, cp, mode, &h->fi);
  } else if (fs->op.mknod) {
    // libfuse's fallback: make the file, then open it.
    res = fuse_fs_mknod(fs, cp, (mode & 07777) | S_IFREG, 0);
    if (res == 0) res = fuse_fs_open(fs, cp, &h->fi);
  } else {
    res = -ENOSYS;
  }
  if (Status s = from_result(res); !s) return s;
  forget_name(path);  // a new file: a new number
  if (Status s = stat_path(cp, &h->fi, info); !s) {
    fuse_fs_release(fs, cp, &h->fi);
    return s;
  }
  h->ino = info->ino;
  finish_open(h.get(), *info, open_flags);
  add_handle(h.get(), path);
  *file = h.release();
  return Status::ok();
}

Status FuseFileSystem::open(const Caller& caller, const std::string& path, int flags, void** file, FileInfo* info,
                            OpenFlags* open_flags) {
  CallScope scope(f_, &caller);
  auto h = std::make_unique<Handle>();
  h->fi.flags = flags;
  const char* cp = path.c_str();
  if (Status s = from_result(fuse_fs_open(f_->fs, cp, &h->fi)); !s) return s;
  if (Status s = stat_path(cp, &h->fi, info); !s) {
    fuse_fs_release(f_->fs, cp, &h->fi);
    return s;
  }
  h->ino = info->ino;
  finish_open(h.get(), *info, open_flags);
  add_handle(h.get(), path);
  *file = h.release();
  return Status::ok();
}

void FuseFileSystem::close(void* file) {
  Handle* h = handle_of(file);
  CallScope scope(f_, nullptr);
  OpPath p = file_path(h, "", true);
  if (h->directory) fuse_fs_releasedir(f_->fs, p.c_str(), &h->fi);
  else fuse_fs_release(f_->fs, p.c_str(), &h->fi);
  std::string hidden;
  {
    std::lock_guard lock(names_mutex_);
    handles_.erase(h);
    if (h->poll_id != 0) wakers_.erase(h->poll_id);
    if (h->hidden && !h->path.empty() && !path_open(h->path)) hidden = h->path;
  }
  if (!hidden.empty()) {
    // The last close of a file unlinked while open: its hidden name goes.
    if (fuse_fs_unlink(f_->fs, hidden.c_str()) == 0) {
      forget_name(hidden);
      std::lock_guard hidden_lock(hidden_mutex_);
      hidden_paths_.erase(hidden);
      if (Notifier* n = notifier_.load()) n->notify_change(NotifyAction::kRemoved, hidden, std::chrono::seconds(1));
    }
  }
  delete h;
}

Status FuseFileSystem::flush(const Caller& caller, void* file) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(file);
  OpPath p = file_path(h, "", true);
  return from_result(fuse_fs_flush(f_->fs, p.c_str(), &h->fi));
}

Result<size_t> FuseFileSystem::read(const Caller& caller, void* file, void* buffer, uint64_t offset, size_t size) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(file);
  AlignedBuffer aligned;
  void* into = buffer;
  if (needs_alignment(h, buffer)) {
    if (!aligned.allocate(size)) return Status::error(ENOMEM);
    into = aligned.data;
  }
  Result<size_t> n = read_into(h, into, offset, size);
  if (n && into != buffer) std::memcpy(buffer, into, *n);
  return n;
}

Result<size_t> FuseFileSystem::read_into(Handle* h, void* buffer, uint64_t offset, size_t size) {
  OpPath p = file_path(h, "", true);
  fuse_fs* fs = f_->fs;
  int res;
  if (fs->op.read_buf) {
    fuse_bufvec* src = nullptr;
    res = fuse_fs_read_buf(fs, p.c_str(), &src, size, static_cast<off_t>(offset), &h->fi);
    if (res == 0 && src != nullptr) {
      fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
      dst.buf[0].mem = buffer;
      ssize_t n = fuse_buf_copy(&dst, src, static_cast<fuse_buf_copy_flags>(0));
      res = static_cast<int>(n);
      for (size_t i = 0; i < src->count; ++i) {
        if (!(src->buf[i].flags & FUSE_BUF_IS_FD)) std::free(src->buf[i].mem);
      }
      std::free(src);
    }
  } else {
    res = fuse_fs_read(fs, p.c_str(), static_cast<char*>(buffer), size, static_cast<off_t>(offset), &h->fi);
  }
  if (res < 0) return Status::error(-res);
  return std::min(static_cast<size_t>(res), size);
}

Result<size_t> FuseFileSystem::write(const Caller& caller, void* file, const void* buffer, uint64_t offset,
                                     size_t size, FileInfo* info) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(file);
  OpPath p = file_path(h, "", true);
  AlignedBuffer aligned;
  if (needs_alignment(h, buffer)) {
    if (!aligned.allocate(size)) return Status::error(ENOMEM);
    std::memcpy(aligned.data, buffer, size);
    buffer = aligned.data;
  }
  fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
  buf.buf[0].mem = const_cast<void*>(buffer);
  int res = fuse_fs_write_buf(f_->fs, p.c_str(), &buf, static_cast<off_t>(offset), &h->fi);
  if (res < 0) return Status::error(-res);
  get_file_info(caller, "", file, info);  // the written bytes count even if this fails
  return std::min(static_cast<size_t>(res), size);
}

Status FuseFileSystem::fsync(const Caller& caller, void* file, bool datasync) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(file);
  OpPath p = file_path(h, "", true);
  return from_result(fuse_fs_fsync(f_->fs, p.c_str(), datasync ? 1 : 0, &h->fi));
}

Status FuseFileSystem::fallocate(const Caller& caller, void* file, int mode, uint64_t offset, uint64_t length,
                                 FileInfo* info) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(file);
  OpPath p = file_path(h, "", true);
  Status s = from_result(
      fuse_fs_fallocate(f_->fs, p.c_str(), mode, static_cast<off_t>(offset), static_cast<off_t>(length), &h->fi));
  if (!s) return s;
  return get_file_info(caller, "", file, info);
}

Result<uint64_t> FuseFileSystem::seek(const Caller& caller, void* file, uint64_t offset, int whence) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(file);
  OpPath p = file_path(h, "", true);
  off_t res = fuse_fs_lseek(f_->fs, p.c_str(), static_cast<off_t>(offset), whence, &h->fi);
  if (res < 0) return Status::error(static_cast<int>(-res));
  return static_cast<uint64_t>(res);
}

Result<size_t> FuseFileSystem::copy_range(const Caller& caller, void* file_in, uint64_t offset_in, void* file_out,
                                          uint64_t offset_out, size_t size, FileInfo* info_out) {
  CallScope scope(f_, &caller);
  Handle* in = handle_of(file_in);
  Handle* out = handle_of(file_out);
  OpPath pin = file_path(in, "", true);
  OpPath pout = file_path(out, "", true);
  ssize_t res = fuse_fs_copy_file_range(f_->fs, pin.c_str(), &in->fi, static_cast<off_t>(offset_in), pout.c_str(),
                                        &out->fi, static_cast<off_t>(offset_out), size, 0);
  if (res < 0) return Status::error(static_cast<int>(-res));
  get_file_info(caller, "", file_out, info_out);
  return static_cast<size_t>(res);
}

// ----- directories -----

Status FuseFileSystem::open_directory(const Caller& caller, const std::string& path, void** dir,
                                      OpenFlags* open_flags) {
  CallScope scope(f_, &caller);
  auto h = std::make_unique<Handle>();
  h->directory = true;
  h->fi.flags = O_RDONLY | O_DIRECTORY;
  if (Status s = from_result(fuse_fs_opendir(f_->fs, path.c_str(), &h->fi)); !s) return s;
  h->ino = ino_for(path.c_str(), 0);
  open_flags->direct_io = false;
  open_flags->keep_cache = h->fi.keep_cache;
  open_flags->nonseekable = false;
  open_flags->cache_listing = h->fi.cache_readdir;
  add_handle(h.get(), path);
  *dir = h.release();
  return Status::ok();
}

void FuseFileSystem::close_directory(void* dir) { close(dir); }

Status FuseFileSystem::fsync_directory(const Caller& caller, void* dir, bool datasync) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(dir);
  OpPath p = file_path(h, "", true);
  return from_result(fuse_fs_fsyncdir(f_->fs, p.c_str(), datasync ? 1 : 0, &h->fi));
}

namespace {

// What the filler given to readdir() works with.
struct Listing {
  FuseFileSystem* fs;
  Handle* dir;
  std::string dir_path;  // for the entries' attributes
  const DirFiller* filler;
  bool full = false;
  bool mixed = false;  // offsets given for some entries and not others
  std::function<bool(const char*, const struct stat*, fuse_fill_dir_flags, FileInfo*)> attributes;
};

}  // namespace

Status FuseFileSystem::read_directory(const Caller& caller, void* dir, uint64_t offset, const DirFiller& filler) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(dir);
  std::lock_guard list_lock(h->list_mutex);
  auto serve_whole = [&](uint64_t from) {
    for (uint64_t i = from; i < h->listing.size(); ++i) {
      if (!filler(h->listing[i].name, h->listing[i].info, i + 1)) break;
    }
    return Status::ok();
  };
  // A listing filled whole is served by index; its cookie is index + 1.
  if (offset != 0 && h->list_mode == Handle::ListMode::kWhole) return serve_whole(offset);
  if (offset == 0) {
    h->list_mode = Handle::ListMode::kUnknown;
    h->listing.clear();
  }

  Listing l{this, h, {}, &filler};
  {
    std::lock_guard lock(names_mutex_);
    l.dir_path = h->path;
  }
  // An entry's attributes: the filler's when complete, else getattr's (the
  // volume may answer READDIRPLUS with them, so they must be whole).
  l.attributes = [this](const char* path, const struct stat* st, fuse_fill_dir_flags flags, FileInfo* info) {
    if (st != nullptr && (flags & FUSE_FILL_DIR_PLUS) && (st->st_mode & S_IFMT) != 0) {
      to_info(path, *st, info);
      return true;
    }
    return stat_path(path, nullptr, info).is_ok();
  };

  fuse_fill_dir_t fill = [](void* buf, const char* name, const struct stat* st, off_t off,
                            fuse_fill_dir_flags flags) -> int {
    auto* l = static_cast<Listing*>(buf);
    if (l->full || name == nullptr) return 1;
    Handle* h = l->dir;
    if (h->list_mode == Handle::ListMode::kUnknown) {
      h->list_mode = off != 0 ? Handle::ListMode::kOffsets : Handle::ListMode::kWhole;
    }
    if (h->list_mode == Handle::ListMode::kOffsets && off == 0) {
      l->mixed = true;
      l->full = true;
      return 1;
    }
    if (is_dot(name)) return 0;  // the volume lists "." and ".." itself
    if (l->dir_path.empty()) return 0;  // the directory went away
    std::string path = join(l->dir_path, name);
    FileInfo info;
    if (!l->attributes(path.c_str(), st, flags, &info)) return 0;  // gone meanwhile
    if (h->list_mode == Handle::ListMode::kWhole) {
      h->listing.push_back({name, info});
      return 0;
    }
    if (!(*l->filler)(name, info, static_cast<uint64_t>(off))) {
      l->full = true;
      return 1;
    }
    return 0;
  };

  OpPath p = file_path(h, "", true);
  int res = fuse_fs_readdir(f_->fs, p.c_str(), &l, fill, static_cast<off_t>(offset), &h->fi, FUSE_READDIR_PLUS);
  if (l.mixed) return Status::error(EIO, "readdir gave offsets for some entries and not for others");
  if (res < 0) return Status::error(-res);
  if (h->list_mode == Handle::ListMode::kWhole) return serve_whole(0);
  return Status::ok();
}

// ----- names -----

Status FuseFileSystem::mkdir(const Caller& caller, const std::string& path, mode_t mode, FileInfo* info) {
  CallScope scope(f_, &caller);
  if (Status s = from_result(fuse_fs_mkdir(f_->fs, path.c_str(), mode)); !s) return s;
  forget_name(path);  // a new name: a new number
  return stat_path(path.c_str(), nullptr, info);
}

Status FuseFileSystem::mknod(const Caller& caller, const std::string& path, mode_t mode, dev_t rdev,
                             FileInfo* info) {
  CallScope scope(f_, &caller);
  fuse_fs* fs = f_->fs;
  int res;
  if (S_ISREG(mode) && !fs->op.mknod && fs->op.create) {
    // A regular file from a file system that only creates: create and close.
    fuse_file_info fi{};
    fi.flags = O_CREAT | O_EXCL | O_WRONLY;
    res = fuse_fs_create(fs, path.c_str(), mode, &fi);
    if (res == 0) fuse_fs_release(fs, path.c_str(), &fi);
  } else {
    res = fuse_fs_mknod(fs, path.c_str(), mode, rdev);
  }
  if (Status s = from_result(res); !s) return s;
  forget_name(path);
  return stat_path(path.c_str(), nullptr, info);
}

Status FuseFileSystem::symlink(const Caller& caller, const std::string& path, const std::string& target,
                               FileInfo* info) {
  CallScope scope(f_, &caller);
  if (Status s = from_result(fuse_fs_symlink(f_->fs, target.c_str(), path.c_str())); !s) return s;
  forget_name(path);
  return stat_path(path.c_str(), nullptr, info);
}

Status FuseFileSystem::link(const Caller& caller, const std::string& existing, void* file, const std::string& path,
                            FileInfo* info) {
  CallScope scope(f_, &caller);
  std::string from;
  if (Status s = name_of(handle_of(file), existing, &from); !s) return s;
  if (Status s = from_result(fuse_fs_link(f_->fs, from.c_str(), path.c_str())); !s) return s;
  forget_name(path);
  return stat_path(path.c_str(), nullptr, info);
}

Status FuseFileSystem::read_link(const Caller& caller, const std::string& path, std::string* target) {
  CallScope scope(f_, &caller);
  std::vector<char> buf(PATH_MAX + 1);
  if (Status s = from_result(fuse_fs_readlink(f_->fs, path.c_str(), buf.data(), buf.size())); !s) return s;
  buf.back() = '\0';
  *target = buf.data();
  return Status::ok();
}

Status FuseFileSystem::unlink(const Caller& caller, const std::string& path) {
  CallScope scope(f_, &caller);
  bool open = false;
  if (!f_->conf.hard_remove) {
    std::lock_guard lock(names_mutex_);
    open = path_open(path);
  }
  // An open file keeps working under a hidden name until its last close.
  if (open) return hide(path);
  if (Status s = from_result(fuse_fs_unlink(f_->fs, path.c_str())); !s) return s;
  move_names(path, "", 0);  // open files there lose their name
  forget_name(path);
  return Status::ok();
}

Status FuseFileSystem::rmdir(const Caller& caller, const std::string& path) {
  CallScope scope(f_, &caller);
  if (Status s = from_result(fuse_fs_rmdir(f_->fs, path.c_str())); !s) return s;
  move_names(path, "", 0);
  forget_name(path);
  return Status::ok();
}

Status FuseFileSystem::rename(const Caller& caller, const std::string& from, const std::string& to,
                              unsigned flags) {
  CallScope scope(f_, &caller);
  if (!f_->conf.hard_remove && !(flags & RENAME_EXCHANGE)) {
    bool open;
    {
      std::lock_guard lock(names_mutex_);
      open = path_open(to);
    }
    // The file replaced stays usable to those who have it open.
    if (open) {
      if (Status s = hide(to); !s) return s;
    }
  }
  if (Status s = from_result(fuse_fs_rename(f_->fs, from.c_str(), to.c_str(), flags)); !s) return s;
  move_names(from, to, flags);
  return Status::ok();
}

// ----- extended attributes -----

Status FuseFileSystem::get_xattr(const Caller& caller, const std::string& path, void* file, const std::string& name,
                                 std::string* value) {
  CallScope scope(f_, &caller);
  std::string p;
  if (Status s = name_of(handle_of(file), path, &p); !s) return s;
  for (int attempt = 0; attempt < 4; ++attempt) {
    int size = fuse_fs_getxattr(f_->fs, p.c_str(), name.c_str(), nullptr, 0);
    if (size < 0) return Status::error(-size);
    value->resize(static_cast<size_t>(size));
    if (size == 0) return Status::ok();
    int got = fuse_fs_getxattr(f_->fs, p.c_str(), name.c_str(), value->data(), value->size());
    if (got == -ERANGE) continue;  // it grew meanwhile
    if (got < 0) return Status::error(-got);
    value->resize(static_cast<size_t>(got));
    return Status::ok();
  }
  return Status::error(ERANGE);
}

Status FuseFileSystem::set_xattr(const Caller& caller, const std::string& path, void* file, const std::string& name,
                                 std::string_view value, int flags) {
  CallScope scope(f_, &caller);
  std::string p;
  if (Status s = name_of(handle_of(file), path, &p); !s) return s;
  return from_result(fuse_fs_setxattr(f_->fs, p.c_str(), name.c_str(), value.data(), value.size(), flags));
}

Status FuseFileSystem::list_xattr(const Caller& caller, const std::string& path, void* file, std::string* names) {
  CallScope scope(f_, &caller);
  std::string p;
  if (Status s = name_of(handle_of(file), path, &p); !s) return s;
  for (int attempt = 0; attempt < 4; ++attempt) {
    int size = fuse_fs_listxattr(f_->fs, p.c_str(), nullptr, 0);
    if (size < 0) return Status::error(-size);
    names->resize(static_cast<size_t>(size));
    if (size == 0) return Status::ok();
    int got = fuse_fs_listxattr(f_->fs, p.c_str(), names->data(), names->size());
    if (got == -ERANGE) continue;
    if (got < 0) return Status::error(-got);
    names->resize(static_cast<size_t>(got));
    return Status::ok();
  }
  return Status::error(ERANGE);
}

Status FuseFileSystem::remove_xattr(const Caller& caller, const std::string& path, void* file,
                                    const std::string& name) {
  CallScope scope(f_, &caller);
  std::string p;
  if (Status s = name_of(handle_of(file), path, &p); !s) return s;
  return from_result(fuse_fs_removexattr(f_->fs, p.c_str(), name.c_str()));
}

// ----- ioctl, poll, locks, bmap -----

Result<int> FuseFileSystem::ioctl(const Caller& caller, void* file, unsigned cmd, uint64_t arg, unsigned flags,
                                  std::string_view in, size_t out_size, std::string* out) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(file);
  OpPath p = file_path(h, "", true);
  // One buffer: the argument in, the result out.
  std::vector<char> data(std::max(in.size(), out_size));
  if (!in.empty()) std::memcpy(data.data(), in.data(), in.size());
  int res = fuse_fs_ioctl(f_->fs, p.c_str(), cmd, reinterpret_cast<void*>(static_cast<uintptr_t>(arg)), &h->fi, flags,
                          data.empty() ? nullptr : data.data());
  if (res < 0) return Status::error(-res);
  if (out_size != 0) out->assign(data.data(), out_size);
  return res;
}

Status FuseFileSystem::poll(const Caller& caller, void* file, unsigned events, std::shared_ptr<PollWaker> waker,
                            unsigned* revents) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(file);
  OpPath p = file_path(h, "", true);
  fuse_file_info fi = h->fi;
  fi.poll_events = events;
  fuse_pollhandle* ph = nullptr;
  if (waker) {
    // The kernel polls each open file with one handle: keep the newest.
    std::lock_guard lock(names_mutex_);
    if (h->poll_id == 0) h->poll_id = next_poll_id_++;
    wakers_[h->poll_id] = std::move(waker);
    ph = new fuse_pollhandle{h->poll_id, f_->se};
  }
  *revents = 0;
  int res = fuse_fs_poll(f_->fs, p.c_str(), &fi, ph, revents);
  if (res < 0) {
    // The file system did not take the handle.
    if (ph != nullptr) fuse_pollhandle_destroy(ph);
    return Status::error(-res);
  }
  return Status::ok();
}

Status FuseFileSystem::get_lock(const Caller& caller, void* file, uint64_t owner, struct flock* lock) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(file);
  OpPath p = file_path(h, "", true);
  fuse_file_info fi = h->fi;
  fi.lock_owner = owner;
  return from_result(fuse_fs_lock(f_->fs, p.c_str(), &fi, F_GETLK, lock));
}

Status FuseFileSystem::set_lock(const Caller& caller, void* file, uint64_t owner, const struct flock& lock,
                                bool wait) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(file);
  OpPath p = file_path(h, "", true);
  fuse_file_info fi = h->fi;
  fi.lock_owner = owner;
  struct flock fl = lock;
  return from_result(fuse_fs_lock(f_->fs, p.c_str(), &fi, wait ? F_SETLKW : F_SETLK, &fl));
}

Status FuseFileSystem::flock(const Caller& caller, void* file, uint64_t owner, int operation) {
  CallScope scope(f_, &caller);
  Handle* h = handle_of(file);
  OpPath p = file_path(h, "", true);
  fuse_file_info fi = h->fi;
  fi.lock_owner = owner;
  return from_result(fuse_fs_flock(f_->fs, p.c_str(), &fi, operation));
}

Result<uint64_t> FuseFileSystem::bmap(const Caller& caller, const std::string& path, size_t block_size,
                                      uint64_t block) {
  CallScope scope(f_, &caller);
  uint64_t idx = block;
  if (Status s = from_result(fuse_fs_bmap(f_->fs, path.c_str(), block_size, &idx)); !s) return s;
  return idx;
}

}  // namespace linfsp::fuse
