// fsp-launcherd's core: one thread, one poll loop over the control socket,
// the clients, the instances' pipes, a signalfd (SIGCHLD, SIGTERM, SIGINT,
// SIGHUP) and /proc/self/mountinfo (POLLPRI when a mount comes or goes).
// Nothing blocks the loop except the mount point check, which is bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "class_file.h"
#include "protocol.h"
#include "spawn.h"

namespace linfsp::launcher {

struct DaemonOptions {
  std::string socket_path = kDefaultSocket;
  std::string class_dir = kDefaultClassDir;
  std::chrono::milliseconds client_timeout{5000};  // to send a whole request
  std::chrono::milliseconds check_timeout{3000};   // mount point check
  // User mounts (`user`/`users` entries of type fsp) allow a mount point the
  // caller may not write.
  std::string fstab_path = "/etc/fstab";
};

class Daemon {
 public:
  explicit Daemon(DaemonOptions options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Binds the socket and tells systemd READY=1; then serves until SIGTERM or
  // SIGINT, stops every instance and returns the exit code.
  int run();

 private:
  using Clock = std::chrono::steady_clock;
  enum class State { kStarting, kRunning, kStopping, kRestarting };
  // Why an instance is stopping: decides restart and the log line.
  enum class StopReason { kNone, kRequested, kUnmounted, kStartTimeout, kShutdown };

  struct Client {
    int fd = -1;
    Identity caller;
    std::string in, out;
    Clock::time_point deadline;
    bool waiting = false;  // a start or stop reply comes later
    bool done = false;     // close once `out` is written
  };

  struct Instance {
    ClassSpec spec;
    std::string name;
    Identity runs_as;
    uid_t owner = 0;  // the caller who started it
    std::string mountpoint;
    std::vector<std::string> args;
    std::string options;
    std::string secret;  // kept for restarts only; zeroed when dropped
    pid_t pid = -1;
    State state = State::kStarting;
    StopReason reason = StopReason::kNone;
    bool ever_ready = false;
    time_t started = 0;
    Clock::time_point spawned;
    unsigned restarts = 0;
    int out_fd = -1, ready_fd = -1;
    std::string out_partial, last_line, previous_line, ready_text;
    int mount_before = -1;       // a FUSE mount already at the mount point when spawned
    int mount_id = -1;           // the instance's mount, once ready
    Clock::time_point deadline;  // start timeout, SIGKILL after SIGTERM, or restart
    bool has_deadline = false;
    int start_client = -1;          // waits for "ready"
    std::vector<int> stop_clients;  // wait for the end
  };
  using Key = std::pair<std::string, std::string>;  // class, instance

  bool setup();
  void loop();
  void accept_clients();
  void read_client(Client& c);
  void write_client(Client& c);
  void handle(Client& c, Message& request);
  // Queues the answer and writes what it can; a client whose answer is
  // written is dropped at once, so a Client& must not be used after this.
  void reply(int client_fd, const Message& m);
  Client* client(int fd);
  // Closes a client and forgets every reference to its descriptor.
  void drop_client(int fd);

  void do_start(Client& c, Message& request);
  void do_stop(Client& c, const Message& request);
  void do_list(Client& c, const Message& request, bool one);

  Status spawn(Instance& inst);
  void on_ready(Instance& inst);
  void on_output(Instance& inst);
  void on_ready_pipe(Instance& inst);
  void on_exit(pid_t pid, int status);
  void on_mounts_changed();
  void on_deadline(Instance& inst);
  void begin_stop(Instance& inst, StopReason reason);
  void close_pipes(Instance& inst);
  void unmount_leftover(Instance& inst);
  void remove(const Key& key);
  void shutdown();
  static Key key_of(const Instance& inst) { return {inst.spec.name, inst.name}; }
  Instance* by_pid(pid_t pid);
  static std::string error_line(const Instance& inst);
  void record(Message* m, const Instance& inst) const;

  DaemonOptions options_;
  int listen_fd_ = -1;
  int signal_fd_ = -1;
  int mountinfo_fd_ = -1;
  bool shutting_down_ = false;
  std::map<int, Client> clients_;
  std::map<Key, Instance> instances_;
};

// One log line on stderr (the journal under systemd), prefixed with the program.
void log_line(const std::string& line);

}  // namespace linfsp::launcher
