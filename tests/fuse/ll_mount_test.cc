// The low-level API on real mounts: libfuse programs (Debian's examples built
// unchanged, and ll_testfs.c) served by LinFsp's libfuse3.so.3, driven by
// system calls. Each program runs as a child on a fresh directory; the
// watchdog (test_main.cc) aborts the FUSE connection and unmounts it if a
// test hangs, and MountedMemfs kills and unmounts it whatever happens.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "mount_guard.h"

namespace {

using linfsp::testing::MountedMemfs;
using linfsp::testing::TempDir;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  return static_cast<bool>(out.flush());
}

std::set<std::string> list_dir(const std::string& path) {
  std::set<std::string> names;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.insert(n);
  }
  closedir(d);
  return names;
}

std::unique_ptr<MountedMemfs> start(const std::string& binary, const std::vector<std::string>& args) {
  std::string error;
  auto m = MountedMemfs::start_binary(binary, args, &error);
  EXPECT_NE(m, nullptr) << binary << ": " << error;
  return m;
}

// Ends the program by unmounting from outside, as a user would; the loop
// returns and the program exits by itself.
void unmount_and_expect_exit(MountedMemfs& m) {
  std::string out;
  const char* cmd = geteuid() == 0 ? "umount " : "fusermount3 -u ";
  EXPECT_EQ(linfsp::testing::run(cmd + m.dir(), &out), 0) << out;
  EXPECT_EQ(m.wait_exit(std::chrono::seconds(20)), 0) << m.log();
  EXPECT_FALSE(linfsp::testing::is_mounted(m.dir()));
}

#ifdef LL_HELLO_LL
TEST(LowLevelExamples, HelloLl) {
  auto m = start(LL_HELLO_LL, {"-f"});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(list_dir(m->dir()), std::set<std::string>{"hello"});
  EXPECT_EQ(read_file(m->path("hello")), "Hello World!\n");
  struct stat st;
  ASSERT_EQ(stat(m->path("hello").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 13);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_NE(write_file(m->path("other"), "x"), true);  // hello_ll has no create
  unmount_and_expect_exit(*m);
}

TEST(LowLevelExamples, HelloLlEndsOnSigterm) {
  auto m = start(LL_HELLO_LL, {"-f"});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(read_file(m->path("hello")), "Hello World!\n");
  // libfuse's signal handler ends the loop; hello_ll exits 1 then (the loop
  // returns the signal number), and the mount is gone.
  EXPECT_EQ(m->terminate(), 1) << m->log();
  EXPECT_FALSE(linfsp::testing::is_mounted(m->dir()));
}

TEST(LowLevelExamples, PassthroughLl) {
  TempDir source;
  ASSERT_TRUE(write_file(source.path() + "/existing", "from below\n"));
  // passthrough_ll never frees its -o source= string: under the sanitizers
  // that leak of the example's own would fail its exit status.
  const char* asan = std::getenv("ASAN_OPTIONS");
  std::string saved = asan ? asan : "";
  setenv("ASAN_OPTIONS", (saved.empty() ? "" : saved + ":").append("detect_leaks=0").c_str(), 1);
  auto m = start(LL_PASSTHROUGH_LL, {"-f", "-o", "source=" + source.path()});
  if (asan) {
    setenv("ASAN_OPTIONS", saved.c_str(), 1);
  } else {
    unsetenv("ASAN_OPTIONS");
  }
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(list_dir(m->dir()), std::set<std::string>{"existing"});
  EXPECT_EQ(read_file(m->path("existing")), "from below\n");
  ASSERT_TRUE(write_file(m->path("new"), "written through\n"));
  EXPECT_EQ(read_file(source.path() + "/new"), "written through\n");
  ASSERT_EQ(mkdir(m->path("dir").c_str(), 0755), 0) << strerror(errno);
  ASSERT_EQ(rename(m->path("new").c_str(), m->path("dir/moved").c_str()), 0) << strerror(errno);
  EXPECT_EQ(read_file(source.path() + "/dir/moved"), "written through\n");
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + (i >> 12));
  ASSERT_TRUE(write_file(m->path("big"), big));
  EXPECT_EQ(read_file(m->path("big")), big);
  EXPECT_EQ(read_file(source.path() + "/big"), big);
  EXPECT_EQ(unlink(m->path("dir/moved").c_str()), 0);
  EXPECT_EQ(rmdir(m->path("dir").c_str()), 0);
  EXPECT_EQ(unlink(m->path("big").c_str()), 0);
  EXPECT_EQ(list_dir(source.path()), std::set<std::string>{"existing"});
  unmount_and_expect_exit(*m);
}
#endif

#ifdef LL_HELLO_LL_DEBIAN
// Starts a program linked against Debian's libfuse3 on ours, through
// LD_LIBRARY_PATH alone.
std::unique_ptr<MountedMemfs> start_on_ours(const std::string& binary, const std::vector<std::string>& args) {
  const char* old = std::getenv("LD_LIBRARY_PATH");
  std::string saved = old ? old : "";
  setenv("LD_LIBRARY_PATH", LL_OUR_LIBDIR, 1);
  auto m = start(binary, args);
  if (old) {
    setenv("LD_LIBRARY_PATH", saved.c_str(), 1);
  } else {
    unsetenv("LD_LIBRARY_PATH");
  }
  return m;
}

// Built against Debian's libfuse3, run on ours: the binary's symbol versions
// and structure layouts must be ours too.
TEST(LowLevelExamples, HelloLlBuiltAgainstLibfuseRunsOnOurs) {
  auto m = start_on_ours(LL_HELLO_LL_DEBIAN, {"-f"});
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(read_file(m->path("hello")), "Hello World!\n");
  // The library is ours: its maps name LinFsp's build directory.
  std::string maps = read_file("/proc/" + std::to_string(m->pid()) + "/maps");
  EXPECT_NE(maps.find(std::string(LL_OUR_LIBDIR) + "/libfuse3.so"), std::string::npos) << maps;
  unmount_and_expect_exit(*m);
}

// A binary of the libfuse 3.0 .. 3.11 era binds fuse_parse_cmdline@FUSE_3.0
// and fuse_session_loop_mt@FUSE_3.0 (the older layouts); both must resolve.
// (They are exported only if fuse3.map lists both names under FUSE_3.0:
// its `local: *` hides a .symver'd name@FUSE_3.0 it does not name.)
TEST(LowLevelExamples, OldAbiBinaryRunsOnOurs) {
  for (bool single : {false, true}) {
    std::vector<std::string> args = {"-f"};
    if (single) args.push_back("-s");
    auto m = start_on_ours(LL_TESTFS_OLDABI, args);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(read_file(m->path("hello")), "hello\n");
    EXPECT_EQ(read_file(m->path("late")), "late\n");
    unmount_and_expect_exit(*m);
  }
}
#endif

std::string counters(const MountedMemfs& m) { return read_file(m.path("counters")); }

class LowLevelTestFs : public ::testing::TestWithParam<std::vector<std::string>> {
 protected:
  void SetUp() override {
    const auto& p = GetParam();
    std::vector<std::string> args(p.begin() + 1, p.end());
    fs_ = start(p[0], args);
    ASSERT_NE(fs_, nullptr);
  }
  void TearDown() override {
    if (fs_ && HasFailure()) std::fprintf(stderr, "file system log:\n%s\n", fs_->log().c_str());
  }
  std::unique_ptr<MountedMemfs> fs_;
};

TEST_P(LowLevelTestFs, AnswersInTheHandler) {
  EXPECT_EQ(list_dir(fs_->dir()), (std::set<std::string>{"counters", "hello", "late", "slow", "trigger"}));
  EXPECT_EQ(read_file(fs_->path("hello")), "hello\n");
}

TEST_P(LowLevelTestFs, AnswersFromAnotherThreadAfterTheHandlerReturned) {
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(read_file(fs_->path("late")), "late\n");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
  // Several at once: each waits for its own thread.
  std::vector<std::thread> readers;
  std::atomic<int> good{0};
  for (int i = 0; i < 8; ++i) {
    readers.emplace_back([&] {
      if (read_file(fs_->path("late")) == "late\n") ++good;
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(good.load(), 8);
}

TEST_P(LowLevelTestFs, NotifyInvalEntryInsideTheHandlerCompletes) {
  // On libfuse this lookup deadlocks: the handler's notification waits for
  // the directory lock the kernel holds until the lookup is answered.
  for (int i = 0; i < 5; ++i) {
    struct stat st;
    ASSERT_EQ(stat(fs_->path("trigger").c_str(), &st), 0) << strerror(errno);
  }
  std::string c = counters(*fs_);
  EXPECT_EQ(c.substr(c.find("notified")), "notified 10\n") << c;
  EXPECT_EQ(read_file(fs_->path("hello")), "hello\n");
}

void on_sigusr1(int) {}

TEST_P(LowLevelTestFs, InterruptReachesTheInterruptFunction) {
  struct sigaction sa {};
  sa.sa_handler = on_sigusr1;  // no SA_RESTART: the read returns EINTR
  sigemptyset(&sa.sa_mask);
  struct sigaction old;
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  int fd = open(fs_->path("slow").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  std::atomic<bool> done{false};
  std::atomic<ssize_t> result{0};
  std::atomic<int> error{0};
  pthread_t reader_id{};
  std::atomic<bool> started{false};
  std::thread reader([&] {
    reader_id = pthread_self();
    started = true;
    char buf[16];
    ssize_t n = read(fd, buf, sizeof(buf));
    error = errno;
    result = n;
    done = true;
  });
  while (!started) std::this_thread::yield();
  // Let the read reach the file system, then signal until it returns.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int i = 0; i < 100 && !done; ++i) {
    pthread_kill(reader_id, SIGUSR1);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  reader.join();
  close(fd);
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(result.load(), -1);
  EXPECT_EQ(error.load(), EINTR);
  std::string c = counters(*fs_);
  EXPECT_NE(c.find("interrupts 1\n"), std::string::npos) << c;
}

TEST_P(LowLevelTestFs, EndsWhenUnmounted) {
  EXPECT_EQ(read_file(fs_->path("hello")), "hello\n");
  unmount_and_expect_exit(*fs_);
  // init() saw the kernel's offer and libfuse's default wants; destroy() ran once.
  std::string log = fs_->log();
  EXPECT_NE(log.find("ll_testfs: init proto 7."), std::string::npos) << log;
  EXPECT_NE(log.find("async_read capable/wanted"), std::string::npos) << log;
  size_t first = log.find("ll_testfs: destroy");
  EXPECT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("ll_testfs: destroy", first + 1), std::string::npos) << log;
}

TEST_P(LowLevelTestFs, EndsOnSigterm) {
  EXPECT_EQ(read_file(fs_->path("hello")), "hello\n");
  EXPECT_EQ(fs_->terminate(), 0) << fs_->log();
  EXPECT_FALSE(linfsp::testing::is_mounted(fs_->dir()));
}

struct Variant {
  const char* name;
  std::vector<std::string> command;
};
const Variant kVariants[] = {
    {"Api314Mt", {LL_TESTFS, "-f"}},                              // loop_mt, the 3.12 configuration
    {"Api314Single", {LL_TESTFS, "-f", "-s"}},                    // fuse_session_loop
    {"Api31Mt", {LL_TESTFS31, "-f"}},                             // loop_mt_31, parse_cmdline for 3.0
    {"Api314TwoThreads", {LL_TESTFS, "-f", "-o", "max_threads=2"}},
};
std::vector<std::string> command(const Variant& v) { return v.command; }
std::string variant_name(const ::testing::TestParamInfo<std::vector<std::string>>& info) {
  return kVariants[info.index].name;
}
INSTANTIATE_TEST_SUITE_P(Variants, LowLevelTestFs,
                         ::testing::Values(command(kVariants[0]), command(kVariants[1]), command(kVariants[2]),
                                           command(kVariants[3])),
                         variant_name);

TEST(LowLevelCommandLine, HelpAndVersion) {
  std::string out;
  EXPECT_EQ(linfsp::testing::run(std::string(LL_TESTFS) + " --help", &out), 0);
  EXPECT_NE(out.find("-o max_threads"), std::string::npos) << out;
  EXPECT_EQ(linfsp::testing::run(std::string(LL_TESTFS) + " -V", &out), 0);
  EXPECT_NE(out.find("FUSE library version 3.14"), std::string::npos) << out;
  // An unknown -o option is refused by fuse_session_new.
  TempDir dir;
  EXPECT_NE(linfsp::testing::run(std::string(LL_TESTFS) + " -f -o no_such_option " + dir.path() + " 2>&1", &out),
            0);
  EXPECT_NE(out.find("no_such_option"), std::string::npos) << out;
  EXPECT_FALSE(linfsp::testing::is_mounted(dir.path()));
}

TEST(LowLevelCommandLine, Daemonizes) {
  // Without -f the program forks after mounting; the child serves.
  TempDir dir;
  std::string out;
  ASSERT_EQ(linfsp::testing::run(std::string(LL_TESTFS) + " " + dir.path() + " 2>&1", &out), 0) << out;
  linfsp::testing::register_mount(dir.path());
  ASSERT_TRUE(linfsp::testing::is_mounted(dir.path()));
  EXPECT_EQ(read_file(dir.path() + "/hello"), "hello\n");
  EXPECT_EQ(read_file(dir.path() + "/late"), "late\n");
  std::string cmd = geteuid() == 0 ? "umount " : "fusermount3 -u ";
  EXPECT_EQ(linfsp::testing::run(cmd + dir.path(), &out), 0) << out;
  linfsp::testing::unregister_mount(dir.path());
  EXPECT_FALSE(linfsp::testing::is_mounted(dir.path()));
}

}  // namespace
