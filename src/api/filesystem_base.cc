// Every operation of FileSystemBase defaults to "not supported".
#include <cstring>

#include "linfsp/filesystem.h"

namespace linfsp {
namespace {
Status unsupported() { return Status::error(ENOSYS); }
}  // namespace

std::string Status::message() const {
  if (message_) return *message_;
  if (err_ == kPending) return "pending";
  return err_ == 0 ? "OK" : std::strerror(err_);
}

void FileSystemBase::mounted(Notifier&) {}
void FileSystemBase::unmounting() {}
Status FileSystemBase::get_volume_info(VolumeInfo*) { return unsupported(); }
Status FileSystemBase::get_file_info(const std::string&, void*, FileInfo*) { return unsupported(); }
Status FileSystemBase::set_file_info(const Caller&, const std::string&, void*, const SetAttr&,
                                     FileInfo*) {
  return unsupported();
}
Status FileSystemBase::create(const Caller&, const std::string&, mode_t, int, void**, FileInfo*) {
  return unsupported();
}
Status FileSystemBase::open(const Caller&, const std::string&, int, void**, FileInfo*) {
  return unsupported();
}
Status FileSystemBase::create_unnamed(const Caller&, const std::string&, mode_t, int, void**, FileInfo*) {
  return unsupported();
}
void FileSystemBase::close(void*) {}
Status FileSystemBase::flush(void*) { return unsupported(); }
Result<size_t> FileSystemBase::read(const Caller&, void*, void*, uint64_t, size_t) {
  return unsupported();
}
Result<size_t> FileSystemBase::write(const Caller&, void*, const void*, uint64_t, size_t, FileInfo*) {
  return unsupported();
}
Status FileSystemBase::fsync(void*, bool) { return unsupported(); }
Status FileSystemBase::fallocate(void*, int, uint64_t, uint64_t, FileInfo*) { return unsupported(); }
Result<uint64_t> FileSystemBase::seek(void*, uint64_t, int) { return unsupported(); }
Result<size_t> FileSystemBase::copy_range(void*, uint64_t, void*, uint64_t, size_t, FileInfo*) {
  return unsupported();
}
Status FileSystemBase::open_directory(const Caller&, const std::string&, void**) {
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
Status FileSystemBase::read_link(const std::string&, std::string*) { return unsupported(); }
Status FileSystemBase::unlink(const Caller&, const std::string&) { return unsupported(); }
Status FileSystemBase::rmdir(const Caller&, const std::string&) { return unsupported(); }
Status FileSystemBase::rename(const Caller&, const std::string&, const std::string&, unsigned) {
  return unsupported();
}
Status FileSystemBase::get_xattr(const std::string&, void*, const std::string&, std::string*) {
  return unsupported();
}
Status FileSystemBase::set_xattr(const std::string&, void*, const std::string&, std::string_view,
                                 int) {
  return unsupported();
}
Status FileSystemBase::list_xattr(const std::string&, void*, std::string*) { return unsupported(); }
Status FileSystemBase::remove_xattr(const std::string&, void*, const std::string&) {
  return unsupported();
}

}  // namespace linfsp
