// /proc/self/mountinfo, read for the daemon: which mounts exist, so that it
// can tell an instance's mount from any other and notice when it goes.
#pragma once

#include <string>
#include <vector>

namespace linfsp::launcher {

struct MountEntry {
  int id = -1;
  std::string mountpoint;  // unescaped
  std::string fstype;      // "fuse.memfs"
};

std::vector<MountEntry> read_mountinfo(const std::string& path = "/proc/self/mountinfo");
// The topmost FUSE mount at `dir` (the last one listed), or -1.
int find_fuse_mount(const std::vector<MountEntry>& mounts, const std::string& dir);
bool mount_present(const std::vector<MountEntry>& mounts, int id);

}  // namespace linfsp::launcher
