// memfs: mounts MEMFS and serves it until unmounted or signalled.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "linfsp/host.h"
#include "memfs.h"

namespace {

// A number with an optional K, M, G or T suffix (powers of 1024).
linfsp::Status parse_size(const std::string& text, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  int shift = 0;
  if (end && *end) {
    switch (*end++) {
      case 'K': case 'k': shift = 10; break;
      case 'M': case 'm': shift = 20; break;
      case 'G': case 'g': shift = 30; break;
      case 'T': case 't': shift = 40; break;
      default: end = nullptr;
    }
  }
  if (text.empty() || text[0] == '-' || errno || end == nullptr || *end || v == 0 ||
      v > (~0ULL >> shift)) {
    return linfsp::Status::error(EINVAL, "expected a positive size such as 4096, 64M or 2G, got '" + text + "'");
  }
  *out = v << shift;
  return linfsp::Status::ok();
}

linfsp::Option::Setter set_size(uint64_t* field) {
  return [field](const std::string& v) { return parse_size(v, field); };
}

}  // namespace

int main(int argc, char** argv) {
  memfs::Options fs_options;
  // Each option has a command-line and a -o spelling (for /etc/fstab).
  std::vector<linfsp::Option> extra = {
      {{"--max-nodes", "max_nodes"}, "N", "most files of all kinds (default 1000000); ENOSPC beyond",
       set_size(&fs_options.max_nodes)},
      {{"--max-file-size", "max_file_size"}, "SIZE", "largest file, e.g. 1G (default 64G); EFBIG beyond",
       set_size(&fs_options.max_file_size)},
      {{"--max-size", "max_size"}, "SIZE", "most bytes of file data (default half the RAM); ENOSPC beyond",
       set_size(&fs_options.max_size)},
      {{"--slow-io", "slow_io"}, "MS", "delay each read and write by MS milliseconds (interruptible)",
       [&](const std::string& v) {
         uint64_t ms;
         linfsp::Status s = parse_size(v, &ms);
         if (s && ms > 3'600'000) s = linfsp::Status::error(EINVAL, "at most 3600000 ms");
         if (s) fs_options.slow_io_ms = static_cast<unsigned>(ms);
         return s;
       }},
      {{"--notify-demo", "notify_demo"}, "",
       "add /.notify-demo, a control file that changes files behind the kernel's back",
       linfsp::set_flag(&fs_options.notify_demo, true)},
      {{"--case-insensitive", "case_insensitive"}, "", "names compare case-insensitively (ASCII)",
       linfsp::set_flag(&fs_options.case_insensitive, true)},
  };
  linfsp::HostOptions options;
  options.fsname = "memfs";
  options.subtype = "memfs";
  // MEMFS keeps no permissions logic of its own: the kernel enforces them.
  options.default_permissions = true;
  // Every change reaches MEMFS through the kernel (or is notified), so the
  // kernel may cache names, attributes and "no such name" for long.
  options.entry_timeout = options.attr_timeout = options.negative_timeout = 60;
  // For the same reason its cached data stays valid after writes.
  options.auto_inval_data = false;
  // An open file is only a reference to its node: the kernel need not tell
  // MEMFS about every open and close.
  options.no_open = true;
  // Index numbers are never reused, so a file handle may name a file for as
  // long as it exists (NFS export, open_by_handle_at).
  options.export_support = true;
  if (linfsp::Status s = linfsp::parse_command_line(argc, argv, &options, extra); !s) {
    std::fprintf(stderr, "memfs: %s\n%s", s.message().c_str(), "Try 'memfs --help'.\n");
    return 2;
  }
  if (options.help) {
    std::fputs(linfsp::usage("memfs", extra).c_str(), stdout);
    return 0;
  }
  if (options.version) {
    std::printf("memfs (LinFsp) %s\n", linfsp::version().c_str());
    return 0;
  }
  // A cached "no such name" for HELLO would hide a file created as hello.
  if (fs_options.case_insensitive) options.negative_timeout = 0;
  if (options.mount_flags & linfsp::kMountNoAtime) fs_options.atime = memfs::Options::Atime::kNever;
  if (options.mount_flags & linfsp::kMountStrictAtime) fs_options.atime = memfs::Options::Atime::kStrict;
  if (options.mount_flags & linfsp::kMountNoDirAtime) fs_options.dir_atime = false;
  auto fs = memfs::create(fs_options);
  linfsp::FileSystemHost host(*fs, options);
  return host.run();
}
