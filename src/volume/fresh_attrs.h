// The attributes a file's last change reported. write, fallocate and
// copy_range return the file's FileInfo; after each of them the kernel drops
// its cached attributes and asks again with GETATTR. The volume answers that
// GETATTR from here instead of calling the file system again, for as long as
// the kernel itself could have cached the answer (attr_timeout).
//
// Changes of one file may run concurrently and the file system may apply
// them in any order, so a report is kept only if no other change of the file
// began after it and none is still running when it ends. Every request that
// may change the file (or its atime: reads) counts as a change and drops
// what is kept; so do notifications that invalidate the file.
#pragma once

#include <chrono>
#include <cstdint>

#include "linfsp/filesystem.h"
#include "util/mutex.h"

namespace linfsp {

class FreshAttrs {
 public:
  using Clock = std::chrono::steady_clock;

  // A change begins: drops what is kept. Returns the change's ticket.
  uint64_t begin();
  // The change ends. `info` (null: nothing to keep) is kept until `until`
  // if no other change began after this one and none is still running.
  void end(uint64_t ticket, const FileInfo* info, Clock::time_point until);
  // Drops what is kept (a notification, a change seen after the fact).
  void drop();
  // The kept attributes, if there are any and they have not expired.
  bool get(FileInfo* info) const;

 private:
  mutable Mutex mutex_;
  uint64_t last_ticket_ GUARDED_BY(mutex_) = 0;
  uint32_t running_ GUARDED_BY(mutex_) = 0;
  bool kept_ GUARDED_BY(mutex_) = false;
  FileInfo info_ GUARDED_BY(mutex_);
  Clock::time_point until_ GUARDED_BY(mutex_);
};

}  // namespace linfsp
