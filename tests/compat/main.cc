// fsp-compat DIR [--filter SUBSTR] [--list] [--verbose] [--timeout SECONDS]
//
// Runner: creates DIR/.fsp-compat.<pid>, runs each group in a forked child
// (its own process group) inside DIR/.fsp-compat.<pid>/<group>, kills a group
// that exceeds the watchdog, and removes everything it created.
#include <dirent.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "compat.h"

namespace compat {
namespace {

struct Counts {
  std::atomic<int> passed{0}, failed{0}, skipped{0};
};

struct GroupEntry {
  std::string name;
  GroupFn fn;
};

std::vector<GroupEntry>& registry() {
  static std::vector<GroupEntry> all;
  return all;
}

Counts* g_counts = nullptr;  // shared with group children (MAP_SHARED)
bool g_verbose = false;
std::string g_group = "-";
std::string g_dir;
std::mutex g_print;
volatile sig_atomic_t g_interrupted = 0;

void print_line(const std::string& s) {
  std::lock_guard<std::mutex> lock(g_print);
  std::fputs(s.c_str(), stdout);
  std::fflush(stdout);
}

const char* basename_of(const char* file) {
  const char* slash = std::strrchr(file, '/');
  return slash ? slash + 1 : file;
}

// Removes a tree below dirfd without building long paths, so it also
// removes trees deeper than PATH_MAX.
void remove_below(int dirfd) {
  int dup_fd = dup(dirfd);
  if (dup_fd < 0) return;
  DIR* d = fdopendir(dup_fd);
  if (!d) {
    close(dup_fd);
    return;
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  }
  closedir(d);
  for (const auto& n : names) {
    struct stat s;
    if (fstatat(dirfd, n.c_str(), &s, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(s.st_mode)) {
      fchmodat(dirfd, n.c_str(), 0700, 0);
      int sub = openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) {
        remove_below(sub);
        close(sub);
      }
      unlinkat(dirfd, n.c_str(), AT_REMOVEDIR);
    } else {
      unlinkat(dirfd, n.c_str(), 0);
    }
  }
}

void remove_tree(const std::string& path) {
  struct stat s;
  if (lstat(path.c_str(), &s) != 0) return;
  if (S_ISDIR(s.st_mode)) {
    chmod(path.c_str(), 0700);
    int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      remove_below(fd);
      close(fd);
    }
    rmdir(path.c_str());
  } else {
    unlink(path.c_str());
  }
}

// Cleanup after a hang may hang as well: do it in a child, bounded in time.
void remove_tree_bounded(const std::string& path, int seconds) {
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    remove_tree(path);
    _exit(0);
  }
  if (pid < 0) return;
  for (int i = 0; i < seconds * 100; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  std::fprintf(stderr, "fsp-compat: could not remove %s in %d s\n", path.c_str(), seconds);
}

void on_interrupt(int) { g_interrupted = 1; }

// Async-signal-safe decimal formatting for the alarm handler.
char* put_int(char* p, int v) {
  char tmp[16];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0 && n < 16);
  while (n > 0) *p++ = tmp[--n];
  return p;
}

void on_cleanup_alarm(int) {
  char buf[160];
  const char msg[] = "HANG cleanup of the scratch directory\n";
  std::memcpy(buf, msg, sizeof(msg) - 1);
  char* p = buf + sizeof(msg) - 1;
  p = put_int(p, g_counts->passed);
  std::memcpy(p, " passed, ", 9);
  p = put_int(p + 9, g_counts->failed + 1);
  std::memcpy(p, " failed\n", 8);
  p += 8;
  (void)!write(1, buf, p - buf);
  _exit(3);
}

void summary() {
  int p = g_counts->passed, f = g_counts->failed, s = g_counts->skipped;
  if (s > 0) std::printf("%d passed, %d failed, %d skipped\n", p, f, s);
  else std::printf("%d passed, %d failed\n", p, f);
  std::fflush(stdout);
}

int usage() {
  std::fprintf(stderr, "usage: fsp-compat DIR [--filter SUBSTR] [--list] [--verbose] [--timeout SECONDS]\n");
  return 2;
}

}  // namespace

Registrar::Registrar(const char* name, GroupFn fn) { registry().push_back({name, fn}); }

bool verbose() { return g_verbose; }
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

bool report(bool ok, const char* file, int line, const std::string& expr, const std::string& detail) {
  if (ok) {
    ++g_counts->passed;
    if (g_verbose) print_line("ok   " + g_group + " " + basename_of(file) + ":" + std::to_string(line) + ": " + expr + "\n");
  } else {
    ++g_counts->failed;
    print_line("FAIL " + g_group + " " + basename_of(file) + ":" + std::to_string(line) + ": " + expr + ": " + detail +
               "\n");
  }
  return ok;
}

bool check_errno(long result, int err, std::initializer_list<int> want, const char* file, int line,
                 const char* expr) {
  bool ok = result == -1 && std::find(want.begin(), want.end(), err) != want.end();
  std::string got = result == -1 ? errstr(err) : "success (returned " + std::to_string(result) + ")";
  return report(ok, file, line, expr, "expected " + errlist(want) + ", got " + got);
}

void skip(const std::string& reason) {
  ++g_counts->skipped;
  print_line("SKIP " + g_group + ": " + reason + "\n");
}

void as_user(uid_t uid, gid_t gid, const std::function<void()>& fn) {
  if (geteuid() != 0) {
    skip("needs root to switch to uid " + std::to_string(uid));
    return;
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    report(false, __FILE__, __LINE__, "pipe2", "failed: " + errstr(errno));
    return;
  }
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    static Counts mine;  // the child's own counts, sent through the pipe
    g_counts = &mine;
    g_group += "[uid " + std::to_string(uid) + "]";
    if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
      report(false, __FILE__, __LINE__, "setgroups/setgid/setuid", errstr(errno));
    } else {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // cleared by the change of credentials
      fn();
    }
    int counts[3] = {mine.passed, mine.failed, mine.skipped};
    (void)!write(p[1], counts, sizeof(counts));
    std::fflush(stdout);
    _exit(0);
  }
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    report(false, __FILE__, __LINE__, "fork", "failed: " + errstr(errno));
    return;
  }
  int counts[3] = {0, 0, 0};
  size_t got = 0;
  while (got < sizeof(counts)) {
    ssize_t n = read(p[0], reinterpret_cast<char*>(counts) + got, sizeof(counts) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += n;
  }
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (got != sizeof(counts)) {
    report(false, __FILE__, __LINE__, "the unprivileged child reports its results",
           "it died (status " + std::to_string(status) + ")");
    return;
  }
  g_counts->passed += counts[0];
  g_counts->failed += counts[1];
  g_counts->skipped += counts[2];
}

}  // namespace compat

int main(int argc, char** argv) {
  using namespace compat;
  std::string dir, filter;
  bool list_only = false;
  int timeout = 60;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else if (a == "--list") list_only = true;
    else if (a == "--verbose" || a == "-v") g_verbose = true;
    else if (a == "--timeout" && i + 1 < argc) timeout = std::max(1, std::atoi(argv[++i]));
    else if (!a.empty() && a[0] != '-' && dir.empty()) dir = a;
    else return usage();
  }
  auto& groups = registry();
  std::sort(groups.begin(), groups.end(), [](const GroupEntry& a, const GroupEntry& b) { return a.name < b.name; });
  if (list_only) {
    for (const auto& g : groups) {
      if (filter.empty() || g.name.find(filter) != std::string::npos) std::printf("%s\n", g.name.c_str());
    }
    return 0;
  }
  if (dir.empty()) return usage();

  void* shared = mmap(nullptr, sizeof(Counts), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) {
    std::perror("fsp-compat: mmap");
    return 2;
  }
  g_counts = new (shared) Counts;
  setvbuf(stdout, nullptr, _IOLBF, 0);

  char real[PATH_MAX];
  if (!realpath(dir.c_str(), real)) {
    std::fprintf(stderr, "fsp-compat: %s: %s\n", dir.c_str(), std::strerror(errno));
    return 2;
  }
  const std::string scratch = std::string(real) + "/.fsp-compat." + std::to_string(getpid());
  if (mkdir(scratch.c_str(), 0777) != 0 || chmod(scratch.c_str(), 0777) != 0) {
    std::fprintf(stderr, "fsp-compat: cannot create %s: %s\n", scratch.c_str(), std::strerror(errno));
    return 2;
  }

  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_cleanup_alarm);

  int ran = 0;
  for (const auto& g : groups) {
    if (!filter.empty() && g.name.find(filter) == std::string::npos) continue;
    ++ran;
    g_group = g.name;
    const std::string gdir = scratch + "/" + g.name;
    if (mkdir(gdir.c_str(), 0777) != 0 || chmod(gdir.c_str(), 0777) != 0) {
      report(false, __FILE__, __LINE__, "mkdir " + gdir, errstr(errno));
      continue;
    }
    if (g_verbose) print_line("---- " + g.name + "\n");
    std::fflush(stdout);
    timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    const pid_t runner = getpid();
    pid_t pid = fork();
    if (pid == 0) {
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the runner
      if (getppid() != runner) _exit(1);  // the runner died before prctl
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      signal(SIGHUP, SIG_DFL);
      signal(SIGALRM, SIG_DFL);
      g_dir = gdir;
      umask(0);
      if (chdir(gdir.c_str()) != 0) {
        report(false, __FILE__, __LINE__, "chdir " + gdir, errstr(errno));
        _exit(1);
      }
      g.fn();
      std::fflush(stdout);
      _exit(0);
    }
    if (pid < 0) {
      report(false, __FILE__, __LINE__, "fork", errstr(errno));
      break;
    }
    setpgid(pid, pid);
    int status = 0;
    bool hung = false;
    for (useconds_t nap = 200;; nap = std::min<useconds_t>(nap * 2, 20000)) {
      // Notice the exit without reaping, so that the process group id
      // cannot be reused before stray helpers of the group are killed.
      siginfo_t info{};
      if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) {
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long elapsed_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
      if (g_interrupted || elapsed_ms >= timeout * 1000L) {
        hung = !g_interrupted;
        break;
      }
      usleep(nap);
    }
    if (hung || g_interrupted) {
      kill(-pid, SIGKILL);
      if (hung) {
        ++g_counts->failed;
        print_line("HANG " + g.name + ": no result after " + std::to_string(timeout) + " s; the group was killed\n");
      } else {
        print_line("fsp-compat: interrupted during " + g.name + "\n");
      }
      for (int i = 0; i < 200 && waitpid(pid, nullptr, WNOHANG) != pid; ++i) usleep(10000);
      remove_tree_bounded(scratch, 10);
      summary();
      return hung ? 3 : 130;
    }
    if (WIFSIGNALED(status)) {
      report(false, __FILE__, __LINE__, "group " + g.name + " ran to completion",
             std::string("killed by signal ") + strsignal(WTERMSIG(status)));
    } else if (WEXITSTATUS(status) != 0) {
      report(false, __FILE__, __LINE__, "group " + g.name + " ran to completion",
             "exit status " + std::to_string(WEXITSTATUS(status)));
    }
    alarm(timeout);
    remove_tree(gdir);
    alarm(0);
    if (g_interrupted) break;
  }
  alarm(timeout);
  remove_tree(scratch);
  alarm(0);
  if (ran == 0) std::fprintf(stderr, "fsp-compat: no group matches '%s'\n", filter.c_str());
  summary();
  if (g_interrupted) return 130;
  return g_counts->failed == 0 && ran > 0 ? 0 : 1;
}
