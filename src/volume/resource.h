// Resource: a reader/writer lock with the semantics of the Windows ERESOURCE,
// which the rename resource and the notify protocol depend on (DESIGN.md):
// - shared or exclusive, recursive for its owner;
// - writer priority: a shared request waits while the resource is held
//   exclusive or an exclusive waiter is queued, unless the requester already
//   owns it;
// - acquire_shared_starve_exclusive: granted whenever nobody holds it
//   exclusive, queued exclusive waiters or not;
// - an owner is a token, not necessarily a thread: set_owner() hands an
//   acquisition to a token that another thread may release;
// - try and timed acquires; debug builds abort on release by a non-owner.
//
// The uncontended shared acquire and release are one compare-and-swap each
// plus a thread-local note; the mutex and condition variable are touched only
// when someone has to wait.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace linfsp {

using OwnerToken = std::uintptr_t;
// A token unique to the calling thread (never 0).
OwnerToken this_thread_owner();

class Resource {
 public:
  Resource() = default;
  ~Resource() = default;
  Resource(const Resource&) = delete;
  Resource& operator=(const Resource&) = delete;

  void acquire_shared() { acquire(Mode::kShared, std::nullopt); }
  void acquire_exclusive() { acquire(Mode::kExclusive, std::nullopt); }
  void acquire_shared_starve_exclusive() { acquire(Mode::kStarve, std::nullopt); }
  bool try_acquire_shared() { return acquire(Mode::kShared, Clock::time_point::min()); }
  bool try_acquire_exclusive() { return acquire(Mode::kExclusive, Clock::time_point::min()); }
  bool try_acquire_shared_starve_exclusive() { return acquire(Mode::kStarve, Clock::time_point::min()); }
  bool try_acquire_shared_for(std::chrono::nanoseconds t) { return acquire(Mode::kShared, deadline(t)); }
  bool try_acquire_exclusive_for(std::chrono::nanoseconds t) { return acquire(Mode::kExclusive, deadline(t)); }
  bool try_acquire_shared_starve_exclusive_for(std::chrono::nanoseconds t) {
    return acquire(Mode::kStarve, deadline(t));
  }

  // Hands one acquisition held by the calling thread to `token`.
  void set_owner(OwnerToken token);
  // Releases one acquisition of the calling thread / of `token`.
  void release() { release(this_thread_owner()); }
  void release(OwnerToken token);

  bool is_owned_by(OwnerToken token) const;  // for another thread's token: exclusive only
  bool exclusive_waiters() const { return (state_.load() & kExWaiterMask) != 0; }

  struct Snapshot {
    bool exclusive;
    OwnerToken exclusive_owner;
    uint32_t shared_count;
    uint32_t exclusive_waiters;
    uint32_t shared_waiters;
    std::vector<OwnerToken> shared_owners;  // tokens given with set_owner (threads are not listed)
  };
  Snapshot snapshot() const;
  std::string describe() const;

 private:
  using Clock = std::chrono::steady_clock;
  enum class Mode { kShared, kExclusive, kStarve };

  // state_: shared count | exclusive bit | exclusive waiters | other waiters.
  static constexpr uint64_t kSharedOne = 1;
  static constexpr uint64_t kSharedMask = 0xffffffffULL;
  static constexpr uint64_t kExclusive = 1ULL << 32;
  static constexpr uint64_t kExWaiter = 1ULL << 33;
  static constexpr uint64_t kExWaiterMask = 0x7fffULL << 33;
  static constexpr uint64_t kWaiter = 1ULL << 48;
  static constexpr uint64_t kWaiterMask = 0x7fffULL << 48;

  static Clock::time_point deadline(std::chrono::nanoseconds t) { return Clock::now() + t; }
  // nullopt: wait forever; time_point::min(): do not wait.
  bool acquire(Mode mode, std::optional<Clock::time_point> until);
  bool try_once(Mode mode, bool owns_shared);
  void release_shared();
  void release_exclusive();
  void wake_waiters(uint64_t state);
  [[noreturn]] void misuse(const char* what) const;

  std::atomic<uint64_t> state_{0};
  std::atomic<OwnerToken> exclusive_owner_{0};
  uint32_t exclusive_depth_ = 0;  // touched only by the exclusive owner

  mutable std::mutex mutex_;            // for waiting and the token table
  std::condition_variable cv_;          // state_ changed in a way a waiter may care about
  std::unordered_map<OwnerToken, uint32_t> token_shared_;  // guarded by mutex_
};

// RAII guards, move-only.
template <void (Resource::*Acquire)(), bool (Resource::*TryFor)(std::chrono::nanoseconds)>
class BasicGuard {
 public:
  explicit BasicGuard(Resource& r) : r_(&r) { (r.*Acquire)(); }
  static std::optional<BasicGuard> try_for(Resource& r, std::chrono::nanoseconds t) {
    if (!(r.*TryFor)(t)) return std::nullopt;
    return BasicGuard(&r);
  }
  BasicGuard(BasicGuard&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  BasicGuard& operator=(BasicGuard&&) = delete;
  ~BasicGuard() {
    if (r_) r_->release();
  }

 private:
  explicit BasicGuard(Resource* adopted) : r_(adopted) {}
  Resource* r_;
};

using SharedGuard = BasicGuard<&Resource::acquire_shared, &Resource::try_acquire_shared_for>;
using ExclusiveGuard = BasicGuard<&Resource::acquire_exclusive, &Resource::try_acquire_exclusive_for>;
using SharedStarveExclusiveGuard =
    BasicGuard<&Resource::acquire_shared_starve_exclusive, &Resource::try_acquire_shared_starve_exclusive_for>;

}  // namespace linfsp
