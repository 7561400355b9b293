// The life of a mount: clean exits on signals and outside unmounts, clear
// errors for bad command lines, the debug trace, and a crash that leaves a
// mount failing with ENOTCONN instead of hanging.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "mount_guard.h"

namespace linfsp::testing {
namespace {

std::unique_ptr<MountedMemfs> start_or_fail(const std::vector<std::string>& args = {}) {
  std::string error;
  auto fs = MountedMemfs::start(args, &error);
  EXPECT_TRUE(fs) << error;
  return fs;
}

TEST(Lifecycle, SigtermUnmountsAndExitsZero) {
  auto fs = start_or_fail();
  ASSERT_TRUE(fs);
  EXPECT_EQ(fs->terminate(), 0) << fs->log();
  EXPECT_FALSE(is_mounted(fs->dir()));
}

TEST(Lifecycle, SigintUnmountsAndExitsZero) {
  auto fs = start_or_fail();
  ASSERT_TRUE(fs);
  kill(fs->pid(), SIGINT);
  EXPECT_EQ(fs->wait_exit(std::chrono::seconds(20)), 0) << fs->log();
  EXPECT_FALSE(is_mounted(fs->dir()));
}

TEST(Lifecycle, UmountFromOutsideEndsTheProcessWithZero) {
  auto fs = start_or_fail();
  ASSERT_TRUE(fs);
  std::string out;
  ASSERT_EQ(run("umount " + fs->dir(), &out), 0) << out;
  EXPECT_EQ(fs->wait_exit(std::chrono::seconds(20)), 0) << fs->log();
  EXPECT_FALSE(is_mounted(fs->dir()));
}

TEST(Lifecycle, FusermountFromOutsideEndsTheProcessWithZero) {
  auto fs = start_or_fail();
  ASSERT_TRUE(fs);
  std::string out;
  ASSERT_EQ(run("fusermount3 -u " + fs->dir(), &out), 0) << out;
  EXPECT_EQ(fs->wait_exit(std::chrono::seconds(20)), 0) << fs->log();
  EXPECT_FALSE(is_mounted(fs->dir()));
}

TEST(Lifecycle, SigtermWhileBusyDetachesTheMount) {
  auto fs = start_or_fail();
  ASSERT_TRUE(fs);
  int fd = open(fs->path("held").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(fs->terminate(), 0) << fs->log();
  EXPECT_FALSE(is_mounted(fs->dir()));
  // The open file now belongs to a dead connection: it fails, it does not hang.
  errno = 0;
  EXPECT_EQ(fchmod(fd, 0600), -1);
  EXPECT_TRUE(errno == ENOTCONN || errno == EIO) << std::strerror(errno);
  close(fd);
}

TEST(Lifecycle, KilledFileSystemLeavesAMountThatFailsFast) {
  auto fs = start_or_fail();
  ASSERT_TRUE(fs);
  kill(fs->pid(), SIGKILL);
  fs->wait_exit(std::chrono::seconds(10));
  struct stat st;
  errno = 0;
  EXPECT_EQ(stat(fs->path("x").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOTCONN);
  // Starting again on the dead mount explains what to do.
  std::string out;
  EXPECT_NE(run(memfs_binary() + " " + fs->dir(), &out), 0);
  EXPECT_NE(out.find("dead FUSE mount"), std::string::npos) << out;
  // ~MountedMemfs unmounts lazily.
}

struct BadLine {
  std::string args;
  std::string message;
};

TEST(Lifecycle, BadCommandLinesFailWithOneLineAndMountNothing) {
  TempDir scratch;
  std::string empty_dir = scratch.path() + "/empty";
  std::string full_dir = scratch.path() + "/full";
  std::string file = scratch.path() + "/file";
  ASSERT_EQ(mkdir(empty_dir.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(full_dir.c_str(), 0755), 0);
  ASSERT_EQ(run("touch " + full_dir + "/x " + file), 0);
  std::vector<BadLine> cases = {
      {"", "missing mount point"},
      {scratch.path() + "/nonexistent", "does not exist"},
      {file, "is not a directory"},
      {full_dir, "is not empty"},
      {empty_dir + " --no-such-option", "unknown option --no-such-option"},
      {empty_dir + " -o no_such_mount_option", "unknown mount option 'no_such_mount_option'"},
      {empty_dir + " --max-nodes lots", "--max-nodes"},
      {empty_dir + " -t 0", "-t"},
      {empty_dir + " " + full_dir, "unexpected argument"},
  };
  for (const auto& c : cases) {
    std::string out;
    int rc = run(memfs_binary() + " " + c.args, &out);
    EXPECT_NE(rc, 0) << c.args;
    EXPECT_NE(out.find(c.message), std::string::npos) << c.args << " printed: " << out;
    EXPECT_EQ(out.rfind("memfs: ", 0), 0u) << out;
    EXPECT_FALSE(is_mounted(empty_dir));
    EXPECT_FALSE(is_mounted(full_dir));
  }
}

// The /proc/mounts line of `dir`, split into its fields; empty if not mounted.
std::vector<std::string> mounts_entry(const std::string& dir) {
  std::ifstream in("/proc/mounts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    if (f.size() >= 4 && f[1] == dir) return f;
  }
  return {};
}

bool has_word(const std::string& list, const std::string& word) {
  return ("," + list + ",").find("," + word + ",") != std::string::npos;
}

// mount(8)'s generic options reach mount(2), and an empty subtype gives the
// plain "fuse" type, as libfuse mounts without one.
TEST(Lifecycle, GenericMountOptionsAndEmptySubtype) {
  auto fs = start_or_fail({"-o", "noexec,nosuid,noatime,subtype=,x-systemd.automount,nofail"});
  ASSERT_TRUE(fs);
  std::vector<std::string> entry = mounts_entry(fs->dir());
  ASSERT_EQ(entry.size(), 6u) << fs->log();
  EXPECT_EQ(entry[0], "memfs");
  EXPECT_EQ(entry[2], "fuse");
  for (const char* word : {"rw", "noexec", "nosuid", "nodev", "noatime"}) {
    EXPECT_TRUE(has_word(entry[3], word)) << word << " missing from " << entry[3];
  }
  EXPECT_EQ(fs->terminate(), 0) << fs->log();
}

TEST(Lifecycle, DefaultMountIsNosuidNodevWithSubtype) {
  auto fs = start_or_fail();
  ASSERT_TRUE(fs);
  std::vector<std::string> entry = mounts_entry(fs->dir());
  ASSERT_EQ(entry.size(), 6u) << fs->log();
  EXPECT_EQ(entry[2], "fuse.memfs");
  EXPECT_TRUE(has_word(entry[3], "nosuid") && has_word(entry[3], "nodev")) << entry[3];
  EXPECT_FALSE(has_word(entry[3], "noexec")) << entry[3];
  EXPECT_EQ(fs->terminate(), 0) << fs->log();
  // Run as root, the hint says umount (the log is complete once it exited).
  EXPECT_NE(fs->log().find("(unmount with: umount " + fs->dir()), std::string::npos) << fs->log();
}

// A privileged mount honours -o suid,dev (fusermount3 would ignore them).
TEST(Lifecycle, SuidAndDevClearTheDefaultsWhenPrivileged) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  auto fs = start_or_fail({"-o", "suid,dev"});
  ASSERT_TRUE(fs);
  std::vector<std::string> entry = mounts_entry(fs->dir());
  ASSERT_EQ(entry.size(), 6u) << fs->log();
  EXPECT_FALSE(has_word(entry[3], "nosuid")) << entry[3];
  EXPECT_FALSE(has_word(entry[3], "nodev")) << entry[3];
  EXPECT_EQ(fs->terminate(), 0) << fs->log();
}

TEST(Lifecycle, VersionPrintsTheVersionAndExitsZero) {
  std::string out;
  EXPECT_EQ(run(memfs_binary() + " --version", &out), 0) << out;
  EXPECT_EQ(out, std::string("memfs (LinFsp) ") + LINFSP_TEST_VERSION + "\n");
  // --help and --version need no mount point and mount nothing.
  EXPECT_EQ(run(memfs_binary() + " --help", &out), 0) << out;
  EXPECT_NE(out.find("--version"), std::string::npos) << out;
  EXPECT_NE(out.find("-o max_nodes=N"), std::string::npos) << out;
}

TEST(Lifecycle, DebugTraceShowsEachRequest) {
  auto fs = start_or_fail({"-d"});
  ASSERT_TRUE(fs);
  int fd = open(fs->path("traced").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "x", 1), 1);
  close(fd);
  EXPECT_EQ(fs->terminate(), 0);
  std::string log = fs->log();
  EXPECT_NE(log.find("FUSE protocol 7."), std::string::npos) << log;
  EXPECT_NE(log.find("CREATE node=1 path=/traced"), std::string::npos) << log;
  EXPECT_NE(log.find("WRITE node="), std::string::npos) << log;
  EXPECT_NE(log.find("RELEASE"), std::string::npos) << log;
  EXPECT_NE(log.find(" us)"), std::string::npos) << "each line carries a duration";
}

}  // namespace
}  // namespace linfsp::testing

namespace linfsp::testing {
namespace {

// True once `pid` sleeps inside pwrite64 (syscall 18 on x86-64).
bool waits_in_pwrite(pid_t pid) {
  std::string out;
  run("cat /proc/" + std::to_string(pid) + "/syscall", &out);
  return out.rfind("18 ", 0) == 0;
}

TEST(Lifecycle, InterruptEndsASlowRequestWithEintr) {
  auto fs = start_or_fail({"--slow-io", "60000", "-d"});
  ASSERT_TRUE(fs);
  int fd = open(fs->path("slow").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  pid_t child = fork();
  if (child == 0) {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigaction(SIGUSR1, &sa, nullptr);  // no SA_RESTART: the read must end
    // A write-through write is a synchronous request, which the kernel
    // interrupts (reads go through readahead, which it does not).
    ssize_t n = pwrite(fd, "x", 1, 0);
    _exit(n == -1 && errno == EINTR ? 0 : 1);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!waits_in_pwrite(child) && std::chrono::steady_clock::now() < deadline) usleep(10000);
  ASSERT_TRUE(waits_in_pwrite(child)) << "the reader never blocked in the file system";
  kill(child, SIGUSR1);
  int status = -1;
  for (int i = 0; i < 2000 && waitpid(child, &status, WNOHANG) == 0; ++i) usleep(10000);
  if (!WIFEXITED(status)) kill(child, SIGKILL), waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the slow write did not end with EINTR when its caller got a signal";
  close(fd);
  EXPECT_EQ(fs->terminate(), 0);
  EXPECT_NE(fs->log().find("INTERRUPT"), std::string::npos);
  EXPECT_NE(fs->log().find("-> EINTR"), std::string::npos) << fs->log();
}

}  // namespace
}  // namespace linfsp::testing
