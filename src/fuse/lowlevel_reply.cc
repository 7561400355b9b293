// fuse_reply_*, fuse_add_direntry(_plus) and the request utilities. Each
// reply answers the request's NodeRequest (on the request thread or from any
// other, at any time) and then drops the program's reference to it.
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fuse/lowlevel.h"

namespace {

using linfsp::EntryReply;
using linfsp::NodeRequest;
using linfsp::OpenReply;

// Answers req with `answer` once; later calls are refused without touching
// the freed request's memory beyond the flag check (a program bug either way).
template <typename Answer>
int reply(fuse_req_t req, Answer answer) {
  if (req->answered.exchange(true, std::memory_order_acq_rel)) return -EINVAL;
  bool sent = req->has_reply && answer(req->request);
  linfsp::fuse::release_request(req);
  return sent ? 0 : -ENOENT;
}

EntryReply entry_reply(const fuse_entry_param& e) {
  EntryReply r;
  r.nodeid = e.ino;
  r.generation = e.generation;
  r.attr = e.attr;
  r.attr_timeout = e.attr_timeout;
  r.entry_timeout = e.entry_timeout;
  return r;
}

OpenReply open_reply(const fuse_file_info& fi) {
  OpenReply o;
  o.fh = fi.fh;
  o.direct_io = fi.direct_io;
  o.keep_cache = fi.keep_cache;
  o.nonseekable = fi.nonseekable;
  o.cache_dir = fi.cache_readdir;
  o.noflush = fi.noflush;
  return o;
}

// A bufvec's bytes from its cursor on, read into memory (fd buffers too).
int gather(fuse_bufvec* bufv, std::string* out) {
  size_t size = fuse_buf_size(bufv);
  out->resize(size);
  fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
  dst.buf[0].mem = out->data();
  ssize_t n = fuse_buf_copy(&dst, bufv, static_cast<fuse_buf_copy_flags>(0));
  if (n < 0) return static_cast<int>(n);
  out->resize(static_cast<size_t>(n));
  return 0;
}

}  // namespace

extern "C" {

int fuse_reply_err(fuse_req_t req, int err) {
  return reply(req, [err](NodeRequest& r) { return err == 0 ? r.reply_ok() : r.reply_error(err); });
}

void fuse_reply_none(fuse_req_t req) {
  // forget and friends have nothing to answer; a request that had one is
  // answered EIO rather than left hanging.
  reply(req, [](NodeRequest& r) {
    r.reply_error(EIO);
    return true;
  });
}

int fuse_reply_entry(fuse_req_t req, const struct fuse_entry_param* e) {
  EntryReply entry = entry_reply(*e);
  // ino 0 with no entry timeout: plain "no such name", as libfuse answers it.
  if (e->ino == 0 && !(e->entry_timeout > 0)) return fuse_reply_err(req, ENOENT);
  return reply(req, [&](NodeRequest& r) { return r.reply_entry(entry); });
}

int fuse_reply_create(fuse_req_t req, const struct fuse_entry_param* e, const struct fuse_file_info* fi) {
  EntryReply entry = entry_reply(*e);
  OpenReply open = open_reply(*fi);
  return reply(req, [&](NodeRequest& r) { return r.reply_create(entry, open); });
}

int fuse_reply_attr(fuse_req_t req, const struct stat* attr, double attr_timeout) {
  return reply(req, [&](NodeRequest& r) { return r.reply_attr(*attr, attr_timeout); });
}

int fuse_reply_readlink(fuse_req_t req, const char* link) {
  return reply(req, [&](NodeRequest& r) { return r.reply_readlink(link); });
}

int fuse_reply_open(fuse_req_t req, const struct fuse_file_info* fi) {
  OpenReply open = open_reply(*fi);
  return reply(req, [&](NodeRequest& r) { return r.reply_open(open); });
}

int fuse_reply_write(fuse_req_t req, size_t count) {
  return reply(req, [&](NodeRequest& r) { return r.reply_write(count); });
}

int fuse_reply_buf(fuse_req_t req, const char* buf, size_t size) {
  return reply(req, [&](NodeRequest& r) { return r.reply_data(buf, size); });
}

int fuse_reply_data(fuse_req_t req, struct fuse_bufvec* bufv, enum fuse_buf_copy_flags) {
  // Memory-only vectors go out as they are; fd buffers are read first.
  bool memory = true;
  for (size_t i = bufv->idx; i < bufv->count; ++i) memory = memory && !(bufv->buf[i].flags & FUSE_BUF_IS_FD);
  if (memory) {
    std::vector<iovec> iov;
    for (size_t i = bufv->idx; i < bufv->count; ++i) {
      size_t skip = i == bufv->idx ? bufv->off : 0;
      const fuse_buf& b = bufv->buf[i];
      if (b.size > skip) iov.push_back({static_cast<char*>(b.mem) + skip, b.size - skip});
    }
    return reply(req, [&](NodeRequest& r) { return r.reply_data(iov); });
  }
  std::string data;
  if (int err = gather(bufv, &data); err < 0) return fuse_reply_err(req, -err);
  return reply(req, [&](NodeRequest& r) { return r.reply_data(data.data(), data.size()); });
}

int fuse_reply_iov(fuse_req_t req, const struct iovec* iov, int count) {
  std::span<const iovec> pieces(iov, count > 0 ? static_cast<size_t>(count) : 0);
  return reply(req, [&](NodeRequest& r) { return r.reply_data(pieces); });
}

int fuse_reply_statfs(fuse_req_t req, const struct statvfs* stbuf) {
  return reply(req, [&](NodeRequest& r) { return r.reply_statfs(*stbuf); });
}

int fuse_reply_xattr(fuse_req_t req, size_t count) {
  return reply(req, [&](NodeRequest& r) { return r.reply_xattr_size(count); });
}

int fuse_reply_lock(fuse_req_t req, const struct flock* lock) {
  return reply(req, [&](NodeRequest& r) { return r.reply_lock(*lock); });
}

int fuse_reply_bmap(fuse_req_t req, uint64_t idx) {
  return reply(req, [&](NodeRequest& r) { return r.reply_bmap(idx); });
}

int fuse_reply_ioctl_retry(fuse_req_t req, const struct iovec* in_iov, size_t in_count, const struct iovec* out_iov,
                           size_t out_count) {
  std::span<const iovec> in(in_iov, in_iov ? in_count : 0);
  std::span<const iovec> out(out_iov, out_iov ? out_count : 0);
  return reply(req, [&](NodeRequest& r) { return r.reply_ioctl_retry(in, out); });
}

int fuse_reply_ioctl(fuse_req_t req, int result, const void* buf, size_t size) {
  return reply(req, [&](NodeRequest& r) { return r.reply_ioctl(result, buf, buf ? size : 0); });
}

int fuse_reply_ioctl_iov(fuse_req_t req, int result, const struct iovec* iov, int count) {
  std::span<const iovec> pieces(iov, count > 0 ? static_cast<size_t>(count) : 0);
  return reply(req, [&](NodeRequest& r) { return r.reply_ioctl(result, pieces); });
}

int fuse_reply_poll(fuse_req_t req, unsigned revents) {
  return reply(req, [&](NodeRequest& r) { return r.reply_poll(revents); });
}

int fuse_reply_lseek(fuse_req_t req, off_t off) {
  return reply(req, [&](NodeRequest& r) { return r.reply_lseek(off); });
}

size_t fuse_add_direntry(fuse_req_t, char* buf, size_t bufsize, const char* name, const struct stat* stbuf,
                         off_t off) {
  struct stat st {};
  if (stbuf) st = *stbuf;
  return linfsp::DirentBuffer::encode(buf, buf ? bufsize : 0, name, st, off);
}

size_t fuse_add_direntry_plus(fuse_req_t, char* buf, size_t bufsize, const char* name,
                              const struct fuse_entry_param* e, off_t off) {
  EntryReply entry = entry_reply(*e);
  return linfsp::DirentBuffer::encode_plus(buf, buf ? bufsize : 0, name, entry, off);
}

void* fuse_req_userdata(fuse_req_t req) { return req->fs->userdata(); }

const struct fuse_ctx* fuse_req_ctx(fuse_req_t req) { return &req->ctx; }

int fuse_req_getgroups(fuse_req_t req, int size, gid_t list[]) {
  if (!req->has_reply) return -ENOSYS;
  std::vector<gid_t> groups;
  if (linfsp::Status s = req->request.caller().supplementary_groups(&groups); !s) return -s.err();
  for (int i = 0; i < size && static_cast<size_t>(i) < groups.size(); ++i) list[i] = groups[i];
  return static_cast<int>(groups.size());
}

void fuse_req_interrupt_func(fuse_req_t req, fuse_interrupt_func_t func, void* data) {
  if (!req->has_reply) return;
  bool hook = false;
  {
    std::lock_guard lock(req->mutex);
    req->interrupt_func = func;
    req->interrupt_data = data;
    if (func && !req->interrupt_hooked) hook = req->interrupt_hooked = true;
  }
  if (!hook) return;
  // The callback may run at once (already interrupted) or later on another
  // thread; it holds a reference to the request for as long as the session
  // keeps it (until it ran, or the request was answered or ended), and does
  // nothing once the request was answered.
  struct Hold {
    fuse_req* req;
    explicit Hold(fuse_req* r) : req(r) { req->refs.fetch_add(1, std::memory_order_relaxed); }
    ~Hold() { linfsp::fuse::release_request(req); }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
  };
  auto hold = std::make_shared<Hold>(req);
  req->request.on_interrupt([hold] {
    fuse_req* r = hold->req;
    fuse_interrupt_func_t fn = nullptr;
    void* arg = nullptr;
    {
      std::lock_guard lock(r->mutex);
      fn = r->interrupt_func;
      arg = r->interrupt_data;
    }
    if (fn && !r->answered.load(std::memory_order_acquire)) fn(r, arg);
  });
}

int fuse_req_interrupted(fuse_req_t req) { return req->has_reply && req->request.interrupted() ? 1 : 0; }

}  // extern "C"
