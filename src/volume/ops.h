// Private to volume/: the request being handled and the helpers the
// per-operation files share.
#pragma once

#include <string>
#include <string_view>

#include "volume/volume.h"

namespace linfsp {

struct Volume::Op {
  Volume& vol;
  session::Request& request;
  const fuse_in_header& header;
  const char* in;          // the opcode's fixed input struct
  std::string_view name;   // first name, when the opcode has one
  std::string_view name2;  // second name (SYMLINK target, RENAME new name)
  const char* tail;        // bytes after the names (SETXATTR value, WRITE data)
  size_t tail_size;
  Caller caller;
  kernel::Reply& reply;
  std::string& path;  // the path the operation resolved (also for the debug log)
  // Set by pend_read/pend_write/pend_list: the answer comes later.
  bool pended = false;
  struct DirentWriter* listing = nullptr;  // READDIR: what is encoded so far
  void* pending_file = nullptr;            // WRITE: the open context, for a pending write
  class NodeChanges* changes = nullptr;     // the nodes this request may change (fresh_attrs.h)

  template <typename T>
  const T& arg() const {
    return *reinterpret_cast<const T*>(in);
  }
  Node* node() const { return vol.nodes_->get(header.nodeid); }
  FileSystemBase& fs() const { return vol.fs_; }
  const VolumeOptions& options() const { return vol.options_; }

  void fail(int err) { reply.error(err); }
  // Replies with the status's errno (or 0 with no payload).
  void reply_status(const Status& s) {
    if (s) reply.ok();
    else reply.error(s.err());
  }
  // Replies with an entry; if the kernel refuses it, undoes the lookup.
  void reply_entry(Node* node, const FileInfo& info);
  void reply_attr(const FileInfo& info);

  // Resolves the request's node to a path into `path`; false when it has no
  // name. REQUIRES: the rename resource held.
  bool resolve(Node* node) REQUIRES_SHARED(vol.rename_resource_);
  // The path of `name` inside node `parent`. REQUIRES: the rename resource held.
  Status resolve_child(Node* parent, std::string_view name, std::string* out)
      REQUIRES_SHARED(vol.rename_resource_);
  // The open context behind a kernel file handle.
  static OpenFile* handle(uint64_t fh) { return reinterpret_cast<OpenFile*>(fh); }
  // The file system's context for handle `fh` of `node`. Handle 0 (no_open:
  // the kernel opened the file without telling us) is served by the node's
  // own context, opened on first use.
  Result<void*> file(uint64_t fh, Node* node);
  // With no_open, opens `node` (a regular file at `path`) for the volume
  // before its last name goes, as the kernel may still have it open.
  // REQUIRES: the rename resource held.
  void keep_open(Node* node, const std::string& path) REQUIRES_SHARED(vol.rename_resource_);
};

// Encodes directory entries (fuse_dirent, or fuse_direntplus) into a buffer.
struct DirentWriter {
  char* buffer;
  size_t room;
  bool plus;
  size_t used = 0;
  // Appends an entry; false when it does not fit. With plus, *entry points
  // at its zeroed fuse_entry_out (nodeid 0: the kernel will LOOKUP it).
  bool add(std::string_view name, const FileInfo& info, uint64_t next, fuse_entry_out** entry = nullptr);
};

// Calls the file system's read/write/read_directory with `op.caller` able to
// pend; returns true when it did (the pending object answers).
// REQUIRES: `result` is what the call returned.
bool went_pending(Volume::Op& op, const Status& result);

// The nodes a request may change, marked as changing (FreshAttrs) while the
// request runs. A handler that learns a node's new attributes keeps them for
// the GETATTR that follows; none is kept while a write is pending anywhere
// (a pending write changes its file after its request thread moved on).
// Holds no Node: after the reply a FORGET may free one.
class NodeChanges {
 public:
  NodeChanges(Volume& vol, const session::Request& request);
  ~NodeChanges();
  NodeChanges(const NodeChanges&) = delete;
  NodeChanges& operator=(const NodeChanges&) = delete;
  void keep(uint64_t nodeid, const FileInfo& info);

 private:
  struct Changing {
    std::shared_ptr<FreshAttrs> fresh;
    uint64_t nodeid;
    uint64_t ticket;
    bool ended = false;
  };
  void add(std::shared_ptr<FreshAttrs> fresh, uint64_t nodeid);
  FreshAttrs::Clock::time_point fresh_until() const;
  Volume& vol_;
  Changing changing_[3];  // the request's node, and up to two named ones (RENAME)
  size_t count_ = 0;
};

// With FUSE_HANDLE_KILLPRIV_V2 the kernel leaves clearing set-user-ID and
// set-group-ID after a write to us.
void kill_suid_sgid(FileSystemBase& fs, const Caller& caller, const std::string& path, void* file,
                    FileInfo* info);

// The open flags the host options give, before the file system changes them.
OpenFlags default_open_flags(Volume::Op& op, bool directory);
uint32_t fopen_bits(const OpenFlags& open_flags);

// A per-thread buffer for replies, grown once and reused.
char* reply_buffer(size_t size);
// Converts seconds to the kernel's (seconds, nanoseconds) pair.
void split_timeout(double seconds, uint64_t* sec, uint32_t* nsec);
void fill_attr(const FileInfo& info, fuse_attr* attr);

// poll() wake-ups reach the notification queue through a channel that the
// volume cuts when it goes (extra_ops.cc).
std::shared_ptr<PollChannel> make_poll_channel(session::NotificationQueue& queue);
void close_poll_channel(PollChannel* channel);

// Per-opcode handlers, grouped by file.
struct Handlers {
  // names.cc
  static void lookup(Volume::Op& op);
  static void forget(Volume::Op& op);
  static void batch_forget(Volume::Op& op);
  static void mkdir(Volume::Op& op);
  static void mknod(Volume::Op& op);
  static void symlink(Volume::Op& op);
  static void link(Volume::Op& op);
  static void unlink(Volume::Op& op);
  static void rmdir(Volume::Op& op);
  static void rename(Volume::Op& op);
  static void rename2(Volume::Op& op);
  static void readlink(Volume::Op& op);
  // files.cc
  static void getattr(Volume::Op& op);
  static void setattr(Volume::Op& op);
  static void open(Volume::Op& op);
  static void create(Volume::Op& op);
  static void tmpfile(Volume::Op& op);
  static void read(Volume::Op& op);
  static void write(Volume::Op& op);
  static void release(Volume::Op& op);
  static void flush(Volume::Op& op);
  static void fsync(Volume::Op& op);
  static void fallocate(Volume::Op& op);
  static void lseek(Volume::Op& op);
  static void copy_file_range(Volume::Op& op);
  static void statfs(Volume::Op& op);
  static void access(Volume::Op& op);
  static void setxattr(Volume::Op& op);
  static void getxattr(Volume::Op& op);
  static void listxattr(Volume::Op& op);
  static void removexattr(Volume::Op& op);
  // dirs.cc
  static void opendir(Volume::Op& op);
  static void readdir(Volume::Op& op);
  static void readdirplus(Volume::Op& op);
  static void releasedir(Volume::Op& op);
  static void fsyncdir(Volume::Op& op);
  // volume.cc
  static void ok(Volume::Op& op);
  // extra_ops.cc
  static void ioctl(Volume::Op& op);
  static void poll(Volume::Op& op);
  static void getlk(Volume::Op& op);
  static void setlk(Volume::Op& op);
  static void setlkw(Volume::Op& op);
  static void bmap(Volume::Op& op);

  // Registers an open handle and answers OPEN/OPENDIR, or CREATE when
  // `created` holds the new file's attributes.
  // Answers OPEN/CREATE with handle `fh`; false if the opener is gone (the
  // lookup a CREATE added is then undone).
  static bool reply_open(Volume::Op& op, Node* node, uint64_t fh, uint32_t open_flags,
                         const FileInfo* created);
  // Answers CREATE or TMPFILE for the file just made (`context` open on it).
  static void reply_created(Volume::Op& op, Node* node, void* context, const FileInfo& info,
                            const OpenFlags& open_flags);
  static void open_common(Volume::Op& op, Node* node, void* context, bool directory,
                          uint32_t open_flags, const FileInfo* created = nullptr);
  static void release_handle(Volume& vol, OpenFile* file);
};

}  // namespace linfsp
