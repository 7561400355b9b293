// Pending operations: a file system answers read, write or read_directory
// later, from any thread, through an object that owns the request's
// deferred reply (session::Deferred). Each object keeps what the reply needs
// (its own buffer, a copy of the written data, the entries so far), so the
// request thread and its buffer move on at once.
#include <cstdio>
#include <vector>

#include "volume/ops.h"

namespace linfsp {
namespace {

template <typename Base>
class PendingBase : public Base {
 public:
  explicit PendingBase(std::shared_ptr<session::Deferred> deferred) : deferred_(std::move(deferred)) {}
  bool interrupted() const override { return deferred_->interrupted(); }
  void on_interrupt(std::function<void()> fn) override { deferred_->on_interrupt(std::move(fn)); }
  void fail(Status status) override { deferred_->error(status.err() > 0 ? status.err() : EIO); }

 protected:
  const std::shared_ptr<session::Deferred> deferred_;
};

class ReadPending final : public PendingBase<PendingRead> {
 public:
  ReadPending(std::shared_ptr<session::Deferred> d, size_t size) : PendingBase(std::move(d)), buffer_(size) {}
  char* buffer() override { return buffer_.data(); }
  size_t size() const override { return buffer_.size(); }
  void complete(Result<size_t> bytes) override {
    if (!bytes) deferred_->error(bytes.err());
    else deferred_->ok(buffer_.data(), std::min(*bytes, buffer_.size()));
  }

 private:
  std::vector<char> buffer_;
};

class WritePending final : public PendingBase<PendingWrite> {
 public:
  WritePending(std::shared_ptr<session::Deferred> d, Volume::Op& op, void* file, bool kill_suid,
               std::shared_ptr<std::atomic<int>> pending_writes)
      : PendingBase(std::move(d)),
        pending_writes_(std::move(pending_writes)),
        fs_(op.fs()),
        caller_(op.caller),
        file_(file),
        kill_suid_(kill_suid),
        data_(op.tail, op.arg<fuse_write_in>().size) {
    caller_.interrupted = nullptr;  // the request thread's flag; ours is the deferred's
    caller_.request = nullptr;
    ++*pending_writes_;
  }
  ~WritePending() override { uncount(); }
  std::string_view data() const override { return data_; }
  void complete(Result<size_t> bytes, const FileInfo& info) override {
    uncount();
    deferred_->answer([&](kernel::Reply& reply) {
      if (!bytes) return void(reply.error(bytes.err()));
      FileInfo updated = info;
      if (kill_suid_) kill_suid_sgid(fs_, caller_, {}, file_, &updated);
      fuse_write_out out{static_cast<uint32_t>(*bytes), 0};
      reply.ok(&out, sizeof(out));
    });
  }

 private:
  void uncount() {
    if (!uncounted_.exchange(true)) --*pending_writes_;
  }
  std::shared_ptr<std::atomic<int>> pending_writes_;  // the volume's count
  std::atomic<bool> uncounted_{false};
  FileSystemBase& fs_;  // lives past every pending request (the session ends them first)
  Caller caller_;
  void* file_;
  bool kill_suid_;
  std::string data_;
};

// Entries of a pending READDIRPLUS carry no lookup (nodeid 0): recording one
// needs the rename resource, which the completing thread may not take
// safely (it may hold locks of its own that a rename waits for). The kernel
// looks such names up when it needs them.
class ListPending final : public PendingBase<PendingList> {
 public:
  ListPending(std::shared_ptr<session::Deferred> d, const DirentWriter& so_far)
      : PendingBase(std::move(d)), buffer_(so_far.room), writer_{buffer_.data(), so_far.room, so_far.plus} {
    std::copy(so_far.buffer, so_far.buffer + so_far.used, buffer_.data());
    writer_.used = so_far.used;
  }
  bool add(std::string_view name, const FileInfo& info, uint64_t next) override {
    MutexLock lock(mutex_);
    return writer_.add(name, info, next + 2);  // past "." and ".."
  }
  void complete(Status status) override {
    MutexLock lock(mutex_);
    if (!status && writer_.used == 0) deferred_->error(status.err());
    else deferred_->ok(buffer_.data(), writer_.used);
  }

 private:
  Mutex mutex_;
  std::vector<char> buffer_;
  DirentWriter writer_ GUARDED_BY(mutex_);
};

Volume::Op* pending_op(const Caller& caller, uint32_t opcode) {
  auto* op = static_cast<Volume::Op*>(caller.request);
  if (op == nullptr || op->pended || op->header.opcode != opcode) return nullptr;
  return op;
}

}  // namespace

std::shared_ptr<PendingRead> pend_read(const Caller& caller) {
  Volume::Op* op = pending_op(caller, FUSE_READ);
  if (op == nullptr) return nullptr;
  std::shared_ptr<session::Deferred> d = op->request.defer();
  if (!d) return nullptr;
  op->pended = true;
  return std::make_shared<ReadPending>(std::move(d), op->arg<fuse_read_in>().size);
}

std::shared_ptr<PendingWrite> pend_write(const Caller& caller) {
  Volume::Op* op = pending_op(caller, FUSE_WRITE);
  if (op == nullptr) return nullptr;
  std::shared_ptr<session::Deferred> d = op->request.defer();
  if (!d) return nullptr;
  op->pended = true;
  const auto& in = op->arg<fuse_write_in>();
  void* file = op->pending_file;
  return std::make_shared<WritePending>(std::move(d), *op, file, in.write_flags & FUSE_WRITE_KILL_SUIDGID,
                                        op->vol.pending_writes());
}

std::shared_ptr<PendingList> pend_list(const Caller& caller) {
  auto* op = static_cast<Volume::Op*>(caller.request);
  if (op == nullptr || op->pended || op->listing == nullptr) return nullptr;
  std::shared_ptr<session::Deferred> d = op->request.defer();
  if (!d) return nullptr;
  op->pended = true;
  return std::make_shared<ListPending>(std::move(d), *op->listing);
}

bool went_pending(Volume::Op& op, const Status& result) {
  if (op.pended) {
    // The pending object answers; anything but "pending" from the call is a
    // file system bug, and the caller still gets an answer.
    if (!result.is_pending()) {
      std::fprintf(stderr, "linfsp: %s: the file system pended the request but returned '%s'\n",
                   op.request.opcode.name, result.message().c_str());
      op.request.deferred->error(result.is_ok() ? EIO : result.err());
    }
    return true;
  }
  if (result.is_pending()) {
    std::fprintf(stderr, "linfsp: %s: the file system returned pending without pend_*(); answering EIO\n",
                 op.request.opcode.name);
    op.fail(EIO);
    return true;
  }
  return false;
}

}  // namespace linfsp
