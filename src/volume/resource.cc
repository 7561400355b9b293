#include "volume/resource.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>

namespace linfsp {
namespace {

// Shared acquisitions of one resource by one thread (count > 1: recursive).
// Only the owning thread writes a slot; snapshot() reads it from other threads
// under the registry mutex, hence the (relaxed) atomics.
struct HeldSlot {
  std::atomic<const Resource*> resource{nullptr};
  std::atomic<std::uint32_t> count{0};
};

class ThreadRecord;

// Every live thread's record, so that diagnostics can name the threads that
// hold a resource shared. Leaked on purpose: threads may outlive static
// destruction.
struct Registry {
  std::mutex mutex;
  ThreadRecord* head = nullptr;  // guarded by mutex
};

Registry& registry() {
  static Registry* const r = new Registry;
  return *r;
}

// The calling thread's shared acquisitions. A thread rarely holds more than
// one or two resources at once, so a linear scan of a small array is the
// cheapest lookup; it grows if needed.
class ThreadRecord {
 public:
  ThreadRecord() {
    std::lock_guard lock(registry().mutex);
    next_ = registry().head;
    if (next_ != nullptr) next_->prev_ = this;
    registry().head = this;
  }

  ~ThreadRecord() {
    for (std::uint32_t i = 0; i < end_.load(std::memory_order_relaxed); ++i) {
      if (slots_[i].count.load(std::memory_order_relaxed) > 0) {
        std::fprintf(stderr, "linfsp: a thread exits holding Resource %p shared\n",
                     static_cast<const void*>(slots_[i].resource.load(std::memory_order_relaxed)));
      }
    }
    std::lock_guard lock(registry().mutex);
    if (prev_ != nullptr) prev_->next_ = next_;
    if (next_ != nullptr) next_->prev_ = prev_;
    if (registry().head == this) registry().head = next_;
  }

  ThreadRecord(const ThreadRecord&) = delete;
  ThreadRecord& operator=(const ThreadRecord&) = delete;

  OwnerToken token() const { return reinterpret_cast<OwnerToken>(this); }

  // Owning thread only.
  HeldSlot* find(const Resource* r) {
    const std::uint32_t end = end_.load(std::memory_order_relaxed);
    for (std::uint32_t i = 0; i < end; ++i) {
      if (slots_[i].resource.load(std::memory_order_relaxed) == r) return &slots_[i];
    }
    return nullptr;
  }

  // Owning thread only: one more acquisition of r.
  void add(const Resource* r) {
    if (HeldSlot* slot = find(r)) {
      bump(slot, +1);
    } else {
      add_new(r);
    }
  }

  // Owning thread only: the first acquisition of r (find(r) was null).
  void add_new(const Resource* r) {
    std::uint32_t end = end_.load(std::memory_order_relaxed);
    HeldSlot* slot = nullptr;
    for (std::uint32_t i = 0; i < end && slot == nullptr; ++i) {
      if (slots_[i].resource.load(std::memory_order_relaxed) == nullptr) slot = &slots_[i];
    }
    if (slot == nullptr) {
      if (end == capacity_) grow();
      slot = &slots_[end];
      end_.store(end + 1, std::memory_order_relaxed);
    }
    slot->count.store(1, std::memory_order_relaxed);
    slot->resource.store(r, std::memory_order_relaxed);
  }

  // Owning thread only: one fewer acquisition in slot.
  void drop(HeldSlot* slot) {
    if (bump(slot, -1) > 0) return;
    slot->resource.store(nullptr, std::memory_order_relaxed);
    std::uint32_t end = end_.load(std::memory_order_relaxed);
    while (end > 0 && slots_[end - 1].resource.load(std::memory_order_relaxed) == nullptr) --end;
    end_.store(end, std::memory_order_relaxed);
  }

  // Any thread, under the registry mutex.
  bool holds(const Resource* r) const {
    const std::uint32_t end = end_.load(std::memory_order_relaxed);
    for (std::uint32_t i = 0; i < end; ++i) {
      if (slots_[i].resource.load(std::memory_order_relaxed) == r &&
          slots_[i].count.load(std::memory_order_relaxed) > 0) {
        return true;
      }
    }
    return false;
  }
  const ThreadRecord* next() const { return next_; }

  // Owning thread only. A single writer, so load + store rather than a
  // read-modify-write.
  static std::uint32_t bump(HeldSlot* slot, int delta) {
    std::uint32_t n = slot->count.load(std::memory_order_relaxed) + delta;
    slot->count.store(n, std::memory_order_relaxed);
    return n;
  }

 private:
  static constexpr std::uint32_t kInlineSlots = 8;

  // Under the registry mutex so that readers never see the old array freed.
  void grow() {
    std::lock_guard lock(registry().mutex);
    auto bigger = std::make_unique<HeldSlot[]>(capacity_ * 2);
    for (std::uint32_t i = 0; i < capacity_; ++i) {
      bigger[i].resource.store(slots_[i].resource.load(std::memory_order_relaxed), std::memory_order_relaxed);
      bigger[i].count.store(slots_[i].count.load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
    slots_ = bigger.get();
    heap_ = std::move(bigger);
    capacity_ *= 2;
  }

  HeldSlot inline_[kInlineSlots];
  std::unique_ptr<HeldSlot[]> heap_;  // written by the owner under the registry mutex
  HeldSlot* slots_ = inline_;         // same
  std::uint32_t capacity_ = kInlineSlots;  // same
  std::atomic<std::uint32_t> end_{0};  // slots [0, end_) may be in use; owner writes
  ThreadRecord* prev_ = nullptr;       // guarded by the registry mutex
  ThreadRecord* next_ = nullptr;       // guarded by the registry mutex
};

thread_local ThreadRecord t_record;

std::uint32_t field(std::uint64_t state, std::uint64_t mask, std::uint64_t one) {
  return static_cast<std::uint32_t>((state & mask) / one);
}

}  // namespace

OwnerToken this_thread_owner() { return t_record.token(); }

Resource::Resource() = default;

Resource::~Resource() {
  if (state_.load(std::memory_order_relaxed) != 0) {
#ifndef NDEBUG
    die("destroyed while held or waited for");
#else
    std::fprintf(stderr, "linfsp: Resource %p destroyed while held or waited for\n",
                 static_cast<const void*>(this));
#endif
  }
}

bool Resource::try_grant(Mode mode, bool recursive, std::uint64_t waiter_mark) {
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t next;
    if (mode == Mode::kExclusive) {
      if (s & (kSharedMask | kExclusive)) return false;
      next = (s | kExclusive) - waiter_mark;
    } else {
      if (s & kExclusive) return false;
      // Writer priority: a queued exclusive waiter holds back plain shared
      // requests, but neither an owner's nor a starve-exclusive one.
      if (mode == Mode::kShared && !recursive && (s & kExWaiterMask)) return false;
      if ((s & kSharedMask) == kSharedMask) die("too many shared acquisitions");
      next = s + kSharedOne - waiter_mark;
    }
    if (state_.compare_exchange_weak(s, next, std::memory_order_acquire, std::memory_order_relaxed)) {
      return true;
    }
  }
}

void Resource::granted_exclusive(OwnerToken owner) {
  exclusive_depth_.store(1, std::memory_order_relaxed);
  exclusive_owner_.store(owner, std::memory_order_relaxed);
}

bool Resource::acquire(Mode mode, Wait wait, std::chrono::nanoseconds timeout) {
  ThreadRecord& me = t_record;
  if (exclusive_owner_.load(std::memory_order_relaxed) == me.token()) {
    // The exclusive owner may acquire it again in any mode.
    if (exclusive_depth_.load(std::memory_order_relaxed) == UINT32_MAX) die("too many recursive acquisitions");
    exclusive_depth_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  if (HeldSlot* mine = me.find(this)) {
    if (mode == Mode::kExclusive) {
      die("a shared owner asked for exclusive access: the upgrade would wait for itself forever");
    }
    // We hold it, so nobody holds it exclusive: this cannot fail.
    if (!try_grant(mode, /*recursive=*/true, 0)) die("held shared and exclusive at once");
    ThreadRecord::bump(mine, +1);
    return true;
  }
  if (try_grant(mode, /*recursive=*/false, 0)) {
    if (mode == Mode::kExclusive) {
      granted_exclusive(me.token());
    } else {
      me.add_new(this);
    }
    return true;
  }
  return acquire_slow(mode, wait, timeout);
}

bool Resource::acquire_slow(Mode mode, Wait wait, std::chrono::nanoseconds timeout) {
  ThreadRecord& me = t_record;
  std::unique_lock lock(mutex_, std::defer_lock);
  // The caller may own it through a token equal to its thread's (someone
  // handed an acquisition to this thread): that is recursion too.
  if (!token_shared_empty_.load(std::memory_order_relaxed)) {
    lock.lock();
    if (token_count_locked(me.token()) > 0) {
      if (mode == Mode::kExclusive) {
        die("a shared owner asked for exclusive access: the upgrade would wait for itself forever");
      }
      if (!try_grant(mode, /*recursive=*/true, 0)) die("held shared and exclusive at once");
      lock.unlock();
      me.add(this);
      return true;
    }
  }
  if (wait == Wait::kNo || (wait == Wait::kFor && timeout <= std::chrono::nanoseconds::zero())) return false;

  const Clock::time_point now = Clock::now();
  const bool forever = wait == Wait::kForever || timeout >= Clock::time_point::max() - now;
  const Clock::time_point deadline =
      forever ? Clock::time_point::max() : now + std::chrono::duration_cast<Clock::duration>(timeout);
  if (!lock.owns_lock()) lock.lock();

  // Register as a waiter in state_ before the re-check below. Every later
  // release sees the registration (same atomic word) and then notifies under
  // mutex_, which we hold until the wait releases it: no lost wake-up. An
  // exclusive registration also turns new plain shared requests away.
  const bool exclusive = mode == Mode::kExclusive;
  const std::uint64_t mark = exclusive ? kExWaiterOne : kShWaiterOne;
  const std::uint64_t mask = exclusive ? kExWaiterMask : kShWaiterMask;
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  do {
    if ((s & mask) == mask) die("too many waiters");
  } while (!state_.compare_exchange_weak(s, s + mark, std::memory_order_relaxed));

  std::condition_variable& cv = exclusive ? exclusive_cv_ : shared_cv_;
  bool got = false;
  for (;;) {
    if (try_grant(mode, /*recursive=*/false, mark)) {
      got = true;
      break;
    }
    if (forever) {
      cv.wait(lock);
    } else if (cv.wait_until(lock, deadline) == std::cv_status::timeout) {
      got = try_grant(mode, /*recursive=*/false, mark);
      break;
    }
  }
  if (got) {
    lock.unlock();
    if (exclusive) {
      granted_exclusive(me.token());
    } else {
      me.add(this);
    }
    return true;
  }
  // Gave up: withdraw. If we were the last exclusive waiter, we may have been
  // all that held plain shared waiters back.
  s = state_.fetch_sub(mark, std::memory_order_relaxed) - mark;
  if (exclusive && !(s & kExWaiterMask) && (s & kShWaiterMask)) shared_cv_.notify_all();
  return false;
}

void Resource::release_shared_count() {
  const std::uint64_t old = state_.fetch_sub(kSharedOne, std::memory_order_release);
  if ((old & kSharedMask) == 0) die("shared count underflow");
  // Only the last shared holder leaving can let an exclusive waiter in;
  // shared waiters wait for an exclusive holder or waiter, not for us.
  if ((old & kSharedMask) == 1 && (old & kExWaiterMask)) {
    // Notify under the mutex: a waiter between its re-check and its wait
    // holds it, so it cannot miss this.
    std::lock_guard lock(mutex_);
    exclusive_cv_.notify_all();
  }
}

void Resource::release_exclusive_state() {
  exclusive_owner_.store(0, std::memory_order_relaxed);
  const std::uint64_t old = state_.fetch_and(~kExclusive, std::memory_order_release);
  if (old & (kExWaiterMask | kShWaiterMask)) {
    std::lock_guard lock(mutex_);
    if (old & kShWaiterMask) shared_cv_.notify_all();
    // All of them: a notify_one could be swallowed by a waiter that is timing
    // out at that moment, leaving the others asleep on a free resource.
    if (old & kExWaiterMask) exclusive_cv_.notify_all();
  }
}

std::uint32_t Resource::token_count_locked(OwnerToken token) const {
  for (const auto& [t, n] : token_shared_) {
    if (t == token) return n;
  }
  return 0;
}

void Resource::add_token_locked(OwnerToken token) {
  for (auto& [t, n] : token_shared_) {
    if (t == token) {
      ++n;
      return;
    }
  }
  token_shared_.emplace_back(token, 1);
  token_shared_empty_.store(false, std::memory_order_relaxed);
}

bool Resource::drop_token_locked(OwnerToken token) {
  for (auto it = token_shared_.begin(); it != token_shared_.end(); ++it) {
    if (it->first != token) continue;
    if (--it->second == 0) {
      *it = token_shared_.back();
      token_shared_.pop_back();
      token_shared_empty_.store(token_shared_.empty(), std::memory_order_relaxed);
    }
    return true;
  }
  return false;
}

void Resource::set_owner(OwnerToken token) {
  ThreadRecord& me = t_record;
  if (token == 0) return misuse("set_owner to token 0", me.token());
  if (token == me.token()) {
    if (!is_owned_by(token)) misuse("set_owner by a thread that holds nothing", token);
    return;
  }
  if (exclusive_owner_.load(std::memory_order_relaxed) == me.token()) {
    exclusive_owner_.store(token, std::memory_order_relaxed);
    return;
  }
  if (HeldSlot* slot = me.find(this)) {
    me.drop(slot);
    std::lock_guard lock(mutex_);
    add_token_locked(token);
    return;
  }
  if (!token_shared_empty_.load(std::memory_order_relaxed)) {
    std::lock_guard lock(mutex_);
    if (drop_token_locked(me.token())) {
      add_token_locked(token);
      return;
    }
  }
  misuse("set_owner by a thread that holds nothing", me.token());
}

void Resource::release() { release(t_record.token()); }

void Resource::release(OwnerToken token) {
  if (token == 0) return misuse("release by token 0", token);
  if (exclusive_owner_.load(std::memory_order_relaxed) == token) {
    if (exclusive_depth_.fetch_sub(1, std::memory_order_relaxed) == 1) release_exclusive_state();
    return;
  }
  ThreadRecord& me = t_record;
  if (token == me.token()) {
    if (HeldSlot* slot = me.find(this)) {
      me.drop(slot);
      release_shared_count();
      return;
    }
  }
  if (!token_shared_empty_.load(std::memory_order_relaxed)) {
    std::unique_lock lock(mutex_);
    if (drop_token_locked(token)) {
      lock.unlock();
      release_shared_count();
      return;
    }
  }
  misuse("release by a non-owner", token);
}

bool Resource::is_owned_by(OwnerToken token) const {
  if (token == 0) return false;
  if (exclusive_owner_.load(std::memory_order_relaxed) == token) return true;
  ThreadRecord& me = t_record;
  if (token == me.token() && me.find(this) != nullptr) return true;
  if (!token_shared_empty_.load(std::memory_order_relaxed)) {
    std::lock_guard lock(mutex_);
    if (token_count_locked(token) > 0) return true;
  }
  if (token == me.token()) return false;
  // Maybe another thread's token: look at its record.
  std::lock_guard lock(registry().mutex);
  for (const ThreadRecord* t = registry().head; t != nullptr; t = t->next()) {
    if (t->token() == token) return t->holds(this);
  }
  return false;
}

void Resource::assert_held_exclusive() const {
#ifndef NDEBUG
  if (exclusive_owner_.load(std::memory_order_relaxed) != t_record.token()) die("not held exclusive by this thread");
#endif
}

void Resource::assert_held_shared() const {
#ifndef NDEBUG
  if (!is_owned_by(t_record.token())) die("not held by this thread");
#endif
}

Resource::Snapshot Resource::snapshot() const {
  const std::uint64_t s = state_.load(std::memory_order_relaxed);
  Snapshot snap{(s & kExclusive) != 0,
                exclusive_owner_.load(std::memory_order_relaxed),
                field(s, kSharedMask, kSharedOne),
                field(s, kExWaiterMask, kExWaiterOne),
                field(s, kShWaiterMask, kShWaiterOne),
                {}};
  if (s & kSharedMask) {
    {
      std::lock_guard lock(registry().mutex);
      for (const ThreadRecord* t = registry().head; t != nullptr; t = t->next()) {
        if (t->holds(this)) snap.shared_owners.push_back(t->token());
      }
    }
    std::lock_guard lock(mutex_);
    for (const auto& [token, n] : token_shared_) snap.shared_owners.push_back(token);
  }
  return snap;
}

std::string Resource::describe() const {
  const Snapshot s = snapshot();
  std::ostringstream out;
  out << std::hex << std::showbase;
  if (s.exclusive) out << "exclusive by " << s.exclusive_owner << "; ";
  if (s.shared_count > 0) {
    out << std::dec << s.shared_count << " shared (" << std::hex;
    for (std::size_t i = 0; i < s.shared_owners.size(); ++i) out << (i ? ", " : "") << s.shared_owners[i];
    out << "); ";
  }
  if (!s.exclusive && s.shared_count == 0) out << "free; ";
  out << std::dec << s.exclusive_waiters << (s.exclusive_waiters == 1 ? " exclusive waiter; " : " exclusive waiters; ")
      << s.shared_waiters << (s.shared_waiters == 1 ? " shared waiter" : " shared waiters");
  return out.str();
}

void Resource::die(const char* what) const {
  const std::uint64_t s = state_.load(std::memory_order_relaxed);
  std::fprintf(stderr,
               "linfsp: Resource %p: %s (exclusive %d by %#lx, %u shared, %u exclusive waiters, "
               "%u shared waiters; caller %#lx)\n",
               static_cast<const void*>(this), what, (s & kExclusive) != 0,
               static_cast<unsigned long>(exclusive_owner_.load(std::memory_order_relaxed)),
               field(s, kSharedMask, kSharedOne), field(s, kExWaiterMask, kExWaiterOne),
               field(s, kShWaiterMask, kShWaiterOne), static_cast<unsigned long>(t_record.token()));
  std::fflush(stderr);
  std::abort();
}

void Resource::misuse(const char* what, OwnerToken token) const {
#ifndef NDEBUG
  (void)token;
  die(what);
#else
  // Release builds: leave the state as it is rather than corrupt it.
  std::fprintf(stderr, "linfsp: Resource %p: %s (token %#lx); ignored\n", static_cast<const void*>(this), what,
               static_cast<unsigned long>(token));
#endif
}

}  // namespace linfsp
