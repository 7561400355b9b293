// The node-level adapter: one function per opcode decodes the request's
// fixed struct (the session validated its size and names) and calls the
// NodeFileSystem.
#include "nodes/node_adapter.h"

#include <linux/limits.h>
#include <sys/file.h>

#include <array>
#include <vector>

namespace linfsp {
namespace {

using Req = session::Request;
using Handler = void (*)(NodeFileSystem&, Req&, NodeRequest);

template <typename T>
const T& in(const Req& r) {
  return r.arg<T>();
}

struct stat to_stat(const fuse_setattr_in& in, uint32_t* fields) {
  struct stat st {};
  uint32_t f = 0;
  auto both = [&](uint32_t fattr, uint32_t bit) {
    if (in.valid & fattr) f |= bit;
  };
  both(FATTR_MODE, kSetMode);
  both(FATTR_UID, kSetUid);
  both(FATTR_GID, kSetGid);
  both(FATTR_SIZE, kSetSize);
  both(FATTR_CTIME, kSetCtime);
  both(FATTR_KILL_SUIDGID, kSetKillSuid);
  if (in.valid & FATTR_ATIME) f |= (in.valid & FATTR_ATIME_NOW) ? kSetAtimeNow : kSetAtime;
  if (in.valid & FATTR_MTIME) f |= (in.valid & FATTR_MTIME_NOW) ? kSetMtimeNow : kSetMtime;
  st.st_mode = in.mode;
  st.st_uid = in.uid;
  st.st_gid = in.gid;
  st.st_size = static_cast<off_t>(in.size);
  st.st_atim = {static_cast<time_t>(in.atime), static_cast<long>(in.atimensec)};
  st.st_mtim = {static_cast<time_t>(in.mtime), static_cast<long>(in.mtimensec)};
  st.st_ctim = {static_cast<time_t>(in.ctime), static_cast<long>(in.ctimensec)};
  *fields = f;
  return st;
}

struct flock to_flock(const fuse_file_lock& lk) {
  struct flock l {};
  l.l_type = static_cast<short>(lk.type);
  l.l_whence = SEEK_SET;
  l.l_start = static_cast<off_t>(lk.start);
  l.l_len = lk.end == kOffsetMax ? 0 : static_cast<off_t>(lk.end - lk.start + 1);
  l.l_pid = static_cast<pid_t>(lk.pid);
  return l;
}

// A bad name is the kernel's bug or an attack, never the file system's to see.
bool name_ok(NodeRequest& req, std::string_view name) {
  if (name.size() > NAME_MAX) return !req.reply_error(ENAMETOOLONG);
  if (name.empty() || name.find('/') != std::string_view::npos) return !req.reply_error(EINVAL);
  return true;
}

void lookup(NodeFileSystem& fs, Req& r, NodeRequest req) {
  if (name_ok(req, r.name)) fs.lookup(std::move(req), r.header.nodeid, r.name);
}
void getattr(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_getattr_in>(r);
  fs.getattr(std::move(req), r.header.nodeid, (a.getattr_flags & FUSE_GETATTR_FH) ? &a.fh : nullptr);
}
void setattr(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_setattr_in>(r);
  uint32_t fields = 0;
  struct stat st = to_stat(a, &fields);
  fs.setattr(std::move(req), r.header.nodeid, st, fields, (a.valid & FATTR_FH) ? &a.fh : nullptr);
}
void readlink(NodeFileSystem& fs, Req& r, NodeRequest req) { fs.readlink(std::move(req), r.header.nodeid); }
void symlink(NodeFileSystem& fs, Req& r, NodeRequest req) {
  if (r.name2.size() >= PATH_MAX) return void(req.reply_error(ENAMETOOLONG));
  if (name_ok(req, r.name)) fs.symlink(std::move(req), r.name2, r.header.nodeid, r.name);
}
void mknod(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_mknod_in>(r);
  if (name_ok(req, r.name)) fs.mknod(std::move(req), r.header.nodeid, r.name, a.mode, a.rdev);
}
void mkdir(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_mkdir_in>(r);
  if (name_ok(req, r.name)) fs.mkdir(std::move(req), r.header.nodeid, r.name, a.mode | S_IFDIR);
}
void unlink(NodeFileSystem& fs, Req& r, NodeRequest req) {
  if (name_ok(req, r.name)) fs.unlink(std::move(req), r.header.nodeid, r.name);
}
void rmdir(NodeFileSystem& fs, Req& r, NodeRequest req) {
  if (name_ok(req, r.name)) fs.rmdir(std::move(req), r.header.nodeid, r.name);
}
void rename_to(NodeFileSystem& fs, Req& r, NodeRequest req, uint64_t newdir, unsigned flags) {
  if (name_ok(req, r.name) && name_ok(req, r.name2)) {
    fs.rename(std::move(req), r.header.nodeid, r.name, newdir, r.name2, flags);
  }
}
void rename(NodeFileSystem& fs, Req& r, NodeRequest req) {
  rename_to(fs, r, std::move(req), in<fuse_rename_in>(r).newdir, 0);
}
void rename2(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_rename2_in>(r);
  rename_to(fs, r, std::move(req), a.newdir, a.flags);
}
void link(NodeFileSystem& fs, Req& r, NodeRequest req) {
  if (name_ok(req, r.name)) fs.link(std::move(req), in<fuse_link_in>(r).oldnodeid, r.header.nodeid, r.name);
}
void open(NodeFileSystem& fs, Req& r, NodeRequest req) {
  fs.open(std::move(req), r.header.nodeid, static_cast<int>(in<fuse_open_in>(r).flags));
}
void read(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_read_in>(r);
  fs.read(std::move(req), r.header.nodeid, a.size, static_cast<off_t>(a.offset), a.fh);
}
void write(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_write_in>(r);
  if (a.size > r.tail_size) return void(req.reply_error(EINVAL));
  fs.write(std::move(req), r.header.nodeid, std::string_view(r.tail, a.size), static_cast<off_t>(a.offset), a.fh,
           a.write_flags);
}
void statfs(NodeFileSystem& fs, Req& r, NodeRequest req) { fs.statfs(std::move(req), r.header.nodeid); }
void release(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_release_in>(r);
  fs.release(std::move(req), r.header.nodeid, a.fh, static_cast<int>(a.flags));
}
void fsync(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_fsync_in>(r);
  fs.fsync(std::move(req), r.header.nodeid, a.fsync_flags & FUSE_FSYNC_FDATASYNC, a.fh);
}
void setxattr(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_setxattr_in>(r);
  if (a.size > r.tail_size) return void(req.reply_error(EINVAL));
  fs.setxattr(std::move(req), r.header.nodeid, r.name, std::string_view(r.tail, a.size), static_cast<int>(a.flags));
}
void getxattr(NodeFileSystem& fs, Req& r, NodeRequest req) {
  fs.getxattr(std::move(req), r.header.nodeid, r.name, in<fuse_getxattr_in>(r).size);
}
void listxattr(NodeFileSystem& fs, Req& r, NodeRequest req) {
  fs.listxattr(std::move(req), r.header.nodeid, in<fuse_getxattr_in>(r).size);
}
void removexattr(NodeFileSystem& fs, Req& r, NodeRequest req) {
  fs.removexattr(std::move(req), r.header.nodeid, r.name);
}
void flush(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_flush_in>(r);
  fs.flush(std::move(req), r.header.nodeid, a.fh, a.lock_owner);
}
void opendir(NodeFileSystem& fs, Req& r, NodeRequest req) {
  fs.opendir(std::move(req), r.header.nodeid, static_cast<int>(in<fuse_open_in>(r).flags));
}
void readdir(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_read_in>(r);
  fs.readdir(std::move(req), r.header.nodeid, a.size, static_cast<off_t>(a.offset), a.fh);
}
void readdirplus(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_read_in>(r);
  fs.readdirplus(std::move(req), r.header.nodeid, a.size, static_cast<off_t>(a.offset), a.fh);
}
void releasedir(NodeFileSystem& fs, Req& r, NodeRequest req) {
  fs.releasedir(std::move(req), r.header.nodeid, in<fuse_release_in>(r).fh);
}
void fsyncdir(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_fsync_in>(r);
  fs.fsyncdir(std::move(req), r.header.nodeid, a.fsync_flags & FUSE_FSYNC_FDATASYNC, a.fh);
}
void getlk(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_lk_in>(r);
  fs.getlk(std::move(req), r.header.nodeid, a.fh, a.owner, to_flock(a.lk));
}
void setlk_common(NodeFileSystem& fs, Req& r, NodeRequest req, bool wait) {
  const auto& a = in<fuse_lk_in>(r);
  if (a.lk_flags & FUSE_LK_FLOCK) {
    int op = a.lk.type == F_RDLCK ? LOCK_SH : a.lk.type == F_WRLCK ? LOCK_EX : LOCK_UN;
    if (!wait) op |= LOCK_NB;
    return fs.flock(std::move(req), r.header.nodeid, a.fh, a.owner, op);
  }
  fs.setlk(std::move(req), r.header.nodeid, a.fh, a.owner, to_flock(a.lk), wait);
}
void setlk(NodeFileSystem& fs, Req& r, NodeRequest req) { setlk_common(fs, r, std::move(req), false); }
void setlkw(NodeFileSystem& fs, Req& r, NodeRequest req) { setlk_common(fs, r, std::move(req), true); }
void access(NodeFileSystem& fs, Req& r, NodeRequest req) {
  fs.access(std::move(req), r.header.nodeid, static_cast<int>(in<fuse_access_in>(r).mask));
}
void create(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_create_in>(r);
  if (name_ok(req, r.name)) {
    fs.create(std::move(req), r.header.nodeid, r.name, (a.mode & 07777) | S_IFREG, static_cast<int>(a.flags));
  }
}
void tmpfile(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_create_in>(r);
  fs.tmpfile(std::move(req), r.header.nodeid, (a.mode & 07777) | S_IFREG, static_cast<int>(a.flags));
}
void bmap(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_bmap_in>(r);
  fs.bmap(std::move(req), r.header.nodeid, a.blocksize, a.block);
}
void ioctl(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_ioctl_in>(r);
  if (a.in_size > r.tail_size) return void(req.reply_error(EINVAL));
  fs.ioctl(std::move(req), r.header.nodeid, a.cmd, a.arg, a.fh, a.flags, std::string_view(r.tail, a.in_size),
           a.out_size);
}
void poll(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_poll_in>(r);
  fs.poll(std::move(req), r.header.nodeid, a.fh, (a.flags & FUSE_POLL_SCHEDULE_NOTIFY) ? a.kh : 0, a.events);
}
void fallocate(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_fallocate_in>(r);
  fs.fallocate(std::move(req), r.header.nodeid, static_cast<int>(a.mode), static_cast<off_t>(a.offset),
               static_cast<off_t>(a.length), a.fh);
}
void lseek(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_lseek_in>(r);
  fs.lseek(std::move(req), r.header.nodeid, static_cast<off_t>(a.offset), static_cast<int>(a.whence), a.fh);
}
void copy_file_range(NodeFileSystem& fs, Req& r, NodeRequest req) {
  const auto& a = in<fuse_copy_file_range_in>(r);
  fs.copy_file_range(std::move(req), r.header.nodeid, static_cast<off_t>(a.off_in), a.fh_in, a.nodeid_out,
                     static_cast<off_t>(a.off_out), a.fh_out, a.len, static_cast<int>(a.flags));
}
void answer_ok(NodeFileSystem&, Req&, NodeRequest req) { req.reply_ok(); }

constexpr size_t kMaxOpcode = 64;
constexpr std::array<Handler, kMaxOpcode> make_handlers() {
  std::array<Handler, kMaxOpcode> t{};
  t[FUSE_LOOKUP] = lookup;
  t[FUSE_GETATTR] = getattr;
  t[FUSE_SETATTR] = setattr;
  t[FUSE_READLINK] = readlink;
  t[FUSE_SYMLINK] = symlink;
  t[FUSE_MKNOD] = mknod;
  t[FUSE_MKDIR] = mkdir;
  t[FUSE_UNLINK] = unlink;
  t[FUSE_RMDIR] = rmdir;
  t[FUSE_RENAME] = rename;
  t[FUSE_LINK] = link;
  t[FUSE_OPEN] = open;
  t[FUSE_READ] = read;
  t[FUSE_WRITE] = write;
  t[FUSE_STATFS] = statfs;
  t[FUSE_RELEASE] = release;
  t[FUSE_FSYNC] = fsync;
  t[FUSE_SETXATTR] = setxattr;
  t[FUSE_GETXATTR] = getxattr;
  t[FUSE_LISTXATTR] = listxattr;
  t[FUSE_REMOVEXATTR] = removexattr;
  t[FUSE_FLUSH] = flush;
  t[FUSE_OPENDIR] = opendir;
  t[FUSE_READDIR] = readdir;
  t[FUSE_RELEASEDIR] = releasedir;
  t[FUSE_FSYNCDIR] = fsyncdir;
  t[FUSE_GETLK] = getlk;
  t[FUSE_SETLK] = setlk;
  t[FUSE_SETLKW] = setlkw;
  t[FUSE_ACCESS] = access;
  t[FUSE_CREATE] = create;
  t[FUSE_BMAP] = bmap;
  t[FUSE_DESTROY] = answer_ok;
  t[FUSE_IOCTL] = ioctl;
  t[FUSE_POLL] = poll;
  t[FUSE_FALLOCATE] = fallocate;
  t[FUSE_READDIRPLUS] = readdirplus;
  t[FUSE_RENAME2] = rename2;
  t[FUSE_LSEEK] = lseek;
  t[FUSE_COPY_FILE_RANGE] = copy_file_range;
  t[FUSE_SYNCFS] = answer_ok;
  t[FUSE_TMPFILE] = tmpfile;
  return t;
}
constexpr auto kHandlers = make_handlers();

}  // namespace

void NodeAdapter::dispatch(session::Request& r) {
  const uint32_t opcode = r.header.opcode;
  // Requests without a reply.
  if (opcode == FUSE_FORGET) return fs_.forget(r.header.nodeid, r.arg<fuse_forget_in>().nlookup);
  if (opcode == FUSE_BATCH_FORGET) {
    size_t room = r.tail_size / sizeof(fuse_forget_one);
    size_t count = std::min<size_t>(r.arg<fuse_batch_forget_in>().count, room);
    const auto* one = reinterpret_cast<const fuse_forget_one*>(r.tail);
    std::vector<Forget> forgets(count);
    for (size_t i = 0; i < count; ++i) forgets[i] = {one[i].nodeid, one[i].nlookup};
    return fs_.forget_multi(forgets);
  }
  if (opcode == FUSE_NOTIFY_REPLY) {
    const auto& a = r.arg<fuse_notify_retrieve_in>();
    size_t size = std::min<size_t>(a.size, r.tail_size);
    return fs_.retrieve_reply(r.header.unique, r.header.nodeid, a.offset, std::string_view(r.tail, size));
  }
  Handler fn = opcode < kHandlers.size() ? kHandlers[opcode] : nullptr;
  if (fn == nullptr) {
    if (r.opcode.has_reply) r.reply.error(ENOSYS);
    return;
  }
  auto state = std::make_shared<NodeRequest::State>();
  state->on_thread = &r;
  state->caller = r.caller;
  state->caller.interrupted = nullptr;
  state->opcode = r.opcode.name;
  // The request outlives the call when its NodeRequest was kept: from then
  // on it is answered through a deferred reply. Also when the call throws,
  // so that a kept request never points at this thread's reply.
  struct AfterCall {
    NodeRequest::State& state;
    ~AfterCall() {
      std::lock_guard lock(state.mutex);
      if (!state.answered && !state.dropped && state.on_thread) state.defer_locked();
      state.on_thread = nullptr;
    }
  } after_call{*state};
  fn(fs_, r, NodeRequest(state));
}

namespace {
Status check_name(std::string_view name) {
  if (name.empty() || name.size() > NAME_MAX || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos) {
    return Status::error(EINVAL, "a notification names '" + std::string(name.substr(0, 64)) + "', not a name");
  }
  return Status::ok();
}
}  // namespace

Status NodeAdapter::inval_inode(uint64_t nodeid, int64_t offset, int64_t length) {
  return out_.post({.code = FUSE_NOTIFY_INVAL_INODE, .nodeid = nodeid, .offset = offset, .length = length});
}
Status NodeAdapter::inval_entry(uint64_t parent, std::string_view name) {
  if (Status s = check_name(name); !s) return s;
  return out_.post({.code = FUSE_NOTIFY_INVAL_ENTRY, .nodeid = parent, .name = std::string(name)});
}
Status NodeAdapter::expire_entry(uint64_t parent, std::string_view name) {
  if (Status s = check_name(name); !s) return s;
  return out_.post(
      {.code = FUSE_NOTIFY_INVAL_ENTRY, .nodeid = parent, .flags = FUSE_EXPIRE_ONLY, .name = std::string(name)});
}
Status NodeAdapter::delete_entry(uint64_t parent, uint64_t child, std::string_view name) {
  if (Status s = check_name(name); !s) return s;
  return out_.post({.code = FUSE_NOTIFY_DELETE, .nodeid = parent, .child = child, .name = std::string(name)});
}
Status NodeAdapter::store(uint64_t nodeid, uint64_t offset, std::string_view data) {
  if (data.size() > UINT32_MAX) return Status::error(EINVAL, "store: more than 4 GiB at once");
  return out_.post({.code = FUSE_NOTIFY_STORE, .nodeid = nodeid, .offset = static_cast<int64_t>(offset),
                    .data = std::string(data)});
}
Status NodeAdapter::retrieve(uint64_t nodeid, uint64_t offset, size_t size, uint64_t cookie) {
  if (size > UINT32_MAX) return Status::error(EINVAL, "retrieve: more than 4 GiB at once");
  return out_.post({.code = FUSE_NOTIFY_RETRIEVE, .nodeid = nodeid, .offset = static_cast<int64_t>(offset),
                    .length = static_cast<int64_t>(size), .cookie = cookie});
}
Status NodeAdapter::poll_wakeup(uint64_t poll_handle) {
  return out_.post({.code = FUSE_NOTIFY_POLL, .cookie = poll_handle});
}

}  // namespace linfsp
