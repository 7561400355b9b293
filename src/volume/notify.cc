#include "volume/notify.h"

#include <linux/limits.h>

#include <exception>
#include <cstdio>
#include <cstring>

namespace linfsp {
namespace {

constexpr size_t kRecordHeader = sizeof(NotifyRecord);

Status bad_record(size_t index, int err, const std::string& what) {
  return Status::error(err, "notify batch record " + std::to_string(index) + ": " + what);
}

// Checks each component of an absolute path: no empty, ".", ".." or
// over-long components.
Status check_components(size_t index, const std::string& path) {
  if (path == "/") return Status::ok();
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    std::string_view c(path.data() + pos, end - pos);
    if (c.empty()) return bad_record(index, EINVAL, "empty path component in '" + path + "'");
    if (c == "." || c == "..") return bad_record(index, EINVAL, "'.' or '..' in '" + path + "'");
    if (c.size() > NAME_MAX) return bad_record(index, ENAMETOOLONG, "a name longer than 255 bytes");
    pos = end + 1;
  }
  return Status::ok();
}

}  // namespace

Result<std::vector<NotifyChange>> parse_notify_batch(const void* data, size_t size) {
  if (data == nullptr || size == 0) return Status::error(EINVAL, "notify batch is empty");
  if (size > kNotifyMaxBatch) {
    return Status::error(E2BIG, "notify batch of " + std::to_string(size) + " bytes exceeds " +
                                    std::to_string(kNotifyMaxBatch));
  }
  const char* bytes = static_cast<const char*>(data);
  std::vector<NotifyChange> changes;
  std::string last_absolute;
  size_t offset = 0;
  for (size_t index = 0; offset < size; ++index) {
    size_t left = size - offset;
    if (left < kRecordHeader) return bad_record(index, EINVAL, "truncated header");
    NotifyRecord rec;
    std::memcpy(&rec, bytes + offset, kRecordHeader);
    // Compare in 64 bits so sizes near 2^32 cannot wrap.
    uint64_t rec_size = rec.size;
    if (rec_size < kRecordHeader) {
      return bad_record(index, EINVAL, "size " + std::to_string(rec_size) + " is smaller than its header");
    }
    if (rec_size > left) {
      return bad_record(index, EINVAL, "size " + std::to_string(rec_size) + " overruns the batch (" +
                                           std::to_string(left) + " bytes left)");
    }
    if (rec.action < static_cast<uint32_t>(NotifyAction::kAdded) ||
        rec.action > static_cast<uint32_t>(NotifyAction::kAttributes)) {
      return bad_record(index, EINVAL, "unknown action " + std::to_string(rec.action));
    }
    std::string_view name(bytes + offset + kRecordHeader, rec_size - kRecordHeader);
    if (name.empty()) return bad_record(index, EINVAL, "empty name");
    if (name.find('\0') != std::string_view::npos) return bad_record(index, EINVAL, "name contains a NUL byte");
    if (name.size() > kNotifyMaxPath) return bad_record(index, ENAMETOOLONG, "name longer than PATH_MAX");
    std::string path;
    if (name[0] == '/') {
      path = std::string(name);
    } else {
      if (last_absolute.empty()) {
        return bad_record(index, EINVAL, "relative name with no absolute name before it");
      }
      path = last_absolute == "/" ? "/" + std::string(name) : last_absolute + "/" + std::string(name);
    }
    if (path.size() > kNotifyMaxPath) return bad_record(index, ENAMETOOLONG, "path longer than PATH_MAX");
    if (Status s = check_components(index, path); !s) return s;
    if (name[0] == '/') last_absolute = path;
    changes.push_back({static_cast<NotifyAction>(rec.action), std::move(path)});
    offset += (rec_size + 7) & ~uint64_t{7};
  }
  return changes;
}

NotifyEngine::NotifyEngine(Resource& rename_resource, NodeTable& nodes, session::NotificationQueue& out)
    : resource_(rename_resource), nodes_(nodes), out_(out) {}

NotifyEngine::~NotifyEngine() { stop(); }

void NotifyEngine::start() { worker_thread_ = std::thread([this] { worker(); }); }

void NotifyEngine::stop() {
  {
    MutexLock lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    // An unfinished session must not keep renames (and through them a
    // blocked invalidation) waiting while we shut down.
    release_session_locked();
  }
  work_cv_.notify_all();
  idle_cv_.notify_all();
  if (worker_thread_.joinable()) worker_thread_.join();
}

void NotifyEngine::release_session_locked() {
  if (sessions_ > 0) resource_.release(session_token());
  sessions_ = 0;
  open_ = 0;
}

Status NotifyEngine::begin(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto backoff = std::chrono::microseconds(500);
  for (;;) {
    {
      MutexLock lock(mutex_);
      if (stopping_) return Status::error(ESHUTDOWN, "notify_begin: the volume is stopping");
      if (open_ == UINT32_MAX) return Status::error(EOVERFLOW, "notify_begin: too many nested sessions");
      // Writer priority at the session level: while a rename waits, neither
      // open a session nor join one, so sessions cannot starve renames.
      if (!resource_.exclusive_waiters()) {
        if (sessions_ > 0) {
          ++sessions_;
          ++open_;
          return Status::ok();
        }
        if (resource_.try_acquire_shared()) {
          resource_.set_owner(session_token());
          sessions_ = 1;
          ++open_;
          return Status::ok();
        }
      }
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return Status::error(ETIMEDOUT, "notify_begin: timed out; a rename holds or waits for the rename resource");
    }
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(backoff, deadline - now));
    backoff = std::min(backoff * 2, std::chrono::microseconds(20000));
  }
}

Status NotifyEngine::post(const void* batch, size_t size) {
  Result<std::vector<NotifyChange>> changes = parse_notify_batch(batch, size);
  MutexLock lock(mutex_);
  if (open_ == 0) return Status::error(EINVAL, "notify: no open session (call notify_begin first)");
  if (!changes) return changes.status();
  while (!stopping_ && work_.size() >= kMaxQueuedBatches) lock.wait(idle_cv_);
  if (stopping_) return Status::error(ESHUTDOWN, "notify: the volume is stopping");
  work_.push_back(std::move(*changes));
  work_cv_.notify_all();
  return Status::ok();
}

Status NotifyEngine::end() {
  MutexLock lock(mutex_);
  if (open_ == 0) return Status::error(EINVAL, "notify_end: no open session");
  --open_;
  work_.push_back(EndMarker{});
  work_cv_.notify_all();
  return Status::ok();
}

void NotifyEngine::worker() {
  for (;;) {
    WorkItem item;
    {
      MutexLock lock(mutex_);
      while (!stopping_ && work_.empty()) lock.wait(work_cv_);
      if (stopping_) return;
      item = std::move(work_.front());
      work_.pop_front();
      busy_worker_ = true;
    }
    std::vector<Invalidation> found;
    if (auto* changes = std::get_if<std::vector<NotifyChange>>(&item)) {
      // Never a plain shared acquire here: a rename queued behind the session
      // would block us, and we are the ones who must process its End.
      SharedStarveExclusiveGuard names_stable(resource_);
      try {
        for (const NotifyChange& c : *changes) resolve(c, &found);
      } catch (const std::exception& e) {
        // Out of memory: invalidate what was found; the End below still runs.
        std::fprintf(stderr, "linfsp: notify: a batch failed: %s\n", e.what());
      }
    }
    MutexLock lock(mutex_);
    if (std::holds_alternative<EndMarker>(item) && sessions_ > 0 && --sessions_ == 0) {
      resource_.release(session_token());
    }
    for (auto& inv : found) out_.post(std::move(inv));  // never blocks
    busy_worker_ = false;
    work_cv_.notify_all();
    idle_cv_.notify_all();
  }
}

void NotifyEngine::resolve(const NotifyChange& c, std::vector<Invalidation>* out) {
  // Only names the kernel looked up matter; below an unknown name it has
  // nothing cached, so nothing needs invalidating. Nodeids, not pointers:
  // a FORGET may free a node at any time.
  NodeTable::Known k = nodes_.known(c.path);
  auto inval_inode = [&](uint64_t nodeid, int64_t offset) {
    nodes_.drop_fresh_attrs(nodeid);  // the volume's copy is no fresher than the kernel's
    out->push_back({.code = FUSE_NOTIFY_INVAL_INODE, .nodeid = nodeid, .offset = offset});
  };
  switch (c.action) {
    case NotifyAction::kAdded:
    case NotifyAction::kRenamedNewName:
      if (k.parent == 0) return;
      out->push_back({.code = FUSE_NOTIFY_INVAL_ENTRY, .nodeid = k.parent, .name = k.name});
      inval_inode(k.parent, 0);          // attributes and the cached listing
      if (k.node) inval_inode(k.node, 0);  // the name now means another file
      return;
    case NotifyAction::kRemoved:
    case NotifyAction::kRenamedOldName:
      if (k.parent == 0) return;
      if (k.node) {
        // DELETE also tells inotify watchers; INVAL_ENTRY does not.
        out->push_back({.code = FUSE_NOTIFY_DELETE, .nodeid = k.parent, .child = k.node, .name = k.name});
        inval_inode(k.node, -1);
        nodes_.remove_name(k.parent, k.name);
      } else {
        out->push_back({.code = FUSE_NOTIFY_INVAL_ENTRY, .nodeid = k.parent, .name = k.name});
      }
      inval_inode(k.parent, 0);
      return;
    case NotifyAction::kModified:
      if (k.node) inval_inode(k.node, 0);
      return;
    case NotifyAction::kAttributes:
      if (k.node) inval_inode(k.node, -1);
      return;
  }
}

bool NotifyEngine::idle_locked() const { return work_.empty() && !busy_worker_; }

bool NotifyEngine::drain(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  {
    MutexLock lock(mutex_);
    while (!idle_locked()) {
      if (lock.wait_until(idle_cv_, deadline) == std::cv_status::timeout && !idle_locked()) return false;
    }
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return out_.drain(std::max(left, std::chrono::milliseconds(0)));
}

std::string NotifyEngine::describe() const {
  MutexLock lock(mutex_);
  return "notify: " + std::to_string(sessions_) + " session(s), " + std::to_string(open_) + " open, " +
         std::to_string(work_.size()) + " batch(es) queued, " + std::to_string(out_.queued()) +
         " invalidation(s) queued; rename resource: " + resource_.describe();
}

}  // namespace linfsp
