#include "session/notifications.h"

#include <cstdio>

namespace linfsp::session {

void NotificationQueue::start(kernel::Transport& transport) {
  transport_ = &transport;
  thread_ = std::thread([this] { run(); });
}

void NotificationQueue::stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  idle_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string NotificationQueue::key(const Notification& n) {
  if (n.code != FUSE_NOTIFY_INVAL_INODE && n.code != FUSE_NOTIFY_INVAL_ENTRY && n.code != FUSE_NOTIFY_DELETE) {
    return {};
  }
  return std::to_string(n.code) + ":" + std::to_string(n.nodeid) + ":" + std::to_string(n.child) + ":" +
         std::to_string(n.offset) + ":" + std::to_string(n.length) + ":" + std::to_string(n.flags) + ":" + n.name;
}

Status NotificationQueue::post(Notification n) {
  std::string k = key(n);
  MutexLock lock(mutex_);
  if (stopping_) return Status::error(ESHUTDOWN, "the mount is going away");
  if (!k.empty() && !keys_.insert(std::move(k)).second) return Status::ok();  // already queued
  queue_.push_back(std::move(n));
  cv_.notify_all();
  return Status::ok();
}

bool NotificationQueue::drain(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(mutex_);
  while (!stopping_ && (!queue_.empty() || busy_)) {
    if (lock.wait_until(idle_cv_, deadline) == std::cv_status::timeout) return stopping_ || (queue_.empty() && !busy_);
  }
  return true;
}

size_t NotificationQueue::queued() const {
  MutexLock lock(mutex_);
  return queue_.size();
}

void NotificationQueue::run() {
  for (;;) {
    Notification n;
    {
      MutexLock lock(mutex_);
      while (!stopping_ && queue_.empty()) lock.wait(cv_);
      if (stopping_) return;
      n = std::move(queue_.front());
      queue_.pop_front();
      if (std::string k = key(n); !k.empty()) keys_.erase(k);
      busy_ = true;
    }
    write(n);  // no lock of ours held: the kernel may block this write
    MutexLock lock(mutex_);
    busy_ = false;
    idle_cv_.notify_all();
  }
}

void NotificationQueue::write(Notification& n) {
  Status s;
  char nul = '\0';
  switch (n.code) {
    case FUSE_NOTIFY_INVAL_INODE: {
      fuse_notify_inval_inode_out out{n.nodeid, n.offset, n.length};
      iovec iov{&out, sizeof(out)};
      s = transport_->notify(n.code, {&iov, 1});
      break;
    }
    case FUSE_NOTIFY_DELETE: {
      fuse_notify_delete_out out{n.nodeid, n.child, static_cast<uint32_t>(n.name.size()), 0};
      iovec iov[3] = {{&out, sizeof(out)}, {n.name.data(), n.name.size()}, {&nul, 1}};
      s = transport_->notify(n.code, iov);
      if (s || s.err() == ENOENT) break;
      n.code = FUSE_NOTIFY_INVAL_ENTRY;  // refused (e.g. a cached non-empty directory): drop the name
      [[fallthrough]];
    }
    case FUSE_NOTIFY_INVAL_ENTRY: {
      fuse_notify_inval_entry_out out{n.nodeid, static_cast<uint32_t>(n.name.size()), n.flags};
      iovec iov[3] = {{&out, sizeof(out)}, {n.name.data(), n.name.size()}, {&nul, 1}};
      s = transport_->notify(FUSE_NOTIFY_INVAL_ENTRY, iov);
      break;
    }
    case FUSE_NOTIFY_STORE: {
      fuse_notify_store_out out{n.nodeid, static_cast<uint64_t>(n.offset), static_cast<uint32_t>(n.data.size()), 0};
      iovec iov[2] = {{&out, sizeof(out)}, {n.data.data(), n.data.size()}};
      s = transport_->notify(n.code, iov);
      break;
    }
    case FUSE_NOTIFY_RETRIEVE: {
      fuse_notify_retrieve_out out{n.cookie, n.nodeid, static_cast<uint64_t>(n.offset),
                                   static_cast<uint32_t>(n.length), 0};
      iovec iov{&out, sizeof(out)};
      s = transport_->notify(n.code, {&iov, 1});
      break;
    }
    case FUSE_NOTIFY_POLL: {
      fuse_notify_poll_wakeup_out out{n.cookie};
      iovec iov{&out, sizeof(out)};
      s = transport_->notify(n.code, {&iov, 1});
      break;
    }
    default:
      s = Status::error(EINVAL);
  }
  // ENOENT: the kernel had already forgotten the node or name.
  if (!s && s.err() != ENOENT && debug_) {
    std::fprintf(stderr, "linfsp: notification %d for node %lu failed: %s\n", n.code,
                 static_cast<unsigned long>(n.nodeid), s.message().c_str());
  }
}

}  // namespace linfsp::session
