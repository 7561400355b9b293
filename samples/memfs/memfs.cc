// MEMFS: files, directories, symlinks, hard links, special files, xattrs,
// sparse data and limits, all in memory.
//
// Data layout: a file's data is a map of fixed-size pages (absent = hole), so
// appends never reallocate and sparse files cost nothing. A directory keeps
// its entries in cookie order (stable across inserts and removals, which
// seekdir/telldir rely on) plus a hash from name to cookie.
//
// Locking: one reader/writer lock over the whole tree; reads take it shared.
#include "memfs.h"
#include "timer.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/limits.h>
#include <sys/sysinfo.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <unordered_map>

namespace memfs {
namespace {

using linfsp::Caller;
using linfsp::DirFiller;
using linfsp::FileInfo;
using linfsp::OpenFlags;
using linfsp::Result;
using linfsp::SetAttr;
using linfsp::Status;
using linfsp::VolumeInfo;

constexpr uint64_t kPageSize = 16 * 1024;

Status err(int e) { return Status::error(e); }

timespec now() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

struct Node;
using NodePtr = std::shared_ptr<Node>;

struct Entry {
  std::string name;
  NodePtr node;
};

struct Directory {
  std::map<uint64_t, Entry> by_cookie;
  std::unordered_map<std::string, uint64_t> by_key;  // key: name, folded if case-insensitive
  uint64_t next_cookie = 1;
};

// What the file system uses, kept current as nodes come and go.
// Guarded by MemFs::mu_ (a node dies under it: every last reference is
// dropped while the lock is held exclusive).
struct Usage {
  uint64_t nodes = 0;
  uint64_t bytes = 0;
};

struct Node {
  explicit Node(Usage* u) : usage(u) { usage->nodes++; }
  ~Node() {
    usage->nodes--;
    usage->bytes -= pages.size() * kPageSize + xattr_bytes;
  }
  Usage* const usage;
  uint64_t ino;
  mode_t mode;
  uint32_t nlink = 1;
  uid_t uid;
  gid_t gid;
  dev_t rdev = 0;
  timespec atime, mtime, ctime;
  uint64_t size = 0;
  std::map<uint64_t, std::unique_ptr<char[]>> pages;  // page index -> kPageSize bytes
  std::unique_ptr<Directory> dir;
  Node* parent = nullptr;  // directories only
  std::string target;      // symlinks
  std::map<std::string, std::string> xattrs;
  uint64_t xattr_bytes = 0;  // names and values, counted in Usage::bytes
  uint64_t xattr_list = 0;   // what listxattr returns: names with their NULs
};

struct Handle {
  NodePtr node;
  // Directories: cookies from here on belong to entries added after the
  // listing began. Renaming an entry gives it a new cookie at the end, so a
  // listing that returned those could meet the same entry forever.
  std::atomic<uint64_t> listing_end{0};
};

class MemFs final : public linfsp::FileSystemBase {
 public:
  explicit MemFs(const Options& o) : options_(o) {
    if (options_.max_size == 0) {
      struct sysinfo si;
      sysinfo(&si);
      options_.max_size = static_cast<uint64_t>(si.totalram) * si.mem_unit / 2;
    }
    root_ = new_node(S_IFDIR | 0755, Caller{getuid(), getgid(), 0, nullptr});
    root_->nlink = 2;
    if (options_.notify_demo) {
      Result<NodePtr> control = add(Caller{getuid(), getgid(), 0, nullptr}, kControlPath, S_IFREG | 0600);
      if (control) control_ = *control;
    }
  }

  void mounted(linfsp::Notifier& notifier) override { notifier_ = &notifier; }
  void unmounting() override { notifier_ = nullptr; }

  Status get_volume_info(const Caller&, VolumeInfo* v) override {
    std::shared_lock lock(mu_);
    v->block_size = 4096;
    v->total_bytes = options_.max_size;
    v->free_bytes = options_.max_size - std::min(options_.max_size, usage_.bytes);
    v->total_files = options_.max_nodes;
    v->free_files = options_.max_nodes - std::min(options_.max_nodes, usage_.nodes);
    v->name_max = 255;
    return Status::ok();
  }

  Status get_file_info(const Caller&, const std::string& path, void* file, FileInfo* info) override {
    std::shared_lock lock(mu_);
    Result<Node*> n = find(path, file);
    if (!n) return n.status();
    fill(**n, info);
    return Status::ok();
  }

  Status set_file_info(const Caller&, const std::string& path, void* file, const SetAttr& a,
                       FileInfo* info) override {
    std::unique_lock lock(mu_);
    Result<Node*> found = find(path, file);
    if (!found) return found.status();
    Node& n = **found;
    timespec t = now();
    if (a.valid & SetAttr::kSize) {
      if (S_ISDIR(n.mode)) return err(EISDIR);
      if (!S_ISREG(n.mode)) return err(EINVAL);
      if (Status s = resize(n, a.size); !s) return s;
      if (!(a.valid & (SetAttr::kMtime | SetAttr::kMtimeNow))) n.mtime = t;
    }
    if (a.valid & SetAttr::kMode) n.mode = (n.mode & S_IFMT) | (a.mode & 07777);
    if (a.valid & SetAttr::kUid) n.uid = a.uid;
    if (a.valid & SetAttr::kGid) n.gid = a.gid;
    if (a.valid & SetAttr::kKillSuid) {
      n.mode &= ~S_ISUID;
      if ((n.mode & S_IXGRP) || (a.valid & SetAttr::kKillSgid)) n.mode &= ~S_ISGID;
    }
    if (a.valid & SetAttr::kAtime) n.atime = a.atime;
    if (a.valid & SetAttr::kAtimeNow) n.atime = t;
    if (a.valid & SetAttr::kMtime) n.mtime = a.mtime;
    if (a.valid & SetAttr::kMtimeNow) n.mtime = t;
    n.ctime = (a.valid & SetAttr::kCtime) ? a.ctime : t;
    fill(n, info);
    return Status::ok();
  }

  Status create(const Caller& c, const std::string& path, mode_t mode, int flags, void** file,
                FileInfo* info, OpenFlags*) override {
    std::unique_lock lock(mu_);
    Result<NodePtr> n = add(c, path, S_IFREG | (mode & 07777));
    if (!n) return n.status();
    (void)flags;
    *file = new Handle{*n};
    fill(**n, info);
    return Status::ok();
  }

  Status open(const Caller&, const std::string& path, int flags, void** file, FileInfo* info, OpenFlags*) override {
    std::unique_lock lock(mu_);
    Result<NodePtr> n = find_ptr(path);
    if (!n) return n.status();
    Node& node = **n;
    if (S_ISDIR(node.mode) && (flags & O_ACCMODE) != O_RDONLY) return err(EISDIR);
    if ((flags & O_TRUNC) && S_ISREG(node.mode) && (flags & O_ACCMODE) != O_RDONLY) {
      resize(node, 0);
      node.mtime = node.ctime = now();
    }
    *file = new Handle{*n};
    fill(node, info);
    return Status::ok();
  }

  void close(void* file) override {
    std::unique_lock lock(mu_);  // the last reference may free an unlinked file's data
    delete static_cast<Handle*>(file);
  }

  // No flush: MEMFS has nothing to write back at close, and answering ENOSYS
  // once stops the kernel from sending FLUSH on every close.
  Status fsync(const Caller&, void*, bool) override { return Status::ok(); }

  Result<size_t> read(const Caller& caller, void* file, void* buffer, uint64_t offset,
                      size_t size) override {
    if (options_.slow_io_ms) {
      if (auto pending = linfsp::pend_read(caller)) {
        complete_later(pending, [this, pending, file, offset] {
          pending->complete(read_now(file, pending->buffer(), offset, pending->size()));
        });
        return Status::pending();
      }
      if (Status s = slow_io(caller); !s) return s;
    }
    return read_now(file, buffer, offset, size);
  }

  Result<size_t> write(const Caller& caller, void* file, const void* buffer, uint64_t offset,
                       size_t size, FileInfo* info) override {
    if (options_.slow_io_ms) {
      if (auto pending = linfsp::pend_write(caller)) {
        complete_later(pending, [this, pending, file, offset] {
          FileInfo updated;
          std::string_view data = pending->data();
          Result<size_t> n = write_now(file, data.data(), offset, data.size(), &updated);
          pending->complete(n, updated);
        });
        return Status::pending();
      }
      if (Status s = slow_io(caller); !s) return s;
    }
    return write_now(file, buffer, offset, size, info);
  }

  Result<size_t> read_now(void* file, void* buffer, uint64_t offset, size_t size) {
    Node& n = *static_cast<Handle*>(file)->node;
    {
      std::shared_lock lock(mu_);
      if (!S_ISREG(n.mode)) return err(EISDIR);
      if (offset >= n.size) return size_t{0};
      size = static_cast<size_t>(std::min<uint64_t>(size, n.size - offset));
      copy_out(n, static_cast<char*>(buffer), offset, size);
      if (!atime_due(n, false)) return size;
    }
    std::unique_lock lock(mu_);
    n.atime = now();
    return size;
  }

  // Whether an access now updates n's atime, by the mount's atime mode.
  bool atime_due(const Node& n, bool directory) const {
    if (directory && !options_.dir_atime) return false;
    switch (options_.atime) {
      case Options::Atime::kNever:
        return false;
      case Options::Atime::kStrict:
        return true;
      case Options::Atime::kRelative:
        break;
    }
    // relatime: the first access after a change, and then once a day.
    auto not_after = [](const timespec& a, const timespec& b) {
      return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec <= b.tv_nsec);
    };
    return not_after(n.atime, n.mtime) || not_after(n.atime, n.ctime) || now().tv_sec - n.atime.tv_sec >= 24 * 3600;
  }

  Result<size_t> write_now(void* file, const void* buffer, uint64_t offset, size_t size, FileInfo* info) {
    if (control_ && static_cast<Handle*>(file)->node == control_) {
      if (Status s = control(std::string_view(static_cast<const char*>(buffer), size)); !s) return s;
      fill(*control_, info);
      return size;
    }
    std::unique_lock lock(mu_);
    Node& n = *static_cast<Handle*>(file)->node;
    if (offset >= options_.max_file_size) return err(EFBIG);
    size = static_cast<size_t>(std::min<uint64_t>(size, options_.max_file_size - offset));
    if (Status s = allocate(n, offset, size); !s) return s;
    const char* src = static_cast<const char*>(buffer);
    for (uint64_t done = 0; done < size;) {
      uint64_t pos = offset + done;
      uint64_t in_page = pos % kPageSize;
      uint64_t chunk = std::min<uint64_t>(kPageSize - in_page, size - done);
      std::memcpy(n.pages[pos / kPageSize].get() + in_page, src + done, chunk);
      done += chunk;
    }
    n.size = std::max<uint64_t>(n.size, offset + size);
    n.mtime = n.ctime = now();
    fill(n, info);
    return size;
  }

  Status fallocate(const Caller&, void* file, int mode, uint64_t offset, uint64_t length, FileInfo* info) override {
    std::unique_lock lock(mu_);
    Node& n = *static_cast<Handle*>(file)->node;
    if (!S_ISREG(n.mode)) return err(ENODEV);
    if (length == 0 || offset + length < offset) return err(EINVAL);
    if (offset + length > options_.max_file_size) return err(EFBIG);
    bool keep_size = mode & FALLOC_FL_KEEP_SIZE;
    switch (mode & ~FALLOC_FL_KEEP_SIZE) {
      case 0:
        if (Status s = allocate(n, offset, length); !s) return s;
        break;
      case FALLOC_FL_PUNCH_HOLE:
        if (!keep_size) return err(EOPNOTSUPP);
        zero(n, offset, length);
        break;
      case FALLOC_FL_ZERO_RANGE:
        zero(n, offset, length);
        if (Status s = allocate(n, offset, length); !s) return s;
        break;
      default:
        return err(EOPNOTSUPP);
    }
    if (!keep_size && offset + length > n.size) n.size = offset + length;
    if (mode != 0 || !keep_size) n.mtime = n.ctime = now();
    fill(n, info);
    return Status::ok();
  }

  Result<uint64_t> seek(const Caller&, void* file, uint64_t offset, int whence) override {
    std::shared_lock lock(mu_);
    Node& n = *static_cast<Handle*>(file)->node;
    if (whence != SEEK_DATA && whence != SEEK_HOLE) return err(EINVAL);
    if (offset >= n.size) return err(ENXIO);
    auto it = n.pages.lower_bound(offset / kPageSize);
    if (whence == SEEK_DATA) {
      if (it == n.pages.end() || it->first * kPageSize >= n.size) return err(ENXIO);
      return std::max(offset, it->first * kPageSize);
    }
    // SEEK_HOLE: the first byte at or after offset not covered by a page.
    uint64_t pos = offset;
    while (it != n.pages.end() && it->first == pos / kPageSize) {
      pos = (it->first + 1) * kPageSize;
      ++it;
    }
    return std::min(pos, n.size);
  }

  Result<size_t> copy_range(const Caller&, void* in, uint64_t off_in, void* out, uint64_t off_out, size_t size,
                            FileInfo* info) override {
    std::unique_lock lock(mu_);
    Node& src = *static_cast<Handle*>(in)->node;
    Node& dst = *static_cast<Handle*>(out)->node;
    if (off_in >= src.size) return size_t{0};
    size = static_cast<size_t>(std::min<uint64_t>({size, src.size - off_in, 16u << 20}));
    if (off_out >= options_.max_file_size) return err(EFBIG);
    size = static_cast<size_t>(std::min<uint64_t>(size, options_.max_file_size - off_out));
    std::unique_ptr<char[]> tmp(new char[size]);  // the ranges may overlap
    copy_out(src, tmp.get(), off_in, size);
    if (Status s = allocate(dst, off_out, size); !s) return s;
    for (uint64_t done = 0; done < size;) {
      uint64_t pos = off_out + done;
      uint64_t in_page = pos % kPageSize;
      uint64_t chunk = std::min<uint64_t>(kPageSize - in_page, size - done);
      std::memcpy(dst.pages[pos / kPageSize].get() + in_page, tmp.get() + done, chunk);
      done += chunk;
    }
    dst.size = std::max<uint64_t>(dst.size, off_out + size);
    dst.mtime = dst.ctime = now();
    fill(dst, info);
    return size;
  }

  Status open_directory(const Caller&, const std::string& path, void** dir, OpenFlags*) override {
    std::shared_lock lock(mu_);
    Result<NodePtr> n = find_ptr(path);
    if (!n) return n.status();
    if (!S_ISDIR((*n)->mode)) return err(ENOTDIR);
    *dir = new Handle{*n};
    return Status::ok();
  }

  void close_directory(void* dir) override { close(dir); }

  Status read_directory(const Caller&, void* dir, uint64_t offset, const DirFiller& filler) override {
    Node& n = *static_cast<Handle*>(dir)->node;
    if (offset == 0) {  // a listing begins: an access of the directory
      std::unique_lock lock(mu_);
      if (n.dir && atime_due(n, true)) n.atime = now();
    }
    std::shared_lock lock(mu_);
    if (!n.dir) return err(ENOTDIR);
    // A listing begins at offset 0 (opendir, rewinddir).
    Handle& h = *static_cast<Handle*>(dir);
    uint64_t end = h.listing_end.load();
    if (offset == 0 || end == 0) {
      end = n.dir->next_cookie;
      h.listing_end.store(end);
    }
    FileInfo info;
    for (auto it = n.dir->by_cookie.upper_bound(offset); it != n.dir->by_cookie.end() && it->first < end; ++it) {
      fill(*it->second.node, &info);
      if (!filler(it->second.name, info, it->first)) break;
    }
    return Status::ok();
  }

  Status mkdir(const Caller& c, const std::string& path, mode_t mode, FileInfo* info) override {
    std::unique_lock lock(mu_);
    Result<NodePtr> n = add(c, path, S_IFDIR | (mode & 07777));
    if (!n) return n.status();
    fill(**n, info);
    return Status::ok();
  }

  Status mknod(const Caller& c, const std::string& path, mode_t mode, dev_t rdev, FileInfo* info) override {
    mode_t type = mode & S_IFMT;
    if (type == 0) type = S_IFREG;
    if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR && type != S_IFBLK) {
      return err(EINVAL);
    }
    std::unique_lock lock(mu_);
    Result<NodePtr> n = add(c, path, type | (mode & 07777));
    if (!n) return n.status();
    (*n)->rdev = rdev;
    fill(**n, info);
    return Status::ok();
  }

  Status symlink(const Caller& c, const std::string& path, const std::string& target,
                 FileInfo* info) override {
    std::unique_lock lock(mu_);
    Result<NodePtr> n = add(c, path, S_IFLNK | 0777);
    if (!n) return n.status();
    (*n)->target = target;
    (*n)->size = target.size();
    fill(**n, info);
    return Status::ok();
  }

  Status create_unnamed(const Caller& c, const std::string& dir, mode_t mode, int, void** file,
                        FileInfo* info, OpenFlags*) override {
    std::unique_lock lock(mu_);
    Result<NodePtr> parent = find_ptr(dir);
    if (!parent) return parent.status();
    if (!(*parent)->dir) return err(ENOTDIR);
    if (usage_.nodes >= options_.max_nodes) return err(ENOSPC);
    NodePtr n = new_node(S_IFREG | (mode & 07777), c);
    if ((*parent)->mode & S_ISGID) n->gid = (*parent)->gid;
    n->nlink = 0;
    *file = new Handle{n};
    fill(*n, info);
    return Status::ok();
  }

  Status link(const Caller&, const std::string& existing, void* file, const std::string& path,
              FileInfo* info) override {
    std::unique_lock lock(mu_);
    Result<NodePtr> src = existing.empty() && file ? Result<NodePtr>(static_cast<Handle*>(file)->node)
                                                   : find_ptr(existing);
    if (!src) return src.status();
    if (S_ISDIR((*src)->mode)) return err(EPERM);
    if (Status s = insert(path, *src); !s) return s;
    (*src)->nlink++;
    (*src)->ctime = now();
    fill(**src, info);
    return Status::ok();
  }

  Status read_link(const Caller&, const std::string& path, std::string* target) override {
    std::shared_lock lock(mu_);
    Result<Node*> n = find(path, nullptr);
    if (!n) return n.status();
    if (!S_ISLNK((*n)->mode)) return err(EINVAL);
    *target = (*n)->target;
    return Status::ok();
  }

  Status unlink(const Caller&, const std::string& path) override {
    std::unique_lock lock(mu_);
    return remove(path, false);
  }

  Status rmdir(const Caller&, const std::string& path) override {
    std::unique_lock lock(mu_);
    return remove(path, true);
  }

  Status rename(const Caller&, const std::string& from, const std::string& to, unsigned flags) override;

  Status get_xattr(const Caller&, const std::string& path, void* file, const std::string& name, std::string* value) override {
    std::shared_lock lock(mu_);
    Result<Node*> n = find(path, file);
    if (!n) return n.status();
    auto it = (*n)->xattrs.find(name);
    if (it == (*n)->xattrs.end()) return err(ENODATA);
    *value = it->second;
    return Status::ok();
  }

  Status set_xattr(const Caller&, const std::string& path, void* file, const std::string& name, std::string_view value,
                   int flags) override {
    if (!supported_xattr(name)) return err(EOPNOTSUPP);
    std::unique_lock lock(mu_);
    Result<Node*> found = find(path, file);
    if (!found) return found.status();
    Node& n = **found;
    auto it = n.xattrs.find(name);
    if ((flags & XATTR_CREATE) && it != n.xattrs.end()) return err(EEXIST);
    if ((flags & XATTR_REPLACE) && it == n.xattrs.end()) return err(ENODATA);
    if (value.size() > XATTR_SIZE_MAX) return err(E2BIG);
    // Values take room from --max-size like data. The names must stay
    // listable: listxattr returns at most XATTR_LIST_MAX bytes.
    uint64_t old = it == n.xattrs.end() ? 0 : name.size() + it->second.size();
    uint64_t added = name.size() + value.size();
    if (added > old && usage_.bytes + (added - old) > options_.max_size) return err(ENOSPC);
    if (it == n.xattrs.end() && n.xattr_list + name.size() + 1 > XATTR_LIST_MAX) return err(ENOSPC);
    if (it == n.xattrs.end()) n.xattr_list += name.size() + 1;
    n.xattrs[name] = std::string(value);
    usage_.bytes = usage_.bytes - old + added;
    n.xattr_bytes = n.xattr_bytes - old + added;
    n.ctime = now();
    return Status::ok();
  }

  Status list_xattr(const Caller&, const std::string& path, void* file, std::string* names) override {
    std::shared_lock lock(mu_);
    Result<Node*> n = find(path, file);
    if (!n) return n.status();
    names->clear();
    for (const auto& [k, v] : (*n)->xattrs) {
      names->append(k);
      names->push_back('\0');
    }
    return Status::ok();
  }

  Status remove_xattr(const Caller&, const std::string& path, void* file, const std::string& name) override {
    std::unique_lock lock(mu_);
    Result<Node*> n = find(path, file);
    if (!n) return n.status();
    auto it = (*n)->xattrs.find(name);
    if (it == (*n)->xattrs.end()) return err(ENODATA);
    uint64_t bytes = name.size() + it->second.size();
    (*n)->xattrs.erase(it);
    usage_.bytes -= bytes;
    (*n)->xattr_bytes -= bytes;
    (*n)->xattr_list -= name.size() + 1;
    (*n)->ctime = now();
    return Status::ok();
  }

 private:
  static constexpr const char* kControlPath = "/.notify-demo";

  // Runs one command written to /.notify-demo: the change happens inside
  // MEMFS, not through the kernel, so only the notification tells the kernel.
  Status control(std::string_view text) {
    std::istringstream in{std::string(text)};
    std::string verb, a, b;
    in >> verb;
    bool quiet = verb == "quiet";
    if (quiet) in >> verb;
    in >> a;
    std::getline(in >> std::ws, b);
    const Caller root{0, 0, 0, nullptr};
    Status s;
    std::vector<std::pair<linfsp::NotifyAction, std::string>> changes;
    if (verb == "write" && !a.empty()) {
      void* f = nullptr;
      FileInfo info;
      bool created = false;
      OpenFlags unused;
      s = open(root, a, O_WRONLY | O_TRUNC, &f, &info, &unused);
      if (s.err() == ENOENT) {
        s = create(root, a, 0644, O_WRONLY, &f, &info, &unused);
        created = true;
      }
      if (s) {
        Result<size_t> n = write(root, f, b.data(), 0, b.size(), &info);
        close(f);
        s = n.status();
      }
      changes.push_back({created ? linfsp::NotifyAction::kAdded : linfsp::NotifyAction::kModified, a});
    } else if (verb == "remove" && !a.empty()) {
      s = unlink(root, a);
      changes.push_back({linfsp::NotifyAction::kRemoved, a});
    } else if (verb == "mkdir" && !a.empty()) {
      FileInfo info;
      s = mkdir(root, a, 0755, &info);
      changes.push_back({linfsp::NotifyAction::kAdded, a});
    } else if (verb == "rename" && !a.empty() && !b.empty()) {
      s = rename(root, a, b, 0);
      changes.push_back({linfsp::NotifyAction::kRenamedOldName, a});
      changes.push_back({linfsp::NotifyAction::kRenamedNewName, b});
    } else {
      return err(EINVAL);
    }
    linfsp::Notifier* notifier = notifier_.load();
    if (!s || quiet || notifier == nullptr) return s;
    linfsp::NotifyBatch batch;
    for (const auto& [action, path] : changes) batch.add(action, path);
    if (Status b = notifier->notify_begin(std::chrono::seconds(5)); !b) return b;
    Status posted = notifier->notify(batch.data(), batch.size());
    Status ended = notifier->notify_end();
    return posted ? ended : posted;
  }

  // The slow-I/O mode: a pending request completes from the timer after the
  // delay, or with EINTR as soon as its caller is interrupted.
  template <typename Pending>
  void complete_later(const std::shared_ptr<Pending>& pending, std::function<void()> work) {
    pending->on_interrupt([pending] { pending->fail(Status::error(EINTR)); });
    timer_.after(std::chrono::milliseconds(options_.slow_io_ms), std::move(work));
  }

  // Where a request cannot pend: waits, but gives up as soon as the caller
  // is interrupted.
  Status slow_io(const Caller& caller) const {
    for (unsigned ms = 0; ms < options_.slow_io_ms; ++ms) {
      if (caller.is_interrupted()) return err(EINTR);
      usleep(1000);
    }
    return Status::ok();
  }

  static bool supported_xattr(const std::string& name) {
    for (const char* prefix : {"user.", "trusted.", "security."}) {
      if (name.rfind(prefix, 0) == 0 && name.size() > std::strlen(prefix)) return true;
    }
    return false;
  }

  std::string key(std::string_view name) const {
    std::string k(name);
    if (options_.case_insensitive) {
      for (char& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    return k;
  }

  NodePtr new_node(mode_t mode, const Caller& c) {
    auto n = std::make_shared<Node>(&usage_);
    n->ino = next_ino_++;
    n->mode = mode;
    n->uid = c.uid;
    n->gid = c.gid;
    n->atime = n->mtime = n->ctime = now();
    if (S_ISDIR(mode)) n->dir = std::make_unique<Directory>();
    return n;
  }

  void fill(const Node& n, FileInfo* info) const {
    info->ino = n.ino;
    info->mode = n.mode;
    info->nlink = n.nlink;
    info->uid = n.uid;
    info->gid = n.gid;
    info->rdev = n.rdev;
    info->size = n.size;
    info->blocks = n.pages.size() * (kPageSize / 512);
    info->atime = n.atime;
    info->mtime = n.mtime;
    info->ctime = n.ctime;
  }

  // Splits "/a/b/c" into the parent directory node and "c".
  Result<Node*> parent_of(const std::string& path, std::string_view* name) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos || slash + 1 == path.size()) return err(EINVAL);
    *name = std::string_view(path).substr(slash + 1);
    Result<NodePtr> dir = find_ptr(slash == 0 ? std::string("/") : path.substr(0, slash));
    if (!dir) return dir.status();
    if (!(*dir)->dir) return err(ENOTDIR);
    return dir->get();
  }

  Result<NodePtr> find_ptr(const std::string& path) {
    if (path.empty() || path[0] != '/') return err(ENOENT);
    NodePtr node = root_;
    size_t pos = 1;
    while (pos < path.size()) {
      size_t end = path.find('/', pos);
      if (end == std::string::npos) end = path.size();
      if (!node->dir) return err(ENOTDIR);
      auto it = node->dir->by_key.find(key(std::string_view(path).substr(pos, end - pos)));
      if (it == node->dir->by_key.end()) return err(ENOENT);
      node = node->dir->by_cookie.at(it->second).node;
      pos = end + 1;
    }
    return node;
  }

  // By open context when there is one, else by path.
  Result<Node*> find(const std::string& path, void* file) {
    if (file) return static_cast<Handle*>(file)->node.get();
    Result<NodePtr> n = find_ptr(path);
    if (!n) return n.status();
    return n->get();
  }

  // Links `node` under `path`, which must not exist. REQUIRES: mu_ exclusive.
  Status insert(const std::string& path, const NodePtr& node) {
    std::string_view name;
    Result<Node*> parent = parent_of(path, &name);
    if (!parent) return parent.status();
    if (name.size() > 255) return err(ENAMETOOLONG);
    Directory& d = *(*parent)->dir;
    std::string k = key(name);
    if (d.by_key.count(k)) return err(EEXIST);
    uint64_t cookie = d.next_cookie++;
    d.by_cookie.emplace(cookie, Entry{std::string(name), node});
    d.by_key.emplace(std::move(k), cookie);
    if (node->dir) {
      node->parent = *parent;
      (*parent)->nlink++;
    }
    (*parent)->mtime = (*parent)->ctime = now();
    return Status::ok();
  }

  // Creates a node at `path`. REQUIRES: mu_ exclusive.
  Result<NodePtr> add(const Caller& c, const std::string& path, mode_t mode) {
    std::string_view name;
    Result<Node*> parent = parent_of(path, &name);
    if (!parent) return parent.status();
    if ((*parent)->dir->by_key.count(key(name))) return err(EEXIST);
    if (usage_.nodes >= options_.max_nodes) return err(ENOSPC);
    NodePtr n = new_node(mode, c);
    // A set-group-ID directory hands its group down, and its bit to subdirectories.
    if ((*parent)->mode & S_ISGID) {
      n->gid = (*parent)->gid;
      if (S_ISDIR(mode)) n->mode |= S_ISGID;
    }
    if (S_ISDIR(mode)) n->nlink = 2;
    if (Status s = insert(path, n); !s) return s;
    return n;
  }

  // Unlinks `name` from its directory. REQUIRES: mu_ exclusive.
  void detach(Node& parent, const std::string& k) {
    Directory& d = *parent.dir;
    auto it = d.by_key.find(k);
    NodePtr child = d.by_cookie.at(it->second).node;
    d.by_cookie.erase(it->second);
    d.by_key.erase(it);
    timespec t = now();
    if (child->dir) {
      parent.nlink--;
      child->nlink = 0;  // its "." and the name are gone together
      child->parent = nullptr;
    } else {
      child->nlink--;
    }
    child->ctime = t;
    parent.mtime = parent.ctime = t;
  }

  Status remove(const std::string& path, bool directory) {
    std::string_view name;
    Result<Node*> parent = parent_of(path, &name);
    if (!parent) return parent.status();
    Directory& d = *(*parent)->dir;
    std::string k = key(name);
    auto it = d.by_key.find(k);
    if (it == d.by_key.end()) return err(ENOENT);
    Node& child = *d.by_cookie.at(it->second).node;
    if (directory) {
      if (!child.dir) return err(ENOTDIR);
      if (!child.dir->by_cookie.empty()) return err(ENOTEMPTY);
    } else if (child.dir) {
      return err(EISDIR);
    }
    detach(**parent, k);
    return Status::ok();
  }

  // Makes room for [offset, offset+size) in pages. REQUIRES: mu_ exclusive.
  Status allocate(Node& n, uint64_t offset, uint64_t size) {
    if (size == 0) return Status::ok();
    uint64_t first = offset / kPageSize, last = (offset + size - 1) / kPageSize;
    uint64_t missing = 0;
    for (uint64_t p = first; p <= last; ++p) missing += n.pages.count(p) ? 0 : 1;
    if (usage_.bytes + missing * kPageSize > options_.max_size) return err(ENOSPC);
    for (uint64_t p = first; p <= last && missing > 0; ++p) {
      auto [it, inserted] = n.pages.try_emplace(p);
      if (inserted) it->second.reset(new char[kPageSize]());
    }
    usage_.bytes += missing * kPageSize;
    return Status::ok();
  }

  // Frees pages from index `first` on. REQUIRES: mu_ exclusive.
  void release_pages(Node& n, uint64_t first) {
    auto it = n.pages.lower_bound(first);
    usage_.bytes -= std::distance(it, n.pages.end()) * kPageSize;
    n.pages.erase(it, n.pages.end());
  }

  // Zeroes [offset, offset+length), freeing whole pages. REQUIRES: mu_ exclusive.
  void zero(Node& n, uint64_t offset, uint64_t length) {
    uint64_t end = offset + length;
    for (auto it = n.pages.lower_bound(offset / kPageSize); it != n.pages.end();) {
      uint64_t start = it->first * kPageSize;
      if (start >= end) break;
      uint64_t from = std::max(offset, start), to = std::min(end, start + kPageSize);
      if (from == start && to == start + kPageSize) {
        it = n.pages.erase(it);
        usage_.bytes -= kPageSize;
        continue;
      }
      std::memset(it->second.get() + (from - start), 0, to - from);
      ++it;
    }
  }

  Status resize(Node& n, uint64_t size) {
    if (size > options_.max_file_size) return err(EFBIG);
    if (size < n.size) {
      release_pages(n, (size + kPageSize - 1) / kPageSize);
      if (size % kPageSize) {
        auto it = n.pages.find(size / kPageSize);
        if (it != n.pages.end()) std::memset(it->second.get() + size % kPageSize, 0, kPageSize - size % kPageSize);
      }
    }
    n.size = size;
    return Status::ok();
  }

  void copy_out(const Node& n, char* out, uint64_t offset, size_t size) const {
    for (uint64_t done = 0; done < size;) {
      uint64_t pos = offset + done;
      uint64_t in_page = pos % kPageSize;
      uint64_t chunk = std::min<uint64_t>(kPageSize - in_page, size - done);
      auto it = n.pages.find(pos / kPageSize);
      if (it == n.pages.end()) std::memset(out + done, 0, chunk);
      else std::memcpy(out + done, it->second.get() + in_page, chunk);
      done += chunk;
    }
  }

  Options options_;
  std::shared_mutex mu_;
  Usage usage_;  // guarded by mu_; outlives every node
  NodePtr root_;
  std::atomic<uint64_t> next_ino_{1};
  NodePtr control_;  // /.notify-demo, when enabled
  std::atomic<linfsp::Notifier*> notifier_{nullptr};
  Timer timer_;  // last: its thread ends before the tree goes
};

Status MemFs::rename(const Caller&, const std::string& from, const std::string& to, unsigned flags) {
  std::unique_lock lock(mu_);
  std::string_view from_name, to_name;
  Result<Node*> from_dir = parent_of(from, &from_name);
  if (!from_dir) return from_dir.status();
  Result<Node*> to_dir = parent_of(to, &to_name);
  if (!to_dir) return to_dir.status();
  if (to_name.size() > 255) return err(ENAMETOOLONG);
  Directory& fd = *(*from_dir)->dir;
  Directory& td = *(*to_dir)->dir;
  std::string fk = key(from_name), tk = key(to_name);
  auto src_it = fd.by_key.find(fk);
  if (src_it == fd.by_key.end()) return err(ENOENT);
  NodePtr src = fd.by_cookie.at(src_it->second).node;
  auto dst_it = td.by_key.find(tk);
  NodePtr dst = dst_it == td.by_key.end() ? nullptr : td.by_cookie.at(dst_it->second).node;

  // A directory may not move below itself.
  auto inside = [](Node* dir, Node* ancestor) {
    for (Node* p = dir; p != nullptr; p = p->parent) {
      if (p == ancestor) return true;
    }
    return false;
  };
  if (src->dir && inside(*to_dir, src.get())) return err(EINVAL);
  if (flags & RENAME_EXCHANGE) {
    if (!dst) return err(ENOENT);
    if (dst->dir && inside(*from_dir, dst.get())) return err(EINVAL);
    if (src == dst) return Status::ok();
    // Swap the entries' nodes; names and cookies stay where they are.
    fd.by_cookie.at(src_it->second).node = dst;
    td.by_cookie.at(dst_it->second).node = src;
    if (src->dir) src->parent = *to_dir;
    if (dst->dir) dst->parent = *from_dir;
    if (*from_dir != *to_dir && bool(src->dir) != bool(dst->dir)) {
      int delta = src->dir ? 1 : -1;  // a directory moved from `from_dir` to `to_dir`
      (*from_dir)->nlink -= delta;
      (*to_dir)->nlink += delta;
    }
    timespec t = now();
    src->ctime = dst->ctime = t;
    (*from_dir)->mtime = (*from_dir)->ctime = (*to_dir)->mtime = (*to_dir)->ctime = t;
    return Status::ok();
  }
  if (dst) {
    if (flags & RENAME_NOREPLACE) return err(EEXIST);
    if (src == dst) return Status::ok();  // two names of one file
    if (src->dir) {
      if (!dst->dir) return err(ENOTDIR);
      if (!dst->dir->by_cookie.empty()) return err(ENOTEMPTY);
    } else if (dst->dir) {
      return err(EISDIR);
    }
  }
  if (src == root_) return err(EBUSY);
  // Same directory, same key, another spelling (case-insensitive): rename in place.
  if (*from_dir == *to_dir && fk == tk) {
    fd.by_cookie.at(src_it->second).name = std::string(to_name);
    src->ctime = now();
    return Status::ok();
  }
  if (dst) detach(**to_dir, tk);
  // Keep the source alive across detach/insert.
  NodePtr keep = src;
  uint32_t nlink = src->nlink;
  detach(**from_dir, fk);
  src->nlink = nlink;
  if (Status s = insert(to, src); !s) return s;
  src->ctime = now();
  return Status::ok();
}

}  // namespace

std::unique_ptr<linfsp::FileSystemBase> create(const Options& options) {
  return std::make_unique<MemFs>(options);
}

}  // namespace memfs
