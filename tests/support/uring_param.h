// Test support: the fuse module's enable_uring parameter. Suites that run
// over FUSE-over-io_uring switch it on when it is off and they may write it
// (root), and put it back when they end.
#pragma once

#include <unistd.h>

#include <fstream>
#include <string>

namespace linfsp::testing {

inline constexpr char kUringParam[] = "/sys/module/fuse/parameters/enable_uring";

inline std::string read_uring_param() {
  std::ifstream in(kUringParam);
  std::string v;
  in >> v;
  return v;
}

inline bool write_uring_param(const char* value) {
  std::ofstream out(kUringParam);
  out << value;
  out.flush();
  return static_cast<bool>(out);
}

inline bool uring_param_on() {
  std::string v = read_uring_param();
  return v == "Y" || v == "1";
}

// Switches the parameter on for a suite: enable() returns why io_uring
// cannot be had (empty when it can); restore() puts the parameter back.
class UringSwitch {
 public:
  std::string enable() {
    if (access(kUringParam, F_OK) != 0) {
      return std::string("no FUSE-over-io_uring in this kernel (") + kUringParam + " is absent)";
    }
    if (!uring_param_on()) {
      if (!write_uring_param("1") || !uring_param_on()) {
        return std::string("FUSE-over-io_uring is off and ") + kUringParam + " is not writable (run as root)";
      }
      restore_ = true;
    }
    return {};
  }
  void restore() {
    if (restore_) write_uring_param("0");
    restore_ = false;
  }

 private:
  bool restore_ = false;
};

}  // namespace linfsp::testing
