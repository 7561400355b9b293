// Resource: a reader/writer lock with the semantics of the Windows ERESOURCE,
// which the rename resource and the notify protocol depend on (DESIGN.md,
// "Resources with ERESOURCE semantics" and "Notify"):
//
// - shared or exclusive, recursive for the current owner: the exclusive owner
//   may acquire it again in either mode; a shared owner may acquire it shared
//   again even while exclusive waiters are queued;
// - writer priority: a plain shared request from a non-owner is granted only
//   when nobody holds it exclusive and no exclusive waiter is queued;
// - acquire_shared_starve_exclusive: granted whenever nobody holds it
//   exclusive, queued exclusive waiters or not;
// - an exclusive request waits until nobody else holds it; a shared owner
//   asking for exclusive would wait for itself, so that aborts;
// - an owner is a token, not necessarily a thread: set_owner() hands an
//   acquisition to a token that any thread may later release(token);
// - try and timed acquires; a timed acquire that gives up leaves nothing
//   behind; debug builds abort on release by a non-owner.
//
// Cost: an uncontended acquire or release is one atomic read-modify-write on
// `state_` plus a look at a small per-thread table of shared acquisitions. The
// mutex and condition variables are used only when someone must wait.
//
// Like any lock, a Resource may be destroyed only when no thread is inside one
// of its calls and nobody holds it.
//
// Thread-safety annotations: a Resource is a clang capability; the analysis
// sees what the calling thread acquires and releases. Acquisitions handed to
// a token (set_owner) leave the thread as far as it can tell, and
// release(token) is invisible to it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/thread_annotations.h"

namespace linfsp {

// Identifies an owner of an acquisition: by default the calling thread;
// set_owner() hands an acquisition to another token (e.g. a notify session
// counter) so another thread may release it. A token other than a thread's
// is best the address of an object the caller owns, so it cannot collide
// with another owner's.
using OwnerToken = std::uintptr_t;

// A token unique to the calling thread among live threads (never 0).
OwnerToken this_thread_owner();

class CAPABILITY("resource") Resource {
 public:
  Resource();
  ~Resource();
  Resource(const Resource&) = delete;
  Resource& operator=(const Resource&) = delete;

  void acquire_shared() ACQUIRE_SHARED() { acquire(Mode::kShared, Wait::kForever, {}); }
  void acquire_exclusive() ACQUIRE() { acquire(Mode::kExclusive, Wait::kForever, {}); }
  void acquire_shared_starve_exclusive() ACQUIRE_SHARED() { acquire(Mode::kStarve, Wait::kForever, {}); }

  bool try_acquire_shared() TRY_ACQUIRE_SHARED(true) { return acquire(Mode::kShared, Wait::kNo, {}); }
  bool try_acquire_exclusive() TRY_ACQUIRE(true) { return acquire(Mode::kExclusive, Wait::kNo, {}); }
  bool try_acquire_shared_starve_exclusive() TRY_ACQUIRE_SHARED(true) {
    return acquire(Mode::kStarve, Wait::kNo, {});
  }

  // Give up after `timeout`; a zero or negative timeout is a plain try.
  bool try_acquire_shared_for(std::chrono::nanoseconds timeout) TRY_ACQUIRE_SHARED(true) {
    return acquire(Mode::kShared, Wait::kFor, timeout);
  }
  bool try_acquire_exclusive_for(std::chrono::nanoseconds timeout) TRY_ACQUIRE(true) {
    return acquire(Mode::kExclusive, Wait::kFor, timeout);
  }
  bool try_acquire_shared_starve_exclusive_for(std::chrono::nanoseconds timeout) TRY_ACQUIRE_SHARED(true) {
    return acquire(Mode::kStarve, Wait::kFor, timeout);
  }

  // Tells the analysis that the calling thread holds the resource (exclusive
  // / at least shared), where it cannot see the acquisition (a guard inside
  // std::optional). Debug builds check it.
  void assert_held_exclusive() const ASSERT_CAPABILITY(this);
  void assert_held_shared() const ASSERT_SHARED_CAPABILITY(this);

  // Hands one acquisition held by the calling thread to `token`. An exclusive
  // acquisition moves whole (with its recursion count): an exclusive resource
  // has one owner, so `token` then releases it as often as it was acquired.
  // For the analysis the calling thread releases it.
  void set_owner(OwnerToken token) RELEASE_GENERIC();

  // Releases one acquisition of the calling thread.
  void release() RELEASE_GENERIC();
  // Releases one acquisition held by `token`. A thread's own shared
  // acquisitions are released by that thread (or handed over first). Not
  // annotated: a token's acquisitions are not the calling thread's.
  void release(OwnerToken token);

  // Shared or exclusive. Exact for the calling thread and for set_owner
  // tokens; for another live thread it is a momentary answer.
  bool is_owned_by(OwnerToken token) const;

  // Whether an exclusive waiter is queued: one atomic load, cheap enough to
  // poll before deciding to back off.
  bool exclusive_waiters() const {
    return (state_.load(std::memory_order_relaxed) & kExWaiterMask) != 0;
  }

  // For watchdog diagnostics; the fields are read one after another, not as
  // one atomic picture.
  struct Snapshot {
    bool exclusive;
    OwnerToken exclusive_owner;
    std::uint32_t shared_count;  // shared acquisitions, recursive ones included
    std::uint32_t exclusive_waiters;
    std::uint32_t shared_waiters;  // plain and starve-exclusive
    std::vector<OwnerToken> shared_owners;  // each owner once: threads and tokens
  };
  Snapshot snapshot() const;
  // One line, e.g. "exclusive by 0x..; 2 shared (0x.., 0x..); 1 exclusive waiter; 0 shared waiters".
  std::string describe() const;

 private:
  enum class Mode { kShared, kExclusive, kStarve };
  enum class Wait { kNo, kFor, kForever };
  using Clock = std::chrono::steady_clock;

  // state_ layout. Everything the fast path decides on is in this one word,
  // so a waiter that registers here is seen by every later acquire/release.
  static constexpr std::uint64_t kSharedOne = 1;
  static constexpr std::uint64_t kSharedMask = 0xffffffffULL;  // shared acquisitions
  static constexpr std::uint64_t kExclusive = 1ULL << 32;
  static constexpr std::uint64_t kExWaiterOne = 1ULL << 33;
  static constexpr std::uint64_t kExWaiterMask = 0x7fffULL << 33;  // 15 bits
  static constexpr std::uint64_t kShWaiterOne = 1ULL << 48;
  static constexpr std::uint64_t kShWaiterMask = 0xffffULL << 48;  // 16 bits

  bool acquire(Mode mode, Wait wait, std::chrono::nanoseconds timeout);
  bool acquire_slow(Mode mode, Wait wait, std::chrono::nanoseconds timeout);
  // One compare-and-swap attempt loop: grants `mode` if the state allows it,
  // removing `waiter_mark` (the caller's waiter registration) in the same step.
  bool try_grant(Mode mode, bool recursive, std::uint64_t waiter_mark);
  void granted_exclusive(OwnerToken owner);
  void release_shared_count();
  void release_exclusive_state();
  std::uint32_t token_count_locked(OwnerToken token) const;
  bool drop_token_locked(OwnerToken token);
  void add_token_locked(OwnerToken token);
  // Prints what went wrong and aborts; never takes mutex_ (a caller may hold it).
  [[noreturn]] void die(const char* what) const;
  // Debug builds: die(). Release builds: log, and the caller leaves the state alone.
  void misuse(const char* what, OwnerToken token) const;

  std::atomic<std::uint64_t> state_{0};
  // Written by whoever holds kExclusive; read by anyone (recursion checks,
  // diagnostics). Relaxed: the owner compares against its own token only.
  std::atomic<OwnerToken> exclusive_owner_{0};
  // Recursion depth of the exclusive owner; touched only by the exclusive
  // owner (atomic so that a hand-off between threads is never a data race).
  std::atomic<std::uint32_t> exclusive_depth_{0};

  mutable std::mutex mutex_;
  std::condition_variable shared_cv_;     // guarded by mutex_: plain and starve waiters
  std::condition_variable exclusive_cv_;  // guarded by mutex_
  // Shared acquisitions handed to tokens with set_owner (rare, so a small
  // vector). Guarded by mutex_.
  std::vector<std::pair<OwnerToken, std::uint32_t>> token_shared_;
  // token_shared_.empty(), written under mutex_; lets the common paths skip
  // the mutex. A thread sees its own hand-offs and those it synchronized with.
  std::atomic<bool> token_shared_empty_{true};
};

// RAII guards, move-only. A guard that owns() nothing (moved from, released,
// or handed to a token) does nothing when destroyed.
//
// For the analysis a guard is a scoped capability: the constructor acquires
// (shared or exclusive, by M), release() and set_owner() end it early. The
// analysis cannot follow a guard through std::optional (try_acquire, or
// emplace): after such an acquisition, say what is held with
// Resource::assert_held_exclusive() / assert_held_shared().
enum class ResourceMode { kShared, kExclusive, kSharedStarveExclusive };

template <ResourceMode M>
class SCOPED_CAPABILITY ResourceGuard {
 public:
  explicit ResourceGuard(Resource& r) requires(M == ResourceMode::kExclusive) ACQUIRE(r) : r_(&r) {
    r.acquire_exclusive();
  }
  explicit ResourceGuard(Resource& r) requires(M != ResourceMode::kExclusive) ACQUIRE_SHARED(r) : r_(&r) {
    if constexpr (M == ResourceMode::kShared) r.acquire_shared();
    if constexpr (M == ResourceMode::kSharedStarveExclusive) r.acquire_shared_starve_exclusive();
  }
  static std::optional<ResourceGuard> try_acquire(Resource& r) {
    return try_acquire_for(r, std::chrono::nanoseconds::zero());
  }
  // Not analysed: the acquisition moves into the returned guard, which the
  // analysis cannot see inside std::optional.
  static std::optional<ResourceGuard> try_acquire_for(Resource& r, std::chrono::nanoseconds timeout)
      NO_THREAD_SAFETY_ANALYSIS {
    bool got = false;
    if constexpr (M == ResourceMode::kShared) got = r.try_acquire_shared_for(timeout);
    if constexpr (M == ResourceMode::kExclusive) got = r.try_acquire_exclusive_for(timeout);
    if constexpr (M == ResourceMode::kSharedStarveExclusive) {
      got = r.try_acquire_shared_starve_exclusive_for(timeout);
    }
    if (!got) return std::nullopt;
    return ResourceGuard(&r);
  }

  ResourceGuard(ResourceGuard&& other) noexcept : r_(std::exchange(other.r_, nullptr)) {}
  // Not analysed: the analysis does not follow an acquisition between guards.
  ResourceGuard& operator=(ResourceGuard&& other) noexcept NO_THREAD_SAFETY_ANALYSIS {
    if (this != &other) {
      release();
      r_ = std::exchange(other.r_, nullptr);
    }
    return *this;
  }
  ~ResourceGuard() RELEASE() { release(); }

  bool owns() const { return r_ != nullptr; }
  // Releases early.
  void release() RELEASE() {
    if (r_ != nullptr) std::exchange(r_, nullptr)->release();
  }
  // Hands the acquisition to `token`; whoever holds the token releases it.
  void set_owner(OwnerToken token) RELEASE() {
    if (r_ != nullptr) std::exchange(r_, nullptr)->set_owner(token);
  }

 private:
  explicit ResourceGuard(Resource* adopted) : r_(adopted) {}
  Resource* r_;
};

using SharedGuard = ResourceGuard<ResourceMode::kShared>;
using ExclusiveGuard = ResourceGuard<ResourceMode::kExclusive>;
using SharedStarveExclusiveGuard = ResourceGuard<ResourceMode::kSharedStarveExclusive>;

}  // namespace linfsp
