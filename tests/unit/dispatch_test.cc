// Dispatch without a mount (issue 10): raw request bytes go into a Session
// over a Volume and a small in-test file system; a recording sink keeps the
// reply bytes. Malformed, truncated, oversized and unknown requests get one
// clear answer (or none, for FORGET, BATCH_FORGET and INTERRUPT), never a
// crash or a read past the request; deferred replies are sent exactly once.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernel/channel.h"
#include "session/opcodes.h"
#include "session/session.h"
#include "volume/node_table.h"
#include "volume/resource.h"
#include "volume/volume.h"

namespace linfsp {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kRoot = NodeTable::kRootId;
const std::string kData = "hello from the dispatch test\n";

// ---------------------------------------------------------------------------
// The test transport: a sink that records every message written.

struct Message {
  fuse_out_header header{};
  std::string payload;

  int error() const { return header.error; }
  template <typename T>
  T as() const {
    T out{};
    EXPECT_EQ(payload.size(), sizeof(T));
    std::memcpy(&out, payload.data(), std::min(payload.size(), sizeof(T)));
    return out;
  }
};

// Every message any sink of one test wrote, in order. Thread-safe.
class ReplyLog {
 public:
  void add(Message m) {
    std::lock_guard lock(mutex_);
    messages_.push_back(std::move(m));
    cv_.notify_all();
  }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return messages_.size();
  }
  std::vector<Message> since(size_t from) const {
    std::lock_guard lock(mutex_);
    return {messages_.begin() + static_cast<std::ptrdiff_t>(std::min(from, messages_.size())),
            messages_.end()};
  }
  std::vector<Message> for_unique(uint64_t unique) const {
    std::lock_guard lock(mutex_);
    std::vector<Message> out;
    for (const Message& m : messages_) {
      if (m.header.unique == unique) out.push_back(m);
    }
    return out;
  }
  // Waits until `unique` has at least one reply; false on timeout.
  bool wait_for(uint64_t unique, std::chrono::milliseconds timeout = 5s) const {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] {
      for (const Message& m : messages_) {
        if (m.header.unique == unique) return true;
      }
      return false;
    });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::vector<Message> messages_;  // guarded by mutex_
};

// kernel::ReplySink that records each message (header + payload bytes). A
// detachable one hands out new recording sinks over the same log, as a
// transport that lets a request outlive its handler does.
class RecordingSink final : public kernel::ReplySink {
 public:
  RecordingSink(std::shared_ptr<ReplyLog> log, bool detachable)
      : log_(std::move(log)), detachable_(detachable) {}
  ~RecordingSink() override = default;

  Status send(std::span<const iovec> message) override {
    std::string bytes;
    for (const iovec& v : message) bytes.append(static_cast<const char*>(v.iov_base), v.iov_len);
    EXPECT_FALSE(message.empty());
    EXPECT_GE(bytes.size(), sizeof(fuse_out_header));
    if (bytes.size() < sizeof(fuse_out_header)) return Status::error(EINVAL);
    Message m;
    std::memcpy(&m.header, bytes.data(), sizeof(m.header));
    m.payload = bytes.substr(sizeof(m.header));
    // What the kernel checks before it even looks the request up
    // (fs/fuse/dev.c fuse_dev_do_write): a reply failing it is lost, and
    // the caller waits forever.
    EXPECT_EQ(m.header.len, bytes.size()) << "unique " << m.header.unique;
    EXPECT_TRUE(m.header.error <= 0 && m.header.error > -512)
        << "unique " << m.header.unique << ": error " << m.header.error << " is refused by the kernel";
    EXPECT_TRUE(m.header.error == 0 || m.payload.empty()) << "an error reply carries no payload";
    EXPECT_NE(m.header.unique, 0u);
    ++sent_;
    log_->add(std::move(m));
    return Status::ok();
  }

  std::unique_ptr<kernel::ReplySink> detach() override {
    if (!detachable_) return nullptr;
    ++detached_;
    return std::make_unique<RecordingSink>(log_, detachable_);
  }

  int sent() const { return sent_; }
  int detached() const { return detached_; }

 private:
  std::shared_ptr<ReplyLog> log_;
  const bool detachable_;
  std::atomic<int> sent_{0};
  std::atomic<int> detached_{0};
};

// ---------------------------------------------------------------------------
// The file system: "/" (ino 1) holding one file "/f" (ino 2) with kData.

FileInfo root_info() {
  FileInfo i;
  i.ino = 1;
  i.mode = S_IFDIR | 0755;
  i.nlink = 2;
  i.uid = 1000;
  i.gid = 1001;
  i.size = 4096;
  i.mtime = {1700000000, 123};
  return i;
}

FileInfo file_info() {
  FileInfo i;
  i.ino = 2;
  i.mode = S_IFREG | 0640;
  i.nlink = 1;
  i.uid = 1000;
  i.gid = 1001;
  i.size = kData.size();
  i.blocks = 1;
  i.mtime = {1700000001, 456};
  return i;
}

class TestFs : public FileSystemBase {
 public:
  Status get_file_info(const Caller&, const std::string& path, void* file, FileInfo* info) override {
    if (path == "/") {
      *info = root_info();
    } else if (path == "/f" || file == &file_context_) {
      *info = file_info();
    } else {
      return Status::error(ENOENT);
    }
    return Status::ok();
  }
  Status open(const Caller&, const std::string& path, int, void** file, FileInfo* info, OpenFlags*) override {
    if (path == "/") return Status::error(EISDIR);
    if (path != "/f") return Status::error(ENOENT);
    *file = &file_context_;
    *info = file_info();
    ++opens;
    return Status::ok();
  }
  void close(void* file) override {
    EXPECT_EQ(file, &file_context_);
    ++closes;
  }
  Result<size_t> read(const Caller&, void* file, void* buffer, uint64_t offset, size_t size) override {
    EXPECT_EQ(file, &file_context_);
    if (offset >= kData.size()) return size_t{0};
    size_t n = std::min(size, kData.size() - offset);
    std::memcpy(buffer, kData.data() + offset, n);
    return n;
  }
  Status open_directory(const Caller&, const std::string& path, void** dir, OpenFlags*) override {
    if (path != "/") return Status::error(ENOTDIR);
    *dir = &dir_context_;
    ++opendirs;
    return Status::ok();
  }
  void close_directory(void* dir) override {
    EXPECT_EQ(dir, &dir_context_);
    ++closedirs;
  }
  Status read_directory(const Caller&, void* dir, uint64_t offset, const DirFiller& filler) override {
    EXPECT_EQ(dir, &dir_context_);
    if (offset == 0) filler("f", file_info(), 1);
    return Status::ok();
  }

  std::atomic<int> opens{0}, closes{0}, opendirs{0}, closedirs{0};

 protected:
  int file_context_ = 0;
  int dir_context_ = 0;
};

// ---------------------------------------------------------------------------
// Request bytes and the harness.

template <typename T>
std::string bytes(const T& value) {
  return std::string(reinterpret_cast<const char*>(&value), sizeof(value));
}
std::string cstr(std::string_view s) { return std::string(s) + '\0'; }

// A Volume over `fs` behind a Session, fed through a recording sink.
class Harness {
 public:
  explicit Harness(FileSystemBase& fs, bool detachable = false, bool debug = false)
      : log(std::make_shared<ReplyLog>()), sink(log, detachable), notifications(false), volume(fs, VolumeOptions{}) {
    Status s = volume.open_root(notifications);
    EXPECT_TRUE(s) << s.message();
    session = std::make_unique<session::Session>(volume, debug);
  }
  ~Harness() { session.reset(); }  // ends what is still deferred, before the volume goes

  // A fresh request id (the kernel's are even; interrupts are odd).
  uint64_t next_unique() { return unique_ += 2; }

  // Builds fuse_in_header + body in a buffer of exactly that size (so that
  // AddressSanitizer sees any read past the request) and runs it through
  // Session::handle. Returns the messages written while handle() ran.
  std::vector<Message> send(uint32_t opcode, uint64_t nodeid, std::string_view body, uint64_t unique = 0) {
    last_unique = unique ? unique : next_unique();
    return send_through(sink, opcode, nodeid, body, last_unique);
  }
  // The same through another sink, from any thread.
  std::vector<Message> send_through(kernel::ReplySink& through, uint32_t opcode, uint64_t nodeid,
                                    std::string_view body, uint64_t unique) {
    size_t len = sizeof(fuse_in_header) + body.size();
    std::unique_ptr<char[]> buffer(new char[len]);
    fuse_in_header h{};
    h.len = static_cast<uint32_t>(len);
    h.opcode = opcode;
    h.unique = unique;
    h.nodeid = nodeid;
    h.uid = 1000;
    h.gid = 1001;
    h.pid = 4242;
    std::memcpy(buffer.get(), &h, sizeof(h));
    if (!body.empty()) std::memcpy(buffer.get() + sizeof(h), body.data(), body.size());
    const auto& header = *reinterpret_cast<const fuse_in_header*>(buffer.get());
    size_t before = log->size();
    kernel::Request request{header, buffer.get() + sizeof(h), body.size()};
    kernel::Reply reply(through, unique);
    session->handle(request, reply);
    return log->since(before);
  }

  // One request that must be answered exactly once, on the request thread.
  Message call(uint32_t opcode, uint64_t nodeid, std::string_view body) {
    std::vector<Message> r = send(opcode, nodeid, body);
    EXPECT_EQ(r.size(), 1u) << "opcode " << opcode;
    if (r.empty()) return Message{};
    EXPECT_EQ(r[0].header.unique, last_unique);
    return r[0];
  }

  // LOOKUP of `name` in the root; returns the entry (nodeid 0 on failure).
  fuse_entry_out lookup(std::string_view name) {
    Message m = call(FUSE_LOOKUP, kRoot, cstr(name));
    EXPECT_EQ(m.error(), 0) << name;
    return m.error() == 0 ? m.as<fuse_entry_out>() : fuse_entry_out{};
  }
  // OPEN of node `nodeid`; returns the handle.
  uint64_t open(uint64_t nodeid, uint32_t opcode = FUSE_OPEN) {
    fuse_open_in in{};
    in.flags = O_RDONLY;
    Message m = call(opcode, nodeid, bytes(in));
    EXPECT_EQ(m.error(), 0);
    return m.error() == 0 ? m.as<fuse_open_out>().fh : 0;
  }
  std::string read_body(uint64_t fh, uint64_t offset, uint32_t size) {
    fuse_read_in in{};
    in.fh = fh;
    in.offset = offset;
    in.size = size;
    return bytes(in);
  }

  std::shared_ptr<ReplyLog> log;
  RecordingSink sink;
  session::NotificationQueue notifications;
  Volume volume;
  std::unique_ptr<session::Session> session;
  uint64_t last_unique = 0;  // of the last send(); the test thread's

 private:
  std::atomic<uint64_t> unique_{0};
};

// A syntactically valid body for `opcode`: its fixed struct zeroed (so no
// handle is set: handle 0 is always safe), then a short name per name.
std::string valid_body(const session::OpcodeInfo& info) {
  std::string body(info.in_size, '\0');
  for (int i = 0; i < info.names; ++i) body += cstr(i == 0 ? "x" : "y");
  return body;
}

struct Dirent {
  uint64_t ino, off;
  uint32_t type;
  std::string name;
};

// Parses a READDIR payload; fails the test on a malformed one.
std::vector<Dirent> parse_dirents(const std::string& payload, bool plus = false) {
  std::vector<Dirent> out;
  size_t fixed = plus ? sizeof(fuse_entry_out) + FUSE_NAME_OFFSET : FUSE_NAME_OFFSET;
  size_t at = 0;
  while (at < payload.size()) {
    EXPECT_LE(at + fixed, payload.size());
    if (at + fixed > payload.size()) break;
    fuse_dirent d{};
    std::memcpy(&d, payload.data() + at + (plus ? sizeof(fuse_entry_out) : 0), FUSE_NAME_OFFSET);
    size_t size = (fixed + d.namelen + 7) & ~size_t{7};
    EXPECT_LE(at + size, payload.size());
    if (at + size > payload.size()) break;
    out.push_back({d.ino, d.off, d.type, payload.substr(at + fixed, d.namelen)});
    at += size;
  }
  return out;
}

// ---------------------------------------------------------------------------
// 1. The fixed struct of every opcode in the table.

TEST(Dispatch, EveryOpcodeWithShortFixedStructIsRejected) {
  TestFs fs;
  Harness h(fs);
  int checked = 0;
  for (uint32_t op = 0; op < 64; ++op) {
    const session::OpcodeInfo* info = session::opcode_info(op);
    if (info == nullptr || info->in_size == 0) continue;
    SCOPED_TRACE(info->name);
    for (size_t size : {size_t{info->in_size} - 1, size_t{0}}) {
      std::vector<Message> r = h.send(op, kRoot, std::string(size, '\x5a'));
      if (info->has_reply) {
        ASSERT_EQ(r.size(), 1u) << "body of " << size << " bytes";
        EXPECT_EQ(r[0].error(), -EINVAL);
        EXPECT_EQ(r[0].header.unique, h.last_unique);
        EXPECT_EQ(r[0].header.len, sizeof(fuse_out_header));
      } else {
        EXPECT_TRUE(r.empty()) << "no reply for " << info->name;
      }
    }
    ++checked;
  }
  EXPECT_GE(checked, 30);  // the table is not empty by accident
  EXPECT_EQ(h.session->deferred_count(), 0u);
}

// Opcodes that take names, with the fixed struct there but no name after it.
TEST(Dispatch, EveryOpcodeWithMissingNamesIsRejected) {
  TestFs fs;
  Harness h(fs);
  int checked = 0;
  for (uint32_t op = 0; op < 64; ++op) {
    const session::OpcodeInfo* info = session::opcode_info(op);
    if (info == nullptr || info->names == 0) continue;
    SCOPED_TRACE(info->name);
    std::string fixed(info->in_size, '\0');
    // No name at all; a name without its NUL; every name but the last.
    std::vector<std::string> bodies = {fixed, fixed + "abc"};
    if (info->names == 2) bodies.push_back(fixed + cstr("abc"));
    if (info->names == 2) bodies.push_back(fixed + cstr("abc") + "def");
    for (const std::string& body : bodies) {
      Message m = h.call(op, kRoot, body);
      EXPECT_EQ(m.error(), -EINVAL) << body.size() << " bytes";
    }
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

// ---------------------------------------------------------------------------
// 2. Names.

TEST(Dispatch, LookupWithoutNulIsEinval) {
  TestFs fs;
  Harness h(fs);
  EXPECT_EQ(h.call(FUSE_LOOKUP, kRoot, "f").error(), -EINVAL);
  EXPECT_EQ(h.call(FUSE_LOOKUP, kRoot, "").error(), -EINVAL);
  EXPECT_EQ(h.volume.nodes().get(kRoot + 1), nullptr);  // nothing was looked up
}

TEST(Dispatch, RenameWithOneNameIsEinval) {
  TestFs fs;
  Harness h(fs);
  fuse_rename_in in{};
  in.newdir = kRoot;
  EXPECT_EQ(h.call(FUSE_RENAME, kRoot, bytes(in) + cstr("f")).error(), -EINVAL);
  fuse_rename2_in in2{};
  in2.newdir = kRoot;
  EXPECT_EQ(h.call(FUSE_RENAME2, kRoot, bytes(in2) + cstr("f")).error(), -EINVAL);
}

TEST(Dispatch, SymlinkWithoutTargetIsEinval) {
  TestFs fs;
  Harness h(fs);
  EXPECT_EQ(h.call(FUSE_SYMLINK, kRoot, cstr("link")).error(), -EINVAL);
  EXPECT_EQ(h.call(FUSE_SYMLINK, kRoot, cstr("link") + "target").error(), -EINVAL);
  // Both names there: the file system's answer (ENOSYS by default).
  EXPECT_EQ(h.call(FUSE_SYMLINK, kRoot, cstr("link") + cstr("target")).error(), -ENOSYS);
}

// For every opcode that names a child of the directory: an empty name, one
// with '/', "." and ".." are errors; a name over 255 bytes is ENAMETOOLONG.
TEST(Dispatch, BadNamesInEveryNamingOpcode) {
  TestFs fs;
  Harness h(fs);
  struct Case {
    uint32_t opcode;
    std::string fixed;
    bool second;  // the bad name goes second (RENAME's new name)
    bool has_target = false;  // SYMLINK: a second name that is a target, not a name
  };
  fuse_rename_in rename_in{};
  rename_in.newdir = kRoot;
  fuse_rename2_in rename2_in{};
  rename2_in.newdir = kRoot;
  fuse_link_in link_in{};
  link_in.oldnodeid = kRoot;
  fuse_mknod_in mknod_in{};
  mknod_in.mode = S_IFIFO | 0644;
  fuse_mkdir_in mkdir_in{};
  mkdir_in.mode = 0755;
  fuse_create_in create_in{};
  create_in.mode = 0644;
  const std::vector<Case> cases = {
      {FUSE_LOOKUP, "", false},
      {FUSE_MKNOD, bytes(mknod_in), false},
      {FUSE_MKDIR, bytes(mkdir_in), false},
      {FUSE_UNLINK, "", false},
      {FUSE_RMDIR, "", false},
      {FUSE_LINK, bytes(link_in), false},
      {FUSE_CREATE, bytes(create_in), false},
      {FUSE_SYMLINK, "", false, true},
      {FUSE_RENAME, bytes(rename_in), false},
      {FUSE_RENAME, bytes(rename_in), true},
      {FUSE_RENAME2, bytes(rename2_in), false},
      {FUSE_RENAME2, bytes(rename2_in), true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(session::opcode_info(c.opcode)->name) + (c.second ? " (second name)" : ""));
    auto body = [&](const std::string& name) {
      if (c.has_target) return c.fixed + cstr(name) + cstr("target");
      if (session::opcode_info(c.opcode)->names == 1) return c.fixed + cstr(name);
      return c.second ? c.fixed + cstr("f") + cstr(name) : c.fixed + cstr(name) + cstr("g");
    };
    EXPECT_LT(h.call(c.opcode, kRoot, body("")).error(), 0) << "empty name";
    EXPECT_EQ(h.call(c.opcode, kRoot, body("a/b")).error(), -EINVAL);
    EXPECT_EQ(h.call(c.opcode, kRoot, body("/")).error(), -EINVAL);
    EXPECT_EQ(h.call(c.opcode, kRoot, body("f/")).error(), -EINVAL);
    // LOOKUP of "." and ".." is the kernel's lookup by nodeid (file handles).
    if (c.opcode != FUSE_LOOKUP) {
      EXPECT_LT(h.call(c.opcode, kRoot, body(".")).error(), 0);
      EXPECT_LT(h.call(c.opcode, kRoot, body("..")).error(), 0);
    }
    EXPECT_EQ(h.call(c.opcode, kRoot, body(std::string(256, 'n'))).error(), -ENAMETOOLONG);
    EXPECT_EQ(h.call(c.opcode, kRoot, body(std::string(4000, 'n'))).error(), -ENAMETOOLONG);
  }
  // 255 bytes is a valid name: the file system decides (no such file).
  EXPECT_EQ(h.call(FUSE_LOOKUP, kRoot, cstr(std::string(255, 'n'))).error(), -ENOENT);
  // Nothing of this reached the node table.
  EXPECT_TRUE(h.volume.check_consistency().empty()) << h.volume.check_consistency();
  EXPECT_EQ(h.volume.nodes().get(kRoot + 1), nullptr);
}

// ---------------------------------------------------------------------------
// 3. Unknown opcodes and oversized bodies.

TEST(Dispatch, UnknownOpcodesAreEnosys) {
  TestFs fs;
  Harness h(fs);
  for (uint32_t op : {0u, 26u /* INIT: the transport's */, 52u, 63u, 64u, 4000u, 4096u, 0xffffffffu}) {
    SCOPED_TRACE(op);
    ASSERT_EQ(session::opcode_info(op), nullptr);
    for (std::string body : {std::string(), std::string(1, 'x'), std::string(300, '\xff')}) {
      Message m = h.call(op, kRoot, body);
      EXPECT_EQ(m.error(), -ENOSYS);
      EXPECT_TRUE(m.payload.empty());
    }
  }
  // Every slot of 0..63 that the table does not know.
  for (uint32_t op = 0; op < 64; ++op) {
    if (session::opcode_info(op) == nullptr) {
      EXPECT_EQ(h.call(op, kRoot, "").error(), -ENOSYS) << op;
    }
  }
}

// A valid request with junk after it, for every opcode, on the root, on
// nodeid 0 and on a nodeid the kernel was never given: one sane reply (or
// none), never a crash. Also with the debug log on, which prints names.
void every_opcode_with_junk(bool debug) {
  TestFs fs;
  Harness h(fs, /*detachable=*/false, debug);
  const std::string junk(64, '\xab');
  for (uint64_t nodeid : {kRoot, uint64_t{0}, uint64_t{12345}}) {
    for (uint32_t op = 0; op < 64; ++op) {
      const session::OpcodeInfo* info = session::opcode_info(op);
      if (info == nullptr) continue;
      SCOPED_TRACE(std::string(info->name) + " node " + std::to_string(nodeid));
      std::vector<Message> r = h.send(op, nodeid, valid_body(*info) + junk);
      if (!info->has_reply) {
        EXPECT_TRUE(r.empty());
        continue;
      }
      ASSERT_EQ(r.size(), 1u);
      EXPECT_EQ(r[0].header.unique, h.last_unique);
      EXPECT_LE(r[0].error(), 0);
      // Never the catch-all: a reply a request thread forgot, or an escape.
      EXPECT_NE(r[0].error(), -EIO);
    }
  }
  EXPECT_EQ(h.session->deferred_count(), 0u);
  EXPECT_TRUE(h.volume.check_consistency().empty()) << h.volume.check_consistency();
}

TEST(Dispatch, EveryOpcodeWithJunkAfterAValidBody) { every_opcode_with_junk(false); }
TEST(Dispatch, EveryOpcodeWithJunkAfterAValidBodyDebugLog) { every_opcode_with_junk(true); }

TEST(Dispatch, OversizedBodiesStillWork) {
  TestFs fs;
  Harness h(fs);
  const std::string junk(1000, '\xcd');
  Message m = h.call(FUSE_LOOKUP, kRoot, cstr("f") + junk);
  ASSERT_EQ(m.error(), 0);
  EXPECT_EQ(m.as<fuse_entry_out>().attr.ino, 2u);
  fuse_getattr_in g{};
  m = h.call(FUSE_GETATTR, kRoot, bytes(g) + junk);
  ASSERT_EQ(m.error(), 0);
  EXPECT_EQ(m.as<fuse_attr_out>().attr.ino, 1u);
  // A WRITE whose size claims more than the data that came: EINVAL.
  fuse_write_in w{};
  w.size = 100;
  EXPECT_EQ(h.call(FUSE_WRITE, kRoot, bytes(w) + std::string(99, 'w')).error(), -EINVAL);
  // A SETXATTR whose value size claims more than came: EINVAL.
  fuse_setxattr_in x{};
  x.size = 10;
  EXPECT_EQ(h.call(FUSE_SETXATTR, kRoot, bytes(x).substr(0, FUSE_COMPAT_SETXATTR_IN_SIZE) + cstr("user.a") + "abc")
                .error(),
            -EINVAL);
}

// ---------------------------------------------------------------------------
// 4. One reply per request; none for FORGET/BATCH_FORGET/INTERRUPT.

TEST(Dispatch, ForgetsAndInterruptsAreNeverAnswered) {
  TestFs fs;
  Harness h(fs);
  fuse_entry_out e = h.lookup("f");
  ASSERT_NE(e.nodeid, 0u);
  fuse_forget_in f{1};
  EXPECT_TRUE(h.send(FUSE_FORGET, e.nodeid, bytes(f)).empty());
  EXPECT_EQ(h.volume.nodes().get(e.nodeid), nullptr);  // its only lookup is gone
  fuse_interrupt_in i{12345};
  EXPECT_TRUE(h.send(FUSE_INTERRUPT, 0, bytes(i), 7).empty());
  fuse_batch_forget_in b{0, 0};
  EXPECT_TRUE(h.send(FUSE_BATCH_FORGET, 0, bytes(b)).empty());
  // Forgetting the root, or nodes nobody has: nothing happens.
  fuse_forget_in many{1000};
  EXPECT_TRUE(h.send(FUSE_FORGET, kRoot, bytes(many)).empty());
  EXPECT_TRUE(h.send(FUSE_FORGET, 999, bytes(many)).empty());
  EXPECT_NE(h.volume.nodes().get(kRoot), nullptr);
  EXPECT_EQ(h.log->size(), 1u);  // the LOOKUP's
}

TEST(Dispatch, BatchForgetCountBeyondTheEntriesPresent) {
  TestFs fs;
  Harness h(fs);
  fuse_entry_out e = h.lookup("f");
  ASSERT_EQ(h.lookup("f").nodeid, e.nodeid);  // two lookups now
  // Claims 1000 entries, carries one and half of another. The buffer ends
  // exactly there, so AddressSanitizer catches any read beyond it.
  fuse_batch_forget_in b{1000, 0};
  fuse_forget_one one{e.nodeid, 1};
  std::string body = bytes(b) + bytes(one) + bytes(one).substr(0, 8);
  EXPECT_TRUE(h.send(FUSE_BATCH_FORGET, 0, body).empty());
  ASSERT_NE(h.volume.nodes().get(e.nodeid), nullptr) << "only the entry present counts";
  EXPECT_EQ(h.volume.nodes().get(e.nodeid)->lookups.load(), 1u);
  // Claims 1000, carries nothing.
  EXPECT_TRUE(h.send(FUSE_BATCH_FORGET, 0, bytes(b)).empty());
  EXPECT_NE(h.volume.nodes().get(e.nodeid), nullptr);
  // Claims fewer than it carries: only the claimed ones.
  fuse_batch_forget_in b1{1, 0};
  fuse_forget_one root_one{kRoot, 1};
  EXPECT_TRUE(h.send(FUSE_BATCH_FORGET, 0, bytes(b1) + bytes(one) + bytes(root_one)).empty());
  EXPECT_EQ(h.volume.nodes().get(e.nodeid), nullptr);
  EXPECT_NE(h.volume.nodes().get(kRoot), nullptr);
  EXPECT_EQ(h.log->size(), 2u);  // the two LOOKUPs
}

// A mixed run: the number of replies is the number of requests that have one.
TEST(Dispatch, ExactlyOneReplyPerRequest) {
  TestFs fs;
  Harness h(fs);
  size_t expected = 0;
  for (int round = 0; round < 3; ++round) {
    for (uint32_t op = 0; op < 64; ++op) {
      const session::OpcodeInfo* info = session::opcode_info(op);
      std::string body = info ? valid_body(*info) : std::string();
      h.send(op, kRoot, body);
      if (info == nullptr || info->has_reply) ++expected;
      ASSERT_EQ(h.log->size(), expected) << op;
      ASSERT_EQ(h.log->for_unique(h.last_unique).size(), (info == nullptr || info->has_reply) ? 1u : 0u);
    }
  }
  EXPECT_EQ(h.sink.sent(), static_cast<int>(expected));
}

// ---------------------------------------------------------------------------
// 5. Replies decode to the file system's answers.

TEST(Dispatch, GetattrLookupOpenReadReaddir) {
  TestFs fs;
  Harness h(fs);
  fuse_getattr_in g{};
  Message m = h.call(FUSE_GETATTR, kRoot, bytes(g));
  ASSERT_EQ(m.error(), 0);
  auto attr = m.as<fuse_attr_out>();
  FileInfo want = root_info();
  EXPECT_EQ(attr.attr.ino, want.ino);
  EXPECT_EQ(attr.attr.mode, want.mode);
  EXPECT_EQ(attr.attr.nlink, want.nlink);
  EXPECT_EQ(attr.attr.uid, want.uid);
  EXPECT_EQ(attr.attr.gid, want.gid);
  EXPECT_EQ(attr.attr.size, want.size);
  EXPECT_EQ(attr.attr.mtime, static_cast<uint64_t>(want.mtime.tv_sec));
  EXPECT_EQ(attr.attr.mtimensec, static_cast<uint32_t>(want.mtime.tv_nsec));
  EXPECT_EQ(attr.attr_valid, 1u);  // VolumeOptions' default attr_timeout

  fuse_entry_out e = h.lookup("f");
  EXPECT_NE(e.nodeid, 0u);
  EXPECT_NE(e.nodeid, kRoot);
  EXPECT_EQ(e.attr.ino, 2u);
  EXPECT_EQ(e.attr.mode, static_cast<uint32_t>(S_IFREG | 0640));
  EXPECT_EQ(e.attr.size, kData.size());
  EXPECT_EQ(e.entry_valid, 1u);
  EXPECT_EQ(h.call(FUSE_LOOKUP, kRoot, cstr("nope")).error(), -ENOENT);

  m = h.call(FUSE_GETATTR, e.nodeid, bytes(g));
  ASSERT_EQ(m.error(), 0);
  EXPECT_EQ(m.as<fuse_attr_out>().attr.size, kData.size());

  uint64_t fh = h.open(e.nodeid);
  ASSERT_NE(fh, 0u);
  m = h.call(FUSE_READ, e.nodeid, h.read_body(fh, 0, 4096));
  ASSERT_EQ(m.error(), 0);
  EXPECT_EQ(m.payload, kData);
  m = h.call(FUSE_READ, e.nodeid, h.read_body(fh, 6, 4));
  EXPECT_EQ(m.payload, kData.substr(6, 4));
  m = h.call(FUSE_READ, e.nodeid, h.read_body(fh, 1000, 10));
  EXPECT_EQ(m.error(), 0);
  EXPECT_TRUE(m.payload.empty());
  fuse_release_in rel{};
  rel.fh = fh;
  EXPECT_EQ(h.call(FUSE_RELEASE, e.nodeid, bytes(rel)).error(), 0);
  EXPECT_EQ(fs.closes.load(), 1);

  uint64_t dh = h.open(kRoot, FUSE_OPENDIR);
  ASSERT_NE(dh, 0u);
  m = h.call(FUSE_READDIR, kRoot, h.read_body(dh, 0, 4096));
  ASSERT_EQ(m.error(), 0);
  std::vector<Dirent> d = parse_dirents(m.payload);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].name, ".");
  EXPECT_EQ(d[1].name, "..");
  EXPECT_EQ(d[2].name, "f");
  EXPECT_EQ(d[2].ino, 2u);
  EXPECT_EQ(d[2].type, static_cast<uint32_t>(DT_REG));
  // Resuming after the last entry: empty.
  m = h.call(FUSE_READDIR, kRoot, h.read_body(dh, d[2].off, 4096));
  EXPECT_EQ(m.error(), 0);
  EXPECT_TRUE(m.payload.empty());
  rel.fh = dh;
  EXPECT_EQ(h.call(FUSE_RELEASEDIR, kRoot, bytes(rel)).error(), 0);
  EXPECT_EQ(fs.closedirs.load(), 1);
}

// ---------------------------------------------------------------------------
// 6. Answers of the wrong size from the file system.

class OverlongReadFs final : public TestFs {
 public:
  Result<size_t> read(const Caller& c, void* file, void* buffer, uint64_t offset, size_t size) override {
    TestFs::read(c, file, buffer, offset, size);
    return size + 100;  // claims more than it was asked for
  }
};

TEST(Dispatch, ReadReplyIsClampedToTheAskedSize) {
  OverlongReadFs fs;
  Harness h(fs);
  fuse_entry_out e = h.lookup("f");
  uint64_t fh = h.open(e.nodeid);
  for (uint32_t size : {0u, 1u, 5u, 4096u}) {
    Message m = h.call(FUSE_READ, e.nodeid, h.read_body(fh, 0, size));
    ASSERT_EQ(m.error(), 0);
    EXPECT_EQ(m.payload.size(), size);
    EXPECT_EQ(m.payload.substr(0, std::min<size_t>(size, kData.size())), kData.substr(0, size));
  }
}

class LongNamesFs final : public TestFs {
 public:
  Status read_directory(const Caller&, void*, uint64_t offset, const DirFiller& filler) override {
    for (uint64_t i = offset; i < 50; ++i) {
      std::string name(300, static_cast<char>('a' + i % 26));
      if (!filler(name, file_info(), i + 1)) {
        ++refused;
        break;
      }
    }
    return Status::ok();
  }
  std::atomic<int> refused{0};
};

TEST(Dispatch, ReaddirWithLongNamesStaysInsideTheBuffer) {
  LongNamesFs fs;
  Harness h(fs);
  uint64_t dh = h.open(kRoot, FUSE_OPENDIR);
  for (uint32_t opcode : {FUSE_READDIR, FUSE_READDIRPLUS}) {
    bool plus = opcode == FUSE_READDIRPLUS;
    size_t entry = ((plus ? sizeof(fuse_entry_out) : 0) + FUSE_NAME_OFFSET + 300 + 7) & ~size_t{7};
    for (uint32_t size : {32u, 100u, 400u, 1000u, 4096u}) {
      SCOPED_TRACE(std::to_string(opcode) + " size " + std::to_string(size));
      Message m = h.call(opcode, kRoot, h.read_body(dh, 0, size));
      if (m.error() != 0) {
        EXPECT_EQ(m.error(), -EINVAL);  // not even "." fits
        continue;
      }
      EXPECT_LE(m.payload.size(), size);
      std::vector<Dirent> d = parse_dirents(m.payload, plus);
      ASSERT_GE(d.size(), 1u);
      EXPECT_EQ(d[0].name, ".");
      size_t dots = d.size() >= 2 && d[1].name == ".." ? 2 : 1;
      size_t dots_bytes = m.payload.size() - (d.size() - dots) * entry;
      EXPECT_EQ(d.size() - dots, (size - dots_bytes) / entry) << "as many as fit";
      for (size_t i = dots; i < d.size(); ++i) EXPECT_EQ(d[i].name.size(), 300u);
    }
  }
  EXPECT_GT(fs.refused.load(), 0);
}

// ---------------------------------------------------------------------------
// 7. Exceptions from the file system.

class ThrowingFs final : public TestFs {
 public:
  Status get_file_info(const Caller&, const std::string& path, void* file, FileInfo* info) override {
    if (path == "/f") throw std::runtime_error("get_file_info failed");
    if (path == "/g") throw 42;
    return TestFs::get_file_info(Caller{}, path, file, info);
  }
};

TEST(Dispatch, ExceptionFromGetFileInfoIsEioOnce) {
  ThrowingFs fs;
  Harness h(fs);
  for (const char* name : {"f", "g", "f"}) {
    std::vector<Message> r = h.send(FUSE_LOOKUP, kRoot, cstr(name));
    ASSERT_EQ(r.size(), 1u) << name;
    EXPECT_EQ(r[0].error(), -EIO);
  }
  EXPECT_EQ(h.volume.nodes().get(kRoot + 1), nullptr);
  // The rename resource the lookup held shared was released on the way out:
  // another thread gets it exclusive.
  auto exclusive = std::async(std::launch::async, [&] {
    return ExclusiveGuard::try_acquire_for(h.volume.rename_resource(), 2s).has_value();
  });
  EXPECT_TRUE(exclusive.get());
  // And the session goes on.
  fuse_getattr_in g{};
  EXPECT_EQ(h.call(FUSE_GETATTR, kRoot, bytes(g)).error(), 0);
}

// Statuses an operation may not return: the reply must still be one the
// kernel accepts (it drops a reply with error > 0 or <= -512 unread, and
// the caller hangs).
class BadStatusFs final : public TestFs {
 public:
  Status get_file_info(const Caller&, const std::string& path, void* file, FileInfo* info) override {
    if (path == "/pending") return Status::pending();  // only read/write/readdir may pend
    if (path == "/big") return Status::error(600);
    if (path == "/restart") return Status::error(512);  // ERESTARTSYS
    return TestFs::get_file_info(Caller{}, path, file, info);
  }
  Result<size_t> read(const Caller&, void*, void*, uint64_t, size_t) override {
    return Status::pending();  // without pend_read()
  }
};

TEST(Dispatch, StatusesTheKernelCannotTakeBecomeEio) {
  BadStatusFs fs;
  Harness h(fs);
  for (const char* name : {"pending", "big", "restart"}) {
    Message m = h.call(FUSE_LOOKUP, kRoot, cstr(name));
    EXPECT_EQ(m.error(), -EIO) << name;
  }
  fuse_entry_out e = h.lookup("f");
  uint64_t fh = h.open(e.nodeid);
  EXPECT_EQ(h.call(FUSE_READ, e.nodeid, h.read_body(fh, 0, 10)).error(), -EIO);
}

// ---------------------------------------------------------------------------
// 8, 9. Deferred replies.

// read() pends every request and hands the pending object to the test.
class PendingFs final : public TestFs {
 public:
  Result<size_t> read(const Caller& caller, void*, void*, uint64_t, size_t) override {
    std::shared_ptr<PendingRead> p = pend_read(caller);
    EXPECT_NE(p, nullptr);
    if (!p) return Status::error(EIO);
    EXPECT_EQ(pend_read(caller), nullptr) << "pends once";
    if (complete_at_once) {
      // Answers before it even returns pending (a cache hit after all).
      std::memcpy(p->buffer(), kData.data(), std::min(p->size(), kData.size()));
      p->complete(std::min(p->size(), kData.size()));
    }
    if (on_interrupt_fails) {
      std::weak_ptr<PendingRead> weak = p;
      p->on_interrupt([this, weak] {
        ++interrupt_callbacks;
        if (auto self = weak.lock()) self->fail(Status::error(EINTR));
      });
    }
    {
      std::lock_guard lock(mutex_);
      pending_.push_back(std::move(p));
    }
    cv_.notify_all();
    return Status::pending();
  }

  // Waits for the n-th pended read (from 1).
  std::shared_ptr<PendingRead> wait_pending(size_t n = 1) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, 5s, [&] { return pending_.size() >= n; })) return nullptr;
    return pending_[n - 1];
  }

  bool on_interrupt_fails = false;
  bool complete_at_once = false;
  std::atomic<int> interrupt_callbacks{0};

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<PendingRead>> pending_;  // guarded by mutex_
};

// Fills the pending read with the file's data and completes it.
void complete_with_data(PendingRead& p) {
  size_t n = std::min(p.size(), kData.size());
  std::memcpy(p.buffer(), kData.data(), n);
  p.complete(n);
}

struct Opened {
  uint64_t nodeid, fh;
};
Opened open_f(Harness& h) {
  fuse_entry_out e = h.lookup("f");
  return {e.nodeid, h.open(e.nodeid)};
}

TEST(Dispatch, DeferredReadIsAnsweredOnceFromAnotherThread) {
  PendingFs fs;
  Harness h(fs, /*detachable=*/true);
  Opened f = open_f(h);
  std::vector<Message> r = h.send(FUSE_READ, f.nodeid, h.read_body(f.fh, 0, 4096));
  uint64_t unique = h.last_unique;
  EXPECT_TRUE(r.empty()) << "handle() returns without a reply";
  EXPECT_EQ(h.sink.detached(), 1);
  EXPECT_EQ(h.session->deferred_count(), 1u);
  std::shared_ptr<PendingRead> p = fs.wait_pending();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->size(), 4096u);

  std::thread([&] { complete_with_data(*p); }).join();
  ASSERT_TRUE(h.log->wait_for(unique));
  std::vector<Message> replies = h.log->for_unique(unique);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].error(), 0);
  EXPECT_EQ(replies[0].payload, kData);
  EXPECT_EQ(h.session->deferred_count(), 0u);

  // Completing again, or failing, sends nothing more.
  std::thread([&] { complete_with_data(*p); }).join();
  p->complete(Status::error(EIO));
  p->fail(Status::error(EIO));
  EXPECT_EQ(h.log->for_unique(unique).size(), 1u);
  EXPECT_EQ(h.sink.sent(), 2);  // LOOKUP, OPEN: the READ went through the detached sink
}

TEST(Dispatch, ConcurrentCompletionsSendOneReply) {
  PendingFs fs;
  Harness h(fs, /*detachable=*/true);
  Opened f = open_f(h);
  h.send(FUSE_READ, f.nodeid, h.read_body(f.fh, 0, 8));
  uint64_t unique = h.last_unique;
  std::shared_ptr<PendingRead> p = fs.wait_pending();
  ASSERT_NE(p, nullptr);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      if (i % 2) p->complete(size_t{100});  // more than the 8 asked: clamped
      else p->fail(Status::error(EAGAIN));
    });
  }
  for (auto& t : threads) t.join();
  std::vector<Message> replies = h.log->for_unique(unique);
  ASSERT_EQ(replies.size(), 1u);
  if (replies[0].error() == 0) {
    EXPECT_EQ(replies[0].payload.size(), 8u);
  } else {
    EXPECT_EQ(replies[0].error(), -EAGAIN);
  }
}

TEST(Dispatch, EndDeferredAnswersEioAndLaterCompletionsSendNothing) {
  PendingFs fs;
  Harness h(fs, /*detachable=*/true);
  Opened f = open_f(h);
  h.send(FUSE_READ, f.nodeid, h.read_body(f.fh, 0, 4096));
  uint64_t first = h.last_unique;
  h.send(FUSE_READ, f.nodeid, h.read_body(f.fh, 0, 4096));
  uint64_t second = h.last_unique;
  std::shared_ptr<PendingRead> p1 = fs.wait_pending(1), p2 = fs.wait_pending(2);
  ASSERT_NE(p1, nullptr);
  ASSERT_NE(p2, nullptr);
  complete_with_data(*p1);
  EXPECT_EQ(h.session->deferred_count(), 1u);

  h.session->end_deferred();
  EXPECT_EQ(h.session->deferred_count(), 0u);
  std::vector<Message> r1 = h.log->for_unique(first), r2 = h.log->for_unique(second);
  ASSERT_EQ(r1.size(), 1u);
  EXPECT_EQ(r1[0].payload, kData);
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r2[0].error(), -EIO);

  size_t before = h.log->size();
  std::thread([&] { complete_with_data(*p2); }).join();
  p1->complete(size_t{1});
  EXPECT_EQ(h.log->size(), before) << "nothing after the session ended them";
  h.session->end_deferred();  // twice: nothing
  EXPECT_EQ(h.log->size(), before);
}

TEST(Dispatch, NonDetachableSinkBlocksUntilCompletedOnce) {
  PendingFs fs;
  Harness h(fs, /*detachable=*/false);
  Opened f = open_f(h);
  std::atomic<bool> completing{false};
  std::thread completer([&] {
    std::shared_ptr<PendingRead> p = fs.wait_pending();
    if (p == nullptr) return;
    std::this_thread::sleep_for(50ms);
    completing = true;
    complete_with_data(*p);
    complete_with_data(*p);  // twice: one reply
  });
  auto start = std::chrono::steady_clock::now();
  std::vector<Message> r = h.send(FUSE_READ, f.nodeid, h.read_body(f.fh, 0, 4096));
  auto took = std::chrono::steady_clock::now() - start;
  uint64_t unique = h.last_unique;
  EXPECT_TRUE(completing.load()) << "handle() returned before the answer";
  EXPECT_GE(took, 40ms);
  completer.join();
  ASSERT_EQ(r.size(), 1u) << "answered while handle() waited";
  EXPECT_EQ(r[0].header.unique, unique);
  EXPECT_EQ(r[0].payload, kData);
  EXPECT_EQ(h.log->for_unique(unique).size(), 1u);
  EXPECT_EQ(h.sink.detached(), 0);
  EXPECT_EQ(h.session->deferred_count(), 0u);
}

TEST(Dispatch, InterruptOfADeferredReadRunsItsCallback) {
  PendingFs fs;
  fs.on_interrupt_fails = true;
  Harness h(fs, /*detachable=*/true);
  Opened f = open_f(h);
  h.send(FUSE_READ, f.nodeid, h.read_body(f.fh, 0, 4096));
  uint64_t unique = h.last_unique;
  std::shared_ptr<PendingRead> p = fs.wait_pending();
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(p->interrupted());
  EXPECT_TRUE(h.log->for_unique(unique).empty());

  fuse_interrupt_in in{unique};
  h.send(FUSE_INTERRUPT, 0, bytes(in), unique + 1);
  EXPECT_TRUE(h.log->for_unique(unique + 1).empty()) << "INTERRUPT has no reply";
  EXPECT_EQ(fs.interrupt_callbacks.load(), 1);
  EXPECT_TRUE(p->interrupted());
  std::vector<Message> r = h.log->for_unique(unique);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error(), -EINTR);

  // A second INTERRUPT, and a late completion: nothing more.
  h.send(FUSE_INTERRUPT, 0, bytes(in), unique + 3);
  complete_with_data(*p);
  EXPECT_EQ(fs.interrupt_callbacks.load(), 1);
  EXPECT_EQ(h.log->for_unique(unique).size(), 1u);
  EXPECT_EQ(h.session->deferred_count(), 0u);
}

TEST(Dispatch, CallbackRegisteredAfterTheInterruptRunsAtOnce) {
  PendingFs fs;
  Harness h(fs, /*detachable=*/true);
  Opened f = open_f(h);
  h.send(FUSE_READ, f.nodeid, h.read_body(f.fh, 0, 4096));
  uint64_t unique = h.last_unique;
  std::shared_ptr<PendingRead> p = fs.wait_pending();
  ASSERT_NE(p, nullptr);
  fuse_interrupt_in in{unique};
  h.send(FUSE_INTERRUPT, 0, bytes(in), unique + 1);
  EXPECT_TRUE(p->interrupted());
  EXPECT_TRUE(h.log->for_unique(unique).empty()) << "without a callback the request goes on";
  int ran = 0;
  p->on_interrupt([&] { ++ran; });
  EXPECT_EQ(ran, 1);
  complete_with_data(*p);
  ASSERT_EQ(h.log->for_unique(unique).size(), 1u);
  EXPECT_EQ(h.log->for_unique(unique)[0].payload, kData);
}

// The kernel may send the INTERRUPT before the request reaches a thread.
TEST(Dispatch, InterruptThatArrivesFirstReachesTheDeferredRead) {
  PendingFs fs;
  fs.on_interrupt_fails = true;
  Harness h(fs, /*detachable=*/true);
  Opened f = open_f(h);
  uint64_t unique = h.next_unique();
  fuse_interrupt_in in{unique};
  EXPECT_TRUE(h.send(FUSE_INTERRUPT, 0, bytes(in), unique + 1).empty());
  h.send(FUSE_READ, f.nodeid, h.read_body(f.fh, 0, 4096), unique);
  EXPECT_EQ(fs.interrupt_callbacks.load(), 1);
  std::vector<Message> r = h.log->for_unique(unique);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error(), -EINTR);
}

// With a transport that cannot detach, the request thread waits; another
// request thread's INTERRUPT ends the wait through the callback.
TEST(Dispatch, InterruptFromAnotherThreadEndsAnInlineWait) {
  PendingFs fs;
  fs.on_interrupt_fails = true;
  Harness h(fs, /*detachable=*/false);
  Opened f = open_f(h);
  uint64_t unique = h.next_unique();
  std::thread interrupter([&] {
    if (fs.wait_pending() == nullptr) return;
    std::this_thread::sleep_for(20ms);
    RecordingSink other(h.log, false);
    fuse_interrupt_in in{unique};
    h.send_through(other, FUSE_INTERRUPT, 0, bytes(in), unique + 1);
  });
  std::vector<Message> r = h.send(FUSE_READ, f.nodeid, h.read_body(f.fh, 0, 4096), unique);
  interrupter.join();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error(), -EINTR);
  EXPECT_EQ(fs.interrupt_callbacks.load(), 1);
  EXPECT_EQ(h.log->for_unique(unique).size(), 1u);
}

// A file system that pends and completes within the call: one reply, and
// the session keeps no record of a request that is over.
TEST(Dispatch, PendingCompletedBeforeReturningIsForgotten) {
  for (bool detachable : {true, false}) {
    SCOPED_TRACE(detachable ? "detachable" : "inline");
    PendingFs fs;
    fs.complete_at_once = true;
    Harness h(fs, detachable);
    Opened f = open_f(h);
    for (int i = 0; i < 3; ++i) {
      std::vector<Message> r = h.send(FUSE_READ, f.nodeid, h.read_body(f.fh, 0, 4096));
      ASSERT_EQ(r.size(), 1u);
      EXPECT_EQ(r[0].payload, kData);
    }
    EXPECT_EQ(h.session->deferred_count(), 0u);
  }
}

// Pending writes and listings, completed from another thread.
class PendingWriteListFs final : public TestFs {
 public:
  Result<size_t> write(const Caller& caller, void*, const void*, uint64_t, size_t, FileInfo*) override {
    std::lock_guard lock(mutex);
    write_pending = pend_write(caller);
    EXPECT_NE(write_pending, nullptr);
    return write_pending ? Result<size_t>(Status::pending()) : Result<size_t>(Status::error(EIO));
  }
  Status read_directory(const Caller& caller, void*, uint64_t offset, const DirFiller& filler) override {
    if (offset == 0 && !filler("f", file_info(), 1)) return Status::ok();
    std::lock_guard lock(mutex);
    list_pending = pend_list(caller);
    EXPECT_NE(list_pending, nullptr);
    return list_pending ? Status::pending() : Status::error(EIO);
  }
  std::mutex mutex;
  std::shared_ptr<PendingWrite> write_pending;  // guarded by mutex
  std::shared_ptr<PendingList> list_pending;    // guarded by mutex
};

TEST(Dispatch, PendingWriteAndListingAreAnsweredOnce) {
  PendingWriteListFs fs;
  Harness h(fs, /*detachable=*/true);
  Opened f = open_f(h);
  fuse_write_in w{};
  w.fh = f.fh;
  w.size = 5;
  h.send(FUSE_WRITE, f.nodeid, bytes(w) + "abcde" + "junk");
  uint64_t write_unique = h.last_unique;
  uint64_t dh = h.open(kRoot, FUSE_OPENDIR);
  h.send(FUSE_READDIR, kRoot, h.read_body(dh, 0, 4096));
  uint64_t list_unique = h.last_unique;
  EXPECT_EQ(h.session->deferred_count(), 2u);
  std::shared_ptr<PendingWrite> pw;
  std::shared_ptr<PendingList> pl;
  {
    std::lock_guard lock(fs.mutex);
    pw = fs.write_pending;
    pl = fs.list_pending;
  }
  ASSERT_NE(pw, nullptr);
  ASSERT_NE(pl, nullptr);
  EXPECT_EQ(pw->data(), "abcde") << "the data, not the junk after it";
  std::thread([&] {
    pw->complete(size_t{5}, file_info());
    EXPECT_TRUE(pl->add("g", file_info(), 2));
    pl->complete(Status::ok());
    pl->complete(Status::ok());
    pw->complete(size_t{1}, file_info());
  }).join();
  std::vector<Message> rw = h.log->for_unique(write_unique), rl = h.log->for_unique(list_unique);
  ASSERT_EQ(rw.size(), 1u);
  EXPECT_EQ(rw[0].as<fuse_write_out>().size, 5u);
  ASSERT_EQ(rl.size(), 1u);
  std::vector<Dirent> d = parse_dirents(rl[0].payload);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[2].name, "f");
  EXPECT_EQ(d[3].name, "g");
  EXPECT_EQ(d[3].off, d[2].off + 1);
  EXPECT_EQ(h.session->deferred_count(), 0u);
}

}  // namespace
}  // namespace linfsp
