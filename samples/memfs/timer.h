// A timer thread for MEMFS's slow-I/O mode: runs each task once its delay has
// passed, so a pending request completes without a request thread sleeping.
// Tasks still queued when the timer goes are dropped (their pending objects
// then answer EIO, or the unmount has ended them already).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace memfs {

class Timer {
 public:
  Timer() = default;
  ~Timer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    tasks_.clear();  // after the join: a task's captures may outlive nothing else
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void after(std::chrono::milliseconds delay, std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
      tasks_.emplace(std::chrono::steady_clock::now() + delay, std::move(task));
    }
    cv_.notify_all();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (tasks_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto first = tasks_.begin();
      if (cv_.wait_until(lock, first->first) == std::cv_status::no_timeout) continue;  // new work or stop
      std::function<void()> task = std::move(first->second);
      tasks_.erase(first);
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> tasks_;  // guarded by mutex_
  bool stopping_ = false;                                                              // guarded by mutex_
  std::thread thread_;
};

}  // namespace memfs
