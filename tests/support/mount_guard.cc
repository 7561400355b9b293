#include "mount_guard.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace linfsp::testing {
namespace {

std::mutex g_mutex;
std::set<std::string>& mounts() {
  static std::set<std::string> m;
  return m;
}

}  // namespace

std::string memfs_binary() {
  const char* env = std::getenv("LINFSP_MEMFS");
  return env ? env : LINFSP_MEMFS_BINARY;
}

std::string hello_binary() {
  const char* env = std::getenv("LINFSP_HELLO");
  return env ? env : LINFSP_HELLO_BINARY;
}

bool is_mounted(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, point;
    fields >> id >> parent >> devno >> root >> point;
    if (point != dir) continue;
    auto dash = line.find(" - ");
    if (dash != std::string::npos && line.compare(dash + 3, 4, "fuse") == 0) return true;
  }
  return false;
}

bool wait_for_mount(const std::string& dir, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (is_mounted(dir)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void register_mount(const std::string& dir) {
  std::lock_guard lock(g_mutex);
  mounts().insert(dir);
}

void unregister_mount(const std::string& dir) {
  std::lock_guard lock(g_mutex);
  mounts().erase(dir);
}

bool abort_fuse_connection(const std::string& dir) {
  // The connection number is the mount's device minor. Read it from
  // mountinfo: a stat() of a hung mount would hang too.
  std::ifstream info("/proc/self/mountinfo");
  std::string line;
  unsigned minor_number = 0;
  while (std::getline(info, line)) {
    std::istringstream in(line);
    std::string id, parent, dev, root, point;
    in >> id >> parent >> dev >> root >> point;
    size_t dash = line.find(" - ");
    if (point != dir || dash == std::string::npos || line.compare(dash + 3, 4, "fuse") != 0) continue;
    minor_number = static_cast<unsigned>(std::stoul(dev.substr(dev.find(':') + 1)));
  }
  if (minor_number == 0) return false;
  const std::string ctl = "/sys/fs/fuse/connections";
  const std::string abort_file = ctl + "/" + std::to_string(minor_number) + "/abort";
  bool mounted_ctl = false;
  if (access(abort_file.c_str(), W_OK) != 0) mounted_ctl = mount("fusectl", ctl.c_str(), "fusectl", 0, nullptr) == 0;
  int fd = open(abort_file.c_str(), O_WRONLY);
  bool done = fd >= 0 && write(fd, "1", 1) == 1;
  if (fd >= 0) close(fd);
  if (!done) std::fprintf(stderr, "cannot abort FUSE connection %u of %s\n", minor_number, dir.c_str());
  if (mounted_ctl) umount2(ctl.c_str(), MNT_DETACH);
  return done;
}

// Called by the watchdog and at exit: nothing may stay mounted. A request
// of this process that waits in the kernel survives signals and a lazy
// unmount, so each connection is aborted first.
void unmount_all_registered() {
  std::lock_guard lock(g_mutex);
  for (const auto& dir : mounts()) {
    abort_fuse_connection(dir);
    umount2(dir.c_str(), MNT_DETACH);
  }
}

void fail_hang(const std::string& what, const std::string& diagnostics) {
  std::fprintf(stderr, "\nHANG: %s\n  %s\n", what.c_str(), diagnostics.c_str());
  unmount_all_registered();
  std::fflush(stderr);
  _exit(1);
}

std::unique_ptr<MountedMemfs> MountedMemfs::start(const std::vector<std::string>& args, std::string* error) {
  return launch(memfs_binary(), args, error, false);
}

std::unique_ptr<MountedMemfs> MountedMemfs::start_binary(const std::string& binary,
                                                         const std::vector<std::string>& args, std::string* error) {
  return launch(binary, args, error, true);
}

std::unique_ptr<MountedMemfs> MountedMemfs::launch(const std::string& binary, const std::vector<std::string>& args,
                                                   std::string* error, bool die_with_parent) {
  std::unique_ptr<MountedMemfs> m(new MountedMemfs);
  char tmpl[] = "/tmp/linfsp-test-XXXXXX";
  if (!mkdtemp(tmpl)) {
    if (error) *error = "mkdtemp failed";
    return nullptr;
  }
  m->dir_ = tmpl;
  m->log_path_ = m->dir_ + ".log";
  register_mount(m->dir_);
  const std::string name = binary.substr(binary.rfind('/') + 1);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    if (die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)) _exit(127);
    int fd = open(m->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    argv.push_back(const_cast<char*>(m->dir_.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  m->pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!is_mounted(m->dir_)) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid || std::chrono::steady_clock::now() > deadline) {
      if (error) *error = name + " did not mount: " + m->log();
      if (m->pid_ > 0 && waitpid(pid, &status, WNOHANG) == 0) kill(pid, SIGKILL);
      return nullptr;  // the destructor cleans up
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return m;
}

int MountedMemfs::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return status_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return status_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

int MountedMemfs::terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return status_;
  kill(pid_, SIGTERM);
  int status = wait_exit(timeout);
  if (status < 0) {
    kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds(10));
    return -1;
  }
  return status;
}

bool MountedMemfs::alive() {
  if (pid_ <= 0) return false;
  int status;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return kill(pid_, 0) == 0;
}

std::string MountedMemfs::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

MountedMemfs::~MountedMemfs() {
  if (pid_ > 0) terminate();
  if (is_mounted(dir_)) umount2(dir_.c_str(), MNT_DETACH);
  unregister_mount(dir_);
  rmdir(dir_.c_str());
  unlink(log_path_.c_str());
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/linfsp-scratch-XXXXXX";
  path_ = mkdtemp(tmpl) ? tmpl : "";
}

TempDir::~TempDir() {
  if (!path_.empty()) run("rm -rf '" + path_ + "'");
}

int run(const std::string& command, std::string* out) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return -1;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) text.append(buf, n);
  int status = pclose(p);
  if (out) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace linfsp::testing
