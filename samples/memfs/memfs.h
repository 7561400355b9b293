// MEMFS: an in-memory file system on the native API. Kept behind this small
// interface so that tests and benchmarks can embed it.
#pragma once

#include <cstdint>
#include <memory>

#include "linfsp/filesystem.h"

namespace memfs {

struct Options {
  uint64_t max_nodes = 1'000'000;           // files of every kind; ENOSPC beyond
  uint64_t max_file_size = 64ULL << 30;     // EFBIG beyond
  uint64_t max_size = 0;                    // bytes of file data; 0 = half the RAM
  bool case_insensitive = false;            // names compare ASCII-case-insensitively
  unsigned slow_io_ms = 0;                  // delay every read and write (tests of INTERRUPT)
  // Adds /.notify-demo: each line written to it changes files behind the
  // kernel's back and notifies: "write PATH TEXT", "remove PATH",
  // "rename FROM TO", "mkdir PATH"; a leading "quiet " skips the notification.
  bool notify_demo = false;
  // Access times follow the mount's mode (-o relatime, strictatime, noatime,
  // nodiratime). The kernel leaves atime to the file system and tells it only
  // of the reads that reach it: a read served from the page cache changes
  // nothing.
  enum class Atime { kRelative, kStrict, kNever };
  Atime atime = Atime::kRelative;
  bool dir_atime = true;  // nodiratime: listings leave directories' atime alone
};

std::unique_ptr<linfsp::FileSystemBase> create(const Options& options);

}  // namespace memfs
