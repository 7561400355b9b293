#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "linfsp/caller.h"

namespace linfsp {

Status Caller::supplementary_groups(std::vector<gid_t>* groups) const {
  groups->clear();
  if (pid <= 0) return Status::error(ESRCH, "the kernel named no calling process");
  // /proc/TID/status works for any thread id, shown in /proc or not.
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  if (!status) return Status::error(ESRCH, "process " + std::to_string(pid) + " is gone");
  std::string line;
  while (std::getline(status, line)) {
    if (!line.starts_with("Groups:")) continue;
    std::istringstream in(line.substr(7));
    unsigned long gid;
    while (in >> gid) groups->push_back(static_cast<gid_t>(gid));
    return Status::ok();
  }
  return Status::error(EIO, "no Groups line in /proc/" + std::to_string(pid) + "/status");
}

}  // namespace linfsp
