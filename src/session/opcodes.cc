#include "session/opcodes.h"

#include <array>

#include "kernel/protocol.h"

namespace linfsp::session {
namespace {

constexpr size_t kMaxOpcode = 64;

constexpr std::array<OpcodeInfo, kMaxOpcode> make_table() {
  std::array<OpcodeInfo, kMaxOpcode> t{};
  auto set = [&t](uint32_t op, const char* name, size_t in, int names, bool has_reply = true) {
    t[op] = {name, static_cast<uint16_t>(in), static_cast<uint8_t>(names), has_reply};
  };
  set(FUSE_LOOKUP, "LOOKUP", 0, 1);
  set(FUSE_FORGET, "FORGET", sizeof(fuse_forget_in), 0, false);
  set(FUSE_GETATTR, "GETATTR", sizeof(fuse_getattr_in), 0);
  set(FUSE_SETATTR, "SETATTR", sizeof(fuse_setattr_in), 0);
  set(FUSE_READLINK, "READLINK", 0, 0);
  set(FUSE_SYMLINK, "SYMLINK", 0, 2);
  set(FUSE_MKNOD, "MKNOD", sizeof(fuse_mknod_in), 1);
  set(FUSE_MKDIR, "MKDIR", sizeof(fuse_mkdir_in), 1);
  set(FUSE_UNLINK, "UNLINK", 0, 1);
  set(FUSE_RMDIR, "RMDIR", 0, 1);
  set(FUSE_RENAME, "RENAME", sizeof(fuse_rename_in), 2);
  set(FUSE_LINK, "LINK", sizeof(fuse_link_in), 1);
  set(FUSE_OPEN, "OPEN", sizeof(fuse_open_in), 0);
  set(FUSE_READ, "READ", sizeof(fuse_read_in), 0);
  set(FUSE_WRITE, "WRITE", sizeof(fuse_write_in), 0);
  set(FUSE_STATFS, "STATFS", 0, 0);
  set(FUSE_RELEASE, "RELEASE", sizeof(fuse_release_in), 0);
  set(FUSE_FSYNC, "FSYNC", sizeof(fuse_fsync_in), 0);
  // Without FUSE_SETXATTR_EXT the kernel sends the short, 8-byte form.
  set(FUSE_SETXATTR, "SETXATTR", FUSE_COMPAT_SETXATTR_IN_SIZE, 1);
  set(FUSE_GETXATTR, "GETXATTR", sizeof(fuse_getxattr_in), 1);
  set(FUSE_LISTXATTR, "LISTXATTR", sizeof(fuse_getxattr_in), 0);
  set(FUSE_REMOVEXATTR, "REMOVEXATTR", 0, 1);
  set(FUSE_FLUSH, "FLUSH", sizeof(fuse_flush_in), 0);
  set(FUSE_OPENDIR, "OPENDIR", sizeof(fuse_open_in), 0);
  set(FUSE_READDIR, "READDIR", sizeof(fuse_read_in), 0);
  set(FUSE_RELEASEDIR, "RELEASEDIR", sizeof(fuse_release_in), 0);
  set(FUSE_FSYNCDIR, "FSYNCDIR", sizeof(fuse_fsync_in), 0);
  set(FUSE_GETLK, "GETLK", sizeof(fuse_lk_in), 0);
  set(FUSE_SETLK, "SETLK", sizeof(fuse_lk_in), 0);
  set(FUSE_SETLKW, "SETLKW", sizeof(fuse_lk_in), 0);
  set(FUSE_ACCESS, "ACCESS", sizeof(fuse_access_in), 0);
  set(FUSE_CREATE, "CREATE", sizeof(fuse_create_in), 1);
  set(FUSE_INTERRUPT, "INTERRUPT", sizeof(fuse_interrupt_in), 0, false);
  set(FUSE_BMAP, "BMAP", sizeof(fuse_bmap_in), 0);
  set(FUSE_DESTROY, "DESTROY", 0, 0);
  set(FUSE_IOCTL, "IOCTL", sizeof(fuse_ioctl_in), 0);
  set(FUSE_POLL, "POLL", sizeof(fuse_poll_in), 0);
  set(FUSE_BATCH_FORGET, "BATCH_FORGET", sizeof(fuse_batch_forget_in), 0, false);
  set(FUSE_FALLOCATE, "FALLOCATE", sizeof(fuse_fallocate_in), 0);
  set(FUSE_READDIRPLUS, "READDIRPLUS", sizeof(fuse_read_in), 0);
  set(FUSE_RENAME2, "RENAME2", sizeof(fuse_rename2_in), 2);
  set(FUSE_LSEEK, "LSEEK", sizeof(fuse_lseek_in), 0);
  set(FUSE_COPY_FILE_RANGE, "COPY_FILE_RANGE", sizeof(fuse_copy_file_range_in), 0);
  set(FUSE_SYNCFS, "SYNCFS", sizeof(fuse_syncfs_in), 0);
  set(FUSE_TMPFILE, "TMPFILE", sizeof(fuse_create_in), 1);
  // The data a NOTIFY_RETRIEVE asked for; header.unique is the notification's cookie.
  set(FUSE_NOTIFY_REPLY, "NOTIFY_REPLY", sizeof(fuse_notify_retrieve_in), 0, false);
  return t;
}

constexpr auto kOpcodes = make_table();

}  // namespace

const OpcodeInfo* opcode_info(uint32_t opcode) {
  return opcode < kOpcodes.size() && kOpcodes[opcode].name ? &kOpcodes[opcode] : nullptr;
}

}  // namespace linfsp::session
