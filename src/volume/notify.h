// Notify sessions, the notify worker and the invalidation queue.
//
// Lock order and why it cannot deadlock (docs/notify.md has the long form):
// - A session holds the rename resource shared, owned by the session counter
//   (token), from the first begin to the last processed end.
// - The worker takes the resource with acquire_shared_starve_exclusive: a
//   rename queued as an exclusive waiter behind the session cannot block it,
//   so the worker always reaches the End that releases the session.
// - The worker only resolves names to nodeids; the writes to the kernel,
//   which may block on the kernel's directory locks (held by a kernel RENAME
//   that waits for us), happen on the session's notification queue, whose
//   thread holds no LinFsp lock. No request thread waits for an invalidation.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <string>
#include <thread>
#include <unordered_set>
#include <variant>
#include <vector>

#include "kernel/channel.h"
#include "session/notifications.h"
#include "linfsp/notify.h"
#include "util/mutex.h"
#include "volume/node_table.h"
#include "volume/resource.h"

namespace linfsp {

struct NotifyChange {
  NotifyAction action;
  std::string path;  // absolute, validated
};

// Validates a batch; rejects it whole on the first bad record.
Result<std::vector<NotifyChange>> parse_notify_batch(const void* data, size_t size);

class NotifyEngine {
 public:
  NotifyEngine(Resource& rename_resource, NodeTable& nodes, session::NotificationQueue& out);
  ~NotifyEngine();  // stop()
  // Starts the worker.
  void start();
  // Ends the worker; releases an open session.
  void stop();

  Status begin(std::chrono::milliseconds timeout);
  Status post(const void* batch, size_t size);
  Status end();

  // Session state, for diagnostics.
  std::string describe() const;
  // Waits until every queued batch and invalidation has been handled.
  bool drain(std::chrono::milliseconds timeout);

 private:
  struct EndMarker {};
  using WorkItem = std::variant<std::vector<NotifyChange>, EndMarker>;
  using Invalidation = session::Notification;

  OwnerToken session_token() const { return reinterpret_cast<OwnerToken>(&sessions_); }
  void worker();
  // REQUIRES: the rename resource held (names stable while resolving).
  void resolve(const NotifyChange& change, std::vector<Invalidation>* out) REQUIRES_SHARED(resource_);
  void release_session_locked() REQUIRES(mutex_);
  bool idle_locked() const REQUIRES(mutex_);

  Resource& resource_;
  NodeTable& nodes_;
  session::NotificationQueue& out_;

  mutable Mutex mutex_;
  std::condition_variable work_cv_;  // work_ or stopping_ changed
  std::condition_variable idle_cv_;  // a queue drained
  uint32_t sessions_ GUARDED_BY(mutex_) = 0;  // begins minus processed ends
  uint32_t open_ GUARDED_BY(mutex_) = 0;      // begins minus ends called
  // Batches wait here; post() blocks while it is full (the worker never
  // waits for anything a poster holds, so this cannot deadlock).
  static constexpr size_t kMaxQueuedBatches = 1024;
  std::deque<WorkItem> work_ GUARDED_BY(mutex_);
  bool busy_worker_ GUARDED_BY(mutex_) = false;
  bool stopping_ GUARDED_BY(mutex_) = false;
  std::thread worker_thread_;
};

}  // namespace linfsp
