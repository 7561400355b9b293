// The Resource's ERESOURCE rules, one test each, with real threads. Waits for
// a state ("an exclusive waiter is queued") by polling the snapshot, never by
// sleeping; "did not happen" is shown with a short timed acquire.
#include "volume/resource.h"

#include <gtest/gtest.h>

#include "mount_guard.h"

#include <atomic>
#include <future>
#include <thread>
#include <vector>

namespace linfsp {
namespace {

using namespace std::chrono_literals;

void wait_until(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!condition()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "condition never became true";
    std::this_thread::sleep_for(100us);
  }
}

// Runs fn on another thread and returns its result (the test's own thread
// may own things that would change the answer).
template <typename Fn>
auto elsewhere(Fn fn) {
  return std::async(std::launch::async, fn).get();
}

TEST(Resource, SharedOwnersCoexistExclusiveExcludes) {
  Resource r;
  r.acquire_shared();
  EXPECT_TRUE(elsewhere([&] {
    bool got = r.try_acquire_shared();
    if (got) r.release();
    return got;
  }));
  EXPECT_FALSE(elsewhere([&] { return r.try_acquire_exclusive_for(20ms); }));
  r.release();
  r.acquire_exclusive();
  EXPECT_FALSE(elsewhere([&] { return r.try_acquire_shared_for(20ms); }));
  EXPECT_FALSE(elsewhere([&] { return r.try_acquire_shared_starve_exclusive_for(20ms); }));
  EXPECT_FALSE(elsewhere([&] { return r.try_acquire_exclusive(); }));
  r.release();
  auto s = r.snapshot();
  EXPECT_FALSE(s.exclusive);
  EXPECT_EQ(s.shared_count, 0u);
}

TEST(Resource, ExclusiveOwnerRecurses) {
  Resource r;
  r.acquire_exclusive();
  r.acquire_exclusive();
  r.acquire_shared();  // the exclusive owner may ask for shared too
  EXPECT_TRUE(r.is_owned_by(this_thread_owner()));
  r.release();
  r.release();
  EXPECT_FALSE(elsewhere([&] { return r.try_acquire_shared(); })) << "still held once";
  r.release();
  EXPECT_TRUE(elsewhere([&] {
    bool got = r.try_acquire_exclusive();
    if (got) r.release();
    return got;
  }));
}

// The cause of WinFsp's notify deadlock: with an exclusive waiter queued, a
// plain shared request by a thread that owns nothing waits behind it.
TEST(Resource, SharedRequestWaitsBehindQueuedExclusiveWaiter) {
  Resource r;
  r.acquire_shared();
  r.set_owner(42);  // held by a token, as a notify session holds it
  auto writer = std::async(std::launch::async, [&] {
    r.acquire_exclusive();
    r.release();
  });
  wait_until([&] { return r.exclusive_waiters(); });
  EXPECT_FALSE(elsewhere([&] { return r.try_acquire_shared_for(50ms); }))
      << "writer priority: a new shared owner must queue behind the exclusive waiter";
  // And the starve-exclusive acquire is the way out.
  EXPECT_TRUE(elsewhere([&] {
    bool got = r.try_acquire_shared_starve_exclusive_for(50ms);
    if (got) r.release();
    return got;
  }));
  EXPECT_TRUE(elsewhere([&] {
    bool got = r.try_acquire_shared_starve_exclusive();
    if (got) r.release();
    return got;
  }));
  r.release(42);
  writer.get();
  EXPECT_EQ(r.snapshot().exclusive_waiters, 0u);
}

TEST(Resource, SharedOwnerRecursesPastAQueuedExclusiveWaiter) {
  Resource r;
  r.acquire_shared();
  auto writer = std::async(std::launch::async, [&] {
    r.acquire_exclusive();
    r.release();
  });
  wait_until([&] { return r.exclusive_waiters(); });
  EXPECT_TRUE(r.try_acquire_shared()) << "an owner is not held back by writer priority";
  EXPECT_EQ(r.snapshot().shared_count, 2u);
  r.release();
  r.release();
  writer.get();
}

TEST(Resource, StarveExclusiveStillWaitsForAnExclusiveHolder) {
  Resource r;
  r.acquire_exclusive();
  EXPECT_FALSE(elsewhere([&] { return r.try_acquire_shared_starve_exclusive_for(30ms); }));
  auto reader = std::async(std::launch::async, [&] {
    r.acquire_shared_starve_exclusive();
    r.release();
    return true;
  });
  wait_until([&] { return r.snapshot().shared_waiters == 1; });
  r.release();
  EXPECT_TRUE(reader.get());
}

TEST(Resource, OwnerTokenHandOff) {
  Resource r;
  const OwnerToken session = 0x5e55;
  std::thread([&] {
    r.acquire_shared();
    r.set_owner(session);
  }).join();  // the acquiring thread is gone; the token holds on
  EXPECT_TRUE(r.is_owned_by(session));
  EXPECT_EQ(r.snapshot().shared_owners, std::vector<OwnerToken>{session});
  EXPECT_FALSE(r.try_acquire_exclusive_for(20ms));
  std::thread([&] { r.release(session); }).join();  // released by yet another thread
  EXPECT_FALSE(r.is_owned_by(session));
  EXPECT_TRUE(r.try_acquire_exclusive());
  r.release();
}

TEST(Resource, ExclusiveHandOffToAToken) {
  Resource r;
  r.acquire_exclusive();
  r.set_owner(7);
  EXPECT_FALSE(r.is_owned_by(this_thread_owner()));
  EXPECT_FALSE(elsewhere([&] { return r.try_acquire_shared(); }));
  elsewhere([&] {
    r.release(7);
    return 0;
  });
  EXPECT_TRUE(r.try_acquire_shared());
  r.release();
}

TEST(Resource, TimedAcquireGivesUpAndLeavesNothingBehind) {
  Resource r;
  r.acquire_shared();
  r.set_owner(1);
  EXPECT_FALSE(elsewhere([&] { return r.try_acquire_exclusive_for(30ms); }));
  auto s = r.snapshot();
  EXPECT_EQ(s.exclusive_waiters, 0u) << "a timed-out waiter is no longer queued";
  EXPECT_FALSE(s.exclusive);
  EXPECT_TRUE(elsewhere([&] {
    bool got = r.try_acquire_shared();  // writer priority no longer applies
    if (got) r.release();
    return got;
  }));
  r.release(1);
  s = r.snapshot();
  EXPECT_EQ(s.shared_count, 0u);
  EXPECT_EQ(s.shared_waiters, 0u);
}

TEST(Resource, AGivenUpWriterReleasesTheReadersQueuedBehindIt) {
  Resource r;
  r.acquire_shared();
  r.set_owner(1);
  auto writer = std::async(std::launch::async, [&] { return r.try_acquire_exclusive_for(300ms); });
  wait_until([&] { return r.exclusive_waiters(); });
  auto reader = std::async(std::launch::async, [&] {
    r.acquire_shared();  // queued behind the writer, freed when it gives up
    r.release();
    return true;
  });
  EXPECT_FALSE(writer.get());
  EXPECT_TRUE(reader.get());
  r.release(1);
}

#ifndef NDEBUG
TEST(ResourceDeathTest, ReleaseByANonOwnerAborts) {
  Resource r;
  EXPECT_DEATH(r.release(), "non-owner");
}
#endif

TEST(ResourceDeathTest, UpgradeAborts) {
  Resource r;
  EXPECT_DEATH(
      {
        r.acquire_shared();
        r.acquire_exclusive();
      },
      "upgrade");
}

TEST(Resource, StressKeepsMutualExclusion) {
  Resource r;
  std::atomic<int> readers{0}, writers{0}, violations{0};
  auto check = [&](bool exclusive) {
    if (exclusive) {
      if (writers.fetch_add(1) != 0 || readers.load() != 0) violations++;
      writers.fetch_sub(1);
    } else {
      readers.fetch_add(1);
      if (writers.load() != 0) violations++;
      readers.fetch_sub(1);
    }
  };
  auto run = std::async(std::launch::async, [&] {
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20000; ++i) {
          switch ((i + t) % 4) {
            case 0:
              r.acquire_exclusive();
              check(true);
              break;
            case 1:
              r.acquire_shared_starve_exclusive();
              check(false);
              break;
            case 2:
              if (!r.try_acquire_shared_for(1ms)) continue;
              check(false);
              break;
            default:
              r.acquire_shared();
              r.acquire_shared();  // recursion under load
              check(false);
              r.release();
              break;
          }
          r.release();
        }
      });
    }
    for (auto& th : threads) th.join();
  });
  if (run.wait_for(60s) != std::future_status::ready) testing::fail_hang("Resource stress", r.describe());
  EXPECT_EQ(violations.load(), 0);
  auto s = r.snapshot();
  EXPECT_EQ(s.shared_count, 0u);
  EXPECT_FALSE(s.exclusive);
}

}  // namespace
}  // namespace linfsp
