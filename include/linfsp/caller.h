// Who a request comes from, as the kernel reports it. Both the path API and
// the node-level API hand one to every operation.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <vector>

#include "linfsp/status.h"

namespace linfsp {

struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;  // the calling thread; 0 when the kernel sends none
  // Set when the kernel interrupts the request (the caller got a signal); a
  // long operation may stop early and return EINTR.
  const std::atomic<bool>* interrupted = nullptr;
  // The request behind this caller, for pend_read() and friends; valid only
  // during the operation that received it.
  void* request = nullptr;
  // The caller's umask, as the kernel sends it with CREATE, MKNOD, MKDIR and
  // TMPFILE; 0 for every other request. The mode of those requests already
  // has it applied unless the file system negotiated FUSE_DONT_MASK (the
  // path API never does; libfuse's FUSE_CAP_DONT_MASK asks for it), in which
  // case the file system applies it itself.
  mode_t umask = 0;
  bool is_interrupted() const { return interrupted && interrupted->load(std::memory_order_relaxed); }
  // The caller's supplementary groups, read from /proc (FUSE does not send
  // them). ESRCH when the caller is gone or unknown (pid 0).
  Status supplementary_groups(std::vector<gid_t>* groups) const;
};

}  // namespace linfsp
