// Private to the high-level API (fuse.h): the state behind struct fuse and
// struct fuse_fs, and the path-API file system that calls fuse_operations.
//
// Objective: a libfuse program runs unchanged on LinFsp's native path API,
// so every guarantee of the volume (name stability under the rename
// resource, the node table, notify sessions) covers it too.
//
// Decisions:
// - FuseFileSystem is a linfsp::FileSystemBase: the volume resolves names
//   and the adapter only calls fuse_operations with those paths.
// - Each open file or directory is a Handle holding the fuse_file_info that
//   open()/create()/opendir() filled; the volume hands it back as the open
//   context, so read/write/release... see the same fuse_file_info.
// - Handles remember their path (the volume gives operations on open files
//   only the context): rename() moves it, unlink() clears it, or renames
//   an open file to .fuse_hiddenXXXX as libfuse does unless hard_remove.
// - Without use_ino, index numbers are assigned per path, as libfuse's node
//   ids are (hard links get distinct numbers); they are kept until the name
//   is removed or renamed over (libfuse's "-o noforget").
// - init() runs in fuse_mount(), before the session mounts: the volume
//   reads the root and takes its cache timeouts when it mounts, and init may
//   change them.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fuse.h"
#include "linfsp/filesystem.h"

struct fuse_fs {
  fuse_operations op{};
  void* user_data = nullptr;  // init()'s result once it ran
  bool debug = false;
};

namespace linfsp::fuse {

class FuseFileSystem;

// The thread's current operation: what fuse_get_context() and friends see.
// Set around every call into the file system.
class CallScope {
 public:
  CallScope(::fuse* f, const Caller* caller);
  ~CallScope();
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  fuse_context saved_context_;
  const Caller* saved_caller_;
};
// The caller of the thread's current operation, or null.
const Caller* current_caller();
// The thread's fuse_context (zeros outside an operation).
fuse_context* thread_context();

}  // namespace linfsp::fuse

struct fuse {
  fuse_fs* fs = nullptr;          // owned
  fuse_session* se = nullptr;     // owned (fuse_session_destroy)
  fuse_config conf{};
  fuse_conn_info conn{};
  std::unique_ptr<linfsp::fuse::FuseFileSystem> path_fs;
  bool initialized = false;  // init() ran; destroy() is due
};

namespace linfsp::fuse {

// One open file or directory.
struct Handle {
  fuse_file_info fi{};
  bool directory = false;
  // The file's name now; empty when it has none (removed with
  // hard_remove). Guarded by FuseFileSystem::names_mutex_.
  std::string path;
  bool hidden = false;  // path is a .fuse_hidden name made by unlink
  uint64_t ino = 0;     // the number reported for it (without use_ino)
  uint64_t poll_id = 0;  // its poll wake-up, once poll() gave one

  // Directories: the listing, for file systems that fill it whole (every
  // filler offset 0); served from here by index. Guarded by list_mutex.
  std::mutex list_mutex;
  enum class ListMode { kUnknown, kWhole, kOffsets } list_mode = ListMode::kUnknown;
  struct Entry {
    std::string name;
    FileInfo info;
  };
  std::vector<Entry> listing;
};

class FuseFileSystem final : public FileSystemBase {
 public:
  explicit FuseFileSystem(::fuse* f) : f_(f) {}

  // Drops the kernel's entry, attributes and data for `path`.
  int invalidate_path(const char* path);
  // fuse_notify_poll() of a handle poll() gave out.
  int wake_poll(uint64_t poll_id);

  void mounted(Notifier& notifier) override;
  void unmounting() override;
  void wants(MountWants* wants) override;

  Status get_volume_info(const Caller& caller, VolumeInfo* info) override;
  Status get_file_info(const Caller& caller, const std::string& path, void* file, FileInfo* info) override;
  Status set_file_info(const Caller& caller, const std::string& path, void* file, const SetAttr& attr,
                       FileInfo* info) override;
  Status access(const Caller& caller, const std::string& path, void* file, int mask) override;

  Status create(const Caller& caller, const std::string& path, mode_t mode, int flags, void** file,
                FileInfo* info, OpenFlags* open_flags) override;
  Status open(const Caller& caller, const std::string& path, int flags, void** file, FileInfo* info,
              OpenFlags* open_flags) override;
  void close(void* file) override;
  Status flush(const Caller& caller, void* file) override;
  Result<size_t> read(const Caller& caller, void* file, void* buffer, uint64_t offset, size_t size) override;
  Result<size_t> write(const Caller& caller, void* file, const void* buffer, uint64_t offset, size_t size,
                       FileInfo* info) override;
  Status fsync(const Caller& caller, void* file, bool datasync) override;
  Status fallocate(const Caller& caller, void* file, int mode, uint64_t offset, uint64_t length,
                   FileInfo* info) override;
  Result<uint64_t> seek(const Caller& caller, void* file, uint64_t offset, int whence) override;
  Result<size_t> copy_range(const Caller& caller, void* file_in, uint64_t offset_in, void* file_out,
                            uint64_t offset_out, size_t size, FileInfo* info_out) override;

  Status open_directory(const Caller& caller, const std::string& path, void** dir,
                        OpenFlags* open_flags) override;
  void close_directory(void* dir) override;
  Status read_directory(const Caller& caller, void* dir, uint64_t offset, const DirFiller& filler) override;

  Status mkdir(const Caller& caller, const std::string& path, mode_t mode, FileInfo* info) override;
  Status mknod(const Caller& caller, const std::string& path, mode_t mode, dev_t rdev, FileInfo* info) override;
  Status symlink(const Caller& caller, const std::string& path, const std::string& target,
                 FileInfo* info) override;
  Status link(const Caller& caller, const std::string& existing, void* file, const std::string& path,
              FileInfo* info) override;
  Status read_link(const Caller& caller, const std::string& path, std::string* target) override;
  Status unlink(const Caller& caller, const std::string& path) override;
  Status rmdir(const Caller& caller, const std::string& path) override;
  Status rename(const Caller& caller, const std::string& from, const std::string& to, unsigned flags) override;

  Status get_xattr(const Caller& caller, const std::string& path, void* file, const std::string& name,
                   std::string* value) override;
  Status set_xattr(const Caller& caller, const std::string& path, void* file, const std::string& name,
                   std::string_view value, int flags) override;
  Status list_xattr(const Caller& caller, const std::string& path, void* file, std::string* names) override;
  Status remove_xattr(const Caller& caller, const std::string& path, void* file, const std::string& name) override;

  Result<int> ioctl(const Caller& caller, void* file, unsigned cmd, uint64_t arg, unsigned flags,
                    std::string_view in, size_t out_size, std::string* out) override;
  Status poll(const Caller& caller, void* file, unsigned events, std::shared_ptr<PollWaker> waker,
              unsigned* revents) override;
  Status get_lock(const Caller& caller, void* file, uint64_t owner, struct flock* lock) override;
  Status set_lock(const Caller& caller, void* file, uint64_t owner, const struct flock& lock, bool wait) override;
  Status flock(const Caller& caller, void* file, uint64_t owner, int operation) override;
  Result<uint64_t> bmap(const Caller& caller, const std::string& path, size_t block_size, uint64_t block) override;
  Status fsync_directory(const Caller& caller, void* dir, bool datasync) override;

 private:
  // The path an operation on open file `h` passes: NULL with nullpath_ok
  // or when the file has no name; `given` (the volume's) when it has one.
  struct OpPath {
    std::string text;
    bool null = true;
    const char* c_str() const { return null ? nullptr : text.c_str(); }
  };
  OpPath file_path(Handle* h, const std::string& given, bool nullpath_allowed);
  // The name an operation that needs one uses: `given`, else the handle's.
  Status name_of(Handle* h, const std::string& given, std::string* out);

  // getattr, with the index number and the uid=/gid=/umask= overrides.
  Status stat_path(const char* path, fuse_file_info* fi, FileInfo* info);
  void to_info(const char* path, const struct stat& st, FileInfo* info);
  uint64_t ino_for(const char* path, uint64_t fs_ino);

  Result<size_t> read_into(Handle* h, void* buffer, uint64_t offset, size_t size);
  // Applies the config to a fresh open (direct_io, kernel_cache, auto_cache).
  void finish_open(Handle* h, const FileInfo& info, OpenFlags* open_flags);
  void add_handle(Handle* h, const std::string& path);
  bool path_open(const std::string& path);  // REQUIRES: names_mutex_ held
  // Renames the open file at `path` to a .fuse_hidden name in its directory.
  Status hide(const std::string& path);
  void forget_name(const std::string& path);  // its number goes
  void move_names(const std::string& from, const std::string& to, unsigned flags);

  ::fuse* const f_;
  std::atomic<Notifier*> notifier_{nullptr};

  std::mutex names_mutex_;  // handles_, paths in them, inodes_
  std::unordered_set<Handle*> handles_;
  std::unordered_map<std::string, uint64_t> inodes_;  // without use_ino
  uint64_t next_ino_ = 2;                             // 1 is the root
  std::atomic<uint64_t> hidden_counter_{0};
  // The .fuse_hidden names made by unlink, for the link count they must
  // not add. Its own mutex, held around nothing else.
  std::mutex hidden_mutex_;
  std::set<std::string, std::less<>> hidden_paths_;
  bool is_hidden(const char* path);
  // The newest poll wake-up of each open file that was polled, by the id its
  // fuse_pollhandles carry; dropped when the file closes.
  std::unordered_map<uint64_t, std::shared_ptr<PollWaker>> wakers_;  // guarded by names_mutex_
  uint64_t next_poll_id_ = 1;                                        // guarded by names_mutex_

  std::mutex cache_mutex_;  // auto_cache: what each file looked like when last opened
  struct Seen {
    timespec mtime;
    uint64_t size;
  };
  std::unordered_map<uint64_t, Seen> seen_;
};

// fuse_operations table helpers (highlevel_fs.cc).
fuse_fs* new_fs(const fuse_operations* op, size_t op_size, void* user_data);

}  // namespace linfsp::fuse
