// fsp-compat-in-place DIR [--timeout SECONDS]: every group of the compat
// suite (tests/compat), run with DIR itself as the working directory.
//
// fsp-compat needs a scratch directory it creates with mkdir, so on a file
// system without mkdir it stops before its first group. This runner makes
// the same system calls without creating anything first: each group runs in
// a forked child (its own process group) inside DIR, and a group that takes
// longer than the timeout is killed and reported as a HANG. Checks that fail
// are only counted: the point is to drive a file system through every call.
//
// Exit status: 0 when every group ended (pass or fail), 3 after a hang, 4
// when DIR stops answering (the file system died): the runner stops there.
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "compat.h"

namespace compat {
namespace {

struct GroupEntry {
  std::string name;
  GroupFn fn;
};

std::vector<GroupEntry>& registry() {
  static std::vector<GroupEntry> all;
  return all;
}

int g_passed = 0, g_failed = 0, g_skipped = 0;  // per group child
std::string g_group = "-";
std::string g_dir;

}  // namespace

Registrar::Registrar(const char* name, GroupFn fn) { registry().push_back({name, fn}); }

bool verbose() { return false; }
const std::string& group_dir() { return g_dir; }

std::string errstr(int err) {
  if (err == 0) return "0 (success)";
  const char* name = strerrorname_np(err);
  return std::string(name ? name : std::to_string(err).c_str()) + " (" + std::strerror(err) + ")";
}

std::string errlist(std::initializer_list<int> errs) {
  std::string out;
  for (int e : errs) {
    if (!out.empty()) out += " or ";
    out += errstr(e);
  }
  return out;
}

bool report(bool ok, const char*, int, const std::string&, const std::string&) {
  ++(ok ? g_passed : g_failed);
  return ok;
}

bool check_errno(long result, int err, std::initializer_list<int> want, const char* file, int line,
                 const char* expr) {
  bool ok = result == -1 && std::find(want.begin(), want.end(), err) != want.end();
  return report(ok, file, line, expr, "");
}

void skip(const std::string&) { ++g_skipped; }

// The group's function as another user, in a child; its checks are not
// counted (they fail anyway on the file systems this runner is for).
void as_user(uid_t uid, gid_t gid, const std::function<void()>& fn) {
  if (geteuid() != 0) return skip("needs root");
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) == 0 && setgid(gid) == 0 && setuid(uid) == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      fn();
    }
    std::fflush(stdout);
    _exit(0);
  }
  if (pid > 0) waitpid(pid, nullptr, 0);
}

}  // namespace compat

int main(int argc, char** argv) {
  using namespace compat;
  std::string dir;
  int timeout = 30;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--timeout" && i + 1 < argc) timeout = std::max(1, std::atoi(argv[++i]));
    else if (!a.empty() && a[0] != '-' && dir.empty()) dir = a;
    else {
      std::fprintf(stderr, "usage: fsp-compat-in-place DIR [--timeout SECONDS]\n");
      return 2;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "usage: fsp-compat-in-place DIR [--timeout SECONDS]\n");
    return 2;
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  auto& groups = registry();
  std::sort(groups.begin(), groups.end(), [](const GroupEntry& a, const GroupEntry& b) { return a.name < b.name; });
  int ended = 0;
  for (const auto& g : groups) {
    std::fflush(stdout);
    const pid_t runner = getpid();
    pid_t pid = fork();
    if (pid == 0) {
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != runner) _exit(1);
      g_group = g.name;
      g_dir = dir;
      umask(0);
      if (chdir(dir.c_str()) != 0) {
        std::printf("group %s: cannot enter %s: %s\n", g.name.c_str(), dir.c_str(), errstr(errno).c_str());
        _exit(4);
      }
      g.fn();
      std::printf("ended %s: %d passed, %d failed, %d skipped\n", g.name.c_str(), g_passed, g_failed, g_skipped);
      std::fflush(stdout);
      _exit(0);
    }
    if (pid < 0) {
      std::perror("fsp-compat-in-place: fork");
      return 2;
    }
    setpgid(pid, pid);
    timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int status = 0;
    for (useconds_t nap = 200;; nap = std::min<useconds_t>(nap * 2, 20000)) {
      siginfo_t info{};
      if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) {
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long elapsed_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
      if (elapsed_ms >= timeout * 1000L) {
        kill(-pid, SIGKILL);
        std::printf("HANG %s: no result after %d s; the group was killed\n", g.name.c_str(), timeout);
        std::fflush(stdout);
        return 3;
      }
      usleep(nap);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 4) {
      std::printf("%d of %zu groups ended; stopped: %s no longer answers\n", ended, groups.size(), dir.c_str());
      return 4;
    }
    ++ended;
    if (WIFSIGNALED(status)) std::printf("group %s died of signal %s\n", g.name.c_str(), strsignal(WTERMSIG(status)));
  }
  std::printf("%d of %zu groups ended\n", ended, groups.size());
  return 0;
}
