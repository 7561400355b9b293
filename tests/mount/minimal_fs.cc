// minimal_fs MOUNTPOINT [options]: a file system that implements only
// get_file_info, with a root directory "/" and one regular file "/f".
// Every other operation is FileSystemBase's default (ENOSYS). The mount tests
// drive every system call the compat suite makes through it: errors are
// expected, a crash or a hang is a bug (issue 10, "Minimal file systems
// never crash").
#include <sys/stat.h>

#include <cerrno>

#include "linfsp/host.h"

namespace {

class MinimalFs : public linfsp::FileSystemBase {
 public:
  linfsp::Status get_file_info(const linfsp::Caller&, const std::string& path, void*, linfsp::FileInfo* info) override {
    if (path == "/") {
      info->ino = 1;
      info->mode = S_IFDIR | 0755;
      info->nlink = 2;
      return linfsp::Status::ok();
    }
    if (path == "/f") {
      info->ino = 2;
      info->mode = S_IFREG | 0644;
      info->nlink = 1;
      info->size = 4096;
      info->blocks = 8;
      return linfsp::Status::ok();
    }
    return linfsp::Status::error(ENOENT);
  }
};

}  // namespace

int main(int argc, char** argv) {
  linfsp::HostOptions options;
  if (auto s = linfsp::parse_command_line(argc, argv, &options); !s) return 2;
  MinimalFs fs;
  return linfsp::FileSystemHost(fs, options).run();
}
