// FileSystemHost: assembles the channel and the volume around a file system.
#include "linfsp/host.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "kernel/channel.h"
#include "linfsp/node_api.h"
#include "nodes/node_adapter.h"
#include "readiness.h"
#include "util/mutex.h"
#include "volume/volume.h"

namespace linfsp {

struct FileSystemHost::State {
  std::unique_ptr<session::NotificationQueue> notifications;
  std::unique_ptr<Volume> volume;         // a path-API file system, or
  std::unique_ptr<NodeAdapter> nodes;     // a node-level one
  std::unique_ptr<session::Session> session;  // serves either; before the transport goes
  std::unique_ptr<kernel::Transport> transport;
  kernel::Negotiated negotiated;
  std::string mountpoint;  // absolute
  Mutex mutex;             // serialises start/stop
  bool running GUARDED_BY(mutex) = false;
  int fuse_fd GUARDED_BY(mutex) = -1;  // mounted, not yet served (mount() .. serve())
  NodeMountWants node_wants;           // asked at mount()
};

namespace {

Status check_mountpoint(const std::string& given, bool allow_nonempty, std::string* absolute, mode_t* type) {
  struct stat st;
  if (stat(given.c_str(), &st) < 0) {
    int err = errno;
    // ECONNABORTED: an io_uring mount whose file system died moments ago.
    if (err == ENOTCONN || err == ECONNABORTED) {
      return Status::error(err, "mount point " + given +
                                    " is a dead FUSE mount (its file system ended); run: umount -l " + given);
    }
    if (err == ENOENT) return Status::error(err, "mount point " + given + " does not exist");
    return Status::error(err, "mount point " + given + ": " + std::strerror(err));
  }
  // As libfuse: a directory, or a regular file for a root that is a file.
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    return Status::error(ENOTDIR, "mount point " + given + " is not a directory or a regular file");
  }
  *type = st.st_mode & S_IFMT;
  char buf[PATH_MAX];
  if (realpath(given.c_str(), buf) == nullptr) {
    return Status::error(errno, "mount point " + given + ": " + std::strerror(errno));
  }
  *absolute = buf;
  // A file's contents are no entries to hide: libfuse 3 mounts over any file.
  if (allow_nonempty || S_ISREG(st.st_mode)) return Status::ok();
  DIR* d = opendir(buf);
  if (d == nullptr) return Status::error(errno, "mount point " + given + ": " + std::strerror(errno));
  bool empty = true;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  closedir(d);
  if (!empty) {
    return Status::error(ENOTEMPTY, "mount point " + given + " is not empty (use -o nonempty to mount over it)");
  }
  return Status::ok();
}

}  // namespace

FileSystemHost::FileSystemHost(FileSystemBase& fs, HostOptions options)
    : fs_(&fs), options_(std::move(options)), state_(std::make_unique<State>()) {}

FileSystemHost::FileSystemHost(NodeFileSystem& fs, HostOptions options)
    : node_fs_(&fs), options_(std::move(options)), state_(std::make_unique<State>()) {}

FileSystemHost::~FileSystemHost() { stop(); }

Status FileSystemHost::start() {
  if (Status s = mount(); !s) return s;
  return serve();
}

Status FileSystemHost::mount() {
  State& st = *state_;
  MutexLock lock(st.mutex);
  if (st.running || st.fuse_fd >= 0) return Status::error(EBUSY, "already mounted");
  mode_t root_type = S_IFDIR;
  if (Status s = check_mountpoint(options_.mountpoint, options_.allow_nonempty, &st.mountpoint, &root_type); !s) {
    return s;
  }
  st.notifications = std::make_unique<session::NotificationQueue>(options_.debug);
  session::Client* client;
  st.volume.reset();
  st.nodes.reset();
  if (fs_) {
    VolumeOptions vo;
    vo.entry_timeout = options_.entry_timeout;
    vo.attr_timeout = options_.attr_timeout;
    vo.negative_timeout = options_.negative_timeout;
    vo.keep_cache = options_.keep_cache;
    vo.no_open = options_.no_open;
    vo.export_support = options_.export_support;
    vo.debug = options_.debug;
    vo.root_type = root_type;
    st.volume = std::make_unique<Volume>(*fs_, vo);
    if (Status s = st.volume->open_root(*st.notifications); !s) return s;
    client = st.volume.get();
  } else {
    st.nodes = std::make_unique<NodeAdapter>(*node_fs_, *st.notifications);
    client = st.nodes.get();
  }
  st.session = std::make_unique<session::Session>(*client, options_.debug);

  kernel::MountOptions mo;
  mo.mountpoint = st.mountpoint;
  mo.fsname = options_.fsname;
  mo.subtype = options_.subtype;
  mo.allow_other = options_.allow_other;
  mo.default_permissions = options_.default_permissions;
  mo.read_only = options_.read_only;
  mo.flags = options_.mount_flags;  // kMount* bits are MS_* values
  if (node_fs_) {
    // Asked before mounting, as before.
    NodeMountWants w;
    node_fs_->wants(&w);
    st.node_wants = w;
  }
  Result<int> fd = kernel::mount_fuse(mo);
  if (!fd) return fd.status();
  st.fuse_fd = *fd;
  return Status::ok();
}

int FileSystemHost::fuse_fd() const {
  MutexLock lock(state_->mutex);
  return state_->fuse_fd;
}

Status FileSystemHost::serve(unsigned threads) {
  State& st = *state_;
  MutexLock lock(st.mutex);
  if (st.running) return Status::error(EBUSY, "already serving");
  if (st.fuse_fd < 0) return Status::error(ENOTCONN, "not mounted");
  // The transport owns the descriptor from here on.
  const int fd = st.fuse_fd;
  st.fuse_fd = -1;
  // The io_uring transport asks INIT for FUSE_OVER_IO_URING itself and falls
  // back to /dev/fuse when it cannot have it.
  st.transport = options_.uring ? kernel::make_uring_transport(fd) : kernel::make_dev_transport(fd);

  kernel::InitWants wants;
  // No FUSE_ASYNC_DIO: the kernel drops cached pages after a direct write
  // only when the write completes synchronously; an asynchronous one (aio,
  // io_uring) completes without that, so a buffered read that ran during it
  // would leave old data cached for good. Without the flag the kernel
  // completes each direct write synchronously, in io_uring's worker threads
  // or in io_submit, and drops the stale pages before it reports completion.
  wants.flags = FUSE_ASYNC_READ | FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_PARALLEL_DIROPS |
                FUSE_CACHE_SYMLINKS | FUSE_HANDLE_KILLPRIV_V2 | kernel::kInitDirectIoAllowMmap;
  if (options_.writeback_cache) wants.flags |= FUSE_WRITEBACK_CACHE;
  if (options_.auto_inval_data) wants.flags |= FUSE_AUTO_INVAL_DATA;
  if (options_.export_support) wants.flags |= FUSE_EXPORT_SUPPORT;
  // O_TRUNC in OPEN, unless there is no OPEN: then the kernel truncates with SETATTR.
  if (!options_.no_open) wants.flags |= FUSE_ATOMIC_O_TRUNC;
  if (node_fs_) {
    const NodeMountWants& w = st.node_wants;
    if (w.posix_locks) wants.flags |= FUSE_POSIX_LOCKS;
    if (w.flock_locks) wants.flags |= FUSE_FLOCK_LOCKS;
    if (w.export_support) wants.flags |= FUSE_EXPORT_SUPPORT;
    NodeFileSystem* nfs = node_fs_;
    wants.negotiate = [nfs](const kernel::InitOffer& offer, kernel::InitWants* w) {
      NodeInit ni;
      ni.proto_major = offer.major;
      ni.proto_minor = offer.minor;
      ni.offered = offer.flags;
      ni.kernel_max_readahead = offer.max_readahead;
      ni.flags = w->flags;
      ni.max_write = w->max_write;
      ni.max_readahead = std::min(w->max_readahead, offer.max_readahead);
      ni.max_background = w->max_background;
      ni.congestion_threshold = w->congestion_threshold;
      ni.time_gran = w->time_gran;
      nfs->negotiate(&ni);
      w->flags = ni.flags;
      w->max_write = ni.max_write;
      w->max_readahead = ni.max_readahead;
      w->max_background = ni.max_background;
      w->congestion_threshold = ni.congestion_threshold;
      w->time_gran = ni.time_gran;
    };
  }
  if (fs_) {
    // Locks reach a path-API file system only if it implements them.
    MountWants w;
    fs_->wants(&w);
    if (w.posix_locks) wants.flags |= FUSE_POSIX_LOCKS;
    if (w.flock_locks) wants.flags |= FUSE_FLOCK_LOCKS;
  }
  wants.max_write = options_.max_write;
  Result<kernel::Negotiated> neg = st.transport->init(wants);
  if (!neg) {
    st.transport.reset();
    kernel::unmount_fuse(st.mountpoint, true);
    return neg.status();
  }
  st.negotiated = *neg;
  if (st.volume) st.volume->set_negotiated(*neg);
  // A node-level file system may notify from its first request on.
  if (node_fs_) node_fs_->init(*st.nodes);
  if (threads == 0) threads = options_.threads;
  if (threads == 0) threads = std::max(2u, std::thread::hardware_concurrency());
  if (Status s = st.transport->start(*st.session, threads); !s) {
    if (node_fs_) node_fs_->destroy();
    st.transport.reset();
    kernel::unmount_fuse(st.mountpoint, true);
    return s;
  }
  st.notifications->start(*st.transport);
  st.running = true;
  if (st.volume) {
    st.volume->notify().start();
    fs_->mounted(*this);
  }
  if (options_.debug) std::fprintf(stderr, "linfsp: %s\n", protocol_description().c_str());
  return Status::ok();
}

void FileSystemHost::stop() {
  State& st = *state_;
  MutexLock lock(st.mutex);
  if (st.fuse_fd >= 0) {
    // Mounted, never served: nothing runs yet.
    close(st.fuse_fd);
    st.fuse_fd = -1;
    if (!kernel::unmount_fuse(st.mountpoint, false)) kernel::unmount_fuse(st.mountpoint, true);
    return;
  }
  if (!st.running) return;
  st.running = false;
  if (st.volume) {
    fs_->unmounting();
    // Sessions end first: a rename waiting for one must not hold up the unmount.
    st.volume->notify().stop();
  } else {
    node_fs_->destroy();
  }
  st.notifications->stop();
  // A busy mount (a process still has a file or its cwd there) is detached:
  // it disappears from the namespace now and its users get ENOTCONN.
  if (!kernel::unmount_fuse(st.mountpoint, false)) kernel::unmount_fuse(st.mountpoint, true);
  // Requests still deferred end now (EIO), so no caller waits on a file
  // system that is going away and no late answer reaches a closed channel.
  st.session->end_deferred();
  st.transport->stop();
  if (st.volume) st.volume->close_all();
}

void FileSystemHost::wait() {
  if (state_->transport) state_->transport->wait();
}

int FileSystemHost::run() {
  sigset_t signals, old;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, &old);
  std::string name = options_.subtype.empty() ? options_.fsname : options_.subtype;
  if (Status s = start(); !s) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), s.message().c_str());
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return 1;
  }
  // The hint names the command this user may run: umount(8) needs root.
  const char* unmount = geteuid() == 0 ? "umount" : "fusermount3 -u";
  std::fprintf(stderr, "%s: mounted at %s (unmount with: %s %s, or stop this process)\n",
               name.c_str(), state_->mountpoint.c_str(), unmount, state_->mountpoint.c_str());
  announce_ready(options_.ready_fd);  // the mount is usable: tell the starter
  int sfd = signalfd(-1, &signals, SFD_CLOEXEC);
  int efd = eventfd(0, EFD_CLOEXEC);
  std::thread watcher([this, efd] {
    wait();
    eventfd_write(efd, 1);
  });
  pollfd fds[2] = {{sfd, POLLIN, 0}, {efd, POLLIN, 0}};
  while (poll(fds, 2, -1) < 0 && errno == EINTR) {
  }
  if (fds[0].revents & POLLIN) {
    signalfd_siginfo info;
    if (read(sfd, &info, sizeof(info)) == sizeof(info) && options_.debug) {
      std::fprintf(stderr, "%s: signal %u, unmounting\n", name.c_str(), info.ssi_signo);
    }
  }
  stop();
  watcher.join();
  close(sfd);
  close(efd);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return 0;
}

Status FileSystemHost::notify_begin(std::chrono::milliseconds timeout) {
  if (node_fs_) return Status::error(ENOTSUP, "notify_begin: a node-level file system uses its NodeNotifier");
  if (!state_->volume) return Status::error(ESHUTDOWN, "notify_begin: not mounted");
  return state_->volume->notify().begin(timeout);
}

Status FileSystemHost::notify(const void* batch, size_t size) {
  if (node_fs_) return Status::error(ENOTSUP, "notify: a node-level file system uses its NodeNotifier");
  if (!state_->volume) return Status::error(ESHUTDOWN, "notify: not mounted");
  return state_->volume->notify().post(batch, size);
}

Status FileSystemHost::notify_end() {
  if (node_fs_) return Status::error(ENOTSUP, "notify_end: a node-level file system uses its NodeNotifier");
  if (!state_->volume) return Status::error(ESHUTDOWN, "notify_end: not mounted");
  return state_->volume->notify().end();
}

std::string FileSystemHost::describe_state() const {
  if (state_->volume) return state_->volume->notify().describe();
  if (state_->nodes) {
    return "node-level file system: " + std::to_string(state_->notifications->queued()) + " notification(s) queued, " +
           std::to_string(state_->session->deferred_count()) + " request(s) deferred";
  }
  return "not mounted";
}

bool FileSystemHost::rename_waiting() const {
  return state_->volume && state_->volume->rename_resource().exclusive_waiters();
}

bool FileSystemHost::notify_drain(std::chrono::milliseconds timeout) {
  if (state_->volume) return state_->volume->notify().drain(timeout);
  return state_->notifications && state_->notifications->drain(timeout);
}

std::string FileSystemHost::check_consistency() {
  return state_->volume ? state_->volume->check_consistency() : "not mounted";
}

std::string FileSystemHost::protocol_description() const {
  const kernel::Negotiated& n = state_->negotiated;
  if (n.minor == 0) return {};
  return "FUSE protocol 7." + std::to_string(n.minor) + " (kernel offers 7." + std::to_string(n.kernel_minor) +
         "), max_write " + std::to_string(n.max_write) + ", flags " + kernel::describe_init_flags(n.flags);
}

}  // namespace linfsp
