// The low-level API's operations: LowLevelFs turns each NodeFileSystem call
// into the program's fuse_lowlevel_ops call, with a fuse_req that owns the
// NodeRequest. Where an operation is missing, the request is answered the
// way libfuse answers it (ENOSYS mostly; open, opendir, release, releasedir
// and statfs succeed with defaults).
#include "fuse/lowlevel.h"

#include <sys/file.h>

#include <cstring>
#include <string>
#include <vector>

#include "kernel/protocol.h"

namespace linfsp::fuse {
namespace {

// FUSE_CAP_* against the kernel's INIT flags.
struct CapFlag {
  unsigned cap;
  uint64_t kernel;
};
constexpr CapFlag kCaps[] = {
    {FUSE_CAP_ASYNC_READ, FUSE_ASYNC_READ},
    {FUSE_CAP_POSIX_LOCKS, FUSE_POSIX_LOCKS},
    {FUSE_CAP_ATOMIC_O_TRUNC, FUSE_ATOMIC_O_TRUNC},
    {FUSE_CAP_EXPORT_SUPPORT, FUSE_EXPORT_SUPPORT},
    {FUSE_CAP_DONT_MASK, FUSE_DONT_MASK},
    {FUSE_CAP_FLOCK_LOCKS, FUSE_FLOCK_LOCKS},
    {FUSE_CAP_IOCTL_DIR, FUSE_HAS_IOCTL_DIR},
    {FUSE_CAP_AUTO_INVAL_DATA, FUSE_AUTO_INVAL_DATA},
    {FUSE_CAP_READDIRPLUS, FUSE_DO_READDIRPLUS},
    {FUSE_CAP_READDIRPLUS_AUTO, FUSE_READDIRPLUS_AUTO},
    {FUSE_CAP_ASYNC_DIO, FUSE_ASYNC_DIO},
    {FUSE_CAP_WRITEBACK_CACHE, FUSE_WRITEBACK_CACHE},
    {FUSE_CAP_NO_OPEN_SUPPORT, FUSE_NO_OPEN_SUPPORT},
    {FUSE_CAP_PARALLEL_DIROPS, FUSE_PARALLEL_DIROPS},
    {FUSE_CAP_POSIX_ACL, FUSE_POSIX_ACL},
    {FUSE_CAP_HANDLE_KILLPRIV, FUSE_HANDLE_KILLPRIV},
    {FUSE_CAP_CACHE_SYMLINKS, FUSE_CACHE_SYMLINKS},
    {FUSE_CAP_NO_OPENDIR_SUPPORT, FUSE_NO_OPENDIR_SUPPORT},
    {FUSE_CAP_EXPLICIT_INVAL_DATA, FUSE_EXPLICIT_INVAL_DATA},
    {FUSE_CAP_EXPIRE_ONLY, FUSE_HAS_EXPIRE_ONLY},
};
// Capabilities that are only a fact about the kernel, never a flag of the answer.
constexpr unsigned kOfferOnly = FUSE_CAP_NO_OPEN_SUPPORT | FUSE_CAP_NO_OPENDIR_SUPPORT | FUSE_CAP_EXPIRE_ONLY;
// Splice: accepted and ignored (LinFsp copies through memory).
constexpr unsigned kSplice = FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;

std::string str(std::string_view s) { return std::string(s); }

fuse_file_info file_info(uint64_t fh) {
  fuse_file_info fi;
  std::memset(&fi, 0, sizeof(fi));
  fi.fh = fh;
  return fi;
}

int to_set_bits(uint32_t fields) {
  int to_set = 0;
  auto map = [&](uint32_t ours, int theirs) {
    if (fields & ours) to_set |= theirs;
  };
  map(kSetMode, FUSE_SET_ATTR_MODE);
  map(kSetUid, FUSE_SET_ATTR_UID);
  map(kSetGid, FUSE_SET_ATTR_GID);
  map(kSetSize, FUSE_SET_ATTR_SIZE);
  map(kSetAtime, FUSE_SET_ATTR_ATIME);
  map(kSetMtime, FUSE_SET_ATTR_MTIME);
  map(kSetAtimeNow, FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW);
  map(kSetMtimeNow, FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW);
  map(kSetCtime, FUSE_SET_ATTR_CTIME);
  map(kSetKillSuid, FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID);
  return to_set;
}

}  // namespace

void release_request(fuse_req* req) {
  if (req->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete req;
}

fuse_req* LowLevelFs::make(NodeRequest r) {
  auto* req = new fuse_req(std::move(r), se_, this);
  const Caller& c = req->request.caller();
  req->ctx.uid = c.uid;
  req->ctx.gid = c.gid;
  req->ctx.pid = c.pid;
  // CREATE, MKNOD, MKDIR and TMPFILE carry the caller's umask (0 otherwise);
  // with FUSE_CAP_DONT_MASK the program applies it, as with libfuse.
  req->ctx.umask = c.umask;
  return req;
}

fuse_req* LowLevelFs::make_unanswerable() {
  auto* req = new fuse_req(NodeRequest(nullptr), se_, this);
  req->has_reply = false;
  return req;
}

uint64_t LowLevelFs::remember_cookie(void* cookie) {
  std::lock_guard lock(cookie_mutex_);
  uint64_t id = next_cookie_++;
  cookies_[id] = cookie;
  return id;
}

void* LowLevelFs::take_cookie(uint64_t id) {
  std::lock_guard lock(cookie_mutex_);
  auto it = cookies_.find(id);
  if (it == cookies_.end()) return nullptr;
  void* cookie = it->second;
  cookies_.erase(it);
  return cookie;
}

void LowLevelFs::wants(NodeMountWants*) {
  // Locks and export support are decided in negotiate(), from init()'s answer.
}

void LowLevelFs::negotiate(NodeInit* ni) {
  fuse_conn_info conn;
  std::memset(&conn, 0, sizeof(conn));
  conn.proto_major = ni->proto_major;
  conn.proto_minor = ni->proto_minor;
  for (const CapFlag& c : kCaps) {
    if (ni->offered & c.kernel) conn.capable |= c.cap;
  }
  conn.capable |= kSplice;
  // What libfuse asks for unless init() says otherwise. Not HANDLE_KILLPRIV:
  // Debian's libfuse 3.14 does not obtain it from this kernel either, so the
  // kernel clears set-ID bits itself; with it, a file system that runs as
  // root (and so keeps them when it writes) would leave them set.
  unsigned defaults = FUSE_CAP_ASYNC_READ | FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_AUTO_INVAL_DATA |
                      FUSE_CAP_ASYNC_DIO | FUSE_CAP_IOCTL_DIR | FUSE_CAP_ATOMIC_O_TRUNC;
  if (ops_.getlk && ops_.setlk) defaults |= FUSE_CAP_POSIX_LOCKS;
  if (ops_.flock) defaults |= FUSE_CAP_FLOCK_LOCKS;
  if (ops_.readdirplus) defaults |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
  conn.want = defaults & conn.capable;
  conn.max_write = ni->max_write;
  conn.max_read = 0;
  conn.max_readahead = ni->max_readahead;
  conn.max_background = ni->max_background;
  conn.congestion_threshold = ni->congestion_threshold;
  conn.time_gran = ni->time_gran;

  if (ops_.init) ops_.init(userdata_, &conn);
  initialized_.store(true);

  if (unsigned extra = conn.want & ~conn.capable) {
    fuse_log(FUSE_LOG_ERR, "fuse: the file system asked for capabilities 0x%x the kernel does not offer; ignoring them\n",
             extra);
    conn.want &= conn.capable;
  }
  want_ = conn.want;
  uint64_t flags = 0;
  for (const CapFlag& c : kCaps) {
    if ((conn.want & c.cap) && !(c.cap & kOfferOnly)) flags |= c.kernel;
  }
  ni->flags = flags;
  if (conn.max_write) ni->max_write = conn.max_write;
  ni->max_readahead = std::min(conn.max_readahead, ni->kernel_max_readahead);
  if (conn.max_background) ni->max_background = static_cast<uint16_t>(std::min(conn.max_background, 65535u));
  ni->congestion_threshold = static_cast<uint16_t>(std::min(conn.congestion_threshold, 65535u));
  if (conn.time_gran) ni->time_gran = conn.time_gran;
}

void LowLevelFs::init(NodeNotifier& notifier) { notifier_.store(&notifier, std::memory_order_release); }

void LowLevelFs::destroy() {
  // The host is stopping; request threads may still run. The program's
  // destroy() waits for finish().
  notifier_.store(nullptr, std::memory_order_release);
}

void LowLevelFs::finish() {
  if (!initialized_.load() || destroyed_.exchange(true)) return;
  if (ops_.destroy) ops_.destroy(userdata_);
}

// Names.
void LowLevelFs::lookup(NodeRequest req, uint64_t parent, std::string_view name) {
  CallGuard guard(this);
  if (!ops_.lookup) return void(req.reply_error(ENOSYS));
  ops_.lookup(make(std::move(req)), parent, str(name).c_str());
}
void LowLevelFs::forget(uint64_t nodeid, uint64_t nlookup) {
  CallGuard guard(this);
  if (ops_.forget) ops_.forget(make_unanswerable(), nodeid, nlookup);
}
void LowLevelFs::forget_multi(std::span<const Forget> forgets) {
  CallGuard guard(this);
  if (ops_.forget_multi) {
    std::vector<fuse_forget_data> data(forgets.size());
    for (size_t i = 0; i < forgets.size(); ++i) data[i] = {forgets[i].nodeid, forgets[i].nlookup};
    return ops_.forget_multi(make_unanswerable(), data.size(), data.data());
  }
  if (!ops_.forget) return;
  for (const Forget& f : forgets) ops_.forget(make_unanswerable(), f.nodeid, f.nlookup);
}
void LowLevelFs::mknod(NodeRequest req, uint64_t parent, std::string_view name, mode_t mode, dev_t rdev) {
  CallGuard guard(this);
  if (!ops_.mknod) return void(req.reply_error(ENOSYS));
  ops_.mknod(make(std::move(req)), parent, str(name).c_str(), mode, rdev);
}
void LowLevelFs::mkdir(NodeRequest req, uint64_t parent, std::string_view name, mode_t mode) {
  CallGuard guard(this);
  if (!ops_.mkdir) return void(req.reply_error(ENOSYS));
  ops_.mkdir(make(std::move(req)), parent, str(name).c_str(), mode);
}
void LowLevelFs::symlink(NodeRequest req, std::string_view target, uint64_t parent, std::string_view name) {
  CallGuard guard(this);
  if (!ops_.symlink) return void(req.reply_error(ENOSYS));
  ops_.symlink(make(std::move(req)), str(target).c_str(), parent, str(name).c_str());
}
void LowLevelFs::link(NodeRequest req, uint64_t nodeid, uint64_t new_parent, std::string_view new_name) {
  CallGuard guard(this);
  if (!ops_.link) return void(req.reply_error(ENOSYS));
  ops_.link(make(std::move(req)), nodeid, new_parent, str(new_name).c_str());
}
void LowLevelFs::unlink(NodeRequest req, uint64_t parent, std::string_view name) {
  CallGuard guard(this);
  if (!ops_.unlink) return void(req.reply_error(ENOSYS));
  ops_.unlink(make(std::move(req)), parent, str(name).c_str());
}
void LowLevelFs::rmdir(NodeRequest req, uint64_t parent, std::string_view name) {
  CallGuard guard(this);
  if (!ops_.rmdir) return void(req.reply_error(ENOSYS));
  ops_.rmdir(make(std::move(req)), parent, str(name).c_str());
}
void LowLevelFs::rename(NodeRequest req, uint64_t parent, std::string_view name, uint64_t new_parent,
                        std::string_view new_name, unsigned flags) {
  CallGuard guard(this);
  if (!ops_.rename) return void(req.reply_error(ENOSYS));
  ops_.rename(make(std::move(req)), parent, str(name).c_str(), new_parent, str(new_name).c_str(), flags);
}
void LowLevelFs::readlink(NodeRequest req, uint64_t nodeid) {
  CallGuard guard(this);
  if (!ops_.readlink) return void(req.reply_error(ENOSYS));
  ops_.readlink(make(std::move(req)), nodeid);
}

// Attributes.
void LowLevelFs::getattr(NodeRequest req, uint64_t nodeid, const uint64_t* fh) {
  CallGuard guard(this);
  if (!ops_.getattr) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(fh ? *fh : 0);
  ops_.getattr(make(std::move(req)), nodeid, fh ? &fi : nullptr);
}
void LowLevelFs::setattr(NodeRequest req, uint64_t nodeid, const struct stat& attr, uint32_t fields,
                         const uint64_t* fh) {
  CallGuard guard(this);
  if (!ops_.setattr) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(fh ? *fh : 0);
  struct stat st = attr;
  ops_.setattr(make(std::move(req)), nodeid, &st, to_set_bits(fields), fh ? &fi : nullptr);
}
void LowLevelFs::access(NodeRequest req, uint64_t nodeid, int mask) {
  CallGuard guard(this);
  if (!ops_.access) return void(req.reply_error(ENOSYS));
  ops_.access(make(std::move(req)), nodeid, mask);
}
void LowLevelFs::statfs(NodeRequest req, uint64_t nodeid) {
  CallGuard guard(this);
  if (!ops_.statfs) return NodeFileSystem::statfs(std::move(req), nodeid);
  ops_.statfs(make(std::move(req)), nodeid);
}

// Files.
void LowLevelFs::open(NodeRequest req, uint64_t nodeid, int flags) {
  CallGuard guard(this);
  fuse_file_info fi = file_info(0);
  fi.flags = flags;
  if (!ops_.open) return void(req.reply_open(OpenReply{}));
  ops_.open(make(std::move(req)), nodeid, &fi);
}
void LowLevelFs::create(NodeRequest req, uint64_t parent, std::string_view name, mode_t mode, int flags) {
  CallGuard guard(this);
  if (!ops_.create) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(0);
  fi.flags = flags;
  ops_.create(make(std::move(req)), parent, str(name).c_str(), mode, &fi);
}
void LowLevelFs::read(NodeRequest req, uint64_t nodeid, size_t size, off_t offset, uint64_t fh) {
  CallGuard guard(this);
  if (!ops_.read) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(fh);
  ops_.read(make(std::move(req)), nodeid, size, offset, &fi);
}
void LowLevelFs::write(NodeRequest req, uint64_t nodeid, std::string_view data, off_t offset, uint64_t fh,
                       uint32_t write_flags) {
  CallGuard guard(this);
  fuse_file_info fi = file_info(fh);
  fi.writepage = (write_flags & FUSE_WRITE_CACHE) ? 1 : 0;
  if (ops_.write_buf) {
    fuse_bufvec bv = FUSE_BUFVEC_INIT(data.size());
    bv.buf[0].mem = const_cast<char*>(data.data());
    return ops_.write_buf(make(std::move(req)), nodeid, &bv, offset, &fi);
  }
  if (!ops_.write) return void(req.reply_error(ENOSYS));
  ops_.write(make(std::move(req)), nodeid, data.data(), data.size(), offset, &fi);
}
void LowLevelFs::flush(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t lock_owner) {
  CallGuard guard(this);
  if (!ops_.flush) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(fh);
  fi.flush = 1;
  fi.lock_owner = lock_owner;
  ops_.flush(make(std::move(req)), nodeid, &fi);
}
void LowLevelFs::release(NodeRequest req, uint64_t nodeid, uint64_t fh, int flags) {
  CallGuard guard(this);
  if (!ops_.release) return void(req.reply_ok());
  fuse_file_info fi = file_info(fh);
  fi.flags = flags;
  ops_.release(make(std::move(req)), nodeid, &fi);
}
void LowLevelFs::fsync(NodeRequest req, uint64_t nodeid, bool datasync, uint64_t fh) {
  CallGuard guard(this);
  if (!ops_.fsync) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(fh);
  ops_.fsync(make(std::move(req)), nodeid, datasync ? 1 : 0, &fi);
}
void LowLevelFs::fallocate(NodeRequest req, uint64_t nodeid, int mode, off_t offset, off_t length, uint64_t fh) {
  CallGuard guard(this);
  if (!ops_.fallocate) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(fh);
  ops_.fallocate(make(std::move(req)), nodeid, mode, offset, length, &fi);
}
void LowLevelFs::lseek(NodeRequest req, uint64_t nodeid, off_t offset, int whence, uint64_t fh) {
  CallGuard guard(this);
  if (!ops_.lseek) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(fh);
  ops_.lseek(make(std::move(req)), nodeid, offset, whence, &fi);
}
void LowLevelFs::copy_file_range(NodeRequest req, uint64_t in_node, off_t in_offset, uint64_t in_fh,
                                 uint64_t out_node, off_t out_offset, uint64_t out_fh, size_t length, int flags) {
  CallGuard guard(this);
  if (!ops_.copy_file_range) return void(req.reply_error(ENOSYS));
  fuse_file_info fi_in = file_info(in_fh);
  fuse_file_info fi_out = file_info(out_fh);
  ops_.copy_file_range(make(std::move(req)), in_node, in_offset, &fi_in, out_node, out_offset, &fi_out, length,
                       flags);
}
void LowLevelFs::bmap(NodeRequest req, uint64_t nodeid, size_t block_size, uint64_t index) {
  CallGuard guard(this);
  if (!ops_.bmap) return void(req.reply_error(ENOSYS));
  ops_.bmap(make(std::move(req)), nodeid, block_size, index);
}
void LowLevelFs::ioctl(NodeRequest req, uint64_t nodeid, unsigned cmd, uint64_t arg, uint64_t fh, unsigned flags,
                       std::string_view in, size_t out_size) {
  CallGuard guard(this);
  if (!ops_.ioctl) return void(req.reply_error(ENOSYS));
  if ((flags & FUSE_IOCTL_DIR) && !(want_ & FUSE_CAP_IOCTL_DIR)) return void(req.reply_error(ENOTTY));
  fuse_file_info fi = file_info(fh);
  ops_.ioctl(make(std::move(req)), nodeid, cmd, reinterpret_cast<void*>(arg), &fi, flags,
             in.empty() ? nullptr : in.data(), in.size(), out_size);
}
void LowLevelFs::poll(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t poll_handle, unsigned events) {
  CallGuard guard(this);
  if (!ops_.poll) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(fh);
  fi.poll_events = events;
  fuse_pollhandle* ph = poll_handle ? new fuse_pollhandle{poll_handle, se_} : nullptr;
  ops_.poll(make(std::move(req)), nodeid, &fi, ph);
}

// Locks.
void LowLevelFs::getlk(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t owner, const struct flock& lock) {
  CallGuard guard(this);
  if (!ops_.getlk) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(fh);
  fi.lock_owner = owner;
  struct flock l = lock;
  ops_.getlk(make(std::move(req)), nodeid, &fi, &l);
}
void LowLevelFs::setlk(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t owner, const struct flock& lock,
                       bool wait) {
  CallGuard guard(this);
  if (!ops_.setlk) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(fh);
  fi.lock_owner = owner;
  struct flock l = lock;
  ops_.setlk(make(std::move(req)), nodeid, &fi, &l, wait ? 1 : 0);
}
void LowLevelFs::flock(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t owner, int operation) {
  CallGuard guard(this);
  if (!ops_.flock) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(fh);
  fi.lock_owner = owner;
  ops_.flock(make(std::move(req)), nodeid, &fi, operation);
}

// Directories.
void LowLevelFs::opendir(NodeRequest req, uint64_t nodeid, int flags) {
  CallGuard guard(this);
  fuse_file_info fi = file_info(0);
  fi.flags = flags;
  if (!ops_.opendir) return void(req.reply_open(OpenReply{}));
  ops_.opendir(make(std::move(req)), nodeid, &fi);
}
void LowLevelFs::readdir(NodeRequest req, uint64_t nodeid, size_t size, off_t offset, uint64_t fh) {
  CallGuard guard(this);
  if (!ops_.readdir) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(fh);
  ops_.readdir(make(std::move(req)), nodeid, size, offset, &fi);
}
void LowLevelFs::readdirplus(NodeRequest req, uint64_t nodeid, size_t size, off_t offset, uint64_t fh) {
  CallGuard guard(this);
  if (!ops_.readdirplus) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(fh);
  ops_.readdirplus(make(std::move(req)), nodeid, size, offset, &fi);
}
void LowLevelFs::releasedir(NodeRequest req, uint64_t nodeid, uint64_t fh) {
  CallGuard guard(this);
  if (!ops_.releasedir) return void(req.reply_ok());
  fuse_file_info fi = file_info(fh);
  ops_.releasedir(make(std::move(req)), nodeid, &fi);
}
void LowLevelFs::fsyncdir(NodeRequest req, uint64_t nodeid, bool datasync, uint64_t fh) {
  CallGuard guard(this);
  if (!ops_.fsyncdir) return void(req.reply_error(ENOSYS));
  fuse_file_info fi = file_info(fh);
  ops_.fsyncdir(make(std::move(req)), nodeid, datasync ? 1 : 0, &fi);
}

// Extended attributes.
void LowLevelFs::setxattr(NodeRequest req, uint64_t nodeid, std::string_view name, std::string_view value,
                          int flags) {
  CallGuard guard(this);
  if (!ops_.setxattr) return void(req.reply_error(ENOSYS));
  ops_.setxattr(make(std::move(req)), nodeid, str(name).c_str(), value.data(), value.size(), flags);
}
void LowLevelFs::getxattr(NodeRequest req, uint64_t nodeid, std::string_view name, size_t size) {
  CallGuard guard(this);
  if (!ops_.getxattr) return void(req.reply_error(ENOSYS));
  ops_.getxattr(make(std::move(req)), nodeid, str(name).c_str(), size);
}
void LowLevelFs::listxattr(NodeRequest req, uint64_t nodeid, size_t size) {
  CallGuard guard(this);
  if (!ops_.listxattr) return void(req.reply_error(ENOSYS));
  ops_.listxattr(make(std::move(req)), nodeid, size);
}
void LowLevelFs::removexattr(NodeRequest req, uint64_t nodeid, std::string_view name) {
  CallGuard guard(this);
  if (!ops_.removexattr) return void(req.reply_error(ENOSYS));
  ops_.removexattr(make(std::move(req)), nodeid, str(name).c_str());
}

void LowLevelFs::retrieve_reply(uint64_t cookie, uint64_t nodeid, uint64_t offset, std::string_view data) {
  CallGuard guard(this);
  void* theirs = take_cookie(cookie);
  if (!ops_.retrieve_reply) return;
  fuse_bufvec bv = FUSE_BUFVEC_INIT(data.size());
  bv.buf[0].mem = const_cast<char*>(data.data());
  ops_.retrieve_reply(make_unanswerable(), theirs, nodeid, static_cast<off_t>(offset), &bv);
}

}  // namespace linfsp::fuse
