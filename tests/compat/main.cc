// fsp-compat DIR [--filter SUBSTR] [--list] [--verbose]
#include <dirent.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>

#include "compat.h"

namespace compat {
namespace {

int g_passed = 0, g_failed = 0, g_skipped = 0;
bool g_verbose = false;
const char* g_group = "";

int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }
void remove_tree(const std::string& path) { nftw(path.c_str(), remove_entry, 64, FTW_DEPTH | FTW_PHYS); }

void on_alarm(int) {
  const char msg[] = "\nWATCHDOG: a group hung for 60 s: ";
  (void)!write(2, msg, sizeof(msg) - 1);
  (void)!write(2, g_group, strlen(g_group));
  (void)!write(2, "\n", 1);
  _exit(3);
}

}  // namespace

std::vector<Group>& groups() {
  static std::vector<Group> all;
  return all;
}

bool record(bool ok, const char* what, const char* file, int line, const std::string& detail) {
  if (ok) {
    ++g_passed;
    if (g_verbose) std::printf("ok   %s: %s\n", g_group, what);
  } else {
    ++g_failed;
    std::printf("FAIL %s %s:%d: %s%s%s\n", g_group, file, line, what, detail.empty() ? "" : " -- ",
                detail.c_str());
  }
  std::fflush(stdout);
  return ok;
}

void skip(const std::string& why) {
  ++g_skipped;
  std::printf("SKIP %s: %s\n", g_group, why.c_str());
}

std::string errno_name(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : std::to_string(err);
}

bool put(const std::string& path, const std::string& data, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0) return false;
  bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  return close(fd) == 0 && ok;
}

std::string get(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return "<" + errno_name(errno) + ">";
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fd);
  return out;
}

struct stat st(const std::string& path) {
  struct stat s {};
  if (stat(path.c_str(), &s) != 0) s.st_ino = 0;
  return s;
}

struct stat lst(const std::string& path) {
  struct stat s {};
  if (lstat(path.c_str(), &s) != 0) s.st_ino = 0;
  return s;
}

bool exists(const std::string& path) {
  struct stat s;
  return lstat(path.c_str(), &s) == 0;
}

std::vector<std::string> list(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (!d) return names;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names.push_back(e->d_name);
  }
  closedir(d);
  return names;
}

void as_user(uid_t uid, gid_t gid, const std::function<void()>& fn) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return skip("pipe failed");
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    g_passed = g_failed = g_skipped = 0;
    if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
      skip("cannot switch to uid " + std::to_string(uid) + " (not root?)");
    } else {
      fn();
    }
    int counts[3] = {g_passed, g_failed, g_skipped};
    (void)!write(pipefd[1], counts, sizeof(counts));
    std::fflush(stdout);
    _exit(0);
  }
  close(pipefd[1]);
  int counts[3] = {0, 0, 0};
  ssize_t n = read(pipefd[0], counts, sizeof(counts));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (n != sizeof(counts)) {
    record(false, "the unprivileged child reported its results", __FILE__, __LINE__, "it died");
    return;
  }
  g_passed += counts[0];
  g_failed += counts[1];
  g_skipped += counts[2];
}

}  // namespace compat

int main(int argc, char** argv) {
  using namespace compat;
  std::string dir, filter;
  bool list_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--filter" && i + 1 < argc) filter = argv[++i];
    else if (a == "--list") list_only = true;
    else if (a == "--verbose") g_verbose = true;
    else if (!a.empty() && a[0] != '-' && dir.empty()) dir = a;
    else {
      std::fprintf(stderr, "usage: fsp-compat DIR [--filter SUBSTR] [--list] [--verbose]\n");
      return 2;
    }
  }
  if (list_only) {
    for (const auto& g : groups()) std::printf("%s\n", g.name);
    return 0;
  }
  if (dir.empty()) {
    std::fprintf(stderr, "usage: fsp-compat DIR [--filter SUBSTR] [--list] [--verbose]\n");
    return 2;
  }
  umask(0);
  signal(SIGALRM, on_alarm);
  signal(SIGPIPE, SIG_IGN);
  std::string scratch = dir + "/.fsp-compat-" + std::to_string(getpid());
  if (mkdir(scratch.c_str(), 0777) != 0) {
    std::fprintf(stderr, "fsp-compat: cannot create %s: %s\n", scratch.c_str(), strerror(errno));
    return 2;
  }
  chmod(scratch.c_str(), 0777);
  for (const auto& g : groups()) {
    if (!filter.empty() && std::string(g.name).find(filter) == std::string::npos) continue;
    g_group = g.name;
    std::string gdir = scratch + "/" + g.name;
    mkdir(gdir.c_str(), 0777);
    chmod(gdir.c_str(), 0777);
    int before = g_failed;
    alarm(60);
    g.fn(gdir);
    alarm(0);
    umask(0);
    if (g_verbose || g_failed != before) std::printf("group %s: %d failure(s)\n", g.name, g_failed - before);
    remove_tree(gdir);
  }
  remove_tree(scratch);
  if (g_skipped) std::printf("%d passed, %d failed, %d skipped\n", g_passed, g_failed, g_skipped);
  else std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
