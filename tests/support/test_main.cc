// main() for every GoogleTest binary: a watchdog fails a test that runs too
// long (printing which one) instead of letting it hang, and unmounts what
// the tests registered, pass or fail.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "mount_guard.h"

namespace linfsp::testing {
void unmount_all_registered();
}

namespace {

// The watching thread runs until the process ends and only touches
// `Watch`, which is never freed: gtest deletes its listeners at exit, and a
// forked child must have nothing of the thread's to join.
struct Watch {
  explicit Watch(std::chrono::seconds l) : limit(l) {}
  const std::chrono::seconds limit;
  std::mutex mutex;
  std::string name;
  std::chrono::steady_clock::time_point deadline;
  bool armed = false;
};
Watch* g_watch = nullptr;  // keeps it reachable for the leak checker

class Watchdog : public ::testing::EmptyTestEventListener {
 public:
  explicit Watchdog(std::chrono::seconds limit) : watch_(new Watch(limit)) {
    g_watch = watch_;
    std::thread([w = watch_] { watch(*w); }).detach();
  }
  void OnTestStart(const ::testing::TestInfo& info) override {
    std::lock_guard lock(watch_->mutex);
    watch_->name = std::string(info.test_suite_name()) + "." + info.name();
    watch_->deadline = std::chrono::steady_clock::now() + watch_->limit;
    watch_->armed = true;
  }
  void OnTestEnd(const ::testing::TestInfo&) override {
    std::lock_guard lock(watch_->mutex);
    watch_->armed = false;
  }

 private:
  static void watch(Watch& w) {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      std::lock_guard lock(w.mutex);
      if (w.armed && std::chrono::steady_clock::now() > w.deadline) {
        std::fprintf(stderr, "\nWATCHDOG: test %s ran longer than %lld s: it hangs. Unmounting and failing.\n",
                     w.name.c_str(), static_cast<long long>(w.limit.count()));
        linfsp::testing::unmount_all_registered();
        std::fflush(stderr);
        _exit(124);
      }
    }
  }
  Watch* const watch_;  // deliberately never freed (see Watch)
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const char* env = std::getenv("LINFSP_TEST_TIMEOUT");
  int seconds = env ? std::atoi(env) : 120;
  ::testing::UnitTest::GetInstance()->listeners().Append(new Watchdog(std::chrono::seconds(seconds)));
  int rc = RUN_ALL_TESTS();
  linfsp::testing::unmount_all_registered();
  return rc;
}
