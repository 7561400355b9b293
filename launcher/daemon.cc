#include "daemon.h"

#include <fcntl.h>
#include <mntent.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "mountinfo.h"

namespace linfsp::launcher {

namespace {

constexpr size_t kMaxGroups = 65536;
// Connections at once; more are closed at once (each is timed out anyway).
constexpr size_t kMaxClients = 256;

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + sigabbrev_np(WTERMSIG(status));
  return "status " + std::to_string(status);
}

std::string iso_time(time_t t) {
  char buf[32];
  tm tm{};
  gmtime_r(&t, &tm);
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

const char* state_name(int s) {
  static const char* kNames[] = {"starting", "running", "stopping", "restarting"};
  return kNames[s];
}

void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// systemd's readiness protocol: one datagram to $NOTIFY_SOCKET.
void sd_notify(const char* message) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || (path[0] != '/' && path[0] != '@')) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::strlen(path);
  if (len >= sizeof(addr.sun_path)) return;
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sendto(fd, message, std::strlen(message), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  close(fd);
}

// The instance leads its own session and process group (spawn_instance
// calls setsid), so the signal reaches what it started too. Exactly one
// signal: a second SIGTERM could arrive after the instance has restored its
// signal mask on the way out, and kill it.
void signal_instance(pid_t pid, int sig) {
  if (kill(-pid, sig) != 0) kill(pid, sig);
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g s", s);
  return buf;
}

// The canonical mount point when `fstab` has an entry "SPEC DIR fsp ...user..."
// (or "users") whose directory is the one asked for; else "".
std::string fstab_allows(const std::string& fstab, const std::string& spec, const std::string& dir) {
  char asked[PATH_MAX];
  if (realpath(dir.c_str(), asked) == nullptr) return "";
  FILE* f = setmntent(fstab.c_str(), "r");
  if (f == nullptr) return "";
  std::string found;
  while (mntent* e = getmntent(f)) {
    if (spec != e->mnt_fsname || std::strcmp(e->mnt_type, "fsp") != 0) continue;
    if (hasmntopt(e, "user") == nullptr && hasmntopt(e, "users") == nullptr) continue;
    char listed[PATH_MAX];
    struct stat st {};
    if (realpath(e->mnt_dir, listed) != nullptr && std::strcmp(listed, asked) == 0 && stat(listed, &st) == 0 &&
        S_ISDIR(st.st_mode)) {
      found = listed;
      break;
    }
  }
  endmntent(f);
  return found;
}

void wipe(std::string* s) {
  explicit_bzero(s->data(), s->size());
  s->clear();
}

}  // namespace

void log_line(const std::string& line) {
  std::string out = "fsp-launcherd: " + line + "\n";
  ssize_t ignored = write(2, out.data(), out.size());
  (void)ignored;
}

Daemon::Daemon(DaemonOptions options) : options_(std::move(options)) {}

Daemon::~Daemon() {
  for (auto& [fd, c] : clients_) close(fd);
  for (int fd : {listen_fd_, signal_fd_, mountinfo_fd_}) {
    if (fd >= 0) close(fd);
  }
}

bool Daemon::setup() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  mountinfo_fd_ = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (signal_fd_ < 0 || mountinfo_fd_ < 0) {
    log_line(std::string("cannot watch signals or mounts: ") + std::strerror(errno));
    return false;
  }
  const std::string& path = options_.socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    log_line("socket path too long: " + path);
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  std::string parent = path.substr(0, path.rfind('/'));
  if (!parent.empty()) mkdir(parent.c_str(), 0755);  // /run/linfsp; fine if it exists
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  // A socket file left by a daemon that died: nobody answers on it.
  if (connect(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    log_line("another daemon already listens on " + path);
    return false;
  }
  close(listen_fd_);
  unlink(path.c_str());
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  mode_t old = umask(0);  // every user may connect: SO_PEERCRED says who they are
  int r = bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  umask(old);
  if (r != 0 || listen(listen_fd_, 64) != 0) {
    log_line("cannot listen on " + path + ": " + std::strerror(errno));
    return false;
  }
  return true;
}

int Daemon::run() {
  std::vector<ClassSpec> classes;
  for (const std::string& e : check_class_dir(options_.class_dir, &classes)) log_line("class error: " + e);
  if (!setup()) return 1;
  std::string names;
  for (const ClassSpec& c : classes) names += (names.empty() ? "" : " ") + c.name;
  log_line("listening on " + options_.socket_path + ", classes in " + options_.class_dir + ": " +
           (names.empty() ? "(none)" : names));
  sd_notify("READY=1");
  loop();
  unlink(options_.socket_path.c_str());
  log_line("stopped");
  return 0;
}

void Daemon::loop() {
  for (;;) {
    if (shutting_down_ && instances_.empty()) {
      bool pending = std::any_of(clients_.begin(), clients_.end(), [](auto& p) { return !p.second.out.empty(); });
      if (!pending) return;
    }
    // Descriptors, and the nearest deadline.
    std::vector<pollfd> fds;
    auto now = Clock::now();
    auto next = now + std::chrono::hours(1);
    if (listen_fd_ >= 0) fds.push_back({listen_fd_, POLLIN, 0});
    fds.push_back({signal_fd_, POLLIN, 0});
    fds.push_back({mountinfo_fd_, POLLPRI, 0});
    for (auto& [fd, c] : clients_) {
      short ev = 0;
      if (!c.waiting && !c.done) ev |= POLLIN;
      if (!c.out.empty()) ev |= POLLOUT;
      fds.push_back({fd, ev, 0});
      if (!c.waiting) next = std::min(next, c.deadline);
    }
    for (auto& [key, inst] : instances_) {
      if (inst.out_fd >= 0) fds.push_back({inst.out_fd, POLLIN, 0});
      if (inst.ready_fd >= 0) fds.push_back({inst.ready_fd, POLLIN, 0});
      if (inst.has_deadline) next = std::min(next, inst.deadline);
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    int r = poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(0, wait) + 1));
    if (r < 0 && errno != EINTR) {
      log_line(std::string("poll: ") + std::strerror(errno));
      return;
    }
    for (const pollfd& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == listen_fd_) {
        accept_clients();
      } else if (p.fd == signal_fd_) {
        signalfd_siginfo si;
        while (read(signal_fd_, &si, sizeof(si)) == sizeof(si)) {
          if (si.ssi_signo == SIGCHLD) {
            int status;
            pid_t pid;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) on_exit(pid, status);
          } else if (si.ssi_signo == SIGHUP) {
            std::vector<std::string> errors = check_class_dir(options_.class_dir);
            log_line("SIGHUP: class files checked, " + std::to_string(errors.size()) + " error(s)");
            for (const std::string& e : errors) log_line("class error: " + e);
          } else if (!shutting_down_) {
            log_line(std::string("signal ") + sigabbrev_np(static_cast<int>(si.ssi_signo)) +
                     ": stopping every instance");
            shutdown();
          }
        }
      } else if (p.fd == mountinfo_fd_) {
        on_mounts_changed();
      } else if (Client* c = client(p.fd)) {
        if (p.revents & POLLOUT) write_client(*c);
        Client* still = client(p.fd);
        if (still == nullptr) continue;
        if (still->waiting || still->done) {
          if (p.revents & (POLLHUP | POLLERR)) drop_client(p.fd);  // gave up waiting
        } else if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
          read_client(*still);
        }
      } else {
        for (auto& [key, inst] : instances_) {
          if (p.fd == inst.out_fd) {
            on_output(inst);
            break;
          }
          if (p.fd == inst.ready_fd) {
            on_ready_pipe(inst);
            break;
          }
        }
      }
    }
    // Deadlines: silent clients, start and stop timeouts, restarts.
    now = Clock::now();
    std::vector<int> expired;
    for (auto& [fd, c] : clients_) {
      if (!c.waiting && now >= c.deadline) expired.push_back(fd);
    }
    for (int fd : expired) {
      Client& c = clients_[fd];
      if (c.out.empty() && !c.done) {
        log_line("client uid " + std::to_string(c.caller.uid) + ": no request within the time limit, closed");
        // A last best-effort word; it need not arrive.
        std::string f = error_reply(ETIMEDOUT, "no complete request within the time limit").frame();
        ssize_t ignored = send(fd, f.data(), f.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)ignored;
      }
      drop_client(fd);
    }
    std::vector<Key> due;
    for (auto& [key, inst] : instances_) {
      if (inst.has_deadline && now >= inst.deadline) due.push_back(key);
    }
    for (const Key& k : due) {
      if (auto it = instances_.find(k); it != instances_.end()) on_deadline(it->second);
    }
  }
}

Daemon::Client* Daemon::client(int fd) {
  auto it = clients_.find(fd);
  return it == clients_.end() ? nullptr : &it->second;
}

void Daemon::accept_clients() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    if (clients_.size() >= kMaxClients) {
      log_line("too many connections: one refused");
      close(fd);
      continue;
    }
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      close(fd);
      continue;
    }
    std::vector<gid_t> groups(64);
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) != 0 && errno == ERANGE &&
        glen / sizeof(gid_t) <= kMaxGroups) {
      groups.resize(glen / sizeof(gid_t));
      getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen);
    }
    groups.resize(std::min<size_t>(groups.size(), glen / sizeof(gid_t)));
    Client c;
    c.fd = fd;
    c.caller = caller_identity(cred.uid, cred.gid, std::move(groups));
    c.deadline = Clock::now() + options_.client_timeout;
    clients_[fd] = std::move(c);
  }
}

void Daemon::read_client(Client& c) {
  int fd = c.fd;
  char buf[16384];
  for (;;) {
    // Read no further than the message announced: one request per connection.
    size_t want = sizeof(buf);
    if (c.in.size() >= 4) {
      size_t total = 4 + frame_length(c.in.data());
      want = std::min(want, total - c.in.size());
    }
    ssize_t n = want == 0 ? 0 : recv(fd, buf, want, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0 && want != 0) {  // hung up before a whole request
      drop_client(fd);
      return;
    }
    c.in.append(buf, static_cast<size_t>(n));
    explicit_bzero(buf, static_cast<size_t>(n));  // may hold a secret
    if (c.in.size() < 4) continue;
    uint32_t len = frame_length(c.in.data());
    if (len > kMaxBody) {
      log_line("client uid " + std::to_string(c.caller.uid) + ": message of " + std::to_string(len) + " bytes refused");
      wipe(&c.in);
      reply(fd, error_reply(EMSGSIZE, "message longer than " + std::to_string(kMaxBody) + " bytes"));
      return;  // `c` may be gone: reply() drops a client once its answer is written
    }
    if (c.in.capacity() < 4 + len) {
      // Grow once, so that no freed buffer keeps a copy of a secret.
      std::string bigger;
      bigger.reserve(4 + len);
      bigger = c.in;
      wipe(&c.in);
      c.in = std::move(bigger);
    }
    if (c.in.size() < 4 + len) continue;
    auto m = Message::parse(std::string_view(c.in).substr(4));
    wipe(&c.in);  // may hold a secret
    if (!m) {
      log_line("client uid " + std::to_string(c.caller.uid) + ": " + m.status().message());
      reply(fd, error_reply(m.err(), m.status().message()));
      return;
    }
    handle(c, *m);  // `c` may be gone afterwards
    m->wipe();
    return;
  }
}

void Daemon::write_client(Client& c) {
  while (!c.out.empty()) {
    ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      c.out.clear();
      break;
    }
    c.out.erase(0, static_cast<size_t>(n));
  }
  if (c.done) drop_client(c.fd);
}

void Daemon::drop_client(int fd) {
  for (auto& [key, inst] : instances_) {
    if (inst.start_client == fd) inst.start_client = -1;
    std::erase(inst.stop_clients, fd);
  }
  close(fd);
  clients_.erase(fd);
}

void Daemon::reply(int fd, const Message& m) {
  Client* c = client(fd);
  if (c == nullptr) return;  // gone meanwhile
  c->out += m.frame();
  c->done = true;
  c->waiting = false;
  c->deadline = Clock::now() + options_.client_timeout;  // to read the reply
  write_client(*c);
}

void Daemon::handle(Client& c, Message& request) {
  std::string op = request.get("op");
  if (shutting_down_) {
    reply(c.fd, error_reply(ESHUTDOWN, "the launcher is shutting down"));
  } else if (op == "start") {
    do_start(c, request);
  } else if (op == "stop") {
    do_stop(c, request);
  } else if (op == "list" || op == "info") {
    do_list(c, request, op == "info");
  } else {
    reply(c.fd, error_reply(EOPNOTSUPP, "unknown op '" + op + "'"));
  }
}

void Daemon::record(Message* m, const Instance& inst) const {
  m->add("class", inst.spec.name);
  m->add("instance", inst.name);
  m->add("pid", std::to_string(inst.pid));
  m->add("uid", std::to_string(inst.runs_as.uid));
  m->add("owner", std::to_string(inst.owner));
  m->add("mountpoint", inst.mountpoint);
  m->add("started", iso_time(inst.started));
  m->add("state", state_name(static_cast<int>(inst.state)));
  m->add("restarts", std::to_string(inst.restarts));
}

void Daemon::do_list(Client& c, const Message& request, bool one) {
  const Identity& who = c.caller;
  Message m = ok_reply();
  if (one) {
    auto it = instances_.find({request.get("class"), request.get("instance")});
    if (it == instances_.end()) {
      reply(c.fd, error_reply(ENOENT,
                              "no instance '" + request.get("instance") + "' of class '" + request.get("class") + "'"));
      return;
    }
    if (!class_allows(it->second.spec, who.uid, who.gid, who.groups)) {
      reply(c.fd, error_reply(EACCES, "user " + who.user + " may not use class '" + it->first.first + "'"));
      return;
    }
    record(&m, it->second);
  } else {
    for (const auto& [key, inst] : instances_) {
      if (class_allows(inst.spec, who.uid, who.gid, who.groups)) record(&m, inst);
    }
  }
  reply(c.fd, m);
}

void Daemon::do_start(Client& c, Message& request) {
  const Identity& who = c.caller;
  std::string cls = request.get("class"), name = request.get("instance"), mp = request.get("mountpoint");
  std::string what = "start " + cls + "/" + name + " by uid " + std::to_string(who.uid);
  auto refuse = [&](int err, const std::string& why) {
    log_line(what + ": refused: " + why);
    reply(c.fd, error_reply(err, why));
  };
  if (Status s = check_class_name(cls); !s) return refuse(EINVAL, s.message());
  if (Status s = check_instance_name(name); !s) return refuse(EINVAL, s.message());
  if (mp.empty() || mp[0] != '/') return refuse(EINVAL, "the mount point must be an absolute path");
  if (Status s = check_argument("the mount point", mp); !s) return refuse(EINVAL, s.message());
  auto spec = load_class(options_.class_dir, cls);
  if (!spec) return refuse(spec.err(), spec.status().message());
  if (!class_allows(*spec, who.uid, who.gid, who.groups)) {
    return refuse(EACCES, "user " + who.user + " may not use class '" + cls + "'");
  }
  std::vector<std::string> args = request.all("arg");
  std::string options = request.get("options");
  for (const std::string& a : args) {
    if (Status s = check_argument("an argument", a); !s) return refuse(EINVAL, s.message());
  }
  if (Status s = check_argument("the options", options); !s) return refuse(EINVAL, s.message());
  if (!args.empty() && !spec->takes_args) return refuse(EINVAL, "class '" + cls + "' takes no extra arguments");
  if (!options.empty() && !spec->takes_options) return refuse(EINVAL, "class '" + cls + "' takes no options");
  const std::string* secret = request.find("secret");
  bool has_secret = secret != nullptr;
  if (spec->secret && !has_secret) return refuse(EINVAL, "class '" + cls + "' needs a secret (start-secret)");
  if (!spec->secret && has_secret) return refuse(EINVAL, "class '" + cls + "' takes no secret");
  if (has_secret && secret->size() > kMaxSecret) return refuse(EINVAL, "the secret is too long");
  if (instances_.count({cls, name})) return refuse(EEXIST, "instance '" + name + "' of class '" + cls + "' exists");
  // The caller must be able to write the mount point: checked as the caller.
  // Or the administrator allowed this very mount to users in /etc/fstab.
  auto real = check_mountpoint_as(who, mp, options_.check_timeout);
  if (!real && real.err() == EACCES) {
    if (std::string allowed = fstab_allows(options_.fstab_path, cls + ":" + name, mp); !allowed.empty()) {
      log_line(what + ": " + allowed + " is a user mount in " + options_.fstab_path);
      real = allowed;
    }
  }
  if (!real) return refuse(real.err(), real.status().message());
  for (const auto& [key, inst] : instances_) {
    if (inst.mountpoint == *real) {
      return refuse(EBUSY, "'" + *real + "' is the mount point of " + key.first + "/" + key.second);
    }
  }
  Identity runs_as = who;
  if (!spec->run_as.empty()) {
    auto id = user_identity(spec->run_as);
    if (!id) return refuse(id.err(), id.status().message());
    runs_as = *id;
  }
  Instance inst;
  inst.spec = std::move(*spec);
  inst.name = name;
  inst.runs_as = runs_as;
  inst.owner = who.uid;
  inst.mountpoint = *real;
  inst.args = std::move(args);
  inst.options = options;
  if (has_secret) inst.secret = *secret;
  inst.started = time(nullptr);
  Instance& placed = instances_[{cls, name}] = std::move(inst);
  if (Status s = spawn(placed); !s) {
    remove({cls, name});
    return refuse(s.err(), s.message());
  }
  if (placed.spec.restart == Restart::kNever) wipe(&placed.secret);
  log_line(what + ": pid " + std::to_string(placed.pid) + " as uid " + std::to_string(runs_as.uid) + " on " +
           placed.mountpoint + ", waiting for readiness");
  placed.start_client = c.fd;
  c.waiting = true;
}

Status Daemon::spawn(Instance& inst) {
  Substitution sub;
  sub.name = inst.name;
  sub.mountpoint = inst.mountpoint;
  sub.uid = inst.runs_as.uid;
  sub.gid = inst.runs_as.gid;
  sub.user = inst.runs_as.user;
  sub.home = inst.runs_as.home;
  sub.options = inst.options;
  sub.args = inst.args;
  sub.ready_fd = kReadyFd;
  SpawnSpec s;
  s.argv = expand_arguments(inst.spec, sub);
  s.working_directory = expand(inst.spec.working_directory, sub);
  s.identity = inst.runs_as;
  s.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME=" + sub.home,
           "USER=" + sub.user,
           "LOGNAME=" + sub.user,
           "LINFSP_CLASS=" + inst.spec.name,
           "LINFSP_INSTANCE=" + inst.name};
  for (const auto& [k, v] : inst.spec.environment) s.env.push_back(k + "=" + expand(v, sub));
  int out[2] = {-1, -1}, ready[2] = {-1, -1}, in[2] = {-1, -1};
  auto close_all = [&] {
    for (int fd : {out[0], out[1], ready[0], ready[1], in[0], in[1]}) {
      if (fd >= 0) close(fd);
    }
  };
  if (pipe2(out, O_CLOEXEC) != 0 || (inst.spec.ready == Readiness::kFd && pipe2(ready, O_CLOEXEC) != 0)) {
    int err = errno;
    close_all();
    return Status::error(err, std::string("pipe: ") + std::strerror(err));
  }
  if (inst.spec.secret) {
    // The secret, then a newline, then end of file: a pipe that becomes the
    // child's stdin. It is far below the pipe's capacity: no write blocks.
    if (pipe2(in, O_CLOEXEC) != 0) {
      int err = errno;
      close_all();
      return Status::error(err, "pipe");
    }
    ssize_t n = write(in[1], inst.secret.data(), inst.secret.size());
    bool whole = n == static_cast<ssize_t>(inst.secret.size()) && write(in[1], "\n", 1) == 1;
    close(in[1]);
    in[1] = -1;
    if (!whole) {
      close_all();
      return Status::error(EIO, "cannot pass the secret");
    }
  }
  s.stdin_fd = in[0];
  s.output_fd = out[1];
  s.ready_fd = ready[1];
  inst.mount_before = find_fuse_mount(read_mountinfo(), inst.mountpoint);
  auto pid = spawn_instance(s);
  close(out[1]);
  if (ready[1] >= 0) close(ready[1]);
  if (in[0] >= 0) close(in[0]);
  if (!pid) {
    close(out[0]);
    if (ready[0] >= 0) close(ready[0]);
    return pid.status();
  }
  inst.pid = *pid;
  inst.out_fd = out[0];
  inst.ready_fd = ready[0];
  set_nonblock(inst.out_fd);
  if (inst.ready_fd >= 0) set_nonblock(inst.ready_fd);
  inst.out_partial.clear();
  inst.last_line.clear();
  inst.ready_text.clear();
  inst.mount_id = -1;
  inst.state = State::kStarting;
  inst.reason = StopReason::kNone;
  inst.spawned = Clock::now();
  inst.deadline = inst.spawned + std::chrono::milliseconds(static_cast<long>(inst.spec.start_timeout * 1000));
  inst.has_deadline = true;
  return Status::ok();
}

void Daemon::on_output(Instance& inst) {
  char buf[4096];
  std::string prefix = inst.spec.name + "/" + inst.name + "[" + std::to_string(inst.pid) + "]: ";
  for (;;) {
    ssize_t n = read(inst.out_fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      if (!inst.out_partial.empty()) {
        inst.previous_line = inst.last_line;
        inst.last_line = inst.out_partial;
        log_line(prefix + inst.out_partial);
        inst.out_partial.clear();
      }
      close(inst.out_fd);
      inst.out_fd = -1;
      return;
    }
    inst.out_partial.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = inst.out_partial.find('\n')) != std::string::npos) {
      std::string line = inst.out_partial.substr(0, nl);
      inst.out_partial.erase(0, nl + 1);
      if (line.empty()) continue;
      inst.previous_line = inst.last_line;
      inst.last_line = line.substr(0, 1024);
      log_line(prefix + inst.last_line);
    }
    if (inst.out_partial.size() > 4096) inst.out_partial.erase(0, inst.out_partial.size() - 4096);
  }
}

void Daemon::on_ready_pipe(Instance& inst) {
  char buf[64];
  for (;;) {
    ssize_t n = read(inst.ready_fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    if (n <= 0) {
      close(inst.ready_fd);
      inst.ready_fd = -1;
      break;
    }
    if (inst.ready_text.size() < 256) inst.ready_text.append(buf, static_cast<size_t>(n));
  }
  if (inst.state == State::kStarting && inst.ready_text.find("READY=1") != std::string::npos) on_ready(inst);
}

void Daemon::on_ready(Instance& inst) {
  inst.state = State::kRunning;
  inst.has_deadline = false;
  inst.ever_ready = true;
  inst.mount_id = find_fuse_mount(read_mountinfo(), inst.mountpoint);
  if (inst.mount_id == inst.mount_before) inst.mount_id = -1;  // not a new mount: not ours to watch
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - inst.spawned).count();
  log_line(inst.spec.name + "/" + inst.name + ": ready after " + std::to_string(ms) + " ms" +
           (inst.mount_id < 0 ? " (no new FUSE mount seen at " + inst.mountpoint + ")" : ""));
  if (inst.start_client >= 0) {
    Message m = ok_reply();
    record(&m, inst);
    reply(inst.start_client, m);
    inst.start_client = -1;
  }
}

void Daemon::on_mounts_changed() {
  // Reading the file again is what clears POLLPRI.
  char buf[4096];
  lseek(mountinfo_fd_, 0, SEEK_SET);
  while (read(mountinfo_fd_, buf, sizeof(buf)) > 0) {
  }
  std::vector<MountEntry> mounts = read_mountinfo();
  for (auto& [key, inst] : instances_) {
    if (inst.state == State::kStarting && inst.spec.ready == Readiness::kMount) {
      int id = find_fuse_mount(mounts, inst.mountpoint);
      if (id >= 0 && id != inst.mount_before) on_ready(inst);
    } else if (inst.state == State::kRunning && inst.mount_id >= 0 && !mount_present(mounts, inst.mount_id)) {
      log_line(key.first + "/" + key.second + ": " + inst.mountpoint + " was unmounted: stopping the instance");
      begin_stop(inst, StopReason::kUnmounted);
    }
  }
}

void Daemon::begin_stop(Instance& inst, StopReason reason) {
  inst.reason = reason;
  if (inst.pid < 0) {  // waiting to restart: nothing runs
    remove(key_of(inst));
    return;
  }
  if (inst.state == State::kStopping) return;
  inst.state = State::kStopping;
  signal_instance(inst.pid, SIGTERM);
  inst.deadline = Clock::now() + std::chrono::milliseconds(static_cast<long>(inst.spec.stop_timeout * 1000));
  inst.has_deadline = true;
}

void Daemon::on_deadline(Instance& inst) {
  inst.has_deadline = false;
  std::string who = inst.spec.name + "/" + inst.name;
  switch (inst.state) {
    case State::kStarting:
      log_line(who + ": not ready within " + seconds(inst.spec.start_timeout) + ": killing it");
      inst.state = State::kStopping;
      inst.reason = StopReason::kStartTimeout;
      signal_instance(inst.pid, SIGKILL);
      break;
    case State::kStopping:
      log_line(who + ": still running " + seconds(inst.spec.stop_timeout) + " after SIGTERM: SIGKILL");
      signal_instance(inst.pid, SIGKILL);
      break;
    case State::kRestarting: {
      ++inst.restarts;
      if (Status s = spawn(inst); !s) {
        log_line(who + ": restart failed: " + s.message());
        remove(key_of(inst));
        return;
      }
      log_line(who + ": restarted (" + std::to_string(inst.restarts) + "), pid " + std::to_string(inst.pid));
      break;
    }
    case State::kRunning:
      break;
  }
}

// The instance's last line on stderr; when that is only a hint such as
// "Try 'memfs --help'.", the line before it, with the hint in parentheses.
std::string Daemon::error_line(const Instance& inst) {
  if (inst.last_line.rfind("Try ", 0) == 0 && !inst.previous_line.empty()) {
    return inst.previous_line + " (" + inst.last_line + ")";
  }
  return inst.last_line;
}

Daemon::Instance* Daemon::by_pid(pid_t pid) {
  for (auto& [key, inst] : instances_) {
    if (inst.pid == pid) return &inst;
  }
  return nullptr;
}

void Daemon::close_pipes(Instance& inst) {
  if (inst.out_fd >= 0) {
    set_nonblock(inst.out_fd);
    on_output(inst);  // what is left, for the last line
    if (inst.out_fd >= 0) close(inst.out_fd);
    inst.out_fd = -1;
  }
  if (inst.ready_fd >= 0) {
    on_ready_pipe(inst);
    if (inst.ready_fd >= 0) close(inst.ready_fd);
    inst.ready_fd = -1;
  }
}

// The instance is gone; if its mount is still there (a dead connection),
// detach it so that the mount point works again.
void Daemon::unmount_leftover(Instance& inst) {
  std::vector<MountEntry> mounts = read_mountinfo();
  int id = inst.mount_id >= 0 ? inst.mount_id : find_fuse_mount(mounts, inst.mountpoint);
  if (id < 0 || id == inst.mount_before || !mount_present(mounts, id)) return;
  if (find_fuse_mount(mounts, inst.mountpoint) != id) return;  // something else is on top
  if (umount2(inst.mountpoint.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
    log_line(inst.spec.name + "/" + inst.name + ": unmounted " + inst.mountpoint + " (lazily)");
  } else {
    log_line(inst.spec.name + "/" + inst.name + ": cannot unmount " + inst.mountpoint + ": " + std::strerror(errno));
  }
}

void Daemon::on_exit(pid_t pid, int status) {
  Instance* found = by_pid(pid);
  if (found == nullptr) return;
  Instance& inst = *found;
  std::string who = inst.spec.name + "/" + inst.name;
  close_pipes(inst);
  // An unmount from outside that the instance noticed before we did.
  std::vector<MountEntry> mounts = read_mountinfo();
  if (inst.state == State::kRunning && inst.mount_id >= 0 && !mount_present(mounts, inst.mount_id)) {
    inst.reason = StopReason::kUnmounted;
  }
  inst.pid = -1;
  unmount_leftover(inst);
  std::string how = describe_status(status);
  if (inst.state == State::kStarting && !inst.ever_ready) {
    std::string why = error_line(inst);
    if (why.empty()) why = "the instance ended (" + how + ") before it was ready";
    log_line(who + ": failed to start (" + how + "): " + why);
    if (inst.start_client >= 0) reply(inst.start_client, error_reply(EIO, why));
    inst.start_client = -1;
    remove(key_of(inst));
    return;
  }
  if (inst.state == State::kStopping || inst.reason != StopReason::kNone) {
    log_line(who + ": stopped (" + how + ")");
    if (inst.start_client >= 0) {
      std::string why =
          inst.reason == StopReason::kStartTimeout
              ? "not ready within the start timeout" + (inst.last_line.empty() ? "" : ": " + inst.last_line)
              : "stopped before it was ready";
      reply(inst.start_client, error_reply(inst.reason == StopReason::kStartTimeout ? ETIMEDOUT : ECANCELED, why));
      inst.start_client = -1;
    }
    remove(key_of(inst));
    return;
  }
  // It died by itself.
  bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  Restart policy = inst.spec.restart;
  bool again = !shutting_down_ && (policy == Restart::kAlways || (policy == Restart::kOnFailure && failed)) &&
               inst.restarts < inst.spec.restart_limit;
  if (!again) {
    log_line(who + ": ended (" + how + ")" +
             (policy != Restart::kNever && inst.restarts >= inst.spec.restart_limit ? ", restart limit reached" : ""));
    remove(key_of(inst));
    return;
  }
  log_line(who + ": ended (" + how + "), restarting in " + seconds(inst.spec.restart_delay));
  inst.state = State::kRestarting;
  inst.deadline = Clock::now() + std::chrono::milliseconds(static_cast<long>(inst.spec.restart_delay * 1000));
  inst.has_deadline = true;
}

void Daemon::remove(const Key& key) {
  auto it = instances_.find(key);
  if (it == instances_.end()) return;
  Instance& inst = it->second;
  close_pipes(inst);
  wipe(&inst.secret);
  for (int fd : inst.stop_clients) reply(fd, ok_reply());
  if (inst.start_client >= 0) reply(inst.start_client, error_reply(ECANCELED, "the instance was removed"));
  instances_.erase(it);
}

void Daemon::do_stop(Client& c, const Message& request) {
  const Identity& who = c.caller;
  std::string cls = request.get("class"), name = request.get("instance");
  std::string what = "stop " + cls + "/" + name + " by uid " + std::to_string(who.uid);
  auto it = instances_.find({cls, name});
  if (it == instances_.end()) {
    log_line(what + ": refused: no such instance");
    reply(c.fd, error_reply(ENOENT, "no instance '" + name + "' of class '" + cls + "'"));
    return;
  }
  Instance& inst = it->second;
  if (!class_allows(inst.spec, who.uid, who.gid, who.groups)) {
    log_line(what + ": refused: class not allowed");
    reply(c.fd, error_reply(EACCES, "user " + who.user + " may not use class '" + cls + "'"));
    return;
  }
  if (who.uid != 0 && who.uid != inst.owner) {
    log_line(what + ": refused: started by uid " + std::to_string(inst.owner));
    reply(c.fd, error_reply(EPERM, "instance '" + name + "' was started by another user"));
    return;
  }
  log_line(what + ": stopping pid " + std::to_string(inst.pid));
  inst.stop_clients.push_back(c.fd);
  c.waiting = true;
  begin_stop(inst, StopReason::kRequested);
}

void Daemon::shutdown() {
  shutting_down_ = true;
  sd_notify("STOPPING=1");
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
    unlink(options_.socket_path.c_str());
  }
  std::vector<Key> keys;
  for (auto& [key, inst] : instances_) keys.push_back(key);
  for (const Key& k : keys) {
    if (auto it = instances_.find(k); it != instances_.end()) begin_stop(it->second, StopReason::kShutdown);
  }
}

}  // namespace linfsp::launcher
