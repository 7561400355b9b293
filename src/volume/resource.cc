#include "volume/resource.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace linfsp {
namespace {

// Shared acquisitions the calling thread holds, per resource. Usually empty
// or one entry, so a linear search is the cheapest structure.
struct Held {
  const Resource* resource;
  uint32_t count;
};
thread_local std::vector<Held> t_held;

Held* held_by_this_thread(const Resource* r) {
  for (Held& h : t_held) {
    if (h.resource == r) return &h;
  }
  return nullptr;
}

void note_shared(const Resource* r) {
  if (Held* h = held_by_this_thread(r)) {
    ++h->count;
  } else {
    t_held.push_back({r, 1});
  }
}

// Drops one of this thread's shared acquisitions; false if it had none.
bool forget_shared(const Resource* r) {
  for (size_t i = 0; i < t_held.size(); ++i) {
    if (t_held[i].resource == r) {
      if (--t_held[i].count == 0) {
        t_held[i] = t_held.back();
        t_held.pop_back();
      }
      return true;
    }
  }
  return false;
}

}  // namespace

OwnerToken this_thread_owner() {
  thread_local char anchor;
  return reinterpret_cast<OwnerToken>(&anchor);
}

bool Resource::try_once(Mode mode, bool owns_shared) {
  uint64_t s = state_.load();
  for (;;) {
    uint64_t next;
    if (mode == Mode::kExclusive) {
      if (s & (kSharedMask | kExclusive)) return false;
      next = s | kExclusive;
    } else {
      if (s & kExclusive) return false;
      // Writer priority: a queued exclusive waiter holds back new shared
      // owners, but not the starve-exclusive acquire nor a recursive one.
      if (mode == Mode::kShared && (s & kExWaiterMask) && !owns_shared) return false;
      if ((s & kSharedMask) == kSharedMask) misuse("too many shared acquisitions");
      next = s + kSharedOne;
    }
    if (state_.compare_exchange_weak(s, next)) {
      if (mode == Mode::kExclusive) {
        exclusive_owner_.store(this_thread_owner());
        exclusive_depth_ = 1;
      } else {
        note_shared(this);
      }
      return true;
    }
  }
}

bool Resource::acquire(Mode mode, std::optional<Clock::time_point> until) {
  OwnerToken me = this_thread_owner();
  if (exclusive_owner_.load(std::memory_order_relaxed) == me) {
    ++exclusive_depth_;  // the exclusive owner may acquire anything again
    return true;
  }
  Held* mine = held_by_this_thread(this);
  bool owns_shared = mine != nullptr;
  if (mode == Mode::kExclusive && owns_shared) {
    misuse("a shared owner asked for exclusive access: the upgrade would deadlock");
  }
  if (try_once(mode, owns_shared)) return true;
  if (until && *until == Clock::time_point::min()) return false;

  std::unique_lock lock(mutex_);
  // Announce the wait before re-checking, so a releaser that changes the
  // state after our check is sure to see us and wake us (under mutex_).
  const uint64_t waiter = mode == Mode::kExclusive ? kExWaiter : kWaiter;
  state_.fetch_add(waiter);
  bool got = false;
  for (;;) {
    if (try_once(mode, owns_shared)) {
      got = true;
      break;
    }
    if (!until) {
      cv_.wait(lock);
    } else if (cv_.wait_until(lock, *until) == std::cv_status::timeout) {
      got = try_once(mode, owns_shared);
      break;
    }
  }
  state_.fetch_sub(waiter);
  // A writer that gave up may have been all that held shared requests back.
  if (!got && mode == Mode::kExclusive) cv_.notify_all();
  return got;
}

void Resource::set_owner(OwnerToken token) {
  OwnerToken me = this_thread_owner();
  if (exclusive_owner_.load() == me) {
    exclusive_owner_.store(token);
    return;
  }
  if (!forget_shared(this)) misuse("set_owner by a thread that holds nothing");
  std::lock_guard lock(mutex_);
  ++token_shared_[token];
}

void Resource::release(OwnerToken token) {
  if (exclusive_owner_.load() == token) {
    if (--exclusive_depth_ == 0) release_exclusive();
    return;
  }
  if (token == this_thread_owner() && forget_shared(this)) {
    release_shared();
    return;
  }
  {
    std::lock_guard lock(mutex_);
    auto it = token_shared_.find(token);
    if (it != token_shared_.end()) {
      if (--it->second == 0) token_shared_.erase(it);
      // Fall through to release outside the lock (wake_waiters takes it).
      token = 0;
    }
  }
  if (token == 0) {
    release_shared();
    return;
  }
#ifndef NDEBUG
  misuse("release by a non-owner");
#else
  std::fprintf(stderr, "linfsp: Resource released by a non-owner; ignored\n");
#endif
}

void Resource::release_shared() {
  uint64_t s = state_.fetch_sub(kSharedOne) - kSharedOne;
  if ((s & kSharedMask) == 0) wake_waiters(s);
}

void Resource::release_exclusive() {
  exclusive_owner_.store(0);
  uint64_t s = state_.fetch_and(~kExclusive) & ~kExclusive;
  wake_waiters(s);
}

void Resource::wake_waiters(uint64_t s) {
  if (!(s & (kExWaiterMask | kWaiterMask))) return;
  // Taking the mutex orders us after any waiter's announce-and-check.
  { std::lock_guard lock(mutex_); }
  cv_.notify_all();
}

bool Resource::is_owned_by(OwnerToken token) const {
  if (exclusive_owner_.load() == token) return true;
  if (token == this_thread_owner() && held_by_this_thread(this)) return true;
  std::lock_guard lock(mutex_);
  return token_shared_.count(token) > 0;
}

Resource::Snapshot Resource::snapshot() const {
  uint64_t s = state_.load();
  Snapshot snap{(s & kExclusive) != 0,
                exclusive_owner_.load(),
                static_cast<uint32_t>(s & kSharedMask),
                static_cast<uint32_t>((s & kExWaiterMask) / kExWaiter),
                static_cast<uint32_t>((s & kWaiterMask) / kWaiter),
                {}};
  std::lock_guard lock(mutex_);
  for (const auto& [token, count] : token_shared_) snap.shared_owners.push_back(token);
  return snap;
}

std::string Resource::describe() const {
  Snapshot s = snapshot();
  std::ostringstream out;
  if (s.exclusive) out << "exclusive by 0x" << std::hex << s.exclusive_owner << std::dec << "; ";
  out << s.shared_count << " shared";
  if (!s.shared_owners.empty()) {
    out << " (tokens";
    for (OwnerToken t : s.shared_owners) out << " 0x" << std::hex << t << std::dec;
    out << ")";
  }
  out << "; " << s.exclusive_waiters << " exclusive waiter(s); " << s.shared_waiters << " other waiter(s)";
  return out.str();
}

void Resource::misuse(const char* what) const {
  // No describe(): we may hold mutex_ here.
  std::fprintf(stderr, "linfsp: Resource misuse: %s (state 0x%llx)\n", what,
               static_cast<unsigned long long>(state_.load()));
  std::abort();
}

}  // namespace linfsp
