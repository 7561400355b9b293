// The operations most file systems leave to the kernel: ioctl, poll, POSIX
// and flock locks, bmap. Each but bmap works on an open handle and needs no
// path; bmap resolves the node's path under the rename resource.
#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "volume/ops.h"

namespace linfsp {

// Where poll wake-ups go: the session's notification queue while the volume
// lives. Wakers the file system keeps past the unmount find it cut.
struct PollChannel {
  Mutex mutex;
  session::NotificationQueue* queue GUARDED_BY(mutex) = nullptr;
};

std::shared_ptr<PollChannel> make_poll_channel(session::NotificationQueue& queue) {
  auto channel = std::make_shared<PollChannel>();
  MutexLock lock(channel->mutex);
  channel->queue = &queue;
  return channel;
}

void close_poll_channel(PollChannel* channel) {
  if (channel == nullptr) return;
  MutexLock lock(channel->mutex);
  channel->queue = nullptr;
}

namespace {

class VolumePollWaker final : public PollWaker {
 public:
  VolumePollWaker(std::shared_ptr<PollChannel> channel, uint64_t kernel_handle)
      : channel_(std::move(channel)), kernel_handle_(kernel_handle) {}
  Status wake() override {
    MutexLock lock(channel_->mutex);
    if (channel_->queue == nullptr) return Status::error(ESHUTDOWN, "poll wake-up after the unmount");
    return channel_->queue->post({.code = FUSE_NOTIFY_POLL, .cookie = kernel_handle_});
  }

 private:
  const std::shared_ptr<PollChannel> channel_;
  const uint64_t kernel_handle_;
};

// The file system's context behind an open handle (never 0 for these
// opcodes: the kernel sends them only on files it opened through us, or
// handle 0 with no_open, which Op::file serves).
Result<void*> open_context(Volume::Op& op, uint64_t fh) { return op.file(fh, op.node()); }

// The kernel's lock range [start, end] (end OFFSET_MAX: to the end) as a
// struct flock with SEEK_SET.
struct flock to_flock(const fuse_file_lock& lk) {
  struct flock fl {};
  fl.l_type = static_cast<short>(lk.type);
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(lk.start);
  fl.l_len = lk.end == static_cast<uint64_t>(LLONG_MAX) || lk.end < lk.start
                 ? 0
                 : static_cast<off_t>(lk.end - lk.start + 1);
  fl.l_pid = static_cast<pid_t>(lk.pid);
  return fl;
}

fuse_file_lock from_flock(const struct flock& fl) {
  fuse_file_lock lk{};
  lk.type = static_cast<uint32_t>(fl.l_type);
  if (fl.l_type != F_UNLCK) {
    lk.start = static_cast<uint64_t>(fl.l_start);
    lk.end = fl.l_len == 0 ? static_cast<uint64_t>(LLONG_MAX) : static_cast<uint64_t>(fl.l_start + fl.l_len - 1);
    lk.pid = static_cast<uint32_t>(fl.l_pid);
  }
  return lk;
}

void set_lock(Volume::Op& op, bool wait) {
  const auto& in = op.arg<fuse_lk_in>();
  Result<void*> file = open_context(op, in.fh);
  if (!file) return op.reply_status(file.status());
  if (in.lk_flags & FUSE_LK_FLOCK) {
    int operation = in.lk.type == F_RDLCK ? LOCK_SH : in.lk.type == F_WRLCK ? LOCK_EX : LOCK_UN;
    if (!wait) operation |= LOCK_NB;
    return op.reply_status(op.fs().flock(op.caller, *file, in.owner, operation));
  }
  op.reply_status(op.fs().set_lock(op.caller, *file, in.owner, to_flock(in.lk), wait));
}

}  // namespace

void Handlers::ioctl(Volume::Op& op) {
  const auto& in = op.arg<fuse_ioctl_in>();
  // Unrestricted ioctls (argument layout unknown to the kernel) are CUSE's.
  if (in.flags & FUSE_IOCTL_UNRESTRICTED) return op.fail(EPERM);
  if (in.in_size > op.tail_size) return op.fail(EINVAL);
  Result<void*> file = open_context(op, in.fh);
  if (!file) return op.reply_status(file.status());
  std::string out;
  Result<int> r = op.fs().ioctl(op.caller, *file, in.cmd, in.arg, in.flags, std::string_view(op.tail, in.in_size),
                                in.out_size, &out);
  if (!r) return op.fail(r.err());
  fuse_ioctl_out header{};
  header.result = *r;
  size_t n = std::min<size_t>(out.size(), in.out_size);
  iovec iov[2] = {{&header, sizeof(header)}, {out.data(), n}};
  op.reply.ok({iov, n ? size_t{2} : size_t{1}});
}

void Handlers::poll(Volume::Op& op) {
  const auto& in = op.arg<fuse_poll_in>();
  Result<void*> file = open_context(op, in.fh);
  if (!file) return op.reply_status(file.status());
  std::shared_ptr<PollWaker> waker;
  if ((in.flags & FUSE_POLL_SCHEDULE_NOTIFY) && op.vol.poll_channel_) {
    waker = std::make_shared<VolumePollWaker>(op.vol.poll_channel_, in.kh);
  }
  unsigned revents = 0;
  Status s = op.fs().poll(op.caller, *file, in.events, std::move(waker), &revents);
  if (!s) return op.reply_status(s);  // ENOSYS: the kernel takes the file as always ready
  fuse_poll_out out{};
  out.revents = revents;
  op.reply.ok(&out, sizeof(out));
}

void Handlers::getlk(Volume::Op& op) {
  const auto& in = op.arg<fuse_lk_in>();
  Result<void*> file = open_context(op, in.fh);
  if (!file) return op.reply_status(file.status());
  struct flock fl = to_flock(in.lk);
  if (Status s = op.fs().get_lock(op.caller, *file, in.owner, &fl); !s) return op.reply_status(s);
  fuse_lk_out out{};
  out.lk = from_flock(fl);
  op.reply.ok(&out, sizeof(out));
}

void Handlers::setlk(Volume::Op& op) { set_lock(op, false); }
void Handlers::setlkw(Volume::Op& op) { set_lock(op, true); }

void Handlers::bmap(Volume::Op& op) {
  const auto& in = op.arg<fuse_bmap_in>();
  Node* node = op.node();
  if (node == nullptr) return op.fail(ESTALE);
  Result<uint64_t> block = Status::error(ENOENT);
  {
    SharedGuard names_stable(op.vol.rename_resource());
    if (!op.resolve(node)) return op.fail(ENOENT);
    block = op.fs().bmap(op.caller, op.path, in.blocksize, in.block);
  }
  if (!block) return op.fail(block.err());
  fuse_bmap_out out{*block};
  op.reply.ok(&out, sizeof(out));
}

}  // namespace linfsp
