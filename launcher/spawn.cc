#include "spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>

namespace linfsp::launcher {

namespace {

// Writes "fsp-launcherd: WHAT: strerror(err)\n" to fd 2 and exits 127.
// Runs in the forked child of a single-threaded daemon.
[[noreturn]] void child_fail(const char* what, int err) {
  std::string line = std::string("fsp-launcherd: ") + what + ": " + std::strerror(err) + "\n";
  ssize_t ignored = write(2, line.data(), line.size());
  (void)ignored;
  _exit(127);
}

// setgroups, setgid, setuid, in that order, each checked; then the ids are
// read back, and a process that dropped root must not be able to regain it.
void drop_privileges(const Identity& who) {
  if (setgroups(who.groups.size(), who.groups.data()) != 0) child_fail("setgroups", errno);
  if (setgid(who.gid) != 0) child_fail("setgid", errno);
  if (setuid(who.uid) != 0) child_fail("setuid", errno);
  if (getuid() != who.uid || geteuid() != who.uid || getgid() != who.gid || getegid() != who.gid) {
    child_fail("dropping privileges", EPERM);
  }
  if (who.uid != 0 && setuid(0) == 0) child_fail("dropping privileges (root regained)", EPERM);
}

void reset_signals() {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) sigaction(s, &dfl, nullptr);  // SIGKILL/SIGSTOP fail harmlessly
}

// Moves `fd` to a number >= 10, so that the dup2s below cannot clobber it.
int lift(int fd) { return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 10); }

}  // namespace

Identity caller_identity(uid_t uid, gid_t gid, std::vector<gid_t> groups) {
  Identity id;
  id.uid = uid;
  id.gid = gid;
  id.groups = std::move(groups);
  id.user = std::to_string(uid);
  if (passwd* pw = getpwuid(uid)) {
    id.user = pw->pw_name;
    id.home = pw->pw_dir;
  }
  return id;
}

Result<Identity> user_identity(const std::string& name) {
  passwd* pw = getpwnam(name.c_str());
  if (pw == nullptr) return Status::error(ENOENT, "no such user '" + name + "'");
  Identity id;
  id.uid = pw->pw_uid;
  id.gid = pw->pw_gid;
  id.user = pw->pw_name;
  id.home = pw->pw_dir;
  int n = 64;
  for (;;) {
    id.groups.resize(static_cast<size_t>(n));
    int got = n;
    if (getgrouplist(pw->pw_name, pw->pw_gid, id.groups.data(), &got) >= 0) {
      id.groups.resize(static_cast<size_t>(got));
      break;
    }
    if (got <= n) return Status::error(EINVAL, "cannot read the groups of '" + name + "'");
    n = got;
  }
  return id;
}

Result<pid_t> spawn_instance(const SpawnSpec& spec) {
  // Everything the child needs is built before fork.
  std::vector<char*> argv, envp;
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const std::string& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return Status::error(errno, std::string("/dev/null: ") + std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(devnull);
    return Status::error(err, std::string("fork: ") + std::strerror(err));
  }
  if (pid == 0) {
    reset_signals();
    setsid();
    int in = lift(spec.stdin_fd >= 0 ? spec.stdin_fd : devnull);
    int out = lift(spec.output_fd >= 0 ? spec.output_fd : devnull);
    int ready = lift(spec.ready_fd);
    if (in < 0 || out < 0 || (spec.ready_fd >= 0 && ready < 0)) _exit(127);
    if (dup2(out, 2) < 0 || dup2(out, 1) < 0) _exit(127);
    if (dup2(in, 0) < 0) child_fail("stdin", errno);
    if (ready >= 0 && dup2(ready, kReadyFd) < 0) child_fail("ready descriptor", errno);
    int first_closed = ready >= 0 ? kReadyFd + 1 : kReadyFd;
    if (syscall(SYS_close_range, first_closed, UINT_MAX, 0) != 0) child_fail("close_range", errno);
    drop_privileges(spec.identity);
    if (chdir(spec.working_directory.c_str()) != 0) {
      child_fail(("working directory " + spec.working_directory).c_str(), errno);
    }
    execve(argv[0], argv.data(), envp.data());
    child_fail(("execute " + spec.argv[0]).c_str(), errno);
  }
  close(devnull);
  return pid;
}

Result<std::string> check_mountpoint_as(const Identity& who, const std::string& path,
                                        std::chrono::milliseconds timeout) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::error(errno, "pipe");
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return Status::error(err, "fork");
  }
  if (pid == 0) {
    // The child's answer: errno as exit status, the canonical path on the pipe.
    close(fds[0]);
    if (setgroups(who.groups.size(), who.groups.data()) != 0 || setgid(who.gid) != 0 || setuid(who.uid) != 0) {
      _exit(EPERM);
    }
    char real[PATH_MAX];
    if (realpath(path.c_str(), real) == nullptr) _exit(errno);
    struct stat st {};
    if (stat(real, &st) != 0) _exit(errno);
    if (!S_ISDIR(st.st_mode)) _exit(ENOTDIR);
    if (access(real, W_OK | X_OK) != 0) _exit(errno);
    size_t n = std::strlen(real);
    if (write(fds[1], real, n) != static_cast<ssize_t>(n)) _exit(EIO);
    _exit(0);
  }
  close(fds[1]);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    int r;
    while ((r = poll(&p, 1, static_cast<int>(timeout.count()))) < 0 && errno == EINTR) {
    }
    close(pidfd);
    if (r == 0) kill(pid, SIGKILL);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string real;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) real.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  if (WIFSIGNALED(status)) return Status::error(ETIMEDOUT, "'" + path + "': checking it took too long");
  int err = WEXITSTATUS(status);
  if (err == EACCES || err == EPERM) return Status::error(EACCES, "'" + path + "': you may not write there");
  if (err != 0) return Status::error(err, "'" + path + "': " + std::strerror(err));
  return real;
}

}  // namespace linfsp::launcher
