// The FUSE-over-io_uring transport.
//
// INIT still goes over /dev/fuse (answered with FUSE_OVER_IO_URING). Then,
// for every possible CPU, a queue (qid = CPU) served by threads pinned to that
// CPU. Each thread owns a small io_uring of 128-byte SQEs and ring entries (a
// header buffer and a payload buffer registered with the kernel). The kernel
// queues each request on the ring of the CPU the requester runs on, so the
// wake-up stays on that CPU, and one io_uring_enter() both commits a reply and
// waits for the next request: no read()/write() per request and no cross-CPU
// wake-up.
//
// Decisions:
// - One fetching entry per thread to begin with. A thread starts with one
//   entry, so an entry is available to the kernel exactly when its thread is
//   idle, as with a /dev/fuse reader. Threads per queue =
//   max(2, ceil(threads / queues)).
// - Pending replies park their entry; no request thread waits. When a handler
//   detaches its reply (EntrySink::detach, for a deferred READ, WRITE or
//   READDIR), the entry stays with its request (the kernel holds the request
//   under the entry's commit_id until a COMMIT_AND_FETCH names it), and the
//   thread goes on with another entry: one of its entries that is already
//   fetching, else one from its free list (allocated, not registered), else a
//   new one that it allocates and REGISTERs, up to kMaxEntriesPerWorker
//   entries per thread. Beyond that bound detach() returns null and the
//   session answers the request inline: the request thread waits, as on a
//   transport without detach.
// - The detached sink (ParkedSink) may be used from any thread. It writes the
//   reply into the parked entry's buffers and hands the entry back to its
//   thread through the thread's Mailbox: a mutex-protected list and an
//   eventfd that the thread's ring reads (IORING_OP_READ, re-armed after each
//   completion). The thread then submits COMMIT_AND_FETCH for the entry, which
//   also re-arms it. Everything that touches a ring stays on the ring's
//   thread (rings are SINGLE_ISSUER / DEFER_TASKRUN); other threads touch only
//   entry buffers they own (a parked entry belongs to its sink) and the
//   mailbox. Like the inline sink, the detached sink reports success once the
//   reply is written and queued; the kernel's verdict (ENOENT: the request
//   is gone) comes later on the ring thread, which logs it. The requests
//   that pend (READ, WRITE, READDIR) need no verdict: none adds a lookup.
// - Headroom, because of a kernel limit: a newly registered entry does not
//   take a request already waiting in the kernel's queue (only a
//   COMMIT_AND_FETCH or a new background request pulls one), so requests
//   that arrive while every entry of their queue is taken could wait until
//   some reply is committed. Each thread therefore registers kSpareEntries
//   entries at start and tops them up when it parks; this makes that wait
//   rare, not impossible.
// - A thread may therefore have several entries fetching (an entry whose
//   reply was committed fetches again: the kernel has no commit without a
//   fetch, and no way to retire a registered entry). A CQE's user_data names
//   the entry (its index in Worker::entries); the stop poll and the mailbox
//   read have tags of their own. The trade-off: the kernel may hand a request
//   to a fetching entry of a thread that is busy in a handler, and that
//   request waits for the handler. A handler that blocks for long should
//   pend instead (that is what pending replies are for); a thread never has
//   more entries than the most requests it ever had parked at once, plus one.
// - Request bytes in the payload (names, written data) must stay readable
//   until handle() returns. Per entry: a reply that arrives while the handler
//   runs (inline, or from another thread right after detach) and would
//   overwrite them waits in the entry's `spill` and moves into the payload
//   when the handler is done; the thread commits it then. A detached reply
//   that arrives after the handler returned goes straight into the payload.
//   Entry::mutex decides which side commits.
// - Teardown. The session ends every deferred request before transport->stop()
//   (FileSystemHost::stop), so their replies are in the mailboxes when the
//   threads leave; each thread, when it leaves, closes its mailbox, commits
//   what is in it and exits its ring. A sink used later (or after the
//   transport is gone) finds the mailbox closed and fails with ENOTCONN: the
//   entry and the mailbox are shared with the sink (shared_ptr), so it never
//   touches freed memory, and the last owner unmaps the buffers. Requests
//   still parked then stay with the kernel, which ends them (ECONNABORTED)
//   when the connection goes. A sink dropped without an answer answers EIO,
//   so its entry comes back.
// - The transport owns a /dev/fuse transport (make_dev_transport): it answers
//   INIT, serves what the kernel still sends over /dev/fuse (FORGET,
//   BATCH_FORGET, INTERRUPT) with one thread, and writes notifications. It is
//   also the fallback: when the module parameter, the kernel, or io_uring
//   itself does not allow FUSE-over-io_uring, everything goes over /dev/fuse
//   and one line on stderr says why.
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

constexpr uint64_t kStopTag = ~0ULL;      // user_data of the stop eventfd poll
constexpr uint64_t kMailTag = ~0ULL - 1;  // user_data of the mailbox eventfd read
constexpr unsigned kMinThreadsPerQueue = 2;
// Ring entries per thread: the one it starts with plus those that park
// pending replies. Past it a pending reply is answered inline (the thread
// waits). Each entry maps a page and a payload buffer (max_write, 1 MiB by
// default) of which only what requests and replies touch becomes resident.
constexpr unsigned kMaxEntriesPerWorker = 128;
// Entries a thread keeps fetching: it registers them at start and tops them
// up when it parks a request (see detach()).
constexpr unsigned kSpareEntries = 16;
constexpr unsigned kRingSize = 16;  // SQEs; a full queue is submitted and reused
// CQEs: at most one per entry, the stop poll and the mailbox read.
constexpr unsigned kCqSize = 2 * kMaxEntriesPerWorker;
static_assert(kCqSize >= kMaxEntriesPerWorker + 2);
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
    params.flags = flags | IORING_SETUP_CQSIZE;
    params.cq_entries = kCqSize;
    rc = io_uring_queue_init_params(kRingSize, ring, &params);
    if (rc != -EINVAL) return rc;
  }
  return rc;
}

// A worker's ring must not outlive its process. A child forked by the file
// system (or a test) would otherwise inherit the ring's descriptor and
// mappings and keep it alive; the kernel then holds the requests queued on
// the ring's entries until the child exits, and a child that itself waits on
// such a request never does: nothing, not even aborting the connection,
// ends that wait. So the ring is entered through its registered index only
// (the registration belongs to this thread and is not inherited), its own
// descriptor is closed, and its mappings are not copied into children.
void keep_ring_private(io_uring* ring) {
  io_uring_ring_dontfork(ring);
  if (io_uring_register_ring_fd(ring) == 1) {
    close(ring->ring_fd);
    ring->ring_fd = -1;  // io_uring_queue_exit's unregister then fails; the thread's exit drops it
  }
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

// One ring entry: a header buffer in the first page and the payload from the
// second page on. The gap lets serve() put the per-opcode struct right before
// the payload, so the request body is contiguous as from /dev/fuse. Shared
// between its thread and, while parked, the detached sink, so that a sink
// that outlives the transport still writes to mapped memory.
struct Entry {
  Entry() = default;
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;
  ~Entry() {
    if (map) munmap(map, map_size);
  }

  enum class State { kIdle, kFetching, kServing, kParked };

  // Fixed once made.
  unsigned id = 0;  // index in Worker::entries, user_data of its commands
  char* map = nullptr;
  size_t map_size = 0;
  size_t payload_size = 0;
  UringReqHeader* header = nullptr;
  char* payload = nullptr;
  iovec iov[2]{};

  // The thread's alone (a parked entry's sink reads commit_id, which the
  // thread wrote before it ran the handler).
  State state = State::kIdle;  // kIdle: not registered (on the free list)
  uint32_t last_cmd = 0;       // kUringCmdRegister or kUringCmdCommitAndFetch
  uint64_t commit_id = 0;      // of the request it holds
  // Request bytes in the payload, which must stay readable until the handler
  // returns.
  uint32_t request_payload = 0;

  // Between the thread and the sinks: which of them commits the reply.
  std::mutex mutex;
  bool in_handler = false;  // guarded by mutex: the handler still runs
  bool replied = false;     // guarded by mutex: the reply is in the buffers (or in spill)
  std::vector<char> spill;  // guarded by mutex: a reply that waits for the handler to return
  size_t spilled = 0;       // guarded by mutex: bytes waiting in spill
};

// Maps an entry's buffers; null when out of memory.
std::shared_ptr<Entry> make_entry(unsigned id, size_t payload_size) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t size = page + payload_size;
  void* m = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  auto e = std::make_shared<Entry>();
  e->id = id;
  e->map = static_cast<char*>(m);
  e->map_size = size;
  e->payload_size = payload_size;
  e->header = reinterpret_cast<UringReqHeader*>(e->map);
  e->payload = e->map + page;
  e->iov[0] = {e->header, sizeof(UringReqHeader)};
  e->iov[1] = {e->payload, payload_size};
  return e;
}

// Where detached sinks hand parked entries back to their thread.
class Mailbox {
 public:
  explicit Mailbox(int fd) : fd_(fd) {}
  ~Mailbox() {
    if (fd_ >= 0) close(fd_);
  }
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  int fd() const { return fd_; }
  // Queues an entry whose reply is written; ENOTCONN once the thread left.
  Status post(std::shared_ptr<Entry> entry) {
    bool wake;
    {
      std::lock_guard lock(mutex_);
      if (closed_) return Status::error(ENOTCONN, "io_uring: the request thread has stopped");
      wake = ready_.empty();  // otherwise a wake-up is on its way already
      ready_.push_back(std::move(entry));
    }
    if (wake) eventfd_write(fd_, 1);
    return Status::ok();
  }
  // The entries posted so far.
  std::vector<std::shared_ptr<Entry>> take() {
    std::vector<std::shared_ptr<Entry>> out;
    std::lock_guard lock(mutex_);
    out.swap(ready_);
    return out;
  }
  // Refuses further posts; returns what is still queued.
  std::vector<std::shared_ptr<Entry>> close_box() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    std::vector<std::shared_ptr<Entry>> out;
    out.swap(ready_);
    return out;
  }

 private:
  const int fd_;
  std::mutex mutex_;
  bool closed_ = false;                             // guarded by mutex_
  std::vector<std::shared_ptr<Entry>> ready_;       // guarded by mutex_
};

// One thread, its ring, and its ring entries.
struct Worker {
  unsigned index = 0;  // in UringTransport::workers_
  unsigned qid = 0;
  // The thread's alone once it runs (start() makes entries[0]).
  std::vector<std::shared_ptr<Entry>> entries;
  std::vector<Entry*> free_list;  // allocated, not registered
  unsigned fetching = 0;          // entries the kernel may hand a request
  unsigned parked = 0;            // entries holding a pending request
  io_uring* ring = nullptr;       // while run() has one
  std::shared_ptr<Mailbox> mailbox;
  uint64_t mail_value = 0;  // the mailbox read's buffer
  bool mail_armed = false;
  int registered = 1;  // guarded by the transport's mutex_: 1 unknown, 0 registered, < 0 -errno
  std::thread thread;

  ~Worker() {
    if (mailbox) mailbox->close_box();
  }
};

// Copies a reply (iov[0] is the fuse_out_header, the rest its arguments)
// into the entry: the header into in_out, the arguments into the payload, or
// into `spill` while the handler runs and request bytes are in the payload
// (memmove, not memcpy: the source may be the handler's view of this very
// buffer). REQUIRES: entry.mutex held.
Status write_reply_locked(Entry& e, std::span<const iovec> iov) {
  if (iov.empty() || iov[0].iov_len != sizeof(fuse_out_header)) {
    return Status::error(EINVAL, "io_uring reply: no header");
  }
  fuse_out_header oh;
  std::memcpy(&oh, iov[0].iov_base, sizeof(oh));
  size_t size = 0;
  for (size_t i = 1; i < iov.size(); ++i) size += iov[i].iov_len;
  if (size > e.payload_size) {
    std::fprintf(stderr, "linfsp: io_uring reply of %zu bytes exceeds the %zu-byte buffer\n", size,
                 e.payload_size);
    oh.error = -EIO;
    size = 0;
  }
  if (oh.error == 0 && size > 0) {
    char* p = e.payload;
    if (e.in_handler && e.request_payload > 0) {
      if (e.spill.size() < size) e.spill.resize(std::max(size, size_t{4096}));
      p = e.spill.data();
      e.spilled = size;
    }
    for (size_t i = 1; i < iov.size(); ++i) {
      if (iov[i].iov_len) std::memmove(p, iov[i].iov_base, iov[i].iov_len);
      p += iov[i].iov_len;
    }
  } else {
    size = 0;
  }
  oh.len = static_cast<uint32_t>(sizeof(oh) + size);
  std::memcpy(e.header->in_out, &oh, sizeof(oh));
  UringEntInOut io{};
  io.commit_id = e.commit_id;
  io.payload_sz = static_cast<uint32_t>(size);
  std::memcpy(&e.header->ring_ent_in_out, &io, sizeof(io));
  e.replied = true;
  return Status::ok();
}

// The sink of a detached reply: owns the parked entry until it answers, from
// any thread. Needs nothing of the transport, which it may outlive.
class ParkedSink final : public ReplySink {
 public:
  ParkedSink(std::shared_ptr<Entry> entry, std::shared_ptr<Mailbox> mailbox)
      : entry_(std::move(entry)), mailbox_(std::move(mailbox)) {}
  ~ParkedSink() override {
    if (!sent_) {  // the session always answers; this only gives the entry back
      fuse_out_header oh{sizeof(oh), -EIO, entry_->commit_id};
      iovec iov{&oh, sizeof(oh)};
      send({&iov, 1});
    }
  }

  // Calls are serialised by the caller (session::Deferred's mutex).
  Status send(std::span<const iovec> message) override {
    // Once answered, the entry belongs to its thread again (and soon to
    // another request): this sink must not touch it.
    if (sent_) return Status::error(EINVAL, "io_uring: a second reply to one request");
    sent_ = true;
    Status written;
    bool commit_now;
    {
      std::lock_guard lock(entry_->mutex);
      written = write_reply_locked(*entry_, message);
      if (!written) {  // a malformed reply: the entry must come back all the same
        fuse_out_header oh{sizeof(oh), -EIO, entry_->commit_id};
        iovec iov{&oh, sizeof(oh)};
        write_reply_locked(*entry_, {&iov, 1});
      }
      // While the handler runs, its thread commits when it returns.
      commit_now = !entry_->in_handler;
    }
    Status posted = commit_now ? mailbox_->post(entry_) : Status::ok();
    return written ? posted : written;
  }
  // Already detached: the reply stays with this sink.
  std::unique_ptr<ReplySink> detach() override { return nullptr; }

 private:
  const std::shared_ptr<Entry> entry_;
  const std::shared_ptr<Mailbox> mailbox_;
  bool sent_ = false;
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
  // The sink of a request while its handler runs, on the worker's thread.
  class EntrySink final : public ReplySink {
   public:
    EntrySink(UringTransport& t, Worker& w, std::shared_ptr<Entry> e) : t_(t), w_(w), e_(std::move(e)) {}
    Status send(std::span<const iovec> message) override {
      // Also called from another thread when the session answers inline
      // (detach() gave null) while the handler waits.
      std::lock_guard lock(e_->mutex);
      return write_reply_locked(*e_, message);
    }
    std::unique_ptr<ReplySink> detach() override { return t_.detach(w_, e_); }

   private:
    UringTransport& t_;
    Worker& w_;
    const std::shared_ptr<Entry> e_;
  };

  std::unique_ptr<ReplySink> detach(Worker& w, const std::shared_ptr<Entry>& e);
  Entry* spare_entry(Worker& w);
  void run(Worker& w);
  bool serve(Worker& w, const std::shared_ptr<Entry>& e);
  bool commit_returned(Worker& w, std::vector<std::shared_ptr<Entry>> entries);
  bool arm_mailbox(Worker& w);
  void watch_dev();
  bool prepare_cmd(Worker& w, Entry& e, uint32_t cmd);
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
  std::string failure;
  for (unsigned q = 0; q < queues && failure.empty(); ++q) {
    for (unsigned t = 0; t < per_queue; ++t) {
      auto w = std::make_unique<Worker>();
      w->index = static_cast<unsigned>(workers_.size());
      w->qid = q;
      std::shared_ptr<Entry> e = make_entry(0, payload_size_);
      if (!e) {
        failure = std::string("allocating ring buffers: ") + std::strerror(errno);
        break;
      }
      w->entries.reserve(kMaxEntriesPerWorker);
      w->entries.push_back(std::move(e));
      int mail = eventfd(0, EFD_CLOEXEC);  // blocking: the ring's read waits on it
      if (mail < 0) {
        failure = std::string("eventfd: ") + std::strerror(errno);
        break;
      }
      w->mailbox = std::make_shared<Mailbox>(mail);
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

// The next free SQE, submitting what is queued when there is none.
io_uring_sqe* next_sqe(io_uring* ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr && io_uring_submit(ring) >= 0) sqe = io_uring_get_sqe(ring);
  return sqe;
}

// Registers the first entry, then serves requests until the connection ends
// or the transport stops.
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
  Entry& first = *w.entries[0];
  if (have_ring) {
    w.ring = &ring;
    // No registered (fixed) /dev/fuse file: the ring's file table would keep
    // the connection open for ~40 ms after a crash, while the kernel tears
    // the ring down, and requests made meanwhile would wait; a per-command
    // reference is dropped as soon as the command is cancelled. Costs
    // nothing measurable.
    keep_ring_private(&ring);
    io_uring_sqe* poll = io_uring_get_sqe(&ring);
    if (poll != nullptr) {
      io_uring_prep_poll_add(poll, stop_fd_, POLLIN);
      io_uring_sqe_set_data64(poll, kStopTag);
    }
    bool prepared = poll != nullptr && arm_mailbox(w) && prepare_cmd(w, first, kUringCmdRegister);
    // The others: a refusal puts them on the free list (see the loop).
    while (prepared && w.fetching < kSpareEntries) {
      Entry* spare = spare_entry(w);
      if (spare == nullptr) break;
      if (!prepare_cmd(w, *spare, kUringCmdRegister)) {
        w.free_list.push_back(spare);
        break;
      }
    }
    rc = prepared ? io_uring_submit(&ring) : -EBUSY;
    if (rc >= 0) {
      rc = 0;
      // A refused registration completes at once; a good one stays pending
      // until a request comes (which may already have happened: leave those).
      unsigned head;
      io_uring_cqe* cqe;
      io_uring_for_each_cqe(&ring, head, cqe) {
        if (cqe->user_data == first.id && cqe->res < 0) rc = cqe->res;
      }
    }
  }
  worker_started(w, rc);
  if (rc < 0) {  // start() decides whether the others can do without it
    w.ring = nullptr;
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
      if (cqe->user_data == kMailTag) {  // parked entries came back, or will
        w.mail_armed = false;
        if (res < 0 && res != -EINTR && res != -EAGAIN) {
          std::fprintf(stderr, "linfsp: io_uring queue %u: reading the mailbox: %s\n", w.qid, err_text(res));
        }
        continue;
      }
      if (cqe->user_data >= w.entries.size()) continue;  // not ours: cannot happen
      // A copy: detach() may add entries, which moves the vector's elements.
      std::shared_ptr<Entry> e = w.entries[cqe->user_data];
      if (res == 0) {  // a request
        --w.fetching;
        if (!serve(w, e)) leave = true;
      } else if (res == -EINTR || res == -EAGAIN) {
        if (!prepare_cmd(w, *e, e->last_cmd)) leave = true;
      } else if (res == -ENOENT && e->last_cmd == kUringCmdCommitAndFetch) {
        // The kernel no longer knows the request, and the entry is stuck on
        // its side: give it a new one with the same buffers.
        std::fprintf(stderr, "linfsp: io_uring queue %u: request %llu gone before its reply\n", w.qid,
                     static_cast<unsigned long long>(e->commit_id));
        if (!prepare_cmd(w, *e, kUringCmdRegister)) leave = true;
      } else if (res != -ENOTCONN && res != -ECONNABORTED && res != -ECANCELED && res != -ENODEV &&
                 e->last_cmd == kUringCmdRegister && e->id != 0) {
        // A spare entry the kernel refused: back to the free list; the thread
        // serves with the entries it has.
        std::fprintf(stderr, "linfsp: io_uring queue %u: registering another ring entry: %s\n", w.qid,
                     err_text(res));
        --w.fetching;
        e->state = Entry::State::kIdle;
        w.free_list.push_back(e.get());
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
    // Replies that came from other threads: commit them (and re-arm their
    // entries) with the next enter.
    if (!commit_returned(w, w.mailbox->take())) leave = true;
    if (!leave && !w.mail_armed && !arm_mailbox(w)) leave = true;
    if (quit_.load(std::memory_order_relaxed)) leave = true;
  }
  // Replies posted until now still go out (the session ends its deferred
  // requests before it stops the transport); later ones fail with ENOTCONN.
  commit_returned(w, w.mailbox->close_box());
  io_uring_submit(&ring);
  w.ring = nullptr;
  io_uring_queue_exit(&ring);  // cancels the fetching entries the kernel still holds
  worker_ended(true);
}

// The mailbox's eventfd, read by the ring: completes when a sink posts.
bool UringTransport::arm_mailbox(Worker& w) {
  io_uring_sqe* sqe = next_sqe(w.ring);
  if (sqe == nullptr) {
    std::fprintf(stderr, "linfsp: io_uring queue %u: submission queue full\n", w.qid);
    return false;
  }
  io_uring_prep_read(sqe, w.mailbox->fd(), &w.mail_value, sizeof(w.mail_value), 0);
  io_uring_sqe_set_data64(sqe, kMailTag);
  w.mail_armed = true;
  return true;
}

bool UringTransport::commit_returned(Worker& w, std::vector<std::shared_ptr<Entry>> entries) {
  bool ok = true;
  for (auto& e : entries) {
    if (e->state != Entry::State::kParked) continue;  // cannot happen: only parked entries are posted
    --w.parked;
    ok = prepare_cmd(w, *e, kUringCmdCommitAndFetch) && ok;
  }
  return ok;
}

bool UringTransport::prepare_cmd(Worker& w, Entry& e, uint32_t cmd) {
  io_uring_sqe* sqe = next_sqe(w.ring);
  if (sqe == nullptr) {  // the ring is broken: submitting failed
    std::fprintf(stderr, "linfsp: io_uring queue %u: submission queue full\n", w.qid);
    return false;
  }
  clear_sqe128(sqe);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fd_;
  sqe->cmd_op = cmd;
  if (cmd == kUringCmdRegister) {
    sqe->addr = reinterpret_cast<uintptr_t>(e.iov);
    sqe->len = 2;
  }
  sqe->user_data = e.id;
  UringCmdReq req{};
  req.qid = static_cast<uint16_t>(w.qid);
  req.commit_id = cmd == kUringCmdCommitAndFetch ? e.commit_id : 0;
  std::memcpy(sqe_cmd(sqe), &req, sizeof(req));
  e.last_cmd = cmd;
  if (e.state != Entry::State::kFetching) ++w.fetching;
  e.state = Entry::State::kFetching;
  return true;
}

// Called by the handler (through Reply::detach), on the worker's thread: the
// entry parks with its request once the handler returns, and the thread
// needs another entry fetching.
std::unique_ptr<ReplySink> UringTransport::detach(Worker& w, const std::shared_ptr<Entry>& e) {
  if (e->state != Entry::State::kServing || w.ring == nullptr) return nullptr;
  // Headroom: a request that finds no entry available waits in the kernel's
  // queue, and a newly registered entry does not take it from there (only a
  // commit, or a new background request, does).
  while (w.fetching < kSpareEntries) {
    Entry* spare = spare_entry(w);
    if (spare == nullptr) break;
    if (!prepare_cmd(w, *spare, kUringCmdRegister)) {
      w.free_list.push_back(spare);
      break;
    }
  }
  if (w.fetching == 0) return nullptr;  // the session answers inline: this thread waits
  e->state = Entry::State::kParked;
  ++w.parked;
  return std::make_unique<ParkedSink>(e, w.mailbox);
}

// An entry that is not registered: from the free list, or a new one while
// the thread has fewer than kMaxEntriesPerWorker.
Entry* UringTransport::spare_entry(Worker& w) {
  if (!w.free_list.empty()) {
    Entry* e = w.free_list.back();
    w.free_list.pop_back();
    return e;
  }
  if (w.entries.size() >= kMaxEntriesPerWorker) return nullptr;
  std::shared_ptr<Entry> e = make_entry(static_cast<unsigned>(w.entries.size()), payload_size_);
  if (!e) return nullptr;
  w.entries.push_back(std::move(e));
  return w.entries.back().get();
}

// The kernel put the request header in in_out, the first argument (the
// per-opcode struct) in op_in and the rest in the payload. The volume wants
// the body contiguous, as /dev/fuse delivers it: op_in goes right before the
// payload (every per-opcode struct is a multiple of 8 bytes, so the body stays
// 8-aligned). Commits the reply unless the handler detached it and it has not
// come yet: then the entry stays parked until its sink posts it.
bool UringTransport::serve(Worker& w, const std::shared_ptr<Entry>& entry) {
  Entry& e = *entry;
  e.state = Entry::State::kServing;
  fuse_in_header in;
  std::memcpy(&in, e.header->in_out, sizeof(in));
  UringEntInOut io;
  std::memcpy(&io, &e.header->ring_ent_in_out, sizeof(io));
  e.commit_id = io.commit_id;
  {
    std::lock_guard lock(e.mutex);
    e.in_handler = true;
    e.replied = false;
    e.spilled = 0;
  }
  EntrySink sink(*this, w, entry);
  Reply reply(sink, in.unique);
  size_t args = in.len >= sizeof(in) ? in.len - sizeof(in) : 0;
  if (in.len < sizeof(in) || io.payload_sz > payload_size_ || args < io.payload_sz ||
      args - io.payload_sz > kUringOpInSize) {
    std::fprintf(stderr, "linfsp: io_uring request %llu: length %u does not fit its payload of %u bytes\n",
                 static_cast<unsigned long long>(in.unique), in.len, io.payload_sz);
    reply.error(EIO);
  } else {
    size_t op_size = args - io.payload_sz;
    char* body = e.payload - op_size;
    std::memcpy(body, e.header->op_in, op_size);
    Request request{in, body, args};
    e.request_payload = io.payload_sz;
    handler_->handle(request, reply);
  }
  bool commit;
  {
    std::lock_guard lock(e.mutex);
    e.in_handler = false;
    if (e.spilled) std::memcpy(e.payload, e.spill.data(), e.spilled);
    e.spilled = 0;
    e.request_payload = 0;
    // Not detached: answered here (the session answers what the client did
    // not). Detached: answered already, from another thread, or parked.
    commit = !reply.detached() || e.replied;
  }
  if (!commit) return true;  // parked: its sink posts it to the mailbox
  if (e.state == Entry::State::kParked) --w.parked;
  return prepare_cmd(w, e, kUringCmdCommitAndFetch);
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
