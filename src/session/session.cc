#include "session/session.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <unordered_map>
#include <vector>

namespace linfsp::session {

// Requests in flight, so that INTERRUPT can reach them: a slot per request
// thread, written with one relaxed store per request, and a map of the
// deferred ones. An INTERRUPT that arrives before its request is remembered
// until the request shows up.
class Registry : public std::enable_shared_from_this<Registry> {
 public:
  struct Slot {
    std::atomic<uint64_t> unique{0};
    std::atomic<bool> interrupted{false};
  };

  explicit Registry(bool debug) : debug(debug) {}

  Slot* slot_for_this_thread() {
    thread_local const Registry* cached_owner = nullptr;
    thread_local Slot* cached = nullptr;
    if (cached_owner != this) {
      size_t i = used_.fetch_add(1);
      cached = i < kSlots ? &slots_[i] : nullptr;
      cached_owner = this;
    }
    return cached;
  }

  void begin(Slot* slot, uint64_t unique) {
    if (!slot) return;
    slot->interrupted.store(false, std::memory_order_relaxed);
    slot->unique.store(unique, std::memory_order_seq_cst);
    if (has_early_.load(std::memory_order_acquire)) {
      MutexLock lock(mutex_);
      if (take_early_locked(unique)) slot->interrupted = true;
    }
  }
  void end(Slot* slot) {
    if (slot) slot->unique.store(0, std::memory_order_relaxed);
  }

  void interrupt(uint64_t unique) {
    size_t n = std::min(used_.load(), kSlots);
    bool in_slot = false;
    for (size_t i = 0; i < n; ++i) {
      if (slots_[i].unique.load(std::memory_order_seq_cst) == unique) {
        slots_[i].interrupted.store(true, std::memory_order_seq_cst);
        in_slot = true;
        break;
      }
    }
    // The request may be moving from its slot to the deferred map right now:
    // look there too (defer() enters the map before it reads the slot).
    std::shared_ptr<Deferred> deferred;
    {
      MutexLock lock(mutex_);
      if (auto it = deferred_.find(unique); it != deferred_.end()) deferred = it->second.lock();
      if (!deferred && !in_slot) {
        if (early_.size() >= 64) early_.erase(early_.begin());  // stale: the request finished
        early_.push_back(unique);
        has_early_ = true;
      }
    }
    if (deferred) deferred->interrupt();
  }

  // Enters a deferred request; false when the session has ended (unmount).
  bool add(const std::shared_ptr<Deferred>& d) {
    MutexLock lock(mutex_);
    if (ended_) return false;
    deferred_[d->unique()] = d;
    return true;
  }
  void remove(uint64_t unique) {
    MutexLock lock(mutex_);
    deferred_.erase(unique);
  }
  bool take_early(uint64_t unique) {
    MutexLock lock(mutex_);
    return take_early_locked(unique);
  }

  std::vector<std::shared_ptr<Deferred>> end_all() {
    std::vector<std::shared_ptr<Deferred>> all;
    MutexLock lock(mutex_);
    ended_ = true;
    for (auto& [unique, weak] : deferred_) {
      if (auto d = weak.lock()) all.push_back(std::move(d));
    }
    return all;
  }
  size_t count() {
    MutexLock lock(mutex_);
    return deferred_.size();
  }

  const bool debug;

 private:
  bool take_early_locked(uint64_t unique) REQUIRES(mutex_) {
    bool found = false;
    for (auto it = early_.begin(); it != early_.end(); ++it) {
      if (*it == unique) {
        early_.erase(it);
        found = true;
        break;
      }
    }
    has_early_ = !early_.empty();
    return found;
  }

  static constexpr size_t kSlots = 256;
  Slot slots_[kSlots];
  std::atomic<size_t> used_{0};
  std::atomic<bool> has_early_{false};
  Mutex mutex_;
  std::vector<uint64_t> early_ GUARDED_BY(mutex_);  // bounded
  std::unordered_map<uint64_t, std::weak_ptr<Deferred>> deferred_ GUARDED_BY(mutex_);
  bool ended_ GUARDED_BY(mutex_) = false;
};

namespace {

// A request nobody answered: a bug in the client. Debug builds stop at
// once so that it is found; release builds answer EIO and say so.
void report_unanswered(const char* opcode, uint64_t unique) {
  std::fprintf(stderr, "linfsp: request %lu (%s) was never answered; answering EIO\n",
               static_cast<unsigned long>(unique), opcode);
#ifndef NDEBUG
  std::abort();
#endif
}

// A reply as the debug log shows it.
std::string describe(const kernel::Reply& reply) {
  if (reply.result() < 0) return strerrorname_np(-reply.result()) ?: "error";
  return "OK " + std::to_string(reply.result()) + "B";
}

const char* name_of(uint32_t opcode) {
  const OpcodeInfo* info = opcode_info(opcode);
  return info ? info->name : "unknown opcode";
}

}  // namespace

std::shared_ptr<Deferred> Request::defer() {
  if (deferred || reply.sent()) return nullptr;
  std::unique_ptr<kernel::ReplySink> sink = reply.detach();
  kernel::Reply* inline_reply = sink ? nullptr : &reply;
  deferred = std::shared_ptr<Deferred>(
      new Deferred(registry->shared_from_this(), header, std::move(sink), inline_reply));
  return deferred;
}

Deferred::Deferred(std::shared_ptr<Registry> registry, const fuse_in_header& header,
                   std::unique_ptr<kernel::ReplySink> sink, kernel::Reply* inline_reply)
    : registry_(std::move(registry)), opcode_(header.opcode), unique_(header.unique), sink_(std::move(sink)) {
  if (sink_) {
    own_reply_.emplace(*sink_, unique_);
    reply_ = &*own_reply_;
  } else {
    reply_ = inline_reply;
  }
}

Deferred::~Deferred() {
  MutexLock lock(mutex_);
  if (reply_ == nullptr) return;
  report_unanswered(name_of(opcode_), unique_);
  reply_->error(EIO);
  finish_locked("EIO (never answered)");
}

bool Deferred::answer(const std::function<void(kernel::Reply&)>& encode) {
  MutexLock lock(mutex_);
  if (reply_ == nullptr) return false;
  encode(*reply_);
  if (!reply_->sent()) {
    report_unanswered(name_of(opcode_), unique_);
    reply_->error(EIO);
  }
  finish_locked(nullptr);
  return true;
}

bool Deferred::error(int err) {
  bool sent = false;
  answer([&](kernel::Reply& r) { sent = r.error(err); });
  return sent;
}

bool Deferred::ok(std::span<const iovec> payload) {
  bool sent = false;
  answer([&](kernel::Reply& r) { sent = r.ok(payload); });
  return sent;
}

bool Deferred::ok(const void* data, size_t size) {
  iovec iov{const_cast<void*>(data), size};
  return ok({&iov, size ? 1u : 0u});
}

bool Deferred::done() const {
  MutexLock lock(mutex_);
  return done_;
}

void Deferred::on_interrupt(std::function<void()> fn) {
  {
    MutexLock lock(mutex_);
    if (done_) return;
    if (!interrupted()) {
      on_interrupt_ = std::move(fn);
      return;
    }
  }
  fn();
}

void Deferred::interrupt() {
  std::function<void()> fn;
  {
    MutexLock lock(mutex_);
    interrupted_.store(true, std::memory_order_release);
    if (done_) return;
    fn = std::move(on_interrupt_);
    on_interrupt_ = nullptr;
  }
  if (fn) fn();
}

void Deferred::end() {
  MutexLock lock(mutex_);
  if (reply_ == nullptr) return;
  reply_->error(EIO);
  finish_locked("EIO (ended by unmount)");
}

void Deferred::wait_inline() {
  MutexLock lock(mutex_);
  while (!done_) lock.wait(done_cv_);
}

void Deferred::finish_locked(const char* how) {
  if (registry_->debug) {
    std::string result = how ? how : describe(*reply_);
    std::fprintf(stderr, "[%lu] %s (deferred) -> %s\n", static_cast<unsigned long>(unique_), name_of(opcode_),
                 result.c_str());
  }
  reply_ = nullptr;
  done_ = true;
  on_interrupt_ = nullptr;
  sink_.reset();
  registry_->remove(unique_);
  done_cv_.notify_all();
}

Session::Session(Client& client, bool debug)
    : client_(client), debug_(debug), registry_(std::make_shared<Registry>(debug)) {}

Session::~Session() { end_deferred(); }

void Session::end_deferred() {
  for (auto& d : registry_->end_all()) d->end();
}

size_t Session::deferred_count() const { return registry_->count(); }

void Session::handle(const kernel::Request& raw, kernel::Reply& reply) {
  const fuse_in_header& h = raw.header;
  const OpcodeInfo* info = opcode_info(h.opcode);
  if (info == nullptr) {
    if (debug_) std::fprintf(stderr, "[%lu] opcode %u: not supported\n", h.unique, h.opcode);
    reply.error(ENOSYS);
    return;
  }
  auto invalid = [&] {
    if (debug_) std::fprintf(stderr, "[%lu] %s: malformed request\n", h.unique, info->name);
    if (info->has_reply) reply.error(EINVAL);
  };
  if (raw.body_size < info->in_size) return invalid();
  // Names follow the fixed struct, each NUL-terminated inside the request.
  const char* p = raw.body + info->in_size;
  size_t left = raw.body_size - info->in_size;
  std::string_view names[2];
  for (int i = 0; i < info->names; ++i) {
    const char* end = static_cast<const char*>(std::memchr(p, '\0', left));
    if (end == nullptr) return invalid();
    names[i] = std::string_view(p, end - p);
    left -= end - p + 1;
    p = end + 1;
  }

  if (h.opcode == FUSE_INTERRUPT) {
    // No reply: the interrupted request answers (with EINTR if it gives up).
    uint64_t target = reinterpret_cast<const fuse_interrupt_in*>(raw.body)->unique;
    if (debug_) std::fprintf(stderr, "[%lu] INTERRUPT of [%lu]\n", h.unique, static_cast<unsigned long>(target));
    registry_->interrupt(target);
    return;
  }
  Registry::Slot* slot = registry_->slot_for_this_thread();
  registry_->begin(slot, h.unique);
  Request request{h, *info, raw.body, names[0], names[1], p, left,
                  Caller{h.uid, h.gid, static_cast<pid_t>(h.pid), slot ? &slot->interrupted : nullptr},
                  reply, {}, registry_.get(), slot, nullptr};
  // The caller's umask comes with the requests that create files.
  switch (h.opcode) {
    case FUSE_CREATE:
    case FUSE_TMPFILE:
      request.caller.umask = request.arg<fuse_create_in>().umask;
      break;
    case FUSE_MKNOD:
      request.caller.umask = request.arg<fuse_mknod_in>().umask;
      break;
    case FUSE_MKDIR:
      request.caller.umask = request.arg<fuse_mkdir_in>().umask;
      break;
    default:
      break;
  }
  auto start = debug_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  const char* escaped = nullptr;
  try {
    client_.dispatch(request);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "linfsp: %s: exception from the file system: %s\n", info->name, e.what());
    escaped = "exception";
  } catch (...) {
    std::fprintf(stderr, "linfsp: %s: unknown exception from the file system\n", info->name);
    escaped = "exception";
  }
  std::shared_ptr<Deferred> deferred = std::move(request.deferred);
  if (deferred) {
    // Now reachable only through the map: INTERRUPT finds it there.
    if (!registry_->add(deferred)) {
      deferred->end();
    } else if (deferred->done()) {
      registry_->remove(h.unique);  // answered before dispatch returned
    } else if ((slot && slot->interrupted.load(std::memory_order_seq_cst)) || registry_->take_early(h.unique)) {
      deferred->interrupt();
    }
    if (escaped) deferred->error(EIO);
  } else if (info->has_reply && !reply.sent()) {
    if (escaped) reply.error(EIO);
    else {
      report_unanswered(info->name, h.unique);
      reply.error(EIO);
    }
  }
  registry_->end(slot);

  if (debug_) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
    std::string result = !info->has_reply ? "no reply" : deferred ? "deferred" : describe(reply);
    std::fprintf(stderr, "[%lu] %s node=%lu%s%s%s%.*s -> %s (%ld us)\n", h.unique, info->name, h.nodeid,
                 request.trace.empty() ? "" : " path=", request.trace.c_str(), names[0].empty() ? "" : " name=",
                 static_cast<int>(names[0].size()), names[0].data(), result.c_str(),
                 static_cast<long>(us.count()));
  }
  // A transport that cannot detach a reply: this thread waits for the answer.
  if (deferred && !reply.detached()) deferred->wait_inline();
}

}  // namespace linfsp::session
