#include "mountinfo.h"

#include <fstream>
#include <sstream>

namespace linfsp::launcher {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (int k = 1; k <= 3; ++k) {
        char c = s[i + k];
        ok &= c >= '0' && c <= '7';
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

}  // namespace

std::vector<MountEntry> read_mountinfo(const std::string& path) {
  std::vector<MountEntry> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    MountEntry e;
    std::string parent, devno, root, mp, word;
    if (!(f >> e.id >> parent >> devno >> root >> mp)) continue;
    e.mountpoint = unescape(mp);
    while (f >> word && word != "-") {
    }
    f >> e.fstype;
    out.push_back(std::move(e));
  }
  return out;
}

int find_fuse_mount(const std::vector<MountEntry>& mounts, const std::string& dir) {
  int id = -1;
  for (const MountEntry& e : mounts) {
    if (e.mountpoint == dir && (e.fstype == "fuse" || e.fstype.rfind("fuse.", 0) == 0)) id = e.id;
  }
  return id;
}

bool mount_present(const std::vector<MountEntry>& mounts, int id) {
  for (const MountEntry& e : mounts) {
    if (e.id == id) return true;
  }
  return false;
}

}  // namespace linfsp::launcher
