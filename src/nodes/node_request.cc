// NodeRequest: the replies of the node-level API, DirentBuffer, and the
// NodeFileSystem defaults.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <vector>

#include "nodes/node_adapter.h"

namespace linfsp {

template <typename Encode>
bool NodeRequest::State::answer(Encode encode) {
  std::unique_lock lock(mutex);
  if (answered) return false;
  answered = true;
  if (deferred) {
    std::shared_ptr<session::Deferred> d = deferred;
    lock.unlock();  // the deferred holds its own lock while it answers
    bool accepted = false;
    d->answer([&](kernel::Reply& reply) { accepted = encode(reply); });
    return accepted;
  }
  return on_thread != nullptr && encode(on_thread->reply);
}

void NodeRequest::State::defer_locked() {
  deferred = on_thread->defer();
  on_thread = nullptr;
}

NodeRequest::~NodeRequest() {
  if (!state_) return;
  bool unanswered;
  {
    std::lock_guard lock(state_->mutex);
    state_->dropped = true;
    unanswered = !state_->answered;
  }
  // Unwinding from an exception in the handler: the session answers EIO.
  if (unanswered && std::uncaught_exceptions() == 0) {
    // A bug in the file system: debug builds stop so that it is found.
    std::fprintf(stderr, "linfsp: %s: the file system dropped the request unanswered; answering EIO\n",
                 state_->opcode);
#ifndef NDEBUG
    std::abort();
#endif
    reply_error(EIO);
  }
}

const Caller& NodeRequest::caller() const { return state_->caller; }

bool NodeRequest::interrupted() const {
  std::lock_guard lock(state_->mutex);
  if (state_->deferred) return state_->deferred->interrupted();
  return state_->on_thread != nullptr && state_->on_thread->caller.is_interrupted();
}

void NodeRequest::on_interrupt(std::function<void()> fn) {
  std::shared_ptr<session::Deferred> d;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->answered) return;
    // Only a deferred request has a callback: defer now (cheap, and the
    // handler is about to wait for something anyway).
    if (!state_->deferred && state_->on_thread) state_->defer_locked();
    d = state_->deferred;
  }
  if (d) d->on_interrupt(std::move(fn));
}

void split_seconds(double seconds, uint64_t* sec, uint32_t* nsec) {
  if (!(seconds > 0)) {
    *sec = 0;
    *nsec = 0;
    return;
  }
  double whole = std::floor(seconds);
  *sec = static_cast<uint64_t>(whole);
  *nsec = static_cast<uint32_t>((seconds - whole) * 1e9);
}

void fill_wire_attr(const struct stat& st, fuse_attr* a) {
  *a = {};
  a->ino = st.st_ino;
  a->size = static_cast<uint64_t>(st.st_size);
  a->blocks = static_cast<uint64_t>(st.st_blocks);
  a->atime = static_cast<uint64_t>(st.st_atim.tv_sec);
  a->mtime = static_cast<uint64_t>(st.st_mtim.tv_sec);
  a->ctime = static_cast<uint64_t>(st.st_ctim.tv_sec);
  a->atimensec = static_cast<uint32_t>(st.st_atim.tv_nsec);
  a->mtimensec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
  a->ctimensec = static_cast<uint32_t>(st.st_ctim.tv_nsec);
  a->mode = st.st_mode;
  a->nlink = static_cast<uint32_t>(st.st_nlink);
  a->uid = st.st_uid;
  a->gid = st.st_gid;
  a->rdev = static_cast<uint32_t>(st.st_rdev);
  a->blksize = st.st_blksize > 0 ? static_cast<uint32_t>(st.st_blksize) : 4096;
}

namespace {

fuse_entry_out entry_out(const EntryReply& e) {
  fuse_entry_out out{};
  out.nodeid = e.nodeid;
  out.generation = e.generation;
  split_seconds(e.entry_timeout, &out.entry_valid, &out.entry_valid_nsec);
  split_seconds(e.attr_timeout, &out.attr_valid, &out.attr_valid_nsec);
  fill_wire_attr(e.attr, &out.attr);
  return out;
}

fuse_open_out open_out(const OpenReply& o) {
  fuse_open_out out{};
  out.fh = o.fh;
  out.open_flags = (o.direct_io ? FOPEN_DIRECT_IO : 0) | (o.keep_cache ? FOPEN_KEEP_CACHE : 0) |
                   (o.nonseekable ? FOPEN_NONSEEKABLE : 0) | (o.cache_dir ? FOPEN_CACHE_DIR : 0) |
                   (o.noflush ? FOPEN_NOFLUSH : 0) | (o.parallel_direct_writes ? FOPEN_PARALLEL_DIRECT_WRITES : 0);
  return out;
}

template <typename T>
auto with(const T& out) {
  return [out](kernel::Reply& r) { return r.ok(&out, sizeof(out)); };
}

size_t align8(size_t n) { return (n + 7) & ~size_t{7}; }

}  // namespace

bool NodeRequest::reply_error(int err) {
  return state_->answer([err](kernel::Reply& r) { return r.error(err > 0 ? err : EIO); });
}
bool NodeRequest::reply_ok() {
  return state_->answer([](kernel::Reply& r) { return r.ok(); });
}
bool NodeRequest::reply_entry(const EntryReply& entry) { return state_->answer(with(entry_out(entry))); }
bool NodeRequest::reply_create(const EntryReply& entry, const OpenReply& open) {
  fuse_entry_out e = entry_out(entry);
  fuse_open_out o = open_out(open);
  return state_->answer([&](kernel::Reply& r) {
    iovec iov[2] = {{&e, sizeof(e)}, {&o, sizeof(o)}};
    return r.ok(iov);
  });
}
bool NodeRequest::reply_attr(const struct stat& attr, double timeout) {
  fuse_attr_out out{};
  split_seconds(timeout, &out.attr_valid, &out.attr_valid_nsec);
  fill_wire_attr(attr, &out.attr);
  return state_->answer(with(out));
}
bool NodeRequest::reply_readlink(std::string_view target) { return reply_data(target.data(), target.size()); }
bool NodeRequest::reply_open(const OpenReply& open) { return state_->answer(with(open_out(open))); }
bool NodeRequest::reply_write(size_t count) {
  return state_->answer(with(fuse_write_out{static_cast<uint32_t>(count), 0}));
}
bool NodeRequest::reply_data(const void* data, size_t size) {
  return state_->answer([&](kernel::Reply& r) { return r.ok(data, size); });
}
bool NodeRequest::reply_data(std::span<const iovec> pieces) {
  return state_->answer([&](kernel::Reply& r) { return r.ok(pieces); });
}
bool NodeRequest::reply_data_from_fd(int fd, off_t offset, size_t size) {
  std::vector<char> buffer(size);
  size_t got = 0;
  while (got < size) {
    ssize_t n = pread(fd, buffer.data() + got, size - got, offset + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return reply_error(errno);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return reply_data(buffer.data(), got);
}
bool NodeRequest::reply_statfs(const struct statvfs& st) {
  fuse_statfs_out out{};
  out.st.blocks = st.f_blocks;
  out.st.bfree = st.f_bfree;
  out.st.bavail = st.f_bavail;
  out.st.files = st.f_files;
  out.st.ffree = st.f_ffree;
  out.st.bsize = static_cast<uint32_t>(st.f_bsize);
  out.st.frsize = static_cast<uint32_t>(st.f_frsize ? st.f_frsize : st.f_bsize);
  out.st.namelen = static_cast<uint32_t>(st.f_namemax);
  return state_->answer(with(out));
}
bool NodeRequest::reply_xattr_size(size_t size) {
  return state_->answer(with(fuse_getxattr_out{static_cast<uint32_t>(size), 0}));
}
bool NodeRequest::reply_lock(const struct flock& lock) {
  fuse_lk_out out{};
  out.lk.type = static_cast<uint32_t>(lock.l_type);
  out.lk.pid = static_cast<uint32_t>(lock.l_pid);
  if (lock.l_type != F_UNLCK) {
    out.lk.start = static_cast<uint64_t>(lock.l_start);
    out.lk.end = lock.l_len == 0 ? kOffsetMax : static_cast<uint64_t>(lock.l_start + lock.l_len - 1);
  }
  return state_->answer(with(out));
}
bool NodeRequest::reply_bmap(uint64_t block) { return state_->answer(with(fuse_bmap_out{block})); }
bool NodeRequest::reply_lseek(off_t offset) {
  return state_->answer(with(fuse_lseek_out{static_cast<uint64_t>(offset)}));
}
bool NodeRequest::reply_ioctl(int result, const void* data, size_t size) {
  fuse_ioctl_out out{result, 0, 0, 0};
  return state_->answer([&](kernel::Reply& r) {
    iovec iov[2] = {{&out, sizeof(out)}, {const_cast<void*>(data), size}};
    return r.ok({iov, size ? 2u : 1u});
  });
}
bool NodeRequest::reply_ioctl(int result, std::span<const iovec> pieces) {
  fuse_ioctl_out out{result, 0, 0, 0};
  std::vector<iovec> iov;
  iov.reserve(pieces.size() + 1);
  iov.push_back({&out, sizeof(out)});
  for (const iovec& p : pieces) {
    if (p.iov_len) iov.push_back(p);
  }
  return state_->answer([&](kernel::Reply& r) { return r.ok(iov); });
}
bool NodeRequest::reply_ioctl_retry(std::span<const iovec> in, std::span<const iovec> out) {
  if (in.size() > FUSE_IOCTL_MAX_IOV || out.size() > FUSE_IOCTL_MAX_IOV) return reply_error(ENOMEM);
  fuse_ioctl_out head{0, FUSE_IOCTL_RETRY, static_cast<uint32_t>(in.size()), static_cast<uint32_t>(out.size())};
  // The kernel reads 64-bit (base, len) pairs, ins first.
  std::vector<fuse_ioctl_iovec> areas;
  areas.reserve(in.size() + out.size());
  for (const iovec& v : in) areas.push_back({reinterpret_cast<uint64_t>(v.iov_base), v.iov_len});
  for (const iovec& v : out) areas.push_back({reinterpret_cast<uint64_t>(v.iov_base), v.iov_len});
  return state_->answer([&](kernel::Reply& r) {
    iovec iov[2] = {{&head, sizeof(head)}, {areas.data(), areas.size() * sizeof(fuse_ioctl_iovec)}};
    return r.ok({iov, areas.empty() ? 1u : 2u});
  });
}
bool NodeRequest::reply_poll(unsigned revents) { return state_->answer(with(fuse_poll_out{revents, 0})); }

DirentBuffer::DirentBuffer(size_t room, bool plus) : room_(room), plus_(plus) { buffer_.reserve(std::min<size_t>(room, 1 << 16)); }

size_t DirentBuffer::encode(char* out, size_t room, std::string_view name, const struct stat& attr, off_t next) {
  size_t size = align8(FUSE_NAME_OFFSET + name.size());
  if (out == nullptr || size > room) return size;
  std::memset(out, 0, size);
  auto* d = reinterpret_cast<fuse_dirent*>(out);
  d->ino = attr.st_ino;
  d->off = static_cast<uint64_t>(next);
  d->namelen = static_cast<uint32_t>(name.size());
  d->type = (attr.st_mode & S_IFMT) >> 12;
  std::memcpy(d->name, name.data(), name.size());
  return size;
}

size_t DirentBuffer::encode_plus(char* out, size_t room, std::string_view name, const EntryReply& entry,
                                 off_t next) {
  size_t size = align8(FUSE_NAME_OFFSET_DIRENTPLUS + name.size());
  if (out == nullptr || size > room) return size;
  std::memset(out, 0, size);
  auto* d = reinterpret_cast<fuse_direntplus*>(out);
  d->entry_out = entry_out(entry);
  d->dirent.ino = entry.attr.st_ino;
  d->dirent.off = static_cast<uint64_t>(next);
  d->dirent.namelen = static_cast<uint32_t>(name.size());
  d->dirent.type = (entry.attr.st_mode & S_IFMT) >> 12;
  std::memcpy(d->dirent.name, name.data(), name.size());
  return size;
}

bool DirentBuffer::add(std::string_view name, const struct stat& attr, off_t next) {
  if (plus_) {
    EntryReply none;  // nodeid 0: the kernel looks the name up itself
    none.attr = attr;
    return add_plus(name, none, next);
  }
  size_t size = encode(nullptr, 0, name, attr, next);
  if (buffer_.size() + size > room_) return false;
  size_t at = buffer_.size();
  buffer_.resize(at + size);
  encode(buffer_.data() + at, size, name, attr, next);
  return true;
}

bool DirentBuffer::add_plus(std::string_view name, const EntryReply& entry, off_t next) {
  if (!plus_) return add(name, entry.attr, next);
  size_t size = encode_plus(nullptr, 0, name, entry, next);
  if (buffer_.size() + size > room_) return false;
  size_t at = buffer_.size();
  buffer_.resize(at + size);
  encode_plus(buffer_.data() + at, size, name, entry, next);
  return true;
}

// Defaults: not supported.
void NodeFileSystem::wants(NodeMountWants*) {}
void NodeFileSystem::negotiate(NodeInit*) {}
void NodeFileSystem::init(NodeNotifier&) {}
void NodeFileSystem::destroy() {}
void NodeFileSystem::lookup(NodeRequest req, uint64_t, std::string_view) { req.reply_error(ENOSYS); }
void NodeFileSystem::forget(uint64_t, uint64_t) {}
void NodeFileSystem::forget_multi(std::span<const Forget> forgets) {
  for (const Forget& f : forgets) forget(f.nodeid, f.nlookup);
}
void NodeFileSystem::mknod(NodeRequest req, uint64_t, std::string_view, mode_t, dev_t) { req.reply_error(ENOSYS); }
void NodeFileSystem::mkdir(NodeRequest req, uint64_t, std::string_view, mode_t) { req.reply_error(ENOSYS); }
void NodeFileSystem::symlink(NodeRequest req, std::string_view, uint64_t, std::string_view) { req.reply_error(ENOSYS); }
void NodeFileSystem::link(NodeRequest req, uint64_t, uint64_t, std::string_view) { req.reply_error(ENOSYS); }
void NodeFileSystem::unlink(NodeRequest req, uint64_t, std::string_view) { req.reply_error(ENOSYS); }
void NodeFileSystem::rmdir(NodeRequest req, uint64_t, std::string_view) { req.reply_error(ENOSYS); }
void NodeFileSystem::rename(NodeRequest req, uint64_t, std::string_view, uint64_t, std::string_view, unsigned) {
  req.reply_error(ENOSYS);
}
void NodeFileSystem::readlink(NodeRequest req, uint64_t) { req.reply_error(ENOSYS); }
void NodeFileSystem::getattr(NodeRequest req, uint64_t, const uint64_t*) { req.reply_error(ENOSYS); }
void NodeFileSystem::setattr(NodeRequest req, uint64_t, const struct stat&, uint32_t, const uint64_t*) {
  req.reply_error(ENOSYS);
}
void NodeFileSystem::access(NodeRequest req, uint64_t, int) { req.reply_error(ENOSYS); }
void NodeFileSystem::statfs(NodeRequest req, uint64_t) {
  struct statvfs st {};
  st.f_bsize = st.f_frsize = 512;
  st.f_namemax = 255;
  req.reply_statfs(st);  // an empty volume, as libfuse answers by default
}
void NodeFileSystem::open(NodeRequest req, uint64_t, int) { req.reply_error(ENOSYS); }
void NodeFileSystem::create(NodeRequest req, uint64_t, std::string_view, mode_t, int) { req.reply_error(ENOSYS); }
void NodeFileSystem::tmpfile(NodeRequest req, uint64_t, mode_t, int) { req.reply_error(EOPNOTSUPP); }
void NodeFileSystem::read(NodeRequest req, uint64_t, size_t, off_t, uint64_t) { req.reply_error(ENOSYS); }
void NodeFileSystem::write(NodeRequest req, uint64_t, std::string_view, off_t, uint64_t, uint32_t) {
  req.reply_error(ENOSYS);
}
void NodeFileSystem::flush(NodeRequest req, uint64_t, uint64_t, uint64_t) { req.reply_error(ENOSYS); }
void NodeFileSystem::release(NodeRequest req, uint64_t, uint64_t, int) { req.reply_ok(); }
void NodeFileSystem::fsync(NodeRequest req, uint64_t, bool, uint64_t) { req.reply_error(ENOSYS); }
void NodeFileSystem::fallocate(NodeRequest req, uint64_t, int, off_t, off_t, uint64_t) { req.reply_error(EOPNOTSUPP); }
void NodeFileSystem::lseek(NodeRequest req, uint64_t, off_t, int, uint64_t) { req.reply_error(ENOSYS); }
void NodeFileSystem::copy_file_range(NodeRequest req, uint64_t, off_t, uint64_t, uint64_t, off_t, uint64_t, size_t,
                                     int) {
  req.reply_error(ENOSYS);
}
void NodeFileSystem::bmap(NodeRequest req, uint64_t, size_t, uint64_t) { req.reply_error(ENOSYS); }
void NodeFileSystem::ioctl(NodeRequest req, uint64_t, unsigned, uint64_t, uint64_t, unsigned, std::string_view,
                           size_t) {
  req.reply_error(ENOTTY);
}
void NodeFileSystem::poll(NodeRequest req, uint64_t, uint64_t, uint64_t, unsigned) { req.reply_error(ENOSYS); }
void NodeFileSystem::getlk(NodeRequest req, uint64_t, uint64_t, uint64_t, const struct flock&) {
  req.reply_error(ENOSYS);
}
void NodeFileSystem::setlk(NodeRequest req, uint64_t, uint64_t, uint64_t, const struct flock&, bool) {
  req.reply_error(ENOSYS);
}
void NodeFileSystem::flock(NodeRequest req, uint64_t, uint64_t, uint64_t, int) { req.reply_error(ENOSYS); }
void NodeFileSystem::opendir(NodeRequest req, uint64_t, int) { req.reply_error(ENOSYS); }
void NodeFileSystem::readdir(NodeRequest req, uint64_t, size_t, off_t, uint64_t) { req.reply_error(ENOSYS); }
void NodeFileSystem::readdirplus(NodeRequest req, uint64_t, size_t, off_t, uint64_t) { req.reply_error(ENOSYS); }
void NodeFileSystem::releasedir(NodeRequest req, uint64_t, uint64_t) { req.reply_ok(); }
void NodeFileSystem::fsyncdir(NodeRequest req, uint64_t, bool, uint64_t) { req.reply_error(ENOSYS); }
void NodeFileSystem::setxattr(NodeRequest req, uint64_t, std::string_view, std::string_view, int) {
  req.reply_error(ENOSYS);
}
void NodeFileSystem::getxattr(NodeRequest req, uint64_t, std::string_view, size_t) { req.reply_error(ENOSYS); }
void NodeFileSystem::listxattr(NodeRequest req, uint64_t, size_t) { req.reply_error(ENOSYS); }
void NodeFileSystem::removexattr(NodeRequest req, uint64_t, std::string_view) { req.reply_error(ENOSYS); }
void NodeFileSystem::retrieve_reply(uint64_t, uint64_t, uint64_t, std::string_view) {}

}  // namespace linfsp
