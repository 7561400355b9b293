// The Resource's ERESOURCE rules (DESIGN.md), one test each, with real
// threads. A state such as "an exclusive waiter is queued" is awaited by
// polling snapshot()/exclusive_waiters(), never by sleeping; "X did not
// happen" is shown with a short timed acquire that must fail. Nothing here
// asserts how fast anything is. A watchdog ends the binary with the
// resource's describe() if a test hangs.
#include "volume/resource.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace linfsp {
namespace {

using namespace std::chrono_literals;

// "Did not happen within this long": short, since only a failure is asserted.
constexpr auto kShortWait = 30ms;

std::string Hex(OwnerToken token) {
  std::ostringstream out;
  out << std::hex << std::showbase << token;
  return out.str();
}

OwnerToken TokenOf(const void* object) { return reinterpret_cast<OwnerToken>(object); }

// Polls until pred() holds; false after 20 s (the test then fails, not hangs).
template <typename Pred>
[[nodiscard]] bool Eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(100us);
  }
  return true;
}

// Runs fn on a fresh thread (one that owns nothing) and returns its result.
template <typename Fn>
auto Elsewhere(Fn fn) {
  return std::async(std::launch::async, fn).get();
}

enum class How { kShared, kExclusive, kStarve };

void Acquire(Resource& r, How how) {
  switch (how) {
    case How::kShared:
      r.acquire_shared();
      break;
    case How::kExclusive:
      r.acquire_exclusive();
      break;
    case How::kStarve:
      r.acquire_shared_starve_exclusive();
      break;
  }
}

// A thread that acquires `r` (blocking as long as it takes) and holds it
// until Release().
class Holder {
 public:
  Holder(Resource& r, How how) : r_(r) {
    thread_ = std::thread([this, how] {
      token_ = this_thread_owner();
      Acquire(r_, how);
      acquired_.set_value();
      release_future_.wait();
      r_.release();
    });
  }
  ~Holder() { Release(); }
  Holder(const Holder&) = delete;
  Holder& operator=(const Holder&) = delete;

  bool Acquired() const { return acquired_future_.wait_for(0s) == std::future_status::ready; }
  void WaitAcquired() const { acquired_future_.wait(); }
  // The holder thread's token; valid once Acquired().
  OwnerToken token() const { return token_; }
  void Release() {
    if (!thread_.joinable()) return;
    release_.set_value();
    thread_.join();
  }

 private:
  Resource& r_;
  std::promise<void> acquired_;
  std::shared_future<void> acquired_future_ = acquired_.get_future().share();
  std::promise<void> release_;
  std::shared_future<void> release_future_ = release_.get_future().share();
  OwnerToken token_ = 0;  // written by the thread before acquired_ is set
  std::thread thread_;
};

// Ends the binary (never hangs it) if a test runs over a minute, printing
// the resource's state: a hang here is a lost wake-up or a deadlock.
class ResourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    watchdog_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      if (cv_.wait_for(lock, 60s, [this] { return done_; })) return;
      const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
      std::fprintf(stderr, "\nWATCHDOG: %s.%s hangs\n", test->test_suite_name(), test->name());
      std::fflush(stderr);
      // describe() takes locks that a broken resource might never free.
      std::thread([this] { std::fprintf(stderr, "resource: %s\n", r_.describe().c_str()); }).detach();
      std::this_thread::sleep_for(1s);
      std::_Exit(124);
    });
  }
  void TearDown() override {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    watchdog_.join();
  }

  void ExpectFree() {
    Resource::Snapshot s = r_.snapshot();
    EXPECT_FALSE(s.exclusive) << r_.describe();
    EXPECT_EQ(s.exclusive_owner, 0u);
    EXPECT_EQ(s.shared_count, 0u) << r_.describe();
    EXPECT_EQ(s.exclusive_waiters, 0u) << r_.describe();
    EXPECT_EQ(s.shared_waiters, 0u) << r_.describe();
    EXPECT_TRUE(s.shared_owners.empty()) << r_.describe();
    EXPECT_FALSE(r_.exclusive_waiters());
  }

  bool ExclusiveWaiterQueued() { return r_.exclusive_waiters(); }
  bool SharedWaiters(std::uint32_t n) { return r_.snapshot().shared_waiters == n; }

  Resource r_;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;  // guarded by mutex_
  std::thread watchdog_;
};

TEST_F(ResourceTest, SharedOwnersCoexistExclusiveExcludes) {
  r_.acquire_shared();
  Holder other(r_, How::kShared);
  other.WaitAcquired();  // a second shared owner gets in at once
  EXPECT_EQ(r_.snapshot().shared_count, 2u);
  EXPECT_FALSE(Elsewhere([&] { return r_.try_acquire_exclusive(); }));
  EXPECT_FALSE(Elsewhere([&] { return r_.try_acquire_exclusive_for(kShortWait); }));
  r_.release();
  other.Release();
  ExpectFree();

  Holder writer(r_, How::kExclusive);
  writer.WaitAcquired();
  EXPECT_FALSE(r_.try_acquire_shared());
  EXPECT_FALSE(r_.try_acquire_shared_starve_exclusive());  // an exclusive holder blocks even this
  EXPECT_FALSE(r_.try_acquire_exclusive());
  writer.Release();
  ExpectFree();
}

TEST_F(ResourceTest, ExclusiveOwnerRecursesInAnyMode) {
  r_.acquire_exclusive();
  EXPECT_TRUE(r_.try_acquire_exclusive());
  r_.acquire_shared();  // the exclusive owner's shared request counts as recursion
  r_.acquire_shared_starve_exclusive();
  EXPECT_TRUE(r_.try_acquire_shared_for(kShortWait));
  Resource::Snapshot s = r_.snapshot();
  EXPECT_TRUE(s.exclusive);
  EXPECT_EQ(s.exclusive_owner, this_thread_owner());
  EXPECT_EQ(s.shared_count, 0u);
  for (int i = 0; i < 4; ++i) {
    r_.release();
    EXPECT_FALSE(Elsewhere([&] { return r_.try_acquire_shared(); })) << "still held after " << i + 1 << " releases";
  }
  r_.release();
  ExpectFree();
  EXPECT_TRUE(Elsewhere([&] {
    bool got = r_.try_acquire_exclusive();
    if (got) r_.release();
    return got;
  }));
}

TEST_F(ResourceTest, ExclusiveWaitsUntilEverySharedHolderLeaves) {
  Holder a(r_, How::kShared);
  Holder b(r_, How::kShared);
  a.WaitAcquired();
  b.WaitAcquired();
  Holder writer(r_, How::kExclusive);
  ASSERT_TRUE(Eventually([&] { return ExclusiveWaiterQueued(); }));
  a.Release();
  EXPECT_FALSE(Elsewhere([&] { return r_.try_acquire_exclusive_for(kShortWait); }));
  EXPECT_FALSE(writer.Acquired());
  b.Release();
  writer.WaitAcquired();  // woken by the last shared release
  EXPECT_EQ(r_.snapshot().exclusive_owner, writer.token());
  EXPECT_FALSE(r_.exclusive_waiters());
  writer.Release();
  ExpectFree();
}

// The cause of WinFsp's notify deadlock: a plain shared request queues
// behind an exclusive waiter even though only shared holders hold the
// resource. acquire_shared_starve_exclusive does not.
TEST_F(ResourceTest, PlainSharedWaitsBehindQueuedExclusiveWaiterStarveDoesNot) {
  Holder session(r_, How::kShared);
  session.WaitAcquired();
  Holder rename(r_, How::kExclusive);
  ASSERT_TRUE(Eventually([&] { return ExclusiveWaiterQueued(); }));

  // This thread owns nothing, so writer priority applies to it.
  EXPECT_FALSE(r_.try_acquire_shared());
  EXPECT_FALSE(r_.try_acquire_shared_for(kShortWait));
  EXPECT_FALSE(SharedGuard::try_acquire_for(r_, kShortWait).has_value());
  EXPECT_EQ(r_.snapshot().shared_waiters, 0u);  // the timed-out requests left nothing behind
  EXPECT_TRUE(r_.exclusive_waiters());

  EXPECT_TRUE(r_.try_acquire_shared_starve_exclusive());
  r_.acquire_shared_starve_exclusive();  // blocking form: granted too
  {
    SharedStarveExclusiveGuard guard(r_);
    EXPECT_TRUE(guard.owns());
  }
  EXPECT_EQ(r_.snapshot().shared_count, 3u);
  EXPECT_FALSE(rename.Acquired());
  r_.release();
  r_.release();
  session.Release();
  rename.WaitAcquired();
  rename.Release();
  ExpectFree();
}

TEST_F(ResourceTest, SharedOwnerRecursesWhileExclusiveWaiterQueued) {
  r_.acquire_shared();
  Holder rename(r_, How::kExclusive);
  ASSERT_TRUE(Eventually([&] { return ExclusiveWaiterQueued(); }));
  EXPECT_TRUE(r_.try_acquire_shared());
  r_.acquire_shared();  // would deadlock if writer priority applied to owners
  EXPECT_TRUE(r_.try_acquire_shared_for(kShortWait));
  EXPECT_EQ(r_.snapshot().shared_count, 4u);
  EXPECT_TRUE(r_.is_owned_by(this_thread_owner()));
  for (int i = 0; i < 3; ++i) r_.release();
  EXPECT_FALSE(rename.Acquired());
  EXPECT_TRUE(r_.is_owned_by(this_thread_owner()));
  r_.release();
  EXPECT_FALSE(r_.is_owned_by(this_thread_owner()));
  rename.WaitAcquired();
  rename.Release();
  ExpectFree();
}

TEST_F(ResourceTest, QueuedSharedRequestIsServedAfterTheExclusiveWaiter) {
  Holder reader(r_, How::kShared);
  reader.WaitAcquired();
  Holder writer(r_, How::kExclusive);
  ASSERT_TRUE(Eventually([&] { return ExclusiveWaiterQueued(); }));
  Holder late_reader(r_, How::kShared);
  ASSERT_TRUE(Eventually([&] { return SharedWaiters(1); }));
  reader.Release();
  writer.WaitAcquired();
  EXPECT_FALSE(late_reader.Acquired());
  writer.Release();
  late_reader.WaitAcquired();  // woken by the exclusive release
  late_reader.Release();
  ExpectFree();
}

TEST_F(ResourceTest, SharedWaiterProceedsWhenTheExclusiveWaiterGivesUp) {
  Holder reader(r_, How::kShared);
  reader.WaitAcquired();
  // Long enough that the second reader is most likely queued behind it; the
  // test stays correct (just weaker) if it is not.
  auto writer = std::async(std::launch::async, [&] { return r_.try_acquire_exclusive_for(1s); });
  ASSERT_TRUE(Eventually([&] { return ExclusiveWaiterQueued(); }));
  Holder late_reader(r_, How::kShared);
  ASSERT_TRUE(Eventually([&] { return SharedWaiters(1) || late_reader.Acquired(); }));
  EXPECT_FALSE(writer.get());
  // Only a shared holder is left: the withdrawn writer must wake the reader.
  late_reader.WaitAcquired();
  late_reader.Release();
  reader.Release();
  ExpectFree();
}

TEST_F(ResourceTest, StarveExclusiveWaitsOnlyForAnExclusiveHolder) {
  Holder writer(r_, How::kExclusive);
  writer.WaitAcquired();
  EXPECT_FALSE(r_.try_acquire_shared_starve_exclusive());
  EXPECT_FALSE(r_.try_acquire_shared_starve_exclusive_for(kShortWait));
  Holder worker(r_, How::kStarve);
  ASSERT_TRUE(Eventually([&] { return SharedWaiters(1); }));
  writer.Release();
  worker.WaitAcquired();
  worker.Release();
  ExpectFree();
}

TEST_F(ResourceTest, TimedAcquireGivesUpAndLeavesNoState) {
  {
    Holder writer(r_, How::kExclusive);
    writer.WaitAcquired();
    EXPECT_FALSE(r_.try_acquire_shared_for(kShortWait));
    EXPECT_FALSE(r_.try_acquire_shared_starve_exclusive_for(kShortWait));
    EXPECT_FALSE(r_.try_acquire_exclusive_for(kShortWait));
    EXPECT_FALSE(r_.try_acquire_exclusive_for(-1s));  // a negative timeout is a try
    Resource::Snapshot s = r_.snapshot();
    EXPECT_TRUE(s.exclusive);
    EXPECT_EQ(s.exclusive_owner, writer.token());
    EXPECT_EQ(s.shared_count, 0u);
    EXPECT_EQ(s.exclusive_waiters, 0u);
    EXPECT_EQ(s.shared_waiters, 0u);
  }
  ExpectFree();
  EXPECT_EQ(r_.describe(), "free; 0 exclusive waiters; 0 shared waiters");

  Holder reader(r_, How::kShared);
  reader.WaitAcquired();
  EXPECT_FALSE(r_.try_acquire_exclusive_for(kShortWait));
  // The withdrawn exclusive waiter no longer holds plain shared requests back.
  EXPECT_FALSE(r_.exclusive_waiters());
  EXPECT_TRUE(Elsewhere([&] {
    bool got = r_.try_acquire_shared();
    if (got) r_.release();
    return got;
  }));
  Resource::Snapshot s = r_.snapshot();
  EXPECT_EQ(s.shared_count, 1u);
  EXPECT_EQ(s.exclusive_waiters, 0u);
  EXPECT_EQ(s.shared_waiters, 0u);
  reader.Release();
  ExpectFree();
}

TEST_F(ResourceTest, OwnerTokenHandOffReleasedByAnotherThread) {
  int session = 0;  // its address is the token, as the notify engine does
  const OwnerToken token = TokenOf(&session);
  std::thread([&] {
    r_.acquire_shared();
    r_.set_owner(token);
    EXPECT_FALSE(r_.is_owned_by(this_thread_owner()));
  }).join();  // the acquiring thread is gone; the token holds it
  EXPECT_TRUE(r_.is_owned_by(token));
  EXPECT_EQ(r_.snapshot().shared_owners, std::vector<OwnerToken>{token});
  EXPECT_NE(r_.describe().find(Hex(token)), std::string::npos) << r_.describe();
  EXPECT_FALSE(r_.try_acquire_exclusive());

  std::thread([&] { r_.release(token); }).join();
  EXPECT_FALSE(r_.is_owned_by(token));
  ExpectFree();
  EXPECT_TRUE(r_.try_acquire_exclusive());
  r_.release();
  ExpectFree();
}

TEST_F(ResourceTest, TokenReleaseWakesTheQueuedExclusiveWaiter) {
  int session = 0;
  const OwnerToken token = TokenOf(&session);
  r_.acquire_shared();
  r_.set_owner(token);
  Holder rename(r_, How::kExclusive);
  ASSERT_TRUE(Eventually([&] { return ExclusiveWaiterQueued(); }));
  std::thread([&] { r_.release(token); }).join();
  rename.WaitAcquired();
  rename.Release();
  ExpectFree();
}

TEST_F(ResourceTest, ExclusiveHandOffMovesTheWholeOwnership) {
  int request = 0;
  const OwnerToken token = TokenOf(&request);
  r_.acquire_exclusive();
  r_.acquire_exclusive();
  r_.set_owner(token);
  EXPECT_TRUE(r_.is_owned_by(token));
  EXPECT_FALSE(r_.is_owned_by(this_thread_owner()));
  EXPECT_EQ(r_.snapshot().exclusive_owner, token);
  EXPECT_FALSE(r_.try_acquire_shared());  // no longer ours: no recursion
  std::thread([&] {
    r_.release(token);
    EXPECT_TRUE(r_.is_owned_by(token));
    r_.release(token);
  }).join();
  ExpectFree();
}

// The notify worker's situation: the session's acquisition belongs to the
// session token, so the worker thread (even the one that opened the
// session) is no owner and a plain shared request would wait behind the
// queued rename.
TEST_F(ResourceTest, HandedOffAcquisitionIsNotTheCallersForRecursion) {
  int session = 0;
  const OwnerToken token = TokenOf(&session);
  r_.acquire_shared();
  r_.set_owner(token);
  Holder rename(r_, How::kExclusive);
  ASSERT_TRUE(Eventually([&] { return ExclusiveWaiterQueued(); }));
  EXPECT_FALSE(r_.try_acquire_shared_for(kShortWait));
  EXPECT_TRUE(r_.try_acquire_shared_starve_exclusive());
  r_.release();
  r_.release(token);
  rename.WaitAcquired();
  rename.Release();
  ExpectFree();
}

TEST_F(ResourceTest, AcquisitionHandedToAThreadTokenIsThatThreadsToRecurseAndRelease) {
  const OwnerToken main_thread = this_thread_owner();
  std::thread([&] {
    r_.acquire_shared();
    r_.set_owner(main_thread);
  }).join();
  EXPECT_TRUE(r_.is_owned_by(main_thread));
  Holder rename(r_, How::kExclusive);
  ASSERT_TRUE(Eventually([&] { return ExclusiveWaiterQueued(); }));
  EXPECT_TRUE(r_.try_acquire_shared());  // we own it: recursion despite the waiter
  r_.release();
  r_.release();
  rename.WaitAcquired();
  rename.Release();
  ExpectFree();
}

TEST_F(ResourceTest, IsOwnedBySeesEveryKindOfOwner) {
  EXPECT_FALSE(r_.is_owned_by(this_thread_owner()));
  EXPECT_FALSE(r_.is_owned_by(0));
  Holder reader(r_, How::kShared);
  reader.WaitAcquired();
  EXPECT_TRUE(r_.is_owned_by(reader.token()));  // another thread's shared acquisition
  EXPECT_FALSE(r_.is_owned_by(this_thread_owner()));
  r_.acquire_shared();
  EXPECT_TRUE(r_.is_owned_by(this_thread_owner()));
  r_.release();
  reader.Release();
  EXPECT_FALSE(r_.is_owned_by(reader.token()));

  Holder writer(r_, How::kExclusive);
  writer.WaitAcquired();
  EXPECT_TRUE(r_.is_owned_by(writer.token()));
  EXPECT_FALSE(r_.is_owned_by(this_thread_owner()));
  writer.Release();
  ExpectFree();
}

TEST_F(ResourceTest, SnapshotAndDescribeNameOwnersAndWaiters) {
  int session = 0;
  const OwnerToken token = TokenOf(&session);
  Holder a(r_, How::kShared);
  Holder b(r_, How::kShared);
  a.WaitAcquired();
  b.WaitAcquired();
  r_.acquire_shared();
  r_.set_owner(token);
  Holder writer(r_, How::kExclusive);
  ASSERT_TRUE(Eventually([&] { return ExclusiveWaiterQueued(); }));
  Holder late_reader(r_, How::kShared);
  ASSERT_TRUE(Eventually([&] { return SharedWaiters(1); }));

  Resource::Snapshot s = r_.snapshot();
  EXPECT_FALSE(s.exclusive);
  EXPECT_EQ(s.shared_count, 3u);
  EXPECT_EQ(s.exclusive_waiters, 1u);
  EXPECT_EQ(s.shared_waiters, 1u);
  std::sort(s.shared_owners.begin(), s.shared_owners.end());
  std::vector<OwnerToken> expected{a.token(), b.token(), token};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(s.shared_owners, expected);
  const std::string line = r_.describe();
  EXPECT_NE(line.find("3 shared ("), std::string::npos) << line;
  for (OwnerToken t : expected) EXPECT_NE(line.find(Hex(t)), std::string::npos) << line;
  EXPECT_NE(line.find("1 exclusive waiter;"), std::string::npos) << line;
  EXPECT_NE(line.find("1 shared waiter"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);

  a.Release();
  b.Release();
  r_.release(token);
  writer.WaitAcquired();
  const std::string held = r_.describe();
  EXPECT_EQ(held.rfind("exclusive by " + Hex(writer.token()) + ";", 0), 0u) << held;
  writer.Release();
  late_reader.Release();
  ExpectFree();
}

TEST_F(ResourceTest, GuardsAcquireReleaseAndMove) {
  {
    SharedGuard g(r_);
    EXPECT_TRUE(g.owns());
    EXPECT_EQ(r_.snapshot().shared_count, 1u);
    EXPECT_FALSE(Elsewhere([&] { return ExclusiveGuard::try_acquire(r_).has_value(); }));
    SharedGuard moved(std::move(g));
    EXPECT_FALSE(g.owns());
    EXPECT_TRUE(moved.owns());
    EXPECT_EQ(r_.snapshot().shared_count, 1u);
  }
  ExpectFree();
  {
    std::optional<ExclusiveGuard> g = ExclusiveGuard::try_acquire_for(r_, kShortWait);
    ASSERT_TRUE(g.has_value());
    EXPECT_TRUE(g->owns());
    EXPECT_FALSE(Elsewhere([&] { return SharedStarveExclusiveGuard::try_acquire(r_).has_value(); }));
    g->release();
    EXPECT_FALSE(g->owns());
    ExpectFree();
  }
  {
    int session = 0;
    const OwnerToken token = TokenOf(&session);
    SharedGuard g(r_);
    g.set_owner(token);  // the guard no longer releases it
    EXPECT_FALSE(g.owns());
    EXPECT_TRUE(r_.is_owned_by(token));
    r_.release(token);
  }
  {
    ExclusiveGuard a(r_);
    SharedGuard inner(r_);  // recursion through guards
    ExclusiveGuard b = std::move(a);
    EXPECT_TRUE(b.owns());
  }
  ExpectFree();
}

// The notify protocol end to end: a session holds the resource shared under
// its token, a rename queues exclusive, and the worker must still get in to
// process the batch and then End the session, which lets the rename run.
TEST_F(ResourceTest, NotifyProtocolDoesNotDeadlock) {
  int session_counter = 0;
  const OwnerToken session = TokenOf(&session_counter);
  ASSERT_TRUE(r_.try_acquire_shared());  // notify_begin
  r_.set_owner(session);
  Holder rename(r_, How::kExclusive);
  ASSERT_TRUE(Eventually([&] { return ExclusiveWaiterQueued(); }));
  // notify_begin's writer priority: a new session now backs off.
  EXPECT_FALSE(Elsewhere([&] { return r_.try_acquire_shared(); }));
  std::thread worker([&] {
    EXPECT_FALSE(r_.try_acquire_shared_for(kShortWait));  // the WinFsp deadlock, if it waited
    r_.acquire_shared_starve_exclusive();                  // process the batch
    r_.release();
    r_.release(session);  // process End
  });
  worker.join();
  rename.WaitAcquired();
  rename.Release();
  ExpectFree();
}

// Several threads mixing every kind of acquisition; counters check mutual
// exclusion. A lost wake-up or deadlock shows as a timeout with describe().
TEST_F(ResourceTest, StressMixedAcquisitionsKeepMutualExclusion) {
  constexpr int kThreads = 4;
  constexpr int kIterations = 50000;
  std::atomic<int> readers{0};
  std::atomic<int> writers{0};
  std::atomic<int> violations{0};
  std::atomic<int> granted{0};

  auto reader_section = [&](std::minstd_rand& rng) {
    readers.fetch_add(1);
    if (writers.load() != 0) violations.fetch_add(1);
    if (rng() % 4 == 0) std::this_thread::yield();
    if (writers.load() != 0) violations.fetch_add(1);
    readers.fetch_sub(1);
    granted.fetch_add(1);
  };
  auto writer_section = [&](std::minstd_rand& rng) {
    if (writers.fetch_add(1) != 0) violations.fetch_add(1);
    if (readers.load() != 0) violations.fetch_add(1);
    if (rng() % 4 == 0) std::this_thread::yield();
    if (readers.load() != 0) violations.fetch_add(1);
    writers.fetch_sub(1);
    granted.fetch_add(1);
  };
  auto worker = [&](int id) {
    std::minstd_rand rng(id + 1);
    int handle = 0;
    const OwnerToken token = TokenOf(&handle);
    auto timeout = [&] { return std::chrono::microseconds(rng() % 300); };
    for (int i = 0; i < kIterations; ++i) {
      switch (rng() % 10) {
        case 0:
          r_.acquire_shared();
          reader_section(rng);
          if (rng() % 2) {
            r_.acquire_shared();  // recursion, maybe with a writer queued
            reader_section(rng);
            r_.release();
          }
          r_.release();
          break;
        case 1:
          r_.acquire_exclusive();
          writer_section(rng);
          if (rng() % 2) {
            r_.acquire_shared();  // the exclusive owner's recursion
            writer_section(rng);
            r_.release();
          }
          r_.release();
          break;
        case 2:
          r_.acquire_shared_starve_exclusive();
          reader_section(rng);
          r_.release();
          break;
        case 3:
          if (r_.try_acquire_shared()) {
            reader_section(rng);
            r_.release();
          }
          break;
        case 4:
          if (r_.try_acquire_exclusive()) {
            writer_section(rng);
            r_.release();
          }
          break;
        case 5:
          if (r_.try_acquire_shared_for(timeout())) {
            reader_section(rng);
            r_.release();
          }
          break;
        case 6:
          if (r_.try_acquire_exclusive_for(timeout())) {
            writer_section(rng);
            r_.release();
          }
          break;
        case 7:
          if (r_.try_acquire_shared_starve_exclusive_for(timeout())) {
            reader_section(rng);
            r_.release();
          }
          break;
        case 8:
          r_.acquire_shared();
          r_.set_owner(token);
          reader_section(rng);
          r_.release(token);
          break;
        case 9: {
          ExclusiveGuard g(r_);
          writer_section(rng);
          break;
        }
      }
    }
  };

  auto run = std::async(std::launch::async, [&] {
    std::vector<std::thread> threads;
    for (int id = 0; id < kThreads; ++id) threads.emplace_back(worker, id);
    for (std::thread& t : threads) t.join();
  });
  if (run.wait_for(30s) != std::future_status::ready) {
    std::fprintf(stderr, "\nStress test hangs after %d grants: %s\n", granted.load(), r_.describe().c_str());
    std::fflush(stderr);
    std::_Exit(124);  // the workers cannot be joined; never hang the binary
  }
  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(granted.load(), 0);
  ExpectFree();
}

// Programming errors abort with a message. "threadsafe" death tests re-run
// the test in a child, which copes with threads. Nothing may hang: each
// statement first arms a short alarm that kills a child that hangs instead
// of dying (e.g. an undetected upgrade), and the test arms a longer one.
class ResourceDeathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    alarm(120);
  }
  void TearDown() override { alarm(0); }
};

void ChildAlarm() { alarm(10); }

TEST_F(ResourceDeathTest, SharedToExclusiveUpgradeAborts) {
  EXPECT_DEATH(
      {
        ChildAlarm();
        Resource r;
        r.acquire_shared();
        (void)r.try_acquire_exclusive_for(1s);
      },
      "upgrade");
  EXPECT_DEATH(
      {
        ChildAlarm();
        Resource r;
        r.acquire_shared();
        r.acquire_shared();
        r.acquire_exclusive();
      },
      "upgrade");
}

#ifndef NDEBUG
TEST_F(ResourceDeathTest, ReleaseByNonOwnerAbortsInDebugBuilds) {
  EXPECT_DEATH(
      {
        ChildAlarm();
        Resource r;
        r.release();
      },
      "release by a non-owner");
  EXPECT_DEATH(
      {
        ChildAlarm();
        Resource r;
        r.acquire_shared();
        std::thread([&] { r.release(); }).join();
      },
      "release by a non-owner");
  EXPECT_DEATH(
      {
        ChildAlarm();
        Resource r;
        int token = 0;
        r.release(TokenOf(&token));
      },
      "release by a non-owner");
  EXPECT_DEATH(
      {
        ChildAlarm();
        Resource r;
        int token = 0;
        r.set_owner(TokenOf(&token));
      },
      "set_owner by a thread that holds nothing");
}

TEST_F(ResourceDeathTest, DestroyingAHeldResourceAbortsInDebugBuilds) {
  EXPECT_DEATH(
      {
        ChildAlarm();
        Resource r;
        r.acquire_exclusive();
      },
      "destroyed while held");
}
#else
TEST(ResourceReleaseBuild, ReleaseByNonOwnerLeavesTheStateAlone) {
  Resource r;
  r.acquire_shared();
  std::thread([&] { r.release(); }).join();
  int token = 0;
  r.release(TokenOf(&token));
  EXPECT_EQ(r.snapshot().shared_count, 1u);
  EXPECT_TRUE(r.is_owned_by(this_thread_owner()));
  r.release();
  EXPECT_EQ(r.snapshot().shared_count, 0u);
}
#endif

}  // namespace
}  // namespace linfsp
