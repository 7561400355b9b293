// The native API: what a file system implements. Path-based like WinFsp: the
// file system sees paths relative to the volume root ("/", "/a/b") and opaque
// per-open contexts; it never sees a nodeid or a FUSE struct.
//
// Contract for every operation:
// - Names are stable during the call: the volume holds its rename resource
//   shared around name-based operations and exclusive around rename.
// - Errors are returned as values (a positive errno); no exception may escape
//   (the volume turns one into EIO and logs it).
// - Every operation that changes a file reports the file's updated FileInfo.
// - Every operation has a default that returns ENOSYS.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "linfsp/caller.h"
#include "linfsp/notify.h"
#include "linfsp/status.h"

namespace linfsp {

struct FileInfo {
  uint64_t ino = 0;  // the file's index number; equal for all hard links
  mode_t mode = 0;   // type and permission bits
  uint32_t nlink = 1;
  uid_t uid = 0;
  gid_t gid = 0;
  dev_t rdev = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // allocated 512-byte blocks
  timespec atime{}, mtime{}, ctime{};
  // With ino, the file's identity (not shown to programs: st_dev is the
  // mount's). A file system that spans several devices, as a mirror of a
  // tree with mounts below it does, sets the backing st_dev here so that
  // equal index numbers on different devices stay different files.
  uint64_t dev = 0;
};

struct VolumeInfo {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t total_files = 0;
  uint64_t free_files = 0;
  uint32_t block_size = 4096;
  uint32_t name_max = 255;
};

// Which attributes set_file_info changes.
struct SetAttr {
  enum : uint32_t {
    kMode = 1 << 0,
    kUid = 1 << 1,
    kGid = 1 << 2,
    kSize = 1 << 3,
    kAtime = 1 << 4,      // set atime to `atime`
    kMtime = 1 << 5,      // set mtime to `mtime`
    kAtimeNow = 1 << 6,   // set atime to the current time
    kMtimeNow = 1 << 7,   // set mtime to the current time
    kCtime = 1 << 8,      // set ctime to `ctime`
    kKillSuid = 1 << 9,   // clear set-user-ID (and set-group-ID if group-executable)
    kKillSgid = 1 << 10,  // with kKillSuid: clear set-group-ID even if not group-executable
                          // (the caller is not in the file's group)
  };
  uint32_t valid = 0;
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  uint64_t size = 0;
  timespec atime{}, mtime{}, ctime{};
};

// Receives directory entries from read_directory. `next` is the cookie that
// resumes the listing after this entry; cookies must stay valid while the
// directory changes (seekdir/telldir rely on it). Returns false when the
// reply is full: stop and do not count the entry as delivered.
using DirFiller = std::function<bool(std::string_view name, const FileInfo& info, uint64_t next)>;

// Pending operations (WinFsp's STATUS_PENDING and FspFileSystemSendResponse).
// Inside read, write or read_directory, a file system that answers later
// calls pend_read(caller) (pend_write, pend_list), keeps the object, and
// returns Status::pending(). It then completes the object once, from any
// thread; later calls do nothing, and so do calls after an unmount ended
// the request (the caller got EIO). An object dropped uncompleted answers
// EIO. No request thread waits meanwhile.
class PendingIo {
 public:
  virtual ~PendingIo() = default;
  // The kernel interrupted the request: its caller got a signal.
  virtual bool interrupted() const = 0;
  // Runs `fn` once when the request is interrupted (at once if it was);
  // `fn` must not block. Typically it fails the request with EINTR.
  virtual void on_interrupt(std::function<void()> fn) = 0;
  // Completes with an error.
  virtual void fail(Status status) = 0;
};

class PendingRead : public PendingIo {
 public:
  // Where the data goes: size() bytes, valid until complete() returns.
  virtual char* buffer() = 0;
  virtual size_t size() const = 0;
  virtual void complete(Result<size_t> bytes) = 0;
};

class PendingWrite : public PendingIo {
 public:
  // The data to write: a copy that lives as long as this object.
  virtual std::string_view data() const = 0;
  virtual void complete(Result<size_t> bytes, const FileInfo& info) = 0;
};

class PendingList : public PendingIo {
 public:
  // Adds an entry, as a DirFiller does; false when the reply is full.
  virtual bool add(std::string_view name, const FileInfo& info, uint64_t next) = 0;
  virtual void complete(Status status) = 0;
};

// Null when `caller` is not inside the matching operation, or it pended
// already. `caller` must be the one the operation received.
std::shared_ptr<PendingRead> pend_read(const Caller& caller);
std::shared_ptr<PendingWrite> pend_write(const Caller& caller);
std::shared_ptr<PendingList> pend_list(const Caller& caller);

// How the kernel treats one open file or directory. The volume fills in its
// defaults (from the host options) before open, create, create_unnamed and
// open_directory; the file system may change them for this open.
struct OpenFlags {
  bool direct_io = false;      // reads and writes bypass the page cache
  bool keep_cache = true;      // keep data cached by earlier opens
  bool nonseekable = false;    // a stream: lseek fails with ESPIPE
  bool cache_listing = false;  // directories: the kernel may cache the listing
};

// Wakes a poll(2) waiter: the handle poll() receives when the kernel wants
// to be told that the file became ready. Thread-safe; wake() may be called
// any number of times, from any thread, while the file system keeps it;
// after the unmount it does nothing (ESHUTDOWN).
class PollWaker {
 public:
  virtual ~PollWaker() = default;
  virtual Status wake() = 0;
};

// What a path-API file system asks of the kernel when it mounts; asked once,
// after mounted() is due and before the kernel's INIT is answered.
struct MountWants {
  bool posix_locks = false;  // fcntl locks reach get_lock/set_lock (else the kernel keeps them local)
  bool flock_locks = false;  // flock(2) reaches flock() (else the kernel keeps them local)
};

// Paths and open contexts. `path` is absolute from the volume root ("/",
// "/a/b"). Where an operation takes both a `path` and a `file`:
// - file != null: the kernel named an open file (its handle, or the volume's
//   own context of the node); `path` is its current name, or EMPTY when it
//   has none (unlinked while open, or made by create_unnamed). Use `file`.
// - file == null: `path` names the file; it is never empty.
// Operations that take only a `file` (read, write, flush, fsync, fallocate,
// seek, copy_range, read_directory) get an open context of theirs, never
// null. The volume's own calls (reading the root at mount, consistency
// checks) come with a Caller whose pid is 0.
class FileSystemBase {
 public:
  virtual ~FileSystemBase() = default;

  // Called once the volume is mounted and serving, with the notifier for
  // changes made behind the kernel's back; and before it unmounts.
  virtual void mounted(Notifier& notifier);
  virtual void unmounting();

  virtual Status get_volume_info(const Caller& caller, VolumeInfo* info);

  // Attributes by path, or by `file` (see above).
  virtual Status get_file_info(const Caller& caller, const std::string& path, void* file, FileInfo* info);
  virtual Status set_file_info(const Caller& caller, const std::string& path, void* file,
                               const SetAttr& attr, FileInfo* info);
  // access(2), sent only without -o default_permissions. The default checks
  // the mode bits that get_file_info reports against the caller's uid, gid
  // and supplementary groups (root: all but execute of a file nobody may
  // execute); a file system with ACLs or its own rules overrides it.
  virtual Status access(const Caller& caller, const std::string& path, void* file, int mask);

  // Files. `flags` are the open(2) flags. create() makes a regular file that
  // does not exist yet (O_EXCL semantics are the volume's business).
  virtual Status create(const Caller& caller, const std::string& path, mode_t mode, int flags,
                        void** file, FileInfo* info, OpenFlags* open_flags);
  virtual Status open(const Caller& caller, const std::string& path, int flags, void** file,
                      FileInfo* info, OpenFlags* open_flags);
  // O_TMPFILE: a regular file without a name (nlink 0) in directory `dir`,
  // open as `file`; link() may name it later. ENOSYS (the default) makes
  // the kernel answer EOPNOTSUPP.
  virtual Status create_unnamed(const Caller& caller, const std::string& dir, mode_t mode, int flags,
                                void** file, FileInfo* info, OpenFlags* open_flags);
  // The last close of an open context; `file` is never used again. No
  // caller: it may come from the kernel forgetting a file.
  virtual void close(void* file);
  virtual Status flush(const Caller& caller, void* file);
  // May pend (pend_read, pend_write).
  virtual Result<size_t> read(const Caller& caller, void* file, void* buffer, uint64_t offset,
                              size_t size);
  virtual Result<size_t> write(const Caller& caller, void* file, const void* buffer, uint64_t offset,
                               size_t size, FileInfo* info);
  virtual Status fsync(const Caller& caller, void* file, bool datasync);
  virtual Status fallocate(const Caller& caller, void* file, int mode, uint64_t offset, uint64_t length,
                           FileInfo* info);
  // SEEK_DATA / SEEK_HOLE.
  virtual Result<uint64_t> seek(const Caller& caller, void* file, uint64_t offset, int whence);
  virtual Result<size_t> copy_range(const Caller& caller, void* file_in, uint64_t offset_in, void* file_out,
                                    uint64_t offset_out, size_t size, FileInfo* info_out);

  // Directories. ENOSYS from open_directory makes the kernel open
  // directories itself; each listing then opens and closes the directory
  // around one read_directory.
  virtual Status open_directory(const Caller& caller, const std::string& path, void** dir,
                                OpenFlags* open_flags);
  virtual void close_directory(void* dir);
  // Lists entries after cookie `offset` (0 = from the start), without "." and
  // "..". May pend (pend_list).
  virtual Status read_directory(const Caller& caller, void* dir, uint64_t offset, const DirFiller& filler);

  // Names. `path` is never empty.
  virtual Status mkdir(const Caller& caller, const std::string& path, mode_t mode, FileInfo* info);
  virtual Status mknod(const Caller& caller, const std::string& path, mode_t mode, dev_t rdev,
                       FileInfo* info);
  virtual Status symlink(const Caller& caller, const std::string& path, const std::string& target,
                         FileInfo* info);
  // A new name `path` for the file at `existing`, or for open file `file`
  // when `existing` is empty (a file made by create_unnamed).
  virtual Status link(const Caller& caller, const std::string& existing, void* file,
                      const std::string& path, FileInfo* info);
  virtual Status read_link(const Caller& caller, const std::string& path, std::string* target);
  virtual Status unlink(const Caller& caller, const std::string& path);
  virtual Status rmdir(const Caller& caller, const std::string& path);
  // flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
  virtual Status rename(const Caller& caller, const std::string& from, const std::string& to,
                        unsigned flags);

  // Extended attributes, by `path` or `file` (see above). `names` receives
  // NUL-terminated names back to back.
  virtual Status get_xattr(const Caller& caller, const std::string& path, void* file, const std::string& name,
                           std::string* value);
  virtual Status set_xattr(const Caller& caller, const std::string& path, void* file, const std::string& name,
                           std::string_view value, int flags);
  virtual Status list_xattr(const Caller& caller, const std::string& path, void* file, std::string* names);
  virtual Status remove_xattr(const Caller& caller, const std::string& path, void* file,
                              const std::string& name);

  // Operations most file systems leave to the kernel. `file` is an open
  // context of the file system's (a file's, or a directory's where said).

  // Asked once before the kernel's INIT is answered. Default: no locks (the
  // kernel keeps POSIX and flock locks itself, per mount).
  virtual void wants(MountWants* wants);
  // ioctl(2) on an open file or directory (FUSE_IOCTL_DIR in `flags`;
  // FUSE_IOCTL_COMPAT for a 32-bit caller). The kernel sends only commands
  // whose argument size it knows from `cmd`: `in` holds the _IOC_WRITE
  // argument, and up to `out_size` bytes of the _IOC_READ result go in
  // *out. Returns ioctl's result.
  virtual Result<int> ioctl(const Caller& caller, void* file, unsigned cmd, uint64_t arg, unsigned flags,
                            std::string_view in, size_t out_size, std::string* out);
  // poll(2): sets *revents to the ready events among `events`. With a
  // non-null `waker` the kernel waits for waker->wake() before it asks
  // again; keep the newest one per file and wake it when the file becomes
  // ready. ENOSYS (the default) makes the kernel report the file always ready.
  virtual Status poll(const Caller& caller, void* file, unsigned events, std::shared_ptr<PollWaker> waker,
                      unsigned* revents);
  // POSIX record locks (fcntl F_GETLK/F_SETLK/F_SETLKW), only with
  // MountWants::posix_locks. `owner` identifies the lock owner; `lock` has
  // l_whence SEEK_SET, l_len 0 meaning "to the end". get_lock sets
  // lock->l_type to F_UNLCK when nothing conflicts, else the conflicting lock.
  // set_lock with `wait` blocks (the caller may interrupt: EINTR).
  virtual Status get_lock(const Caller& caller, void* file, uint64_t owner, struct flock* lock);
  virtual Status set_lock(const Caller& caller, void* file, uint64_t owner, const struct flock& lock,
                          bool wait);
  // flock(2), only with MountWants::flock_locks: LOCK_SH, LOCK_EX or
  // LOCK_UN, with LOCK_NB when the caller will not wait.
  virtual Status flock(const Caller& caller, void* file, uint64_t owner, int operation);
  // FIBMAP on a block-device-backed mount: the device block of file block
  // `block` (blocks of `block_size` bytes). `path` is never empty.
  virtual Result<uint64_t> bmap(const Caller& caller, const std::string& path, size_t block_size,
                                uint64_t block);
  // fsync(2) of an open directory (its open_directory context). ENOSYS (the
  // default): nothing to sync, the call succeeds.
  virtual Status fsync_directory(const Caller& caller, void* dir, bool datasync);
};

}  // namespace linfsp
