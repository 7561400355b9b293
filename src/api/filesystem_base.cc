// Every operation of FileSystemBase defaults to "not supported".
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "linfsp/filesystem.h"

namespace linfsp {
namespace {
Status unsupported() { return Status::error(ENOSYS); }
}  // namespace

void FileSystemBase::mounted(Notifier&) {}
void FileSystemBase::unmounting() {}
Status FileSystemBase::get_volume_info(const Caller&, VolumeInfo*) { return unsupported(); }
Status FileSystemBase::get_file_info(const Caller&, const std::string&, void*, FileInfo*) { return unsupported(); }
Status FileSystemBase::set_file_info(const Caller&, const std::string&, void*, const SetAttr&,
                                     FileInfo*) {
  return unsupported();
}
Status FileSystemBase::create(const Caller&, const std::string&, mode_t, int, void**, FileInfo*, OpenFlags*) {
  return unsupported();
}
Status FileSystemBase::open(const Caller&, const std::string&, int, void**, FileInfo*, OpenFlags*) {
  return unsupported();
}
Status FileSystemBase::create_unnamed(const Caller&, const std::string&, mode_t, int, void**, FileInfo*, OpenFlags*) {
  return unsupported();
}
Status FileSystemBase::access(const Caller& caller, const std::string& path, void* file, int mask) {
  FileInfo info;
  if (Status s = get_file_info(caller, path, file, &info); !s || mask == F_OK) return s;
  int bits;
  if (caller.uid == 0) {
    bits = R_OK | W_OK | ((S_ISDIR(info.mode) || (info.mode & 0111)) ? X_OK : 0);
  } else if (caller.uid == info.uid) {
    bits = (info.mode >> 6) & 7;
  } else {
    bool in_group = caller.gid == info.gid;
    std::vector<gid_t> groups;
    if (!in_group && caller.supplementary_groups(&groups)) {
      in_group = std::find(groups.begin(), groups.end(), info.gid) != groups.end();
    }
    bits = in_group ? (info.mode >> 3) & 7 : info.mode & 7;
  }
  return (bits & mask) == mask ? Status::ok() : Status::error(EACCES);
}
void FileSystemBase::close(void*) {}
Status FileSystemBase::flush(const Caller&, void*) { return unsupported(); }
Result<size_t> FileSystemBase::read(const Caller&, void*, void*, uint64_t, size_t) {
  return unsupported();
}
Result<size_t> FileSystemBase::write(const Caller&, void*, const void*, uint64_t, size_t, FileInfo*) {
  return unsupported();
}
Status FileSystemBase::fsync(const Caller&, void*, bool) { return unsupported(); }
Status FileSystemBase::fallocate(const Caller&, void*, int, uint64_t, uint64_t, FileInfo*) { return unsupported(); }
Result<uint64_t> FileSystemBase::seek(const Caller&, void*, uint64_t, int) { return unsupported(); }
Result<size_t> FileSystemBase::copy_range(const Caller&, void*, uint64_t, void*, uint64_t, size_t, FileInfo*) {
  return unsupported();
}
Status FileSystemBase::open_directory(const Caller&, const std::string&, void**, OpenFlags*) {
  return unsupported();
}
void FileSystemBase::close_directory(void*) {}
Status FileSystemBase::read_directory(const Caller&, void*, uint64_t, const DirFiller&) { return unsupported(); }
Status FileSystemBase::mkdir(const Caller&, const std::string&, mode_t, FileInfo*) {
  return unsupported();
}
Status FileSystemBase::mknod(const Caller&, const std::string&, mode_t, dev_t, FileInfo*) {
  return unsupported();
}
Status FileSystemBase::symlink(const Caller&, const std::string&, const std::string&, FileInfo*) {
  return unsupported();
}
Status FileSystemBase::link(const Caller&, const std::string&, void*, const std::string&, FileInfo*) {
  return unsupported();
}
Status FileSystemBase::read_link(const Caller&, const std::string&, std::string*) { return unsupported(); }
Status FileSystemBase::unlink(const Caller&, const std::string&) { return unsupported(); }
Status FileSystemBase::rmdir(const Caller&, const std::string&) { return unsupported(); }
Status FileSystemBase::rename(const Caller&, const std::string&, const std::string&, unsigned) {
  return unsupported();
}
Status FileSystemBase::get_xattr(const Caller&, const std::string&, void*, const std::string&, std::string*) {
  return unsupported();
}
Status FileSystemBase::set_xattr(const Caller&, const std::string&, void*, const std::string&, std::string_view,
                                 int) {
  return unsupported();
}
Status FileSystemBase::list_xattr(const Caller&, const std::string&, void*, std::string*) { return unsupported(); }
Status FileSystemBase::remove_xattr(const Caller&, const std::string&, void*, const std::string&) {
  return unsupported();
}

// The operations most file systems leave to the kernel.
void FileSystemBase::wants(MountWants*) {}
Result<int> FileSystemBase::ioctl(const Caller&, void*, unsigned, uint64_t, unsigned, std::string_view, size_t,
                                  std::string*) {
  return unsupported();
}
Status FileSystemBase::poll(const Caller&, void*, unsigned, std::shared_ptr<PollWaker>, unsigned*) {
  return unsupported();
}
Status FileSystemBase::get_lock(const Caller&, void*, uint64_t, struct flock*) { return unsupported(); }
Status FileSystemBase::set_lock(const Caller&, void*, uint64_t, const struct flock&, bool) { return unsupported(); }
Status FileSystemBase::flock(const Caller&, void*, uint64_t, int) { return unsupported(); }
Result<uint64_t> FileSystemBase::bmap(const Caller&, const std::string&, size_t, uint64_t) { return unsupported(); }
Status FileSystemBase::fsync_directory(const Caller&, void*, bool) { return unsupported(); }

}  // namespace linfsp
