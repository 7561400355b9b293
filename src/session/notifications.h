// The notification queue: writes FUSE_NOTIFY_* messages to the kernel on a
// thread of its own that holds no lock of ours. The kernel's invalidations
// lock directory inodes, and a kernel RENAME holds those locks while it waits
// for our reply; so no request thread and no lock holder ever writes one.
// Both the path volume's notify worker and the node-level API post here.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include "kernel/channel.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace linfsp::session {

struct Notification {
  int code = 0;          // FUSE_NOTIFY_INVAL_INODE, _INVAL_ENTRY, _DELETE, _STORE, _RETRIEVE, _POLL
  uint64_t nodeid = 0;   // the inode (inval inode, store, retrieve) or the parent (entry, delete)
  uint64_t child = 0;    // delete: the child's nodeid
  int64_t offset = 0;    // inval inode: -1 = attributes only; store, retrieve: where
  int64_t length = 0;    // inval inode (0 = to the end); retrieve: how many bytes
  uint32_t flags = 0;    // inval entry: FUSE_EXPIRE_ONLY
  uint64_t cookie = 0;   // retrieve: the cookie the reply carries; poll: the kernel's handle
  std::string name;      // entry, delete
  std::string data;      // store
};

class NotificationQueue {
 public:
  explicit NotificationQueue(bool debug) : debug_(debug) {}
  ~NotificationQueue() { stop(); }
  NotificationQueue(const NotificationQueue&) = delete;
  NotificationQueue& operator=(const NotificationQueue&) = delete;

  // Starts the writing thread; notifications posted before wait for it.
  void start(kernel::Transport& transport);
  // Ends the thread; what is still queued is dropped (the mount is going).
  void stop();

  // Queues `n`. An invalidation equal to one still queued is not queued
  // twice. ESHUTDOWN once stopped. Never blocks on the kernel.
  Status post(Notification n);
  // Waits until everything queued has been written.
  bool drain(std::chrono::milliseconds timeout);
  size_t queued() const;

 private:
  void run();
  void write(Notification& n);
  static std::string key(const Notification& n);  // empty: never coalesced

  const bool debug_;
  kernel::Transport* transport_ = nullptr;
  mutable Mutex mutex_;
  std::condition_variable cv_;       // queue_ or stopping_ changed
  std::condition_variable idle_cv_;  // the queue drained
  // Unbounded: the writer may wait for a kernel RENAME that waits for a
  // notify session, and posters must not wait behind it.
  std::deque<Notification> queue_ GUARDED_BY(mutex_);
  std::unordered_set<std::string> keys_ GUARDED_BY(mutex_);  // coalescing keys of queue_
  bool busy_ GUARDED_BY(mutex_) = false;
  bool stopping_ GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace linfsp::session
