// The /dev/fuse transport: read() a request, handle it, writev() the reply.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>  // std::once_flag

#include "kernel/channel.h"
#include "util/mutex.h"

namespace linfsp::kernel {
namespace {

// Request threads are woken from a blocking read() by this signal, whose
// handler does nothing: the read fails with EINTR and the thread sees stop_.
int wake_signal() { return SIGRTMIN + 5; }

void install_wake_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: read() must return EINTR
    sigaction(wake_signal(), &sa, nullptr);
  });
}

// Writes one message to a /dev/fuse descriptor.
Status write_message(int fd, std::span<const iovec> iov) {
  for (;;) {
    ssize_t n = writev(fd, iov.data(), static_cast<int>(iov.size()));
    if (n >= 0) return Status::ok();
    if (errno == EINTR) continue;
    // ENOENT: the request was interrupted and is gone; not our error.
    return Status::error(errno);
  }
}

// Replies go back on the descriptor the request came from: the kernel looks
// a reply up among that descriptor's requests only. The descriptor lives as
// long as the transport, which outlives every detached sink (the session
// drops them before the transport goes).
class DevSink final : public ReplySink {
 public:
  explicit DevSink(int fd) : fd_(fd) {}
  Status send(std::span<const iovec> message) override { return write_message(fd_, message); }
  std::unique_ptr<ReplySink> detach() override { return std::make_unique<DevSink>(fd_); }

 private:
  int fd_;
};

class DevTransport final : public Transport {
 public:
  explicit DevTransport(int fd) : fd_(fd) {}
  ~DevTransport() override {
    stop();
    for (int fd : clone_fds_) close(fd);
    close(fd_);
  }

  Result<Negotiated> init(const InitWants& wants) override;
  Status start(RequestHandler& handler, unsigned threads) override;
  void stop() override;
  void wait() override;
  Status notify(int code, std::span<const iovec> payload) override;

 private:
  void serve(int fd);
  size_t buffer_size() const { return std::max<size_t>(max_write_ + 4096, FUSE_MIN_READ_BUFFER); }

  const int fd_;
  uint32_t max_write_ = 1 << 20;
  RequestHandler* handler_ = nullptr;
  std::vector<int> clone_fds_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  Mutex mutex_;
  std::condition_variable ended_cv_;
  unsigned running_ GUARDED_BY(mutex_) = 0;
  std::once_flag joined_;
};

Result<Negotiated> DevTransport::init(const InitWants& asked) {
  InitWants wants = asked;
  wants.negotiate = nullptr;
  max_write_ = wants.max_write;
  DevSink sink(fd_);
  std::vector<char> buf(buffer_size());
  for (;;) {
    ssize_t n = read(fd_, buf.data(), buf.size());
    if (n < 0 && (errno == EINTR || errno == ENOENT)) continue;
    if (n < 0) return Status::error(errno, std::string("reading INIT: ") + std::strerror(errno));
    if (static_cast<size_t>(n) < sizeof(fuse_in_header) + 8) {
      return Status::error(EPROTO, "short INIT request");
    }
    fuse_in_header hdr;
    std::memcpy(&hdr, buf.data(), sizeof(hdr));
    if (hdr.opcode != FUSE_INIT) return Status::error(EPROTO, "first request is not INIT");
    fuse_init_in in{};
    std::memcpy(&in, buf.data() + sizeof(hdr),
                std::min(sizeof(in), static_cast<size_t>(n) - sizeof(hdr)));

    InitOut out{};
    out.major = FUSE_KERNEL_VERSION;
    Negotiated neg;
    neg.kernel_major = in.major;
    neg.kernel_minor = in.minor;
    if (in.major > FUSE_KERNEL_VERSION) {
      // Tell the kernel our major; it sends INIT again.
      fuse_out_header oh{sizeof(oh) + 8, 0, hdr.unique};
      iovec iov[2] = {{&oh, sizeof(oh)}, {&out, 8}};
      if (Status s = sink.send(iov); !s) return s;
      continue;
    }
    if (in.major < FUSE_KERNEL_VERSION) {
      Reply(sink, hdr.unique).error(EPROTO);
      return Status::error(EPROTO, "kernel FUSE protocol " + std::to_string(in.major) + " too old");
    }
    neg.minor = std::min(in.minor, kMaxMinor);
    neg.kernel_flags = in.flags;
    if (in.flags & FUSE_INIT_EXT) neg.kernel_flags |= static_cast<uint64_t>(in.flags2) << 32;
    if (asked.negotiate) {
      // The transport's own flags survive whatever the file system answers.
      const uint64_t own = asked.flags & kInitOverIoUring;
      asked.negotiate(InitOffer{in.major, in.minor, neg.kernel_flags, in.max_readahead}, &wants);
      wants.flags |= own;
      wants.max_write = std::clamp<uint32_t>(wants.max_write, 4096, 1u << 20);
      wants.time_gran = std::clamp<uint32_t>(wants.time_gran, 1, 1000000000);
      max_write_ = wants.max_write;
    }
    uint64_t want = wants.flags | FUSE_INIT_EXT | FUSE_MAX_PAGES | FUSE_BIG_WRITES;
    neg.flags = want & neg.kernel_flags;
    uint32_t page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
    neg.max_pages = static_cast<uint16_t>(std::min<uint32_t>(wants.max_write / page, 256));
    neg.max_write = (neg.flags & FUSE_MAX_PAGES) ? wants.max_write : std::min(wants.max_write, 32 * page);
    max_write_ = neg.max_write;

    out.minor = neg.minor;
    out.max_readahead = std::min(in.max_readahead, wants.max_readahead);
    out.flags = static_cast<uint32_t>(neg.flags);
    out.flags2 = static_cast<uint32_t>(neg.flags >> 32);
    out.max_background = wants.max_background;
    out.congestion_threshold = wants.congestion_threshold
                                   ? wants.congestion_threshold
                                   : static_cast<uint16_t>(wants.max_background * 3 / 4);
    out.max_write = neg.max_write;
    out.time_gran = wants.time_gran;
    out.max_pages = neg.max_pages;
    size_t out_size = neg.minor < 5 ? 8 : neg.minor < 23 ? 24 : sizeof(out);
    Reply(sink, hdr.unique).ok(&out, out_size);
    return neg;
  }
}

Status DevTransport::start(RequestHandler& handler, unsigned threads) {
  install_wake_handler();
  handler_ = &handler;
  threads = std::max(1u, threads);
  MutexLock lock(mutex_);
  for (unsigned i = 0; i < threads; ++i) {
    int fd = fd_;
    if (i > 0) {
      // Each thread reads from its own clone, so the kernel spreads requests
      // and replies do not contend on one file.
      fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
      uint32_t master = static_cast<uint32_t>(fd_);
      if (fd < 0 || ioctl(fd, FUSE_DEV_IOC_CLONE, &master) < 0) {
        if (fd >= 0) close(fd);
        fd = fd_;  // Cloning is an optimisation; share the master.
      } else {
        clone_fds_.push_back(fd);
      }
    }
    ++running_;
    threads_.emplace_back([this, fd] { serve(fd); });
  }
  return Status::ok();
}

void DevTransport::serve(int fd) {
  // Process-directed signals (SIGINT, SIGTERM) belong to the host thread.
  sigset_t set;
  sigfillset(&set);
  sigdelset(&set, wake_signal());
  for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigdelset(&set, s);
  pthread_sigmask(SIG_SETMASK, &set, nullptr);

  std::unique_ptr<char[]> buf(new char[buffer_size()]);
  DevSink sink(fd);
  while (!stop_.load(std::memory_order_relaxed)) {
    ssize_t n = read(fd, buf.get(), buffer_size());
    if (n < 0) {
      int err = errno;
      if (err == EINTR || err == EAGAIN || err == ENOENT) continue;  // ENOENT: interrupted request
      if (err != ENODEV) std::fprintf(stderr, "linfsp: reading /dev/fuse: %s\n", std::strerror(err));
      break;  // ENODEV: the file system was unmounted
    }
    if (static_cast<size_t>(n) < sizeof(fuse_in_header)) {
      std::fprintf(stderr, "linfsp: short request of %zd bytes\n", n);
      continue;
    }
    const auto& hdr = *reinterpret_cast<const fuse_in_header*>(buf.get());
    if (hdr.len != static_cast<uint32_t>(n)) {
      std::fprintf(stderr, "linfsp: request length %u, read %zd\n", hdr.len, n);
      Reply(sink, hdr.unique).error(EIO);
      continue;
    }
    Request req{hdr, buf.get() + sizeof(hdr), static_cast<size_t>(n) - sizeof(hdr)};
    Reply reply(sink, hdr.unique);
    handler_->handle(req, reply);
  }
  MutexLock lock(mutex_);
  --running_;
  stop_ = true;  // one thread saw the end: the others follow
  ended_cv_.notify_all();
}

void DevTransport::stop() {
  stop_ = true;
  {
    MutexLock lock(mutex_);
    // Kick blocked readers until all have left. The signal may land just
    // before a thread enters read(), so repeat.
    while (running_ > 0) {
      for (auto& t : threads_) pthread_kill(t.native_handle(), wake_signal());
      lock.wait_for(ended_cv_, std::chrono::milliseconds(20));
    }
  }
  std::call_once(joined_, [this] {
    for (auto& t : threads_) t.join();
  });
}

void DevTransport::wait() {
  {
    MutexLock lock(mutex_);
    while (running_ > 0 && !stop_) lock.wait(ended_cv_);
  }
  // One thread saw the end (or stop() was called): bring the others down.
  stop();
}

Status DevTransport::notify(int code, std::span<const iovec> payload) {
  iovec iov[8];
  if (payload.size() + 1 > std::size(iov)) return Status::error(EINVAL);
  fuse_out_header oh{sizeof(oh), code, 0};
  iov[0] = {&oh, sizeof(oh)};
  for (size_t i = 0; i < payload.size(); ++i) {
    iov[i + 1] = payload[i];
    oh.len += static_cast<uint32_t>(payload[i].iov_len);
  }
  return write_message(fd_, {iov, payload.size() + 1});
}

}  // namespace

std::string describe_init_flags(uint64_t flags) {
  static constexpr struct {
    uint64_t bit;
    const char* name;
  } kNames[] = {
      {FUSE_ASYNC_READ, "ASYNC_READ"},
      {FUSE_POSIX_LOCKS, "POSIX_LOCKS"},
      {FUSE_ATOMIC_O_TRUNC, "ATOMIC_O_TRUNC"},
      {FUSE_EXPORT_SUPPORT, "EXPORT_SUPPORT"},
      {FUSE_BIG_WRITES, "BIG_WRITES"},
      {FUSE_DONT_MASK, "DONT_MASK"},
      {FUSE_SPLICE_WRITE, "SPLICE_WRITE"},
      {FUSE_SPLICE_MOVE, "SPLICE_MOVE"},
      {FUSE_SPLICE_READ, "SPLICE_READ"},
      {FUSE_FLOCK_LOCKS, "FLOCK_LOCKS"},
      {FUSE_HAS_IOCTL_DIR, "HAS_IOCTL_DIR"},
      {FUSE_AUTO_INVAL_DATA, "AUTO_INVAL_DATA"},
      {FUSE_DO_READDIRPLUS, "DO_READDIRPLUS"},
      {FUSE_READDIRPLUS_AUTO, "READDIRPLUS_AUTO"},
      {FUSE_ASYNC_DIO, "ASYNC_DIO"},
      {FUSE_WRITEBACK_CACHE, "WRITEBACK_CACHE"},
      {FUSE_NO_OPEN_SUPPORT, "NO_OPEN_SUPPORT"},
      {FUSE_PARALLEL_DIROPS, "PARALLEL_DIROPS"},
      {FUSE_HANDLE_KILLPRIV, "HANDLE_KILLPRIV"},
      {FUSE_POSIX_ACL, "POSIX_ACL"},
      {FUSE_ABORT_ERROR, "ABORT_ERROR"},
      {FUSE_MAX_PAGES, "MAX_PAGES"},
      {FUSE_CACHE_SYMLINKS, "CACHE_SYMLINKS"},
      {FUSE_NO_OPENDIR_SUPPORT, "NO_OPENDIR_SUPPORT"},
      {FUSE_EXPLICIT_INVAL_DATA, "EXPLICIT_INVAL_DATA"},
      {FUSE_MAP_ALIGNMENT, "MAP_ALIGNMENT"},
      {FUSE_SUBMOUNTS, "SUBMOUNTS"},
      {FUSE_HANDLE_KILLPRIV_V2, "HANDLE_KILLPRIV_V2"},
      {FUSE_SETXATTR_EXT, "SETXATTR_EXT"},
      {FUSE_INIT_EXT, "INIT_EXT"},
      {FUSE_SECURITY_CTX, "SECURITY_CTX"},
      {FUSE_HAS_INODE_DAX, "HAS_INODE_DAX"},
      {kInitCreateSuppGroup, "CREATE_SUPP_GROUP"},
      {FUSE_HAS_EXPIRE_ONLY, "HAS_EXPIRE_ONLY"},
      {kInitDirectIoAllowMmap, "DIRECT_IO_ALLOW_MMAP"},
      {kInitPassthrough, "PASSTHROUGH"},
      {kInitNoExportSupport, "NO_EXPORT_SUPPORT"},
      {kInitHasResend, "HAS_RESEND"},
      {kInitOverIoUring, "OVER_IO_URING"},
  };
  std::string out;
  for (const auto& n : kNames) {
    if (flags & n.bit) {
      if (!out.empty()) out += ',';
      out += n.name;
      flags &= ~n.bit;
    }
  }
  for (int bit = 0; bit < 64; ++bit) {
    if (!(flags & (1ULL << bit))) continue;
    if (!out.empty()) out += ',';
    out += "bit";
    out += std::to_string(bit);
  }
  return out;
}

std::unique_ptr<Transport> make_dev_transport(int fuse_fd) {
  return std::make_unique<DevTransport>(fuse_fd);
}

}  // namespace linfsp::kernel
