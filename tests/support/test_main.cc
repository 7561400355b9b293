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

class Watchdog : public ::testing::EmptyTestEventListener {
 public:
  explicit Watchdog(std::chrono::seconds limit) : limit_(limit) {
    std::thread([this] { watch(); }).detach();
  }
  void OnTestStart(const ::testing::TestInfo& info) override {
    std::lock_guard lock(mutex_);
    name_ = std::string(info.test_suite_name()) + "." + info.name();
    deadline_ = std::chrono::steady_clock::now() + limit_;
    armed_ = true;
  }
  void OnTestEnd(const ::testing::TestInfo&) override {
    std::lock_guard lock(mutex_);
    armed_ = false;
  }

 private:
  void watch() {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      std::lock_guard lock(mutex_);
      if (armed_ && std::chrono::steady_clock::now() > deadline_) {
        std::fprintf(stderr, "\nWATCHDOG: test %s ran longer than %lld s: it hangs. Unmounting and failing.\n",
                     name_.c_str(), static_cast<long long>(limit_.count()));
        linfsp::testing::unmount_all_registered();
        std::fflush(stderr);
        _exit(124);
      }
    }
  }
  const std::chrono::seconds limit_;
  std::mutex mutex_;
  std::string name_;
  std::chrono::steady_clock::time_point deadline_;
  bool armed_ = false;
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
