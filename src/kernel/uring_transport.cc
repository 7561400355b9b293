// The FUSE-over-io_uring transport.
//
// INIT still goes over /dev/fuse (answered with FUSE_OVER_IO_URING). Then,
// for every possible CPU, a queue (qid = CPU) served by threads pinned to that
// CPU. Each thread owns a small io_uring of 128-byte SQEs and exactly one
// ring entry (a header buffer and a payload buffer registered with the
// kernel). The kernel queues each request on the ring of the CPU the
// requester runs on, so the wake-up stays on that CPU, and one
// io_uring_enter() both commits a reply and waits for the next request: no
// read()/write() per request and no cross-CPU wake-up.
//
// Decisions:
// - One entry per thread. A ring entry is available to the kernel exactly when
//   its thread is idle, as with a /dev/fuse reader; a handler that blocks (a
//   slow file system, a name lock held by a rename) never holds up a request
//   that the kernel queued on another entry of the same thread. Threads per
//   queue = max(2, ceil(threads / queues)).
// - The transport owns a /dev/fuse transport (make_dev_transport): it answers
//   INIT, serves what the kernel still sends over /dev/fuse (FORGET,
//   BATCH_FORGET, INTERRUPT) with one thread, and writes notifications. It is
//   also the fallback: when the module parameter, the kernel, or io_uring
//   itself does not allow FUSE-over-io_uring, everything goes over /dev/fuse
//   and one line on stderr says why.
// - A reply lands in the worker's EntrySink, which copies it into the entry's
//   buffers; the thread commits it (COMMIT_AND_FETCH) after handle() returns.
//   A request cannot outlive its handler here (detach() gives null): the
//   entry is the thread's only one, so the session answers such a request on
//   the request thread.
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <system_error>

#include "kernel/channel.h"
#include "kernel/uring_protocol.h"

namespace linfsp::kernel {
namespace {

constexpr uint64_t kStopTag = ~0ULL;  // user_data of the stop eventfd poll
constexpr unsigned kMinThreadsPerQueue = 2;
constexpr unsigned kRingSize = 4;  // SQEs: one entry, the stop poll, spare
constexpr size_t kCmdOffset = 48;  // the 80-byte command area of an SQE128
static_assert(offsetof(io_uring_sqe, addr3) == kCmdOffset);
static_assert(kCmdOffset + kSqe128CmdArea == 128);

// The command area of a 128-byte SQE lies past the end of io_uring_sqe as the
// compiler sees it (a zero-length array), so address it as raw bytes.
char* sqe_cmd(io_uring_sqe* sqe) { return reinterpret_cast<char*>(sqe) + kCmdOffset; }

void clear_sqe128(io_uring_sqe* sqe) {
  std::memset(sqe, 0, sizeof(*sqe));
  std::memset(sqe_cmd(sqe), 0, kSqe128CmdArea);
}

const char* err_text(int err) { return std::strerror(err < 0 ? -err : err); }

// Creates a ring with 128-byte SQEs and the cheapest task-run mode the kernel
// has: deferred task work (run only when the single owner thread waits for
// completions, which is where it always is), then cooperative task work.
// Returns 0 or -errno.
int setup_ring(io_uring* ring) {
  static constexpr unsigned kModes[] = {
      IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
      IORING_SETUP_SQE128,
  };
  int rc = -EINVAL;
  for (unsigned flags : kModes) {
    io_uring_params params{};
    params.flags = flags;
    rc = io_uring_queue_init_params(kRingSize, ring, &params);
    if (rc != -EINVAL) return rc;
  }
  return rc;
}

// Whether FUSE-over-io_uring can work here; if not, *why says what to change.
bool uring_usable(std::string* why) {
  std::ifstream param("/sys/module/fuse/parameters/enable_uring");
  if (!param) {
    *why = "this kernel's fuse module has no io_uring support (no /sys/module/fuse/parameters/enable_uring)";
    return false;
  }
  std::string value;
  param >> value;
  if (value != "Y" && value != "1") {
    *why = "the fuse module has it disabled; as root: echo 1 > /sys/module/fuse/parameters/enable_uring";
    return false;
  }
  io_uring ring;
  if (int rc = setup_ring(&ring); rc < 0) {
    *why = std::string("cannot create an io_uring with 128-byte SQEs: ") + err_text(rc) +
           (rc == -EPERM ? " (see sysctl kernel.io_uring_disabled)" : "");
    return false;
  }
  io_uring_queue_exit(&ring);
  return true;
}

// The kernel makes one queue per possible CPU and picks the queue by the
// requester's CPU number.
unsigned possible_cpus() {
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string list;
  unsigned count = 0;
  if (in >> list) {
    std::stringstream ss(list);
    std::string range;
    while (std::getline(ss, range, ',')) {
      unsigned lo = 0, hi = 0;
      if (std::sscanf(range.c_str(), "%u-%u", &lo, &hi) == 2 && hi >= lo) {
        count += hi - lo + 1;
      } else if (std::sscanf(range.c_str(), "%u", &lo) == 1) {
        count += 1;
      }
    }
  }
  if (count == 0) count = static_cast<unsigned>(std::max(1, get_nprocs_conf()));
  return count;
}

// Request threads take no process-directed signals (the host's signalfd does).
void block_signals() {
  sigset_t set;
  sigfillset(&set);
  for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigdelset(&set, s);
  pthread_sigmask(SIG_SETMASK, &set, nullptr);
}

// One thread, its ring, and its one ring entry.
struct Worker {
  unsigned index = 0;  // in UringTransport::workers_
  unsigned qid = 0;
  // The entry's memory: the header buffer in the first page, the payload from
  // the second page on. The gap lets serve() put the per-opcode struct right
  // before the payload, so the request body is contiguous as from /dev/fuse.
  char* map = nullptr;
  size_t map_size = 0;
  UringReqHeader* header = nullptr;
  char* payload = nullptr;
  iovec iov[2]{};
  uint64_t commit_id = 0;  // of the request being served
  uint32_t last_cmd = 0;   // kUringCmdRegister or kUringCmdCommitAndFetch
  // Request bytes in the payload, which must stay readable until the handler
  // returns. A reply that would overwrite them waits in `spill` instead and
  // moves into the payload when the handler is done.
  uint32_t request_payload = 0;
  std::vector<char> spill;
  size_t spilled = 0;  // bytes waiting in `spill`
  int registered = 1;  // guarded by the transport's mutex_: 1 unknown, 0 registered, < 0 -errno
  std::thread thread;

  ~Worker() {
    if (map) munmap(map, map_size);
  }
};

// Serves what still comes over /dev/fuse beside the rings. After a forget it
// pauses a moment, so that the kernel's next forgets pile up and arrive as
// one BATCH_FORGET: each would otherwise wake this thread on the other CPU
// (unlinking 1,000 files: 1,000 wake-ups). Nothing waits for a forget, and
// an INTERRUPT waits at most the pause.
class ForgetBatcher final : public RequestHandler {
 public:
  explicit ForgetBatcher(RequestHandler& inner) : inner_(inner) {}
  void handle(const Request& request, Reply& reply) override {
    inner_.handle(request, reply);
    uint32_t op = request.header.opcode;
    if (op == FUSE_FORGET || op == FUSE_BATCH_FORGET) usleep(1000);
  }

 private:
  RequestHandler& inner_;
};

class UringTransport final : public Transport {
 public:
  explicit UringTransport(int fd) : fd_(fd), dev_(make_dev_transport(fd)) {}
  ~UringTransport() override {
    stop();
    workers_.clear();
    if (stop_fd_ >= 0) close(stop_fd_);
  }

  Result<Negotiated> init(const InitWants& wants) override;
  Status start(RequestHandler& handler, unsigned threads) override;
  void stop() override;
  void wait() override;
  Status notify(int code, std::span<const iovec> payload) override { return dev_->notify(code, payload); }

 private:
  // Copies a reply into the worker's entry.
  Status write_reply(Worker& w, std::span<const iovec> iov);
  class EntrySink final : public ReplySink {
   public:
    EntrySink(UringTransport& t, Worker& w) : t_(t), w_(w) {}
    Status send(std::span<const iovec> message) override { return t_.write_reply(w_, message); }
    std::unique_ptr<ReplySink> detach() override { return nullptr; }

   private:
    UringTransport& t_;
    Worker& w_;
  };

  void run(Worker& w);
  void serve(Worker& w);
  void watch_dev();
  bool prepare_cmd(io_uring* ring, Worker& w, uint32_t cmd);
  void worker_started(Worker& w, int result);
  void worker_ended(bool served);
  void wake_workers();
  void join_workers();
  bool disable_kernel_uring();

  const int fd_;
  const std::unique_ptr<Transport> dev_;  // INIT, FORGET/INTERRUPT, notify, fallback
  int stop_fd_ = -1;                      // eventfd, readable when workers must leave
  bool use_uring_ = false;                // init() negotiated FUSE_OVER_IO_URING
  bool dev_only_ = false;                 // start() serves everything over /dev/fuse
  size_t payload_size_ = 0;
  RequestHandler* handler_ = nullptr;
  std::optional<ForgetBatcher> forgets_;          // the /dev/fuse thread's handler beside the rings
  std::vector<std::unique_ptr<Worker>> workers_;  // fixed once start() returns
  std::thread dev_watcher_;                       // ends the transport when /dev/fuse ends
  std::atomic<bool> quit_{false};                 // workers leave at the next wake-up
  std::once_flag joined_;

  std::mutex mutex_;
  std::condition_variable cv_;
  unsigned reported_ = 0;  // guarded by mutex_: workers past registration
  unsigned running_ = 0;   // guarded by mutex_: workers still in run()
  bool ended_ = false;     // guarded by mutex_: the connection ended or a worker failed
  bool stopping_ = false;  // guarded by mutex_: stop() was called
};

Result<Negotiated> UringTransport::init(const InitWants& wants) {
  InitWants w = wants;
  std::string why;
  bool want = uring_usable(&why);
  if (want && stop_fd_ < 0) {
    stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd_ < 0) {
      want = false;
      why = std::string("eventfd: ") + std::strerror(errno);
    }
  }
  if (want) w.flags |= kInitOverIoUring;
  Result<Negotiated> neg = dev_->init(w);
  if (!neg) return neg;
  use_uring_ = want && (neg->flags & kInitOverIoUring);
  if (want && !use_uring_) {
    why = "the kernel did not offer it in INIT (protocol 7." + std::to_string(neg->kernel_minor) + ")";
  }
  if (!use_uring_)
    std::fprintf(stderr, "linfsp: FUSE-over-io_uring unavailable: %s; serving over /dev/fuse\n", why.c_str());

  // The kernel refuses a payload buffer smaller than
  // max(FUSE_MIN_READ_BUFFER, max_write, max_pages pages).
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t pages = (neg->flags & FUSE_MAX_PAGES) ? std::max<size_t>(neg->max_pages, 1) : 32;
  size_t size = std::max({size_t{FUSE_MIN_READ_BUFFER}, size_t{neg->max_write}, pages * page});
  payload_size_ = (size + page - 1) / page * page;
  return neg;
}

Status UringTransport::start(RequestHandler& handler, unsigned threads) {
  handler_ = &handler;
  if (!use_uring_) {
    dev_only_ = true;
    return dev_->start(handler, threads);
  }
  const unsigned queues = possible_cpus();
  const unsigned per_queue = std::max(kMinThreadsPerQueue, (std::max(threads, 1u) + queues - 1) / queues);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::string failure;
  for (unsigned q = 0; q < queues && failure.empty(); ++q) {
    for (unsigned t = 0; t < per_queue; ++t) {
      auto w = std::make_unique<Worker>();
      w->index = static_cast<unsigned>(workers_.size());
      w->qid = q;
      w->map_size = page + payload_size_;
      void* m = mmap(nullptr, w->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) {
        failure = std::string("allocating ring buffers: ") + std::strerror(errno);
        break;
      }
      w->map = static_cast<char*>(m);
      w->header = reinterpret_cast<UringReqHeader*>(w->map);
      w->payload = w->map + page;
      w->iov[0] = {w->header, sizeof(UringReqHeader)};
      w->iov[1] = {w->payload, payload_size_};
      workers_.push_back(std::move(w));
    }
  }
  if (failure.empty()) {
    std::unique_lock lock(mutex_);
    for (auto& w : workers_) {
      Worker* p = w.get();
      try {
        w->thread = std::thread([this, p] { run(*p); });
        ++running_;
      } catch (const std::system_error& e) {
        w->registered = -e.code().value();
        ++reported_;
      }
    }
    cv_.wait(lock, [this] { return reported_ == workers_.size(); });
    // The kernel switches to the rings once every queue has an entry.
    std::vector<bool> queue_ok(queues, false);
    std::vector<int> queue_err(queues, 0);
    int first_err = 0;
    for (auto& w : workers_) {
      if (w->registered == 0) {
        queue_ok[w->qid] = true;
      } else {
        queue_err[w->qid] = w->registered;
        if (first_err == 0) first_err = w->registered;
      }
    }
    for (unsigned q = 0; q < queues && failure.empty(); ++q) {
      if (!queue_ok[q]) failure = "queue " + std::to_string(q) + ": " + err_text(queue_err[q]);
    }
    if (failure.empty() && first_err != 0) {
      std::fprintf(
          stderr,
          "linfsp: FUSE-over-io_uring: some request threads failed to start (%s); serving with the others\n",
          err_text(first_err));
    }
  }
  if (!failure.empty()) {
    // Requests wait in the kernel until every queue is registered or a
    // registration fails; make one fail so they come over /dev/fuse.
    std::fprintf(stderr, "linfsp: FUSE-over-io_uring failed (%s); serving over /dev/fuse\n", failure.c_str());
    quit_ = true;
    wake_workers();
    join_workers();
    workers_.clear();
    dev_only_ = true;
    if (!disable_kernel_uring()) {
      return Status::error(EIO, "FUSE-over-io_uring failed (" + failure + ") and could not be switched off");
    }
    return dev_->start(handler, threads);
  }
  // FORGET, BATCH_FORGET and INTERRUPT still come over /dev/fuse.
  forgets_.emplace(handler);
  if (Status s = dev_->start(*forgets_, 1); !s) {
    stop();
    return s;
  }
  try {
    dev_watcher_ = std::thread([this] { watch_dev(); });
  } catch (const std::system_error& e) {
    stop();
    return Status::error(e.code().value(), "starting the /dev/fuse watcher");
  }
  return Status::ok();
}

// The /dev/fuse thread ends when the connection does (ENODEV) or after
// stop(); either way the rings end too.
void UringTransport::watch_dev() {
  dev_->wait();
  {
    std::lock_guard lock(mutex_);
    ended_ = true;
  }
  quit_ = true;
  wake_workers();
  cv_.notify_all();
}

// Registers the entry, then serves requests until the connection ends or the
// transport stops.
void UringTransport::run(Worker& w) {
  block_signals();
  char name[16];
  std::snprintf(name, sizeof(name), "linfsp-uring%u", w.qid);
  pthread_setname_np(pthread_self(), name);
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  CPU_SET(w.qid, &cpus);
  // A CPU outside our cpuset (or offline) cannot be pinned; the thread then
  // floats and its wake-ups may cross CPUs, which is slower but correct.
  pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);

  io_uring ring;
  int rc = setup_ring(&ring);
  bool have_ring = rc == 0;
  if (have_ring) {
    // No registered (fixed) /dev/fuse file: the ring's file table would keep
    // the connection open for ~40 ms after a crash, while the kernel tears
    // the ring down, and requests made meanwhile would wait; a per-command
    // reference is dropped as soon as the command is cancelled. Costs
    // nothing measurable.
    io_uring_register_ring_fd(&ring);  // optional: saves a descriptor lookup per enter
    io_uring_sqe* poll = io_uring_get_sqe(&ring);
    if (poll != nullptr) {
      io_uring_prep_poll_add(poll, stop_fd_, POLLIN);
      io_uring_sqe_set_data64(poll, kStopTag);
    }
    rc = poll != nullptr && prepare_cmd(&ring, w, kUringCmdRegister) ? io_uring_submit(&ring) : -EBUSY;
    if (rc >= 0) {
      rc = 0;
      // A refused registration completes at once; a good one stays pending
      // until a request comes (which may already have happened: leave those).
      unsigned head;
      io_uring_cqe* cqe;
      io_uring_for_each_cqe(&ring, head, cqe) {
        if (cqe->user_data == w.index && cqe->res < 0) rc = cqe->res;
      }
    }
  }
  worker_started(w, rc);
  if (rc < 0) {  // start() decides whether the others can do without it
    if (have_ring) io_uring_queue_exit(&ring);
    worker_ended(false);
    return;
  }

  bool leave = false;
  while (!leave) {
    int n = io_uring_submit_and_wait(&ring, 1);
    if (n < 0 && n != -EINTR && n != -EAGAIN && n != -EBUSY) {
      std::fprintf(stderr, "linfsp: io_uring queue %u: %s\n", w.qid, err_text(n));
      break;
    }
    unsigned head, seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      if (cqe->user_data == kStopTag) {
        leave = true;
        continue;
      }
      int res = cqe->res;
      if (res == 0) {  // a request
        serve(w);
        if (!prepare_cmd(&ring, w, kUringCmdCommitAndFetch)) leave = true;
      } else if (res == -EINTR || res == -EAGAIN) {
        if (!prepare_cmd(&ring, w, w.last_cmd)) leave = true;
      } else if (res == -ENOENT && w.last_cmd == kUringCmdCommitAndFetch) {
        // The kernel no longer knows the request, and the entry is stuck on
        // its side: give it a new one with the same buffers.
        std::fprintf(stderr, "linfsp: io_uring queue %u: request %llu gone before its reply\n", w.qid,
                     static_cast<unsigned long long>(w.commit_id));
        if (!prepare_cmd(&ring, w, kUringCmdRegister)) leave = true;
      } else {
        // ENOTCONN, ECONNABORTED, ECANCELED: the connection ended (unmounted
        // or aborted). Anything else is unexpected and also ends it.
        if (res != -ENOTCONN && res != -ECONNABORTED && res != -ECANCELED && res != -ENODEV) {
          std::fprintf(stderr, "linfsp: io_uring queue %u: %s\n", w.qid, err_text(res));
        }
        leave = true;
      }
    }
    io_uring_cq_advance(&ring, seen);
    if (quit_.load(std::memory_order_relaxed)) leave = true;
  }
  io_uring_submit(&ring);      // replies prepared before leaving still go out
  io_uring_queue_exit(&ring);  // cancels the entry if the kernel still holds it
  worker_ended(true);
}

bool UringTransport::prepare_cmd(io_uring* ring, Worker& w, uint32_t cmd) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr) {  // cannot happen: one command and one poll in a ring of four
    std::fprintf(stderr, "linfsp: io_uring queue %u: submission queue full\n", w.qid);
    return false;
  }
  clear_sqe128(sqe);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fd_;
  sqe->cmd_op = cmd;
  if (cmd == kUringCmdRegister) {
    sqe->addr = reinterpret_cast<uintptr_t>(w.iov);
    sqe->len = 2;
  }
  sqe->user_data = w.index;
  UringCmdReq req{};
  req.qid = static_cast<uint16_t>(w.qid);
  req.commit_id = cmd == kUringCmdCommitAndFetch ? w.commit_id : 0;
  std::memcpy(sqe_cmd(sqe), &req, sizeof(req));
  w.last_cmd = cmd;
  return true;
}

// The kernel put the request header in in_out, the first argument (the
// per-opcode struct) in op_in and the rest in the payload. The volume wants
// the body contiguous, as /dev/fuse delivers it: op_in goes right before the
// payload (every per-opcode struct is a multiple of 8 bytes, so the body stays
// 8-aligned).
void UringTransport::serve(Worker& w) {
  fuse_in_header in;
  std::memcpy(&in, w.header->in_out, sizeof(in));
  UringEntInOut io;
  std::memcpy(&io, &w.header->ring_ent_in_out, sizeof(io));
  w.commit_id = io.commit_id;
  EntrySink sink(*this, w);
  Reply reply(sink, in.unique);
  size_t args = in.len >= sizeof(in) ? in.len - sizeof(in) : 0;
  if (in.len < sizeof(in) || io.payload_sz > payload_size_ || args < io.payload_sz ||
      args - io.payload_sz > kUringOpInSize) {
    std::fprintf(stderr, "linfsp: io_uring request %llu: length %u does not fit its payload of %u bytes\n",
                 static_cast<unsigned long long>(in.unique), in.len, io.payload_sz);
    reply.error(EIO);
    return;
  }
  size_t op_size = args - io.payload_sz;
  char* body = w.payload - op_size;
  std::memcpy(body, w.header->op_in, op_size);
  Request request{in, body, args};
  w.request_payload = io.payload_sz;
  w.spilled = 0;
  handler_->handle(request, reply);
  if (w.spilled) std::memcpy(w.payload, w.spill.data(), w.spilled);
  w.request_payload = 0;
  w.spilled = 0;
}

// A reply: iov[0] is the fuse_out_header, the rest its arguments. The header
// goes into in_out, the arguments into the payload (through `spill` when the
// request still has bytes there: names, written data). Called from handle(),
// on the worker's thread; the worker commits once handle() returns.
Status UringTransport::write_reply(Worker& w, std::span<const iovec> iov) {
  if (iov.empty() || iov[0].iov_len != sizeof(fuse_out_header)) {
    return Status::error(EINVAL, "io_uring reply: no header");
  }
  fuse_out_header oh;
  std::memcpy(&oh, iov[0].iov_base, sizeof(oh));
  size_t size = 0;
  for (size_t i = 1; i < iov.size(); ++i) size += iov[i].iov_len;
  if (size > payload_size_) {
    std::fprintf(stderr, "linfsp: io_uring reply of %zu bytes exceeds the %zu-byte buffer\n", size,
                 payload_size_);
    oh.error = -EIO;
    size = 0;
  }
  if (oh.error == 0 && size > 0) {
    char* p = w.payload;
    if (w.request_payload > 0) {
      if (w.spill.size() < size) w.spill.resize(std::max(size, size_t{4096}));
      p = w.spill.data();
      w.spilled = size;
    }
    for (size_t i = 1; i < iov.size(); ++i) {
      // memmove, not memcpy: the source may be the handler's view of this
      // very buffer.
      if (iov[i].iov_len) std::memmove(p, iov[i].iov_base, iov[i].iov_len);
      p += iov[i].iov_len;
    }
  } else {
    size = 0;
  }
  oh.len = static_cast<uint32_t>(sizeof(oh) + size);
  std::memcpy(w.header->in_out, &oh, sizeof(oh));
  UringEntInOut io{};
  io.commit_id = w.commit_id;
  io.payload_sz = static_cast<uint32_t>(size);
  std::memcpy(&w.header->ring_ent_in_out, &io, sizeof(io));
  return Status::ok();
}

void UringTransport::worker_started(Worker& w, int result) {
  {
    std::lock_guard lock(mutex_);
    w.registered = result;
    ++reported_;
  }
  cv_.notify_all();
}

void UringTransport::worker_ended(bool served) {
  {
    std::lock_guard lock(mutex_);
    --running_;
    if (!served) return;
    // A serving worker that leaves on its own saw the connection end (or
    // failed): the others follow, and wait() returns.
    if (!quit_.load()) ended_ = true;
  }
  quit_ = true;
  wake_workers();
  cv_.notify_all();
}

void UringTransport::wake_workers() {
  if (stop_fd_ >= 0) eventfd_write(stop_fd_, 1);
}

void UringTransport::join_workers() {
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

// Makes the kernel give up on the rings: a REGISTER it must refuse (no
// buffers) clears the connection's io_uring mode, and requests waiting for
// the rings go to /dev/fuse instead.
bool UringTransport::disable_kernel_uring() {
  io_uring ring;
  io_uring_params params{};
  params.flags = IORING_SETUP_SQE128;
  if (io_uring_queue_init_params(2, &ring, &params) < 0) return false;
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) {
    io_uring_queue_exit(&ring);
    return false;
  }
  clear_sqe128(sqe);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fd_;
  sqe->cmd_op = kUringCmdRegister;  // addr 0, len 0: refused with EINVAL
  io_uring_cqe* cqe = nullptr;
  bool refused =
      io_uring_submit_and_wait(&ring, 1) >= 0 && io_uring_peek_cqe(&ring, &cqe) == 0 && cqe->res < 0;
  io_uring_queue_exit(&ring);
  return refused;
}

void UringTransport::stop() {
  if (dev_only_ || workers_.empty()) {
    dev_->stop();
    return;
  }
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  quit_ = true;
  wake_workers();
  cv_.notify_all();
  std::call_once(joined_, [this] {
    join_workers();
    dev_->stop();
    if (dev_watcher_.joinable()) dev_watcher_.join();
  });
}

void UringTransport::wait() {
  if (dev_only_ || workers_.empty()) {
    dev_->wait();
    return;
  }
  {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return ended_ || stopping_; });
  }
  stop();
}

}  // namespace

std::unique_ptr<Transport> make_uring_transport(int fuse_fd) {
  return std::make_unique<UringTransport>(fuse_fd);
}

}  // namespace linfsp::kernel
