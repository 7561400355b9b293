// fsp-launcherd end to end: a daemon on a private socket and class
// directory, memfs instances started through fsp-launchctl, mount.fsp and
// mount -t fsp, a made-up unprivileged user (uid 64000), protocol abuse,
// deaths, restarts, shutdown and secrets. Every mount is registered with the
// watchdog; teardown stops the daemon and detaches whatever is left.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "mount_guard.h"
#include "protocol.h"

namespace linfsp::launcher {
namespace {

using namespace std::chrono_literals;
using linfsp::testing::TempDir;

constexpr uid_t kStranger = 64000;  // a user the test makes up

struct ToolResult {
  int code = -1;
  std::string out, err;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs argv (no shell), as `uid` (with gid = uid, no supplementary groups)
// when uid != 0, with `input` on stdin and `env` added; killed after 60 s.
ToolResult run_tool(const std::vector<std::string>& argv, uid_t uid = 0, const std::string& input = "",
                    const std::vector<std::string>& env = {}) {
  TempDir scratch;
  std::string out_path = scratch.path() + "/out", err_path = scratch.path() + "/err";
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in[0], 0);
    dup2(o, 1);
    dup2(e, 2);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (uid != 0 && (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0)) _exit(126);
    for (const std::string& kv : env) putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  ssize_t ignored = write(in[1], input.data(), input.size());
  (void)ignored;
  close(in[1]);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  ToolResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  return r;
}

// "key: value" lines (fsp-launchctl info) to a value.
std::string field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ": ", 0) == 0) return line.substr(key.size() + 2);
  }
  return "";
}

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return cond();
}

bool alive(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

class LauncherDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    chmod(root_.path().c_str(), 0755);  // the stranger must reach its own directory
    classes_ = root_.path() + "/classes";
    mkdir(classes_.c_str(), 0755);
    socket_ = root_.path() + "/launcher.sock";
    log_ = root_.path() + "/daemon.log";
    write_class("memfs", memfs_class("allow_users = [\"*\"]\nrestart = \"on-failure\"\nrestart_limit = 2\n"
                                     "restart_delay = 0.2\n"));
    write_class("memfs-once", memfs_class("allow_users = [\"*\"]\nrestart = \"never\"\n"));
    write_class("rootonly", memfs_class(""));
  }

  void TearDown() override {
    stop_daemon();
    for (const std::string& dir : mounts_) {
      if (linfsp::testing::is_mounted(dir)) {
        ADD_FAILURE() << dir << " is still mounted after the daemon stopped";
        linfsp::testing::abort_fuse_connection(dir);
        umount2(dir.c_str(), MNT_DETACH);
      }
      linfsp::testing::unregister_mount(dir);
    }
    for (pid_t pid : instance_pids_) {
      if (alive(pid)) {
        ADD_FAILURE() << "instance " << pid << " outlived the daemon";
        kill(pid, SIGKILL);
      }
    }
  }

  static std::string memfs_class(const std::string& extra) {
    return "executable = \"" + linfsp::testing::memfs_binary() +
           "\"\n"
           "arguments = [\"%mountpoint\", \"--ready-fd\", \"%readyfd\", \"-o\", \"fsname=memfs:%name\", "
           "[\"-o\", \"%options\"], \"%args\"]\n"
           "start_timeout = 20\n" +
           (extra.find("stop_timeout") == std::string::npos ? "stop_timeout = 5\n" : "") + extra;
  }
  void write_class(const std::string& name, const std::string& text) {
    std::ofstream(classes_ + "/" + name + ".toml") << text;
  }

  // Starts the daemon and waits for its READY=1 on a NOTIFY_SOCKET of ours.
  void start_daemon() {
    std::string notify = root_.path() + "/notify.sock";
    int nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", notify.c_str());
    ASSERT_EQ(bind(nfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    daemon_ = fork();
    if (daemon_ == 0) {
      int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // the watchdog's _exit stops the daemon, which stops its instances
      setenv("NOTIFY_SOCKET", notify.c_str(), 1);
      execl(LINFSP_LAUNCHERD, LINFSP_LAUNCHERD, "--socket", socket_.c_str(), "--classes", classes_.c_str(),
            "--client-timeout", "1", "--fstab", (root_.path() + "/fstab").c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    pollfd p{nfd, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 10000), 1) << "no READY=1 from the daemon; log:\n" << read_file(log_);
    char buf[64] = {};
    ASSERT_GT(recv(nfd, buf, sizeof(buf) - 1, 0), 0);
    EXPECT_STREQ(buf, "READY=1");
    close(nfd);
  }

  // SIGTERM, then waits (the daemon stops its instances first); the exit code.
  int stop_daemon() {
    if (daemon_ <= 0) return -1;
    kill(daemon_, SIGTERM);
    int status = 0;
    bool ended = eventually([&] { return waitpid(daemon_, &status, WNOHANG) == daemon_; }, 30s);
    if (!ended) {
      ADD_FAILURE() << "the daemon did not stop within 30 s";
      kill(daemon_, SIGKILL);
      waitpid(daemon_, &status, 0);
    }
    daemon_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // A fresh directory to mount on, owned by `owner`, registered for cleanup.
  std::string mount_dir(const std::string& name, uid_t owner = 0, mode_t mode = 0755) {
    std::string dir = root_.path() + "/" + name;
    mkdir(dir.c_str(), mode);
    chmod(dir.c_str(), mode);
    if (chown(dir.c_str(), owner, owner) != 0) ADD_FAILURE() << "chown " << dir;
    mounts_.push_back(dir);
    linfsp::testing::register_mount(dir);
    return dir;
  }

  ToolResult ctl(std::vector<std::string> args, uid_t uid = 0, const std::string& input = "") {
    args.insert(args.begin(), {LINFSP_LAUNCHCTL, "--socket", socket_});
    ToolResult r = run_tool(args, uid, input);
    if (args[3] == "start" || args[3] == "start-secret") {
      // Remember the instance's pid for teardown.
      ToolResult info = run_tool({LINFSP_LAUNCHCTL, "--socket", socket_, "info", args[args[4] == "-o" ? 6 : 4],
                                  args[args[4] == "-o" ? 7 : 5]});
      if (pid_t pid = std::atoi(field(info.out, "pid").c_str()); pid > 0) instance_pids_.push_back(pid);
    }
    return r;
  }
  std::string info(const std::string& cls, const std::string& name, const std::string& key) {
    return field(ctl({"info", cls, name}).out, key);
  }

  // Sends raw bytes on a fresh connection; returns the reply (or "" on EOF/timeout).
  std::string raw_exchange(const std::string& bytes, int wait_ms = 3000) {
    int fd = connect_raw();
    if (fd < 0) return "connect failed";
    if (!bytes.empty()) {
      ssize_t ignored = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      (void)ignored;
    }
    std::string reply = read_reply(fd, wait_ms);
    close(fd);
    return reply;
  }
  int connect_raw() {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_.c_str());
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }
  static std::string read_reply(int fd, int wait_ms) {
    std::string in;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) return "(no answer)";
      char buf[4096];
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return in.size() > 4 ? in.substr(4) : "(closed)";
      in.append(buf, static_cast<size_t>(n));
      if (in.size() >= 4 && in.size() >= 4 + frame_length(in.data())) return in.substr(4);
    }
  }

  TempDir root_;
  std::string classes_, socket_, log_;
  pid_t daemon_ = -1;
  std::vector<std::string> mounts_;
  std::vector<pid_t> instance_pids_;
};

TEST_F(LauncherDaemon, StartUseListStop) {
  start_daemon();
  std::string dir = mount_dir("x");
  auto start = std::chrono::steady_clock::now();
  ToolResult r = ctl({"start", "memfs", "test", dir});
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.code, 0) << r.err << read_file(log_);
  EXPECT_NE(r.out.find("started memfs/test"), std::string::npos) << r.out;
  // Ready means usable: no waiting for the mount after start returns.
  ASSERT_TRUE(linfsp::testing::is_mounted(dir));
  std::ofstream(dir + "/hello.txt") << "hello launcher\n";
  EXPECT_EQ(read_file(dir + "/hello.txt"), "hello launcher\n");
  std::printf("start took %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));

  ToolResult list = ctl({"list"});
  EXPECT_EQ(list.code, 0);
  EXPECT_NE(list.out.find("memfs"), std::string::npos);
  EXPECT_NE(list.out.find(dir), std::string::npos);
  ToolResult json = ctl({"--json", "list"});
  EXPECT_NE(json.out.find("\"instance\": \"test\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"state\": \"running\""), std::string::npos) << json.out;
  EXPECT_EQ(info("memfs", "test", "mountpoint"), dir);
  EXPECT_EQ(info("memfs", "test", "uid"), "0");
  EXPECT_EQ(info("memfs", "test", "restarts"), "0");
  pid_t pid = std::atoi(info("memfs", "test", "pid").c_str());
  EXPECT_TRUE(alive(pid));

  // A second instance of the same name, or on the same directory: refused.
  std::string other = mount_dir("y");
  EXPECT_EQ(ctl({"start", "memfs", "test", other}).code, 6);
  r = ctl({"start", "memfs", "test2", dir});
  EXPECT_EQ(r.code, 6) << r.err;

  r = ctl({"stop", "memfs", "test"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(linfsp::testing::is_mounted(dir));
  EXPECT_TRUE(eventually([&] { return !alive(pid); }));
  EXPECT_EQ(ctl({"info", "memfs", "test"}).code, 5);
  EXPECT_EQ(ctl({"stop", "memfs", "test"}).code, 5);
  EXPECT_EQ(ctl({"start", "nosuchclass", "a", dir}).code, 5);
  EXPECT_EQ(ctl({"bogus"}).code, 2);
}

TEST_F(LauncherDaemon, FailedStartReturnsTheInstancesErrorLine) {
  start_daemon();
  std::string dir = mount_dir("x");
  ToolResult r = ctl({"start", "memfs", "bad", dir, "--no-such-option"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--no-such-option"), std::string::npos) << r.err;  // memfs's own words
  EXPECT_EQ(ctl({"info", "memfs", "bad"}).code, 5);
  r = ctl({"start", "memfs", "bad/name", dir});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("may not contain '/'"), std::string::npos) << r.err;
  r = ctl({"start", "memfs", "x", root_.path() + "/missing"});
  EXPECT_EQ(r.code, 5) << r.err;
}

// mount.fsp as mount(8) calls it, with the fstab options it must accept; an
// unmount stops the instance.
TEST_F(LauncherDaemon, MountHelperAndUnmount) {
  start_daemon();
  std::string dir = mount_dir("m");
  ToolResult r = run_tool(
      {LINFSP_MOUNT_FSP, "memfs:viahelper", dir, "-o", "noauto,user,nofail,_netdev,x-systemd.automount,noatime"}, 0, "",
      {"LINFSP_LAUNCHER_SOCKET=" + socket_});
  ASSERT_EQ(r.code, 0) << r.err << read_file(log_);
  ASSERT_TRUE(linfsp::testing::is_mounted(dir));
  std::ofstream(dir + "/f") << "via mount.fsp";
  EXPECT_EQ(read_file(dir + "/f"), "via mount.fsp");
  pid_t pid = std::atoi(info("memfs", "viahelper", "pid").c_str());
  instance_pids_.push_back(pid);
  EXPECT_NE(read_file("/proc/" + std::to_string(pid) + "/cmdline").find(std::string("noatime")), std::string::npos);
  ASSERT_EQ(umount2(dir.c_str(), 0), 0) << std::strerror(errno);
  EXPECT_TRUE(eventually([&] { return ctl({"info", "memfs", "viahelper"}).code == 5; }));
  EXPECT_TRUE(eventually([&] { return !alive(pid); }));
  EXPECT_NE(read_file(log_).find("was unmounted"), std::string::npos);
  r = run_tool({LINFSP_MOUNT_FSP, "nocolon", dir}, 0, "", {"LINFSP_LAUNCHER_SOCKET=" + socket_});
  EXPECT_EQ(r.code, 1);
}

// The real `mount -t fsp`: mount(8) looks for /sbin/mount.fsp. When none is
// installed, a symlink to the built helper exists only while mount runs.
TEST_F(LauncherDaemon, RealMountCommand) {
  const char* kHelper = "/sbin/mount.fsp";
  struct stat st {};
  if (lstat(kHelper, &st) == 0) GTEST_SKIP() << kHelper << " exists; not replacing it";
  start_daemon();
  std::string dir = mount_dir("real");
  if (symlink(LINFSP_MOUNT_FSP, kHelper) != 0) {
    if (errno == EEXIST) GTEST_SKIP() << kHelper << " appeared meanwhile (another test run?)";
    FAIL() << "symlink " << kHelper << ": " << std::strerror(errno);
  }
  ToolResult r = run_tool({"mount", "-t", "fsp", "memfs:real", dir}, 0, "", {"LINFSP_LAUNCHER_SOCKET=" + socket_});
  unlink(kHelper);
  ASSERT_EQ(r.code, 0) << r.err << read_file(log_);
  ASSERT_TRUE(linfsp::testing::is_mounted(dir));
  std::ofstream(dir + "/f") << "via mount -t fsp";
  EXPECT_EQ(read_file(dir + "/f"), "via mount -t fsp");
  instance_pids_.push_back(std::atoi(info("memfs", "real", "pid").c_str()));
  EXPECT_NE(read_file("/proc/self/mountinfo").find("memfs:real"), std::string::npos);
  r = run_tool({"umount", dir});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(eventually([&] { return ctl({"info", "memfs", "real"}).code == 5; }));
}

TEST_F(LauncherDaemon, UnprivilegedUserIsConfined) {
  start_daemon();
  std::string root_dir = mount_dir("root-owned");
  ASSERT_EQ(ctl({"start", "memfs", "roots", root_dir}).code, 0);
  ASSERT_EQ(ctl({"start", "rootonly", "private", mount_dir("private")}).code, 0);

  std::string own = mount_dir("stranger", kStranger, 0755);
  // A class that does not allow it.
  ToolResult r = ctl({"start", "rootonly", "mine", own}, kStranger);
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_NE(r.err.find("may not use class 'rootonly'"), std::string::npos) << r.err;
  // Another user's instance.
  r = ctl({"stop", "memfs", "roots"}, kStranger);
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_TRUE(linfsp::testing::is_mounted(root_dir));
  // A directory it may not write.
  std::string theirs = mount_dir("not-writable");
  r = ctl({"start", "memfs", "over", theirs}, kStranger);
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_FALSE(linfsp::testing::is_mounted(theirs));
  // Through a symlink to it, too.
  std::string link = own + "/link";
  ASSERT_EQ(symlink(theirs.c_str(), link.c_str()), 0);
  EXPECT_EQ(ctl({"start", "memfs", "over", link}, kStranger).code, 4);
  // Not even info on a class it may not use; list hides it.
  EXPECT_EQ(ctl({"info", "rootonly", "private"}, kStranger).code, 4);
  r = ctl({"list"}, kStranger);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("roots"), std::string::npos);
  EXPECT_EQ(r.out.find("private"), std::string::npos) << r.out;

  EXPECT_EQ(ctl({"stop", "memfs", "roots"}).code, 0);  // root may stop anyone's instance
}

// A class that runs its instances as a fixed user (root here): the stranger
// may start one on its own directory, and stop it, though it runs as root.
TEST_F(LauncherDaemon, FixedUserClassForAStranger) {
  write_class("asroot", memfs_class("allow_users = [64000]\nrun_as = \"root\"\n"));
  start_daemon();
  std::string own = mount_dir("stranger", kStranger, 0755);
  ToolResult r = ctl({"start", "asroot", "shared", own}, kStranger);
  ASSERT_EQ(r.code, 0) << r.err << read_file(log_);
  EXPECT_EQ(info("asroot", "shared", "uid"), "0");
  EXPECT_EQ(info("asroot", "shared", "owner"), std::to_string(kStranger));
  std::ofstream(own + "/f") << "x";
  EXPECT_EQ(read_file(own + "/f"), "x");
  // Another stranger is not on the list.
  EXPECT_EQ(ctl({"stop", "asroot", "shared"}, kStranger + 1).code, 4);
  EXPECT_EQ(ctl({"stop", "asroot", "shared"}, kStranger).code, 0);
  EXPECT_FALSE(linfsp::testing::is_mounted(own));

  // A directory it may not write, unless /etc/fstab has this very mount as a
  // `user` mount; through mount.fsp, as mount(8) would run it.
  std::string shared = mount_dir("shared");
  std::vector<std::string> mount = {LINFSP_MOUNT_FSP, "asroot:team", shared, "-o", "noauto,user"};
  std::vector<std::string> env = {"LINFSP_LAUNCHER_SOCKET=" + socket_};
  r = run_tool(mount, kStranger, "", env);
  EXPECT_EQ(r.code, 1) << r.err;  // mount(8)'s "permission" code
  std::ofstream(root_.path() + "/fstab") << "memfs:other " << shared << " fsp noauto,user 0 0\n"
                                         << "asroot:team " << shared << " fsp noauto 0 0\n";
  EXPECT_EQ(run_tool(mount, kStranger, "", env).code, 1);  // wrong spec; not a user mount
  std::ofstream(root_.path() + "/fstab", std::ios::app) << "asroot:team " << shared << " fsp noauto,user 0 0\n";
  r = run_tool(mount, kStranger, "", env);
  ASSERT_EQ(r.code, 0) << r.err << read_file(log_);
  EXPECT_TRUE(linfsp::testing::is_mounted(shared));
  EXPECT_EQ(ctl({"stop", "asroot", "team"}, kStranger).code, 0);
}

// An instance that runs as the stranger itself mounts through fusermount3,
// which needs /dev/fuse open to every user (Debian's default, 0666) and a
// name for the user (fusermount3 asks the password database). Where either
// is missing, e.g. in a container, run it in a private mount namespace:
//   unshare -m --propagation private sh -c 'mknod D/fuse c 10 229; chmod 666 D/fuse;
//     mount --bind D/fuse /dev/fuse; (cat /etc/passwd; echo "stranger:x:64000:64000::/:/bin/false") >D/passwd;
//     mount --bind D/passwd /etc/passwd; launcher_tests --gtest_filter=*Stranger*'
TEST_F(LauncherDaemon, StrangerRunsItsOwnInstance) {
  if (run_tool({"test", "-r", "/dev/fuse", "-a", "-w", "/dev/fuse"}, kStranger).code != 0) {
    GTEST_SKIP() << "/dev/fuse is not open to unprivileged users on this machine";
  }
  if (getpwuid(kStranger) == nullptr) GTEST_SKIP() << "uid " << kStranger << " has no name, which fusermount3 needs";
  start_daemon();
  std::string own = mount_dir("stranger", kStranger, 0755);
  ToolResult r = ctl({"start", "memfs-once", "mine", own}, kStranger);
  ASSERT_EQ(r.code, 0) << r.err << read_file(log_);
  EXPECT_EQ(info("memfs-once", "mine", "uid"), std::to_string(kStranger));
  pid_t pid = std::atoi(info("memfs-once", "mine", "pid").c_str());
  struct stat st {};
  ASSERT_EQ(stat(("/proc/" + std::to_string(pid)).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kStranger);
  EXPECT_TRUE(linfsp::testing::is_mounted(own));
  EXPECT_EQ(ctl({"stop", "memfs-once", "mine"}, kStranger).code, 0);
  EXPECT_FALSE(linfsp::testing::is_mounted(own));
}

TEST_F(LauncherDaemon, BadClientsGetAnErrorAndOthersAreServed) {
  start_daemon();
  Message list;
  list.add("op", "list");
  // Malformed: a body that is not the protocol.
  std::string junk = "garbage!";
  std::string framed = std::string("\0\0\0\x08", 4) + junk;
  std::string reply = raw_exchange(framed);
  EXPECT_NE(reply.find("status=error"), std::string::npos) << reply;
  EXPECT_NE(reply.find("errno=" + std::to_string(EPROTO)), std::string::npos) << reply;
  // Oversized: refused from its length alone.
  reply = raw_exchange(std::string("\x00\x10\x00\x00", 4) + std::string(1000, 'x'));
  EXPECT_NE(reply.find("errno=" + std::to_string(EMSGSIZE)), std::string::npos) << reply;
  // Unknown op, and a future protocol version.
  Message bogus;
  bogus.add("op", "reboot");
  EXPECT_NE(raw_exchange(bogus.frame()).find("errno=" + std::to_string(EOPNOTSUPP)), std::string::npos);
  std::string v2 = "fsp-launcher 2\nop=list\n";
  reply = raw_exchange(std::string("\0\0\0", 3) + static_cast<char>(v2.size()) + v2);
  EXPECT_NE(reply.find("errno=" + std::to_string(EPROTONOSUPPORT)), std::string::npos) << reply;

  // A silent client and one that stops halfway hold nothing up.
  int silent = connect_raw();
  int half = connect_raw();
  ASSERT_GE(silent, 0);
  ASSERT_GE(half, 0);
  std::string partial = list.frame().substr(0, 10);
  ASSERT_EQ(send(half, partial.data(), partial.size(), MSG_NOSIGNAL), static_cast<ssize_t>(partial.size()));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ctl({"list"}).code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 900ms);  // less than the 1 s client timeout
  // Both are timed out (1 s here) with an error, then closed.
  for (int fd : {silent, half}) {
    std::string r = read_reply(fd, 5000);
    EXPECT_NE(r.find("errno=" + std::to_string(ETIMEDOUT)), std::string::npos) << r;
    close(fd);
  }
  EXPECT_EQ(ctl({"list"}).code, 0);
  EXPECT_NE(read_file(log_).find("no request within the time limit"), std::string::npos);
}

TEST_F(LauncherDaemon, KilledInstanceIsCleanedUpAndRestarted) {
  start_daemon();
  std::string dir = mount_dir("k");
  ASSERT_EQ(ctl({"start", "memfs", "phoenix", dir}).code, 0);
  pid_t first = std::atoi(info("memfs", "phoenix", "pid").c_str());
  ASSERT_EQ(kill(first, SIGKILL), 0);
  // restart = "on-failure": a new process serves a new mount.
  ASSERT_TRUE(eventually([&] {
    return info("memfs", "phoenix", "restarts") == "1" && info("memfs", "phoenix", "state") == "running";
  })) << read_file(log_);
  pid_t second = std::atoi(info("memfs", "phoenix", "pid").c_str());
  instance_pids_.push_back(second);
  EXPECT_NE(second, first);
  EXPECT_FALSE(alive(first));
  std::ofstream(dir + "/again") << "second life";
  EXPECT_EQ(read_file(dir + "/again"), "second life");
  std::string log = read_file(log_);
  EXPECT_NE(log.find("phoenix: unmounted " + dir), std::string::npos) << log;
  // The restart limit (2) is honoured.
  ASSERT_EQ(kill(second, SIGKILL), 0);
  ASSERT_TRUE(eventually(
      [&] { return info("memfs", "phoenix", "restarts") == "2" && info("memfs", "phoenix", "state") == "running"; }));
  pid_t third = std::atoi(info("memfs", "phoenix", "pid").c_str());
  instance_pids_.push_back(third);
  ASSERT_EQ(kill(third, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] { return ctl({"info", "memfs", "phoenix"}).code == 5; }));
  EXPECT_FALSE(linfsp::testing::is_mounted(dir));
  EXPECT_NE(read_file(log_).find("restart limit reached"), std::string::npos);

  // restart = "never": gone, and its mount with it.
  std::string dir2 = mount_dir("k2");
  ASSERT_EQ(ctl({"start", "memfs-once", "mortal", dir2}).code, 0);
  pid_t pid = std::atoi(info("memfs-once", "mortal", "pid").c_str());
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] { return ctl({"info", "memfs-once", "mortal"}).code == 5; }));
  EXPECT_FALSE(linfsp::testing::is_mounted(dir2));
  struct stat st {};
  EXPECT_EQ(stat(dir2.c_str(), &st), 0) << "the mount point works again: " << std::strerror(errno);
}

TEST_F(LauncherDaemon, StoppingTheDaemonStopsItsInstances) {
  start_daemon();
  std::vector<std::string> dirs = {mount_dir("a"), mount_dir("b")};
  std::vector<pid_t> pids;
  for (size_t i = 0; i < dirs.size(); ++i) {
    std::string name = "i" + std::to_string(i);
    ASSERT_EQ(ctl({"start", "memfs", name, dirs[i]}).code, 0);
    pids.push_back(std::atoi(info("memfs", name, "pid").c_str()));
  }
  EXPECT_EQ(stop_daemon(), 0);
  for (const std::string& d : dirs) EXPECT_FALSE(linfsp::testing::is_mounted(d)) << d;
  for (pid_t p : pids) EXPECT_FALSE(alive(p)) << p;
  struct stat st {};
  EXPECT_NE(stat(socket_.c_str(), &st), 0) << "the socket is removed";
}

TEST_F(LauncherDaemon, SecretReachesOnlyTheInstance) {
  std::string record = root_.path() + "/secret.out";
  write_class("secretfs",
              "executable = \"/bin/sh\"\n"
              "arguments = [\"" LINFSP_LAUNCHER_TEST_DIR "/secret_fs.sh\", \"" +
                  record + "\", \"" + linfsp::testing::memfs_binary() +
                  "\", \"%mountpoint\", \"%readyfd\"]\n"
                  "secret = true\nallow_users = [\"*\"]\n");
  start_daemon();
  std::string dir = mount_dir("s");
  const std::string secret = "correct horse battery staple 93f1";
  // Without a secret, refused; with one, on stdin (not a terminal here).
  EXPECT_EQ(ctl({"start", "secretfs", "vault", dir}).code, 1);
  ToolResult r = ctl({"start-secret", "secretfs", "vault", dir}, 0, secret + "\n");
  ASSERT_EQ(r.code, 0) << r.err << read_file(log_);
  EXPECT_EQ(read_file(record), secret);
  EXPECT_TRUE(linfsp::testing::is_mounted(dir));
  pid_t pid = std::atoi(info("secretfs", "vault", "pid").c_str());
  for (const std::string& where :
       {"/proc/" + std::to_string(pid) + "/cmdline", "/proc/" + std::to_string(pid) + "/environ",
        "/proc/" + std::to_string(daemon_) + "/cmdline", "/proc/" + std::to_string(daemon_) + "/environ", log_}) {
    std::string text = read_file(where);
    EXPECT_FALSE(text.empty()) << where;
    EXPECT_EQ(text.find(secret), std::string::npos) << "the secret is in " << where;
  }
  EXPECT_EQ(r.out.find(secret), std::string::npos);
  EXPECT_EQ(r.err.find(secret), std::string::npos);
  // A class without a secret refuses one.
  EXPECT_EQ(ctl({"start-secret", "memfs", "nosecret", mount_dir("n")}, 0, "x\n").code, 1);
  EXPECT_EQ(ctl({"stop", "secretfs", "vault"}).code, 0);
}

// ready = "mount": a program that knows no --ready-fd is ready when its
// FUSE mount appears.
TEST_F(LauncherDaemon, ReadyWhenTheMountAppears) {
  write_class("plain", "executable = \"" + linfsp::testing::memfs_binary() +
                           "\"\narguments = [\"%mountpoint\"]\nready = \"mount\"\n");
  start_daemon();
  std::string dir = mount_dir("p");
  ToolResult r = ctl({"start", "plain", "p", dir});
  ASSERT_EQ(r.code, 0) << r.err << read_file(log_);
  EXPECT_TRUE(linfsp::testing::is_mounted(dir));
  EXPECT_EQ(ctl({"stop", "plain", "p"}).code, 0);
  EXPECT_FALSE(linfsp::testing::is_mounted(dir));
}

// An instance that never gets ready is killed after start_timeout; one that
// does not end on SIGTERM is killed after stop_timeout, and its mount detached.
TEST_F(LauncherDaemon, StartAndStopTimeouts) {
  write_class("sleeper",
              "executable = \"/bin/sleep\"\narguments = [\"60\"]\nready = \"mount\"\n"
              "start_timeout = 1.5\n");
  write_class("stubborn", memfs_class("stop_timeout = 0.5\n"));
  start_daemon();
  std::string dir = mount_dir("t");
  auto t0 = std::chrono::steady_clock::now();
  // While one start waits for its instance, the daemon answers others.
  ToolResult r;
  std::thread slow([&] { r = ctl({"start", "sleeper", "z", dir}); });
  EXPECT_TRUE(eventually([&] { return info("sleeper", "z", "state") == "starting"; }, 2s));
  auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(ctl({"list"}).code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 400ms);
  slow.join();
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not ready within the start timeout"), std::string::npos) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(ctl({"info", "sleeper", "z"}).code, 5);

  // A stopped process cannot act on SIGTERM (nor answer requests).
  ASSERT_EQ(ctl({"start", "stubborn", "s", dir}).code, 0) << read_file(log_);
  pid_t pid = std::atoi(info("stubborn", "s", "pid").c_str());
  ASSERT_TRUE(linfsp::testing::is_mounted(dir));
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  EXPECT_EQ(ctl({"stop", "stubborn", "s"}).code, 0);
  EXPECT_FALSE(alive(pid));
  EXPECT_FALSE(linfsp::testing::is_mounted(dir));
  std::string log = read_file(log_);
  EXPECT_NE(log.find("after SIGTERM: SIGKILL"), std::string::npos) << log;
  EXPECT_NE(log.find("stubborn/s: unmounted"), std::string::npos) << log;
}

// fsp-launcherd --check: every class file's error, with file, line and key.
TEST_F(LauncherDaemon, CheckReportsEveryClassError) {
  ToolResult ok = run_tool({LINFSP_LAUNCHERD, "--classes", classes_, "--check"});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("memfs: ok"), std::string::npos) << ok.out;
  write_class("typo", memfs_class("allow_user = [\"*\"]\n"));
  ToolResult bad = run_tool({LINFSP_LAUNCHERD, "--classes", classes_, "--check"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find(classes_ + "/typo.toml:5: allow_user: unknown key"), std::string::npos) << bad.err;
  // The daemon serves the good classes and names the bad one in its log.
  start_daemon();
  EXPECT_NE(read_file(log_).find("typo.toml:5: allow_user"), std::string::npos);
  ToolResult r = ctl({"start", "typo", "t", mount_dir("t")});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("typo.toml:5: allow_user: unknown key"), std::string::npos) << r.err;
}

// The host's side of readiness without the launcher: a LinFsp program sends
// READY=1 to $NOTIFY_SOCKET once its mount answers (systemd's Type=notify).
TEST(HostReadiness, NotifySocketGetsReadyWhenMounted) {
  TempDir dir;
  std::string mnt = dir.path() + "/mnt", notify = dir.path() + "/notify.sock";
  mkdir(mnt.c_str(), 0755);
  linfsp::testing::register_mount(mnt);
  int nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", notify.c_str());
  ASSERT_EQ(bind(nfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setenv("NOTIFY_SOCKET", notify.c_str(), 1);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    execl(linfsp::testing::memfs_binary().c_str(), "memfs", mnt.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  pollfd p{nfd, POLLIN, 0};
  bool got = poll(&p, 1, 10000) == 1;
  char buf[64] = {};
  if (got) got = recv(nfd, buf, sizeof(buf) - 1, 0) > 0;
  bool mounted = linfsp::testing::is_mounted(mnt);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  if (linfsp::testing::is_mounted(mnt)) umount2(mnt.c_str(), MNT_DETACH);
  linfsp::testing::unregister_mount(mnt);
  close(nfd);
  ASSERT_TRUE(got);
  EXPECT_STREQ(buf, "READY=1");
  EXPECT_TRUE(mounted);
}

}  // namespace
}  // namespace linfsp::launcher
