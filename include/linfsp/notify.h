// Change notification: how a file system tells the volume about changes made
// behind the kernel's back, so the kernel's caches can keep long timeouts.
// See docs/notify.md for the protocol and its lock order.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "linfsp/status.h"

namespace linfsp {

enum class NotifyAction : uint32_t {
  kAdded = 1,           // a name appeared
  kRemoved = 2,         // a name went away
  kModified = 3,        // the file's data changed
  kRenamedOldName = 4,  // the old name of a rename (followed by kRenamedNewName)
  kRenamedNewName = 5,  // the new name of a rename
  kAttributes = 6,      // attributes, size or times changed, not the data
};

// A batch is a buffer of records, each 8-byte aligned:
//   NotifyRecord header, then `size - sizeof(NotifyRecord)` bytes of name
//   (UTF-8, no NUL). A name starting with '/' is absolute (from the volume
//   root); any other is relative to the last absolute name in the batch.
struct NotifyRecord {
  uint32_t size;    // header + name bytes; the next record starts at align8(size)
  uint32_t action;  // NotifyAction
  uint32_t filter;  // reserved for what-changed bits; 0
  uint32_t reserved;
};
static_assert(sizeof(NotifyRecord) == 16);

// Limits. A batch over them is rejected whole, with nothing queued.
inline constexpr size_t kNotifyMaxBatch = 1 << 20;  // bytes
inline constexpr size_t kNotifyMaxPath = 4095;      // bytes of a resolved path

// Builds a well-formed batch.
class NotifyBatch {
 public:
  NotifyBatch& add(NotifyAction action, std::string_view name);
  const void* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }

 private:
  std::string bytes_;
};

// Implemented by FileSystemHost; handed to the file system when it is mounted.
class Notifier {
 public:
  virtual ~Notifier() = default;
  // Opens a notify session: names stay stable (renames wait) until the
  // matching end. Fails with ETIMEDOUT, holding nothing, if a rename holds
  // or keeps waiting for the rename resource past `timeout`.
  virtual Status notify_begin(std::chrono::milliseconds timeout) = 0;
  // Validates a batch and queues it; the kernel's caches are invalidated
  // asynchronously. Requires an open session.
  virtual Status notify(const void* batch, size_t size) = 0;
  // Ends the innermost session. Without an open session: EINVAL.
  virtual Status notify_end() = 0;
  // Begin, one change, end.
  Status notify_change(NotifyAction action, std::string_view path,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5));
};

}  // namespace linfsp
