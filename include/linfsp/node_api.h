// The node-level API: a file system that works on nodeids, as the kernel
// does, instead of paths. It keeps its own lookup counts (every entry it
// replies with is one lookup; forget() gives them back) and answers each
// request through a NodeRequest, on the request thread or later from any
// thread. libfuse's low-level API is built on it; most file systems want the
// path API (filesystem.h), where LinFsp keeps the node table, the name
// stability and the caches for them.
//
// Contract:
// - Every operation but forget/forget_multi/retrieve_reply gets a request
//   and must answer it exactly once, with one of the replies its comment
//   names or reply_error(). A request dropped unanswered is reported and
//   answered EIO. Defaults answer ENOSYS (forget: nothing).
// - Strings and data passed in (names, write data, xattr values) live only
//   until the operation returns; copy them to answer later.
// - Nodeid 1 is the root. Nodeids and generations are the file system's own.
// - No exception may escape an operation (one that does is answered EIO).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "linfsp/caller.h"
#include "linfsp/status.h"

namespace linfsp {

inline constexpr uint64_t kRootNodeId = 1;

// What the kernel may cache about a name (LOOKUP, MKNOD, MKDIR, SYMLINK,
// LINK, CREATE, READDIRPLUS). nodeid 0 in a lookup reply: "no such name",
// cached for entry_timeout.
struct EntryReply {
  uint64_t nodeid = 0;
  uint64_t generation = 0;
  struct stat attr {};
  double attr_timeout = 1.0;
  double entry_timeout = 1.0;
};

// How the kernel treats an open file (OPEN, OPENDIR, CREATE).
struct OpenReply {
  uint64_t fh = 0;  // the file system's handle, given back with every request on the file
  bool direct_io = false;    // bypass the page cache
  bool keep_cache = false;   // keep cached data from earlier opens
  bool nonseekable = false;
  bool cache_dir = false;    // (OPENDIR) the kernel may cache the listing
  bool noflush = false;      // no FLUSH on close
  bool parallel_direct_writes = false;
};

// Which attributes setattr changes.
enum SetAttrFields : uint32_t {
  kSetMode = 1 << 0,
  kSetUid = 1 << 1,
  kSetGid = 1 << 2,
  kSetSize = 1 << 3,
  kSetAtime = 1 << 4,
  kSetMtime = 1 << 5,
  kSetAtimeNow = 1 << 6,
  kSetMtimeNow = 1 << 7,
  kSetCtime = 1 << 8,
  kSetKillSuid = 1 << 9,  // clear set-user-ID (and set-group-ID if group-executable)
};

struct Forget {
  uint64_t nodeid;
  uint64_t nlookup;
};

// One request; move-only. Thread-safe: it may be answered from any thread.
class NodeRequest {
 public:
  struct State;
  explicit NodeRequest(std::shared_ptr<State> state) : state_(std::move(state)) {}
  NodeRequest(NodeRequest&&) noexcept = default;
  NodeRequest& operator=(NodeRequest&&) noexcept = default;
  NodeRequest(const NodeRequest&) = delete;
  NodeRequest& operator=(const NodeRequest&) = delete;
  ~NodeRequest();

  const Caller& caller() const;
  // The caller's supplementary groups (from /proc).
  Status supplementary_groups(std::vector<gid_t>* groups) const { return caller().supplementary_groups(groups); }
  bool interrupted() const;
  // Runs `fn` once when the kernel interrupts the request (at once if it
  // already has); `fn` must not block and may answer (reply_error(EINTR)).
  void on_interrupt(std::function<void()> fn);

  // Each answers the request and returns true, or false when it was
  // answered already or the kernel no longer wants the answer.
  bool reply_error(int err);  // err > 0
  bool reply_ok();            // no data: unlink, rmdir, rename, release, flush, fsync, setxattr, ...
  bool reply_entry(const EntryReply& entry);
  bool reply_create(const EntryReply& entry, const OpenReply& open);
  bool reply_attr(const struct stat& attr, double timeout);
  bool reply_readlink(std::string_view target);
  bool reply_open(const OpenReply& open);
  bool reply_write(size_t count);  // write, copy_file_range
  bool reply_data(const void* data, size_t size);  // read, readdir (a DirentBuffer), getxattr, listxattr
  bool reply_data(std::span<const iovec> pieces);
  // Reads `size` bytes at `offset` of `fd` and answers with them (short at EOF).
  bool reply_data_from_fd(int fd, off_t offset, size_t size);
  bool reply_statfs(const struct statvfs& st);
  bool reply_xattr_size(size_t size);  // getxattr/listxattr asked with size 0
  bool reply_lock(const struct flock& lock);
  bool reply_bmap(uint64_t block);
  bool reply_lseek(off_t offset);
  bool reply_ioctl(int result, const void* data, size_t size);
  bool reply_ioctl(int result, std::span<const iovec> pieces);
  // An unrestricted ioctl (FUSE_IOCTL_UNRESTRICTED in `flags`) whose
  // argument the kernel could not know: asks it to send the request again
  // with these areas of the caller's memory read (in) and room for these
  // (out). iov_base holds the caller's address. At most 256 of each.
  bool reply_ioctl_retry(std::span<const iovec> in, std::span<const iovec> out);
  bool reply_poll(unsigned revents);

 private:
  std::shared_ptr<State> state_;
};

// Builds a READDIR or READDIRPLUS answer of at most `room` bytes; answer with
// reply_data(buffer.data(), buffer.size()). `next` is the offset that
// resumes the listing after the entry.
class DirentBuffer {
 public:
  DirentBuffer(size_t room, bool plus);
  // READDIR: only the type and inode bits of `attr` are used.
  bool add(std::string_view name, const struct stat& attr, off_t next);
  // READDIRPLUS: each entry added counts as a lookup of its nodeid (0: none).
  bool add_plus(std::string_view name, const EntryReply& entry, off_t next);
  const char* data() const { return buffer_.data(); }
  size_t size() const { return buffer_.size(); }

  // The encoders behind add(): write one entry at `out` if it fits in
  // `room` bytes; return its size either way (libfuse's fuse_add_direntry).
  static size_t encode(char* out, size_t room, std::string_view name, const struct stat& attr, off_t next);
  static size_t encode_plus(char* out, size_t room, std::string_view name, const EntryReply& entry, off_t next);

 private:
  std::string buffer_;
  size_t room_;
  bool plus_;
};

// Node-level notifications: safe from any thread, inside a request handler
// too. They are queued to a thread that holds no lock, so no file system can
// deadlock on the kernel's directory locks; each returns once queued.
class NodeNotifier {
 public:
  virtual ~NodeNotifier() = default;
  // Drops cached attributes, and data in [offset, offset+length) (length 0:
  // to the end); offset < 0: attributes only.
  virtual Status inval_inode(uint64_t nodeid, int64_t offset, int64_t length) = 0;
  virtual Status inval_entry(uint64_t parent, std::string_view name) = 0;
  // Marks the entry stale without dropping it (used until revalidated).
  virtual Status expire_entry(uint64_t parent, std::string_view name) = 0;
  // The name went away; also tells inotify watchers.
  virtual Status delete_entry(uint64_t parent, uint64_t child, std::string_view name) = 0;
  // Puts data into the kernel's page cache.
  virtual Status store(uint64_t nodeid, uint64_t offset, std::string_view data) = 0;
  // Asks for cached data; it arrives through NodeFileSystem::retrieve_reply.
  virtual Status retrieve(uint64_t nodeid, uint64_t offset, size_t size, uint64_t cookie) = 0;
  // Wakes a poll() waiter (the handle came with NodeFileSystem::poll).
  virtual Status poll_wakeup(uint64_t poll_handle) = 0;
};

// What a node-level file system asks of the kernel when it mounts.
struct NodeMountWants {
  bool posix_locks = false;     // fcntl locks reach getlk/setlk (else the kernel keeps them local)
  bool flock_locks = false;     // flock(2) reaches flock()
  bool export_support = false;  // file handles: LOOKUP of "." and ".." may come
};

// The INIT negotiation in full, for a file system that tunes it (libfuse's
// init(userdata, conn) does). Flags are the INIT flags of <linux/fuse.h>
// (FUSE_ASYNC_READ, FUSE_WRITEBACK_CACHE...), flags2 in bits 32..63.
struct NodeInit {
  // What the running kernel offers (read-only).
  uint32_t proto_major = 0, proto_minor = 0;
  uint64_t offered = 0;
  uint32_t kernel_max_readahead = 0;
  // What LinFsp will answer, preset from the host's options and wants();
  // negotiate() may change each. Flags the kernel did not offer are dropped.
  uint64_t flags = 0;
  uint32_t max_write = 0;      // bytes; clamped to 4 KiB .. 1 MiB
  uint32_t max_readahead = 0;  // bytes; the kernel's offer caps it
  uint16_t max_background = 0;
  uint16_t congestion_threshold = 0;  // 0: three quarters of max_background
  uint32_t time_gran = 1;             // ns
};

class NodeFileSystem {
 public:
  virtual ~NodeFileSystem() = default;

  // Asked before mounting.
  virtual void wants(NodeMountWants* wants);
  // Asked with the kernel's offer while INIT is answered, on the thread that
  // serves (after wants(), before init() and before any request).
  virtual void negotiate(NodeInit* init);

  // Mounted and serving; `notifier` lives until destroy().
  virtual void init(NodeNotifier& notifier);
  virtual void destroy();

  // Names. Replies: entry (lookup also: entry with nodeid 0), or error.
  virtual void lookup(NodeRequest req, uint64_t parent, std::string_view name);
  virtual void forget(uint64_t nodeid, uint64_t nlookup);
  virtual void forget_multi(std::span<const Forget> forgets);  // default: forget() each
  virtual void mknod(NodeRequest req, uint64_t parent, std::string_view name, mode_t mode, dev_t rdev);
  virtual void mkdir(NodeRequest req, uint64_t parent, std::string_view name, mode_t mode);
  virtual void symlink(NodeRequest req, std::string_view target, uint64_t parent, std::string_view name);
  virtual void link(NodeRequest req, uint64_t nodeid, uint64_t new_parent, std::string_view new_name);
  // Replies: ok.
  virtual void unlink(NodeRequest req, uint64_t parent, std::string_view name);
  virtual void rmdir(NodeRequest req, uint64_t parent, std::string_view name);
  // flags: 0, RENAME_NOREPLACE, RENAME_EXCHANGE.
  virtual void rename(NodeRequest req, uint64_t parent, std::string_view name, uint64_t new_parent,
                      std::string_view new_name, unsigned flags);
  virtual void readlink(NodeRequest req, uint64_t nodeid);  // readlink

  // Attributes. `fh` is null unless the kernel named an open file. Replies: attr.
  virtual void getattr(NodeRequest req, uint64_t nodeid, const uint64_t* fh);
  virtual void setattr(NodeRequest req, uint64_t nodeid, const struct stat& attr, uint32_t fields,
                       const uint64_t* fh);
  virtual void access(NodeRequest req, uint64_t nodeid, int mask);  // ok
  virtual void statfs(NodeRequest req, uint64_t nodeid);            // statfs

  // Files. Replies: open (create: create); read: data; write: write.
  virtual void open(NodeRequest req, uint64_t nodeid, int flags);
  virtual void create(NodeRequest req, uint64_t parent, std::string_view name, mode_t mode, int flags);
  virtual void tmpfile(NodeRequest req, uint64_t parent, mode_t mode, int flags);  // create
  virtual void read(NodeRequest req, uint64_t nodeid, size_t size, off_t offset, uint64_t fh);
  virtual void write(NodeRequest req, uint64_t nodeid, std::string_view data, off_t offset, uint64_t fh,
                     uint32_t write_flags);
  virtual void flush(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t lock_owner);  // ok
  virtual void release(NodeRequest req, uint64_t nodeid, uint64_t fh, int flags);         // ok
  virtual void fsync(NodeRequest req, uint64_t nodeid, bool datasync, uint64_t fh);       // ok
  virtual void fallocate(NodeRequest req, uint64_t nodeid, int mode, off_t offset, off_t length,
                         uint64_t fh);                                                    // ok
  virtual void lseek(NodeRequest req, uint64_t nodeid, off_t offset, int whence, uint64_t fh);  // lseek
  virtual void copy_file_range(NodeRequest req, uint64_t in_node, off_t in_offset, uint64_t in_fh,
                               uint64_t out_node, off_t out_offset, uint64_t out_fh, size_t length,
                               int flags);  // write
  virtual void bmap(NodeRequest req, uint64_t nodeid, size_t block_size, uint64_t index);  // bmap
  // in: the input the command carries; out_size: the room for its output. Replies: ioctl.
  virtual void ioctl(NodeRequest req, uint64_t nodeid, unsigned cmd, uint64_t arg, uint64_t fh,
                     unsigned flags, std::string_view in, size_t out_size);
  // poll_handle: for poll_wakeup(), 0 when the kernel wants no wake-up. Replies: poll.
  virtual void poll(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t poll_handle, unsigned events);
  // Locks. Replies: getlk: lock; setlk, flock: ok.
  virtual void getlk(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t owner, const struct flock& lock);
  virtual void setlk(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t owner, const struct flock& lock,
                     bool wait);
  virtual void flock(NodeRequest req, uint64_t nodeid, uint64_t fh, uint64_t owner, int operation);

  // Directories. Replies: opendir: open; readdir/readdirplus: data (a
  // DirentBuffer of at most `size` bytes; empty at the end).
  virtual void opendir(NodeRequest req, uint64_t nodeid, int flags);
  virtual void readdir(NodeRequest req, uint64_t nodeid, size_t size, off_t offset, uint64_t fh);
  virtual void readdirplus(NodeRequest req, uint64_t nodeid, size_t size, off_t offset, uint64_t fh);
  virtual void releasedir(NodeRequest req, uint64_t nodeid, uint64_t fh);                // ok
  virtual void fsyncdir(NodeRequest req, uint64_t nodeid, bool datasync, uint64_t fh);  // ok

  // Extended attributes. size 0 asks for the size (xattr_size), else data
  // of at most `size` bytes (or ERANGE). setxattr/removexattr: ok.
  virtual void setxattr(NodeRequest req, uint64_t nodeid, std::string_view name, std::string_view value,
                        int flags);
  virtual void getxattr(NodeRequest req, uint64_t nodeid, std::string_view name, size_t size);
  virtual void listxattr(NodeRequest req, uint64_t nodeid, size_t size);
  virtual void removexattr(NodeRequest req, uint64_t nodeid, std::string_view name);

  // The data a NodeNotifier::retrieve asked for (no request to answer).
  virtual void retrieve_reply(uint64_t cookie, uint64_t nodeid, uint64_t offset, std::string_view data);
};

}  // namespace linfsp
