// The notify API on a real mount: the race that deadlocked WinFsp, the
// kernel lock rule, a stress run, visibility through the kernel's caches,
// and misuse. MEMFS runs in this process behind a FileSystemHost; the file
// operations are real system calls from other threads and processes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <future>
#include <thread>

#include "linfsp/host.h"
#include "memfs.h"
#include "mount_guard.h"

namespace linfsp::testing {
namespace {

using namespace std::chrono_literals;

class EmbeddedMemfs {
 public:
  explicit EmbeddedMemfs(double timeout_seconds = 1.0) {
    char tmpl[] = "/tmp/linfsp-notify-XXXXXX";
    dir_ = mkdtemp(tmpl);
    register_mount(dir_);
    fs_ = memfs::create({});
    HostOptions o;
    o.mountpoint = dir_;
    o.subtype = "memfs";
    o.default_permissions = true;
    o.entry_timeout = o.attr_timeout = timeout_seconds;
    o.threads = 4;  // renames may block some; others keep serving
    host_ = std::make_unique<FileSystemHost>(*fs_, o);
    status_ = host_->start();
  }
  ~EmbeddedMemfs() {
    host_.reset();
    umount2(dir_.c_str(), MNT_DETACH);
    unregister_mount(dir_);
    rmdir(dir_.c_str());
  }
  const Status& status() const { return status_; }
  FileSystemHost& host() { return *host_; }
  FileSystemBase& fs() { return *fs_; }
  std::string path(const std::string& rel) const { return dir_ + "/" + rel; }

 private:
  std::string dir_;
  std::unique_ptr<FileSystemBase> fs_;
  std::unique_ptr<FileSystemHost> host_;
  Status status_;
};

bool touch(const std::string& path) {
  int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0644);
  return fd >= 0 && close(fd) == 0;
}

// Waits for `done` or ends the test process with the volume's state.
template <typename T>
T await(std::future<T>& f, EmbeddedMemfs& m, const std::string& what) {
  if (f.wait_for(20s) != std::future_status::ready) fail_hang(what, m.host().describe_state());
  return f.get();
}

void wait_for_rename_waiting(EmbeddedMemfs& m) {
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!m.host().rename_waiting()) {
    if (std::chrono::steady_clock::now() > deadline) {
      fail_hang("the rename never queued for the rename resource", m.host().describe_state());
    }
    std::this_thread::sleep_for(100us);
  }
}

// The WinFsp deadlock: a rename queues as an exclusive waiter behind an open
// session; the worker must still process the batch and the End that releases
// the session. With a plain shared acquire in the worker this hangs.
TEST(Notify, RenameQueuedBehindASessionCompletes) {
  EmbeddedMemfs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  constexpr int kIterations = 300;
  for (int i = 0; i < kIterations; ++i) {
    std::string from = m.path("a" + std::to_string(i)), to = m.path("b" + std::to_string(i));
    ASSERT_TRUE(touch(from));
    ASSERT_TRUE(m.host().notify_begin(5s));
    auto renamed = std::async(std::launch::async, [&] { return rename(from.c_str(), to.c_str()); });
    wait_for_rename_waiting(m);
    NotifyBatch batch;
    batch.add(NotifyAction::kModified, "/").add(NotifyAction::kAttributes, "/");
    ASSERT_TRUE(m.host().notify(batch.data(), batch.size()));
    ASSERT_TRUE(m.host().notify_end());
    ASSERT_EQ(await(renamed, m, "rename after notify_end, iteration " + std::to_string(i)), 0);
    ASSERT_TRUE(m.host().notify_drain(20s)) << m.host().describe_state();
  }
  EXPECT_NE(m.host().describe_state().find("0 session(s)"), std::string::npos) << m.host().describe_state();
  EXPECT_EQ(m.host().check_consistency(), "");
}

// The kernel lock rule: a kernel RENAME holds its directory locked while it
// waits in our handler; an invalidation of a name in that directory blocks
// in the kernel. That must not stop the session from ending.
TEST(Notify, BlockedInvalidationDoesNotHoldUpTheSession) {
  EmbeddedMemfs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  ASSERT_EQ(mkdir(m.path("d").c_str(), 0755), 0);
  for (int i = 0; i < 50; ++i) {
    std::string from = m.path("d/x" + std::to_string(i)), to = m.path("d/y" + std::to_string(i));
    ASSERT_TRUE(touch(from));
    ASSERT_TRUE(m.host().notify_begin(5s));
    auto renamed = std::async(std::launch::async, [&] { return rename(from.c_str(), to.c_str()); });
    wait_for_rename_waiting(m);
    NotifyBatch batch;
    batch.add(NotifyAction::kAdded, "/d/z").add(NotifyAction::kRemoved, "x" + std::to_string(i));
    ASSERT_TRUE(m.host().notify(batch.data(), batch.size()));
    auto ended = std::async(std::launch::async, [&] { return m.host().notify_end(); });
    EXPECT_TRUE(await(ended, m, "notify_end while an invalidation waits for the kernel"));
    EXPECT_EQ(await(renamed, m, "rename while an invalidation of its directory is queued"), 0);
    if (!m.host().notify_drain(20s)) fail_hang("invalidations never drained", m.host().describe_state());
  }
  EXPECT_EQ(m.host().check_consistency(), "");
}

TEST(Notify, StressRenamesOpensAndSessions) {
  EmbeddedMemfs m(60.0);
  ASSERT_TRUE(m.status()) << m.status().message();
  for (const char* d : {"p", "q"}) ASSERT_EQ(mkdir(m.path(d).c_str(), 0755), 0);
  constexpr int kFiles = 8;
  for (int i = 0; i < kFiles; ++i) ASSERT_TRUE(touch(m.path("p/f" + std::to_string(i))));
  std::atomic<bool> stop{false};
  std::atomic<long> renames{0}, stats{0}, sessions{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      // Each renamer owns half the files and moves them back and forth.
      for (long n = 0; !stop; ++n) {
        int i = (n % (kFiles / 2)) * 2 + t;
        std::string p = m.path("p/f" + std::to_string(i)), q = m.path("q/f" + std::to_string(i));
        if (rename(p.c_str(), q.c_str()) == 0 || rename(q.c_str(), p.c_str()) == 0) renames++;
        else errors++;
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      struct stat st;
      for (long n = 0; !stop; ++n) {
        std::string name = (n % 2 ? "p/f" : "q/f") + std::to_string(n % kFiles);
        if (stat(m.path(name).c_str(), &st) == 0) stats++;
        int fd = open(m.path(name).c_str(), O_RDONLY);
        if (fd >= 0) close(fd);
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop) {
      if (!m.host().notify_begin(2s)) continue;  // may time out while renames run
      NotifyBatch b;
      b.add(NotifyAction::kModified, "/p").add(NotifyAction::kAttributes, "f1").add(NotifyAction::kRemoved, "/q/none");
      if (!m.host().notify(b.data(), b.size())) errors++;
      if (!m.host().notify_end()) errors++;
      sessions++;
    }
  });
  auto runner = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(3s);
    stop = true;
    for (auto& th : threads) th.join();
    return true;
  });
  auto started = std::chrono::steady_clock::now();
  await(runner, m, "stress threads did not finish");
  std::printf("stress: %ld renames, %ld stats, %ld sessions, %.1f s\n", renames.load(), stats.load(),
              sessions.load(), std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  ASSERT_TRUE(m.host().notify_drain(20s)) << m.host().describe_state();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(renames.load(), 0);
  EXPECT_GT(sessions.load(), 0);
  EXPECT_GT(stats.load(), 0);
  EXPECT_EQ(m.host().check_consistency(), "");
  // Every file is in exactly one of the two directories.
  for (int i = 0; i < kFiles; ++i) {
    struct stat st;
    bool in_p = stat(m.path("p/f" + std::to_string(i)).c_str(), &st) == 0;
    bool in_q = stat(m.path("q/f" + std::to_string(i)).c_str(), &st) == 0;
    EXPECT_NE(in_p, in_q) << i;
  }
}

// Run in a child process so nothing of this process's own state plays a part.
std::string read_in_child(const std::string& path) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return "<pipe>";
  const char* c_path = path.c_str();
  pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls here: other threads may hold malloc's lock.
    close(pipefd[0]);
    int fd = open(c_path, O_RDONLY);
    char buf[256];
    ssize_t n;
    if (fd < 0) (void)!write(pipefd[1], "<open failed>", 13);
    while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) (void)!write(pipefd[1], buf, n);
    _exit(0);
  }
  close(pipefd[1]);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) out.append(buf, n);
  close(pipefd[0]);
  waitpid(pid, nullptr, 0);
  return out;
}

// With 60 s caches, only the notification makes a change behind the kernel's
// back visible; without it, readers keep seeing the old state.
TEST(Notify, ChangesBehindTheKernelsBackAreSeenOnlyWhenNotified) {
  EmbeddedMemfs m(60.0);
  ASSERT_TRUE(m.status()) << m.status().message();
  int fd = open(m.path("f").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_EQ(write(fd, "old", 3), 3);
  close(fd);
  ASSERT_TRUE(touch(m.path("gone")));
  EXPECT_EQ(read_in_child(m.path("f")), "old");

  // Change the data inside MEMFS, not through the kernel.
  Caller root;
  void* file = nullptr;
  FileInfo info;
  OpenFlags open_flags;
  ASSERT_TRUE(m.fs().open(root, "/f", O_WRONLY | O_TRUNC, &file, &info, &open_flags));
  ASSERT_TRUE(m.fs().write(root, file, "brand new", 0, 9, &info));
  m.fs().close(file);
  ASSERT_TRUE(m.fs().unlink(root, "/gone"));

  struct stat st;
  EXPECT_EQ(read_in_child(m.path("f")), "old") << "the kernel's cache is in use";
  EXPECT_EQ(stat(m.path("gone").c_str(), &st), 0) << "the kernel still caches the name";

  ASSERT_TRUE(m.host().notify_change(NotifyAction::kModified, "/f"));
  ASSERT_TRUE(m.host().notify_change(NotifyAction::kRemoved, "/gone"));
  ASSERT_TRUE(m.host().notify_drain(1s)) << m.host().describe_state();
  EXPECT_EQ(read_in_child(m.path("f")), "brand new");
  EXPECT_EQ(stat(m.path("gone").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST(Notify, MisuseGetsErrorsAndLeavesNothingHeld) {
  EmbeddedMemfs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  EXPECT_EQ(m.host().notify_end().err(), EINVAL) << "End without Begin";
  NotifyBatch b;
  b.add(NotifyAction::kAdded, "/x");
  EXPECT_EQ(m.host().notify(b.data(), b.size()).err(), EINVAL) << "notify without a session";
  ASSERT_TRUE(m.host().notify_begin(1s));
  ASSERT_TRUE(m.host().notify_begin(1s)) << "sessions nest";
  EXPECT_EQ(m.host().notify(b.data(), 3).err(), EINVAL) << "truncated";
  EXPECT_EQ(m.host().notify(b.data(), size_t{1} << 32).err(), E2BIG);
  std::string lie(b.size(), '\0');
  std::memcpy(lie.data(), b.data(), b.size());
  uint32_t huge = 0x7fffffff;
  std::memcpy(lie.data(), &huge, 4);
  EXPECT_EQ(m.host().notify(lie.data(), lie.size()).err(), EINVAL);
  EXPECT_TRUE(m.host().notify_end());
  EXPECT_TRUE(m.host().notify_end());
  EXPECT_EQ(m.host().notify_end().err(), EINVAL);
  ASSERT_TRUE(m.host().notify_drain(5s));
  // Nothing is held: a rename goes through at once.
  ASSERT_TRUE(touch(m.path("r1")));
  auto renamed = std::async(std::launch::async, [&] { return rename(m.path("r1").c_str(), m.path("r2").c_str()); });
  EXPECT_EQ(await(renamed, m, "rename after misuse"), 0);
}

// A rename blocked by a session ends with EINTR when its caller gets a signal.
TEST(Notify, RenameWaitingForASessionIsInterruptible) {
  EmbeddedMemfs m;
  ASSERT_TRUE(m.status()) << m.status().message();
  ASSERT_TRUE(touch(m.path("s")));
  ASSERT_TRUE(m.host().notify_begin(5s));
  std::string from = m.path("s"), to = m.path("t");
  pid_t child = fork();
  if (child == 0) {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigaction(SIGUSR1, &sa, nullptr);
    int r = rename(from.c_str(), to.c_str());
    _exit(r == -1 && errno == EINTR ? 0 : 1);
  }
  wait_for_rename_waiting(m);
  kill(child, SIGUSR1);
  auto exited = std::async(std::launch::async, [&] {
    int status;
    waitpid(child, &status, 0);
    return status;
  });
  int status = await(exited, m, "interrupted rename");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the rename did not end with EINTR";
  EXPECT_TRUE(m.host().notify_end());
}

}  // namespace
}  // namespace linfsp::testing

namespace linfsp::testing {
namespace {

bool write_text(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  return close(fd) == 0 && ok;
}

std::string read_text(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return "<" + std::string(strerror(errno)) + ">";
  char buf[256];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  return n < 0 ? "<read failed>" : std::string(buf, n);
}

// Polls for up to a second: notifications are delivered asynchronously.
bool becomes(const std::function<bool()>& condition) {
  for (int i = 0; i < 100; ++i) {
    if (condition()) return true;
    usleep(10000);
  }
  return condition();
}

// The memfs program's demo: its control file changes files inside MEMFS and
// notifies; with 60 s caches a reader sees the change at once, and without
// the notification ("quiet") it does not.
TEST(NotifyDemo, MemfsControlFileChangesAreSeenAtOnce) {
  std::string error;
  auto fs = MountedMemfs::start({"--notify-demo", "--entry-timeout", "60", "--attr-timeout", "60"}, &error);
  ASSERT_TRUE(fs) << error;
  std::string control = fs->path(".notify-demo");
  ASSERT_TRUE(write_text(fs->path("f"), "original"));
  EXPECT_EQ(read_text(fs->path("f")), "original");
  ASSERT_TRUE(write_text(control, "quiet write /f changed quietly"));
  usleep(100000);
  EXPECT_EQ(read_text(fs->path("f")), "original") << "without a notification the kernel keeps its cache";
  ASSERT_TRUE(write_text(control, "write /f changed loudly"));
  EXPECT_TRUE(becomes([&] { return read_text(fs->path("f")) == "changed loudly"; })) << read_text(fs->path("f"));
  struct stat st;
  ASSERT_EQ(stat(fs->path("f").c_str(), &st), 0);
  ASSERT_TRUE(write_text(control, "remove /f"));
  EXPECT_TRUE(becomes([&] { return stat(fs->path("f").c_str(), &st) != 0 && errno == ENOENT; }));
  EXPECT_NE(stat(fs->path("d").c_str(), &st), 0);  // caches "no such name"
  ASSERT_TRUE(write_text(control, "mkdir /d"));
  EXPECT_TRUE(becomes([&] { return stat(fs->path("d").c_str(), &st) == 0 && S_ISDIR(st.st_mode); }));
  ASSERT_TRUE(write_text(control, "write /d/g inside"));
  ASSERT_TRUE(write_text(control, "rename /d/g /d/h"));
  EXPECT_TRUE(becomes([&] { return read_text(fs->path("d/h")) == "inside"; }));
  EXPECT_FALSE(write_text(control, "frobnicate /x")) << "an unknown command is an error";
  EXPECT_EQ(fs->terminate(), 0);
}

}  // namespace
}  // namespace linfsp::testing
