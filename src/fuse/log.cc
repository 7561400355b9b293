// fuse_log and fuse_set_log_func: libfuse's one exit for its messages.
#include "fuse_log.h"

#include <atomic>
#include <cstdio>

namespace {

void WriteToStderr(enum fuse_log_level /*level*/, const char* fmt, va_list ap) {
  std::vfprintf(stderr, fmt, ap);
}

// The current sink; never null. Atomic so that a program may swap it while
// other threads log (libfuse uses a plain pointer; this is only safer).
std::atomic<fuse_log_func_t> log_sink{WriteToStderr};

}  // namespace

extern "C" {

void fuse_set_log_func(fuse_log_func_t func) {
  log_sink.store(func != nullptr ? func : WriteToStderr, std::memory_order_release);
}

void fuse_log(enum fuse_log_level level, const char* fmt, ...) {
  fuse_log_func_t sink = log_sink.load(std::memory_order_acquire);
  va_list ap;
  va_start(ap, fmt);
  sink(level, fmt, ap);
  va_end(ap);
}

}  // extern "C"
