#include "linfsp/host.h"

class HelloFs : public linfsp::FileSystemBase {
  linfsp::Status get_file_info(const linfsp::Caller&, const std::string& path, void*,
                               linfsp::FileInfo* info) override {
    if (path != "/") return linfsp::Status::error(ENOENT);
    info->ino = 1;
    info->mode = S_IFDIR | 0755;
    info->nlink = 2;
    return linfsp::Status::ok();
  }
};

int main(int argc, char** argv) {
  linfsp::HostOptions options;
  if (auto s = linfsp::parse_command_line(argc, argv, &options); !s) return 2;
  if (options.help) return std::puts(linfsp::usage("hellofs").c_str()), 0;
  HelloFs fs;
  return linfsp::FileSystemHost(fs, options).run();  // serves until unmounted or signalled
}
