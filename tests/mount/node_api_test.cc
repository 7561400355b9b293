// The node-level API on a real mount: a small in-memory NodeFileSystem in
// this process, driven by system calls from other threads and processes.
// Replies on the request thread and later from other threads, interrupts,
// lookup counts, and node-level notifications through the notification
// queue (also from inside a request handler).
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <dirent.h>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "embedded_host.h"
#include "linfsp/node_api.h"
#include "mount_guard.h"

namespace linfsp::testing {
namespace {

using namespace std::chrono_literals;

constexpr unsigned kTestIoctl = _IOR('L', 1, int);

// Files in the root only. "/late" answers reads from another thread; a
// write to "/stuck" waits until interrupted.
class TinyNodeFs : public NodeFileSystem {
 public:
  struct File {
    std::string name;
    std::string data;
    mode_t mode;
  };

  TinyNodeFs() {
    files_[2] = {"hello", "hello, world\n", S_IFREG | 0644};
    files_[3] = {"late", "answered later\n", S_IFREG | 0644};
    files_[4] = {"stuck", "", S_IFREG | 0666};
  }
  ~TinyNodeFs() override {
    for (auto& t : threads_) t.join();
  }

  void wants(NodeMountWants* w) override { w->posix_locks = w->flock_locks = true; }
  void init(NodeNotifier& notifier) override { notifier_ = &notifier; }

  // Locks: one whole-file lock per node, enough to see the kernel ask us.
  void getlk(NodeRequest req, uint64_t nodeid, uint64_t, uint64_t owner, const struct flock& lock) override {
    std::lock_guard lock_(mutex_);
    auto it = locks_.find(nodeid);
    struct flock out = lock;
    if (it != locks_.end() && it->second.owner != owner) {
      out = it->second.lock;
    } else {
      out.l_type = F_UNLCK;
    }
    req.reply_lock(out);
  }
  void setlk(NodeRequest req, uint64_t nodeid, uint64_t, uint64_t owner, const struct flock& lock,
             bool) override {
    std::lock_guard lock_(mutex_);
    ++lock_calls_;
    auto it = locks_.find(nodeid);
    if (lock.l_type == F_UNLCK) {
      if (it != locks_.end() && it->second.owner == owner) locks_.erase(it);
      return void(req.reply_ok());
    }
    if (it != locks_.end() && it->second.owner != owner) return void(req.reply_error(EAGAIN));
    locks_[nodeid] = {owner, lock};
    req.reply_ok();
  }
  void flock(NodeRequest req, uint64_t nodeid, uint64_t, uint64_t owner, int operation) override {
    std::lock_guard lock_(mutex_);
    ++lock_calls_;
    auto it = flocks_.find(nodeid);
    if ((operation & ~LOCK_NB) == LOCK_UN) {
      if (it != flocks_.end() && it->second == owner) flocks_.erase(it);
      return void(req.reply_ok());
    }
    if (it != flocks_.end() && it->second != owner) return void(req.reply_error(EWOULDBLOCK));
    flocks_[nodeid] = owner;
    req.reply_ok();
  }
  // ioctl kTestIoctl answers 7 in an int; poll says readable.
  void ioctl(NodeRequest req, uint64_t, unsigned cmd, uint64_t, uint64_t, unsigned, std::string_view,
             size_t out_size) override {
    if (cmd != kTestIoctl || out_size < sizeof(int)) return void(req.reply_error(ENOTTY));
    int value = 7;
    req.reply_ioctl(0, &value, sizeof(value));
  }
  void poll(NodeRequest req, uint64_t, uint64_t, uint64_t, unsigned events) override {
    req.reply_poll(events & POLLIN);
  }
  void flush(NodeRequest req, uint64_t nodeid, uint64_t, uint64_t owner) override {
    std::lock_guard lock_(mutex_);
    auto it = locks_.find(nodeid);
    if (it != locks_.end() && it->second.owner == owner) locks_.erase(it);  // close drops POSIX locks
    req.reply_ok();
  }
  NodeNotifier& notifier() { return *notifier_; }

  void lookup(NodeRequest req, uint64_t parent, std::string_view name) override {
    std::lock_guard lock(mutex_);
    if (parent != kRootNodeId) return void(req.reply_error(ENOTDIR));
    if (name == "boom") throw std::runtime_error("lookup failed");
    last_caller_ = req.caller();
    for (auto& [id, f] : files_) {
      if (f.name == name) {
        ++lookups_[id];
        return void(req.reply_entry(entry(id)));
      }
    }
    req.reply_error(ENOENT);
  }
  void forget(uint64_t nodeid, uint64_t nlookup) override {
    std::lock_guard lock(mutex_);
    lookups_[nodeid] -= nlookup;
  }
  void getattr(NodeRequest req, uint64_t nodeid, const uint64_t*) override {
    std::lock_guard lock(mutex_);
    if (nodeid != kRootNodeId && !files_.count(nodeid)) return void(req.reply_error(ENOENT));
    last_caller_ = req.caller();
    req.reply_attr(attr(nodeid), 60);
  }
  void open(NodeRequest req, uint64_t nodeid, int) override {
    OpenReply o;
    o.fh = nodeid * 100;
    o.direct_io = true;  // every read reaches us
    req.reply_open(o);
  }
  void read(NodeRequest req, uint64_t nodeid, size_t size, off_t offset, uint64_t fh) override {
    std::string data;
    {
      std::lock_guard lock(mutex_);
      if (fh != nodeid * 100) return void(req.reply_error(EBADF));
      data = files_[nodeid].data.substr(std::min<size_t>(offset, files_[nodeid].data.size()), size);
    }
    if (nodeid != 3) return void(req.reply_data(data.data(), data.size()));
    // Answer from another thread, after this call returned.
    std::lock_guard lock(mutex_);
    threads_.emplace_back([req = std::move(req), data]() mutable {
      std::this_thread::sleep_for(50ms);
      req.reply_data(data.data(), data.size());
    });
  }
  void write(NodeRequest req, uint64_t nodeid, std::string_view data, off_t offset, uint64_t, uint32_t) override {
    if (nodeid == 4) {
      // Never answered but for an interrupt: the kernel's signal ends it.
      auto held = std::make_shared<NodeRequest>(std::move(req));
      held->on_interrupt([held] { held->reply_error(EINTR); });
      std::lock_guard lock(mutex_);
      stuck_.push_back(held);
      return;
    }
    std::lock_guard lock(mutex_);
    std::string& d = files_[nodeid].data;
    if (d.size() < offset + data.size()) d.resize(offset + data.size());
    d.replace(offset, data.size(), data);
    req.reply_write(data.size());
  }
  void opendir(NodeRequest req, uint64_t, int) override { req.reply_open(OpenReply{}); }
  void readdir(NodeRequest req, uint64_t nodeid, size_t size, off_t offset, uint64_t) override {
    list(std::move(req), nodeid, size, offset, false);
  }
  void readdirplus(NodeRequest req, uint64_t nodeid, size_t size, off_t offset, uint64_t) override {
    list(std::move(req), nodeid, size, offset, true);
  }
  void retrieve_reply(uint64_t cookie, uint64_t nodeid, uint64_t, std::string_view data) override {
    std::lock_guard lock(mutex_);
    retrieved_[cookie] = {nodeid, std::string(data)};
  }

  // Changes a file behind the kernel's back.
  void set_data(uint64_t nodeid, std::string data) {
    std::lock_guard lock(mutex_);
    files_[nodeid].data = std::move(data);
  }
  void add_file(uint64_t nodeid, std::string name) {
    std::lock_guard lock(mutex_);
    files_[nodeid] = {std::move(name), "new\n", S_IFREG | 0644};
  }
  int lock_calls() {
    std::lock_guard lock(mutex_);
    return lock_calls_;
  }
  size_t stuck() {
    std::lock_guard lock(mutex_);
    return stuck_.size();
  }
  Caller last_caller() {
    std::lock_guard lock(mutex_);
    return last_caller_;
  }
  int64_t lookups(uint64_t nodeid) {
    std::lock_guard lock(mutex_);
    return lookups_[nodeid];
  }
  std::optional<std::pair<uint64_t, std::string>> retrieved(uint64_t cookie) {
    std::lock_guard lock(mutex_);
    auto it = retrieved_.find(cookie);
    if (it == retrieved_.end()) return std::nullopt;
    return it->second;
  }

 private:
  struct stat attr(uint64_t nodeid) {  // REQUIRES: mutex_
    struct stat st {};
    st.st_ino = nodeid;
    st.st_nlink = 1;
    if (nodeid == kRootNodeId) {
      st.st_mode = S_IFDIR | 0755;
      st.st_nlink = 2;
    } else {
      st.st_mode = files_[nodeid].mode;
      st.st_size = static_cast<off_t>(files_[nodeid].data.size());
    }
    return st;
  }
  EntryReply entry(uint64_t nodeid) {  // REQUIRES: mutex_
    EntryReply e;
    e.nodeid = nodeid;
    e.attr = attr(nodeid);
    e.attr_timeout = e.entry_timeout = 60;  // long: only notifications make changes visible
    return e;
  }
  void list(NodeRequest req, uint64_t nodeid, size_t size, off_t offset, bool plus) {
    if (nodeid != kRootNodeId) return void(req.reply_error(ENOTDIR));
    std::lock_guard lock(mutex_);
    DirentBuffer buf(size, plus);
    off_t at = 0;
    for (auto& [id, f] : files_) {
      if (++at <= offset) continue;
      if (plus) {
        if (!buf.add_plus(f.name, entry(id), at)) break;
        ++lookups_[id];
      } else if (!buf.add(f.name, attr(id), at)) {
        break;
      }
    }
    req.reply_data(buf.data(), buf.size());
  }

  struct Held {
    uint64_t owner;
    struct flock lock;
  };
  std::mutex mutex_;
  std::map<uint64_t, Held> locks_;       // guarded by mutex_
  std::map<uint64_t, uint64_t> flocks_;  // nodeid -> owner; guarded by mutex_
  int lock_calls_ = 0;                   // guarded by mutex_
  std::map<uint64_t, File> files_;                                       // guarded by mutex_
  std::map<uint64_t, int64_t> lookups_;                                  // guarded by mutex_
  std::vector<std::shared_ptr<NodeRequest>> stuck_;                      // guarded by mutex_
  std::map<uint64_t, std::pair<uint64_t, std::string>> retrieved_;       // guarded by mutex_
  std::vector<std::thread> threads_;                                     // guarded by mutex_
  Caller last_caller_;                                                   // guarded by mutex_
  NodeNotifier* notifier_ = nullptr;
};

struct TinyHolder {
  TinyNodeFs fs;
};
class EmbeddedNodeFs : private TinyHolder, public EmbeddedHost {
 public:
  EmbeddedNodeFs() : EmbeddedHost(TinyHolder::fs, options(), "nodes") {}
  TinyNodeFs& fs() { return TinyHolder::fs; }

 private:
  static HostOptions options() {
    HostOptions o;
    o.threads = 2;
    o.debug = getenv("NODE_DEBUG") != nullptr;
    return o;
  }
};

std::string read_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return "open: " + std::string(strerror(errno));
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fd);
  return out;
}

std::set<std::string> list_dir(const std::string& path) {
  std::set<std::string> names;
  DIR* d = opendir(path.c_str());
  if (!d) return names;
  while (dirent* e = readdir(d)) names.insert(e->d_name);
  closedir(d);
  return names;
}

TEST(NodeApi, LookupReadAndListThroughTheKernel) {
  EmbeddedNodeFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  auto names = m.within("a listing", [&] { return list_dir(m.dir()); });
  EXPECT_TRUE(names.count("hello") && names.count("late") && names.count("stuck"));
  EXPECT_EQ(m.within("a read", [&] { return read_file(m.path("hello")); }), "hello, world\n");
  struct stat st;
  ASSERT_EQ(stat(m.path("hello").c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, 2u);
  EXPECT_EQ(st.st_size, 13);
  EXPECT_EQ(stat(m.path("nothing").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_GT(m.fs().lookups(2), 0) << "the kernel holds a lookup of /hello";
}

TEST(NodeApi, ReplyFromAnotherThreadAfterTheHandlerReturned) {
  EmbeddedNodeFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  // Four readers at once, each answered later by a thread of its own.
  std::vector<std::thread> readers;
  std::vector<std::string> got(4);
  for (int i = 0; i < 4; ++i) readers.emplace_back([&, i] { got[i] = read_file(m.path("late")); });
  m.within("four late answers", [&] {
    for (auto& t : readers) t.join();
    return 0;
  });
  for (auto& g : got) EXPECT_EQ(g, "answered later\n");
}

TEST(NodeApi, InterruptCallbackEndsAHeldRequestWithEintr) {
  EmbeddedNodeFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  pid_t child = fork();
  if (child == 0) {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigaction(SIGUSR1, &sa, nullptr);  // no SA_RESTART
    int fd = open(m.path("stuck").c_str(), O_WRONLY);
    ssize_t n = pwrite(fd, "x", 1, 0);
    _exit(n == -1 && errno == EINTR ? 0 : 1);
  }
  m.wait_until("the write to be held", [&] { return m.fs().stuck() == 1; });
  kill(child, SIGUSR1);
  int status = -1;
  m.wait_until("the interrupted write to end", [&] { return waitpid(child, &status, WNOHANG) == child; });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST(NodeApi, CallerIsTheCallingProcess) {
  EmbeddedNodeFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  // A name nobody looked up yet: the child's stat reaches the file system.
  pid_t child = fork();
  if (child == 0) {
    struct stat st;
    _exit(stat(m.path("late").c_str(), &st) == 0 ? 0 : 1);
  }
  int status = -1;
  m.wait_until("the child's stat", [&] { return waitpid(child, &status, WNOHANG) == child; });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  Caller c = m.fs().last_caller();
  EXPECT_EQ(c.pid, child);
  EXPECT_EQ(c.uid, geteuid());
  EXPECT_EQ(c.gid, getegid());
  std::vector<gid_t> groups;
  EXPECT_EQ(c.supplementary_groups(&groups).err(), ESRCH) << "the child is gone";
}

TEST(NodeApi, NotificationsMakeChangesVisibleThroughLongCaches) {
  EmbeddedNodeFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  struct stat st;
  ASSERT_EQ(stat(m.path("hello").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 13);
  // The size is cached for 60 s: a change behind the kernel's back stays
  // invisible until the file system invalidates the inode.
  m.fs().set_data(2, "changed behind the kernel\n");
  ASSERT_EQ(stat(m.path("hello").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 13) << "the attribute cache should still hold";
  ASSERT_TRUE(m.fs().notifier().inval_inode(2, 0, 0));
  ASSERT_TRUE(m.host().notify_drain(5s));
  ASSERT_EQ(stat(m.path("hello").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 26);

  // "No such name" is cached too; inval_entry drops it.
  EXPECT_EQ(stat(m.path("fresh").c_str(), &st), -1);
  m.fs().add_file(7, "fresh");
  ASSERT_TRUE(m.fs().notifier().inval_entry(kRootNodeId, "fresh"));
  ASSERT_TRUE(m.host().notify_drain(5s));
  EXPECT_EQ(stat(m.path("fresh").c_str(), &st), 0);

  // Bad names are refused before they reach the kernel.
  EXPECT_EQ(m.fs().notifier().inval_entry(kRootNodeId, "a/b").err(), EINVAL);
  EXPECT_EQ(m.fs().notifier().delete_entry(kRootNodeId, 2, std::string(300, 'x')).err(), EINVAL);
}

TEST(NodeApi, StoreThenRetrieveRoundTripsThroughThePageCache) {
  EmbeddedNodeFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  struct stat st;
  ASSERT_EQ(stat(m.path("hello").c_str(), &st), 0);  // the kernel knows node 2
  int fd = open(m.path("hello").c_str(), O_RDONLY);    // and holds its inode
  ASSERT_GE(fd, 0);
  // The whole file, so the kernel marks the page up to date and keeps it.
  ASSERT_TRUE(m.fs().notifier().store(2, 0, "HELLO, WORLD\n"));
  ASSERT_TRUE(m.fs().notifier().retrieve(2, 0, 13, 77));
  m.wait_until("the retrieved data", [&] { return m.fs().retrieved(77).has_value(); });
  auto got = *m.fs().retrieved(77);
  EXPECT_EQ(got.first, 2u);
  EXPECT_EQ(got.second, "HELLO, WORLD\n");
  close(fd);
}

TEST(NodeApi, LocksReachTheFileSystemWhenItAsks) {
  EmbeddedNodeFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  int fd = open(m.path("hello").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  ASSERT_EQ(fcntl(fd, F_SETLK, &lk), 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  // Another process: the lock is held, and F_GETLK names who holds it.
  pid_t child = fork();
  if (child == 0) {
    int cfd = open(m.path("hello").c_str(), O_RDWR);
    struct flock want {};
    want.l_type = F_WRLCK;
    want.l_whence = SEEK_SET;
    if (fcntl(cfd, F_SETLK, &want) != -1 || errno != EAGAIN) _exit(1);
    if (fcntl(cfd, F_GETLK, &want) != 0 || want.l_type != F_WRLCK || want.l_pid != getppid()) _exit(2);
    if (::flock(cfd, LOCK_EX | LOCK_NB) != -1 || errno != EWOULDBLOCK) _exit(3);
    _exit(0);
  }
  int status = -1;
  m.wait_until("the child's lock checks", [&] { return waitpid(child, &status, WNOHANG) == child; });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child step " << WEXITSTATUS(status);
  // 2 of ours, 2 of the child's (the kernel would otherwise keep them local).
  EXPECT_GE(m.fs().lock_calls(), 4);
  close(fd);
}

TEST(NodeApi, AThrowingHandlerIsAnsweredEioAndServingGoesOn) {
  EmbeddedNodeFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  struct stat st;
  EXPECT_EQ(m.within("a throwing lookup", [&] { return stat(m.path("boom").c_str(), &st) == 0 ? 0 : errno; }), EIO);
  EXPECT_EQ(m.within("a lookup after it", [&] { return stat(m.path("hello").c_str(), &st); }), 0);
}

TEST(NodeApi, IoctlAndPollReachTheFileSystem) {
  EmbeddedNodeFs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  int fd = open(m.path("hello").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  int value = 0;
  EXPECT_EQ(m.within("an ioctl", [&] { return ioctl(fd, kTestIoctl, &value); }), 0);
  EXPECT_EQ(value, 7);
  EXPECT_EQ(ioctl(fd, _IOR('L', 2, int), &value), -1);
  EXPECT_EQ(errno, ENOTTY);
  pollfd p{fd, POLLIN | POLLOUT, 0};
  EXPECT_EQ(m.within("a poll", [&] { return ::poll(&p, 1, 0); }), 1);
  EXPECT_EQ(p.revents, POLLIN);
  close(fd);
}

}  // namespace
}  // namespace linfsp::testing
