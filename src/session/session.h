// session/: between the channel and whatever serves requests. It decodes each
// request with the opcode table, keeps the interrupt registry, and owns the
// request's lifetime: a client answers on the request thread, or defers the
// reply and answers later from any thread (WinFsp's STATUS_PENDING). A
// request left unanswered is reported, never left hanging.
//
// Clients: the path volume (volume/) and the node-level API.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "kernel/channel.h"
#include "linfsp/caller.h"
#include "session/opcodes.h"
#include "util/mutex.h"

namespace linfsp::session {

class Deferred;
class Registry;

// One decoded, validated request: the fixed struct is at least in_size
// bytes and every name is NUL-terminated inside the request. Its memory is
// the transport's and lives until dispatch() returns.
struct Request {
  const fuse_in_header& header;
  const OpcodeInfo& opcode;
  const char* in;          // the opcode's fixed input struct
  std::string_view name;   // first name, when the opcode has one
  std::string_view name2;  // second name (SYMLINK target, RENAME new name)
  const char* tail;        // bytes after the names (SETXATTR value, WRITE data)
  size_t tail_size;
  Caller caller;
  kernel::Reply& reply;
  std::string trace;  // what the client adds to the debug line (a path)

  template <typename T>
  const T& arg() const {
    return *reinterpret_cast<const T*>(in);
  }
  // Takes the reply off this thread: the client answers through the result,
  // from any thread, after dispatch() returns. Call at most once, before
  // answering through `reply`.
  std::shared_ptr<Deferred> defer();

  // The session's bookkeeping.
  Registry* registry = nullptr;
  void* slot = nullptr;                // the thread's interrupt slot
  std::shared_ptr<Deferred> deferred;  // set by defer()
};

// A request whose reply comes later. Thread-safe. The first answer counts;
// later ones, and answers after the session ended the request (unmount),
// do nothing and return false.
class Deferred {
 public:
  ~Deferred();  // unanswered: reported, and answered EIO
  Deferred(const Deferred&) = delete;
  Deferred& operator=(const Deferred&) = delete;

  bool error(int err);
  bool ok(std::span<const iovec> payload = {});
  bool ok(const void* data, size_t size);
  // Runs `encode` with the reply while holding the request, if it is still
  // unanswered; `encode` must answer through the reply. Returns false when
  // the request was answered or ended already.
  bool answer(const std::function<void(kernel::Reply&)>& encode);

  bool done() const;
  bool interrupted() const { return interrupted_.load(std::memory_order_acquire); }
  // The flag Caller::interrupted points at once the request is deferred.
  const std::atomic<bool>* interrupted_flag() const { return &interrupted_; }
  // Runs `fn` once when the kernel interrupts the request, at once if it
  // already has. `fn` runs on the interrupting thread and must not block; it
  // may answer (typically error(EINTR)).
  void on_interrupt(std::function<void()> fn);
  uint32_t opcode() const { return opcode_; }
  uint64_t unique() const { return unique_; }

 private:
  friend struct Request;
  friend class Registry;
  Deferred(std::shared_ptr<Registry> registry, const fuse_in_header& header,
           std::unique_ptr<kernel::ReplySink> sink, kernel::Reply* inline_reply);
  void interrupt();
  void end();                  // the session ends the request (unmount)
  void wait_inline();          // the request thread waits for an inline answer
  void finish_locked(const char* how) REQUIRES(mutex_);  // REQUIRES: an answer sent

  const std::shared_ptr<Registry> registry_;
  const uint32_t opcode_;
  const uint64_t unique_;
  std::atomic<bool> interrupted_{false};
  mutable Mutex mutex_;
  std::condition_variable done_cv_;
  // Detached: the sink and a reply over it. Inline (the transport cannot
  // detach): the request thread's reply, which waits.
  std::unique_ptr<kernel::ReplySink> sink_ GUARDED_BY(mutex_);
  std::optional<kernel::Reply> own_reply_ GUARDED_BY(mutex_);
  kernel::Reply* reply_ GUARDED_BY(mutex_) = nullptr;  // null once answered or ended
  bool done_ GUARDED_BY(mutex_) = false;
  std::function<void()> on_interrupt_ GUARDED_BY(mutex_);
  friend class Session;
};

// Serves decoded requests. dispatch() answers through request.reply, or
// defers it, before it returns; it must not throw (the session catches
// and reports what escapes, answering EIO).
class Client {
 public:
  virtual ~Client() = default;
  virtual void dispatch(Request& request) = 0;
};

class Session final : public kernel::RequestHandler {
 public:
  Session(Client& client, bool debug);
  ~Session() override;

  void handle(const kernel::Request& request, kernel::Reply& reply) override;

  // Ends every deferred request: each is answered EIO now, and the client's
  // later answers are dropped. Call after the transport stopped serving and
  // before it goes (its descriptors must still be open).
  void end_deferred();
  size_t deferred_count() const;

 private:
  Client& client_;
  const bool debug_;
  std::shared_ptr<Registry> registry_;
};

}  // namespace linfsp::session
