// fsp-launchctl: asks fsp-launcherd to start, stop, list and describe file
// system instances. See docs/launcher.md for the exit codes.
#include <termios.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "client.h"

using namespace linfsp::launcher;

namespace {

constexpr char kUsage[] =
    "usage: fsp-launchctl [--socket PATH] [--json] COMMAND ...\n"
    "  start [-o OPTIONS] CLASS INSTANCE MOUNTPOINT [ARGS...]\n"
    "  start-secret [-o OPTIONS] CLASS INSTANCE MOUNTPOINT [ARGS...]   (reads a secret, without echo)\n"
    "  stop CLASS INSTANCE\n"
    "  list\n"
    "  info CLASS INSTANCE\n"
    "exit codes: 0 ok, 1 failed, 2 usage, 3 no launcher, 4 not allowed, 5 no such class/instance, 6 in use\n";

int usage_error(const std::string& why) {
  std::fprintf(stderr, "fsp-launchctl: %s\n%s", why.c_str(), kUsage);
  return kExitUsage;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

bool numeric(const std::string& key) { return key == "pid" || key == "uid" || key == "owner" || key == "restarts"; }

std::string json_record(const Message& r) {
  std::string out = "{";
  for (const auto& [k, v] : r.fields()) {
    if (out.size() > 1) out += ", ";
    out += json_string(k) + ": " + (numeric(k) ? v : json_string(v));
  }
  return out + "}";
}

// The secret: from the terminal with echo off, else one line of stdin.
bool read_secret(std::string* secret) {
  bool tty = isatty(0);
  termios saved{};
  if (tty) {
    std::fputs("Secret: ", stderr);
    std::fflush(stderr);
    tcgetattr(0, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    tcsetattr(0, TCSAFLUSH, &quiet);
  }
  bool ok = static_cast<bool>(std::getline(std::cin, *secret));
  if (tty) tcsetattr(0, TCSAFLUSH, &saved);
  if (ok && !secret->empty() && secret->back() == '\r') secret->pop_back();
  return ok;
}

std::string absolute(const std::string& path) {
  char real[PATH_MAX];
  if (realpath(path.c_str(), real) != nullptr) return real;
  if (!path.empty() && path[0] == '/') return path;
  char cwd[PATH_MAX];
  return getcwd(cwd, sizeof(cwd)) ? std::string(cwd) + "/" + path : path;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_flag;
  bool json = false;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string a = argv[i];
    if (a == "--socket" && i + 1 < argc) {
      socket_flag = argv[++i];
    } else if (a == "--json") {
      json = true;
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      return usage_error("unknown option '" + a + "'");
    }
  }
  if (i >= argc) return usage_error("no command");
  std::string cmd = argv[i++];
  std::vector<std::string> rest(argv + i, argv + argc);
  Message req;
  std::string secret;
  if (cmd == "start" || cmd == "start-secret") {
    std::string options;
    if (rest.size() >= 2 && rest[0] == "-o") {
      options = rest[1];
      rest.erase(rest.begin(), rest.begin() + 2);
    }
    if (rest.size() < 3) return usage_error(cmd + " needs CLASS INSTANCE MOUNTPOINT");
    req.add("op", "start");
    req.add("class", rest[0]);
    req.add("instance", rest[1]);
    req.add("mountpoint", absolute(rest[2]));
    if (!options.empty()) req.add("options", options);
    for (size_t k = 3; k < rest.size(); ++k) req.add("arg", rest[k]);
    if (cmd == "start-secret") {
      if (!read_secret(&secret)) return usage_error("no secret given");
      req.add("secret", secret);
      explicit_bzero(secret.data(), secret.size());
    }
  } else if (cmd == "stop" || cmd == "info") {
    if (rest.size() != 2) return usage_error(cmd + " needs CLASS INSTANCE");
    req.add("op", cmd);
    req.add("class", rest[0]);
    req.add("instance", rest[1]);
  } else if (cmd == "list") {
    if (!rest.empty()) return usage_error("list takes no arguments");
    req.add("op", "list");
  } else {
    return usage_error("unknown command '" + cmd + "'");
  }
  auto reply = call(socket_path(socket_flag), req);
  req.wipe();
  if (!reply) {
    std::fprintf(stderr, "fsp-launchctl: %s\n", reply.status().message().c_str());
    return kExitNoDaemon;
  }
  if (reply->get("status") != "ok") {
    int err = std::atoi(reply->get("errno", "0").c_str());
    std::string msg = reply->get("message", "failed");
    if (json) {
      std::printf("{\"status\": \"error\", \"errno\": %d, \"message\": %s}\n", err, json_string(msg).c_str());
    } else {
      std::fprintf(stderr, "fsp-launchctl: %s\n", msg.c_str());
    }
    return exit_code_for(err == 0 ? EIO : err);
  }
  std::vector<Message> records = reply->records("class");
  if (json) {
    if (cmd == "list") {
      std::string out = "[";
      for (const Message& r : records) out += (out.size() > 1 ? ", " : "") + json_record(r);
      std::printf("%s]\n", out.c_str());
    } else if (cmd == "stop") {
      std::printf("{\"status\": \"ok\"}\n");
    } else {
      std::printf("%s\n", records.empty() ? "{}" : json_record(records[0]).c_str());
    }
    return kExitOk;
  }
  if (cmd == "list") {
    std::printf("%-12s %-16s %8s %6s %-9s %8s  %s\n", "CLASS", "INSTANCE", "PID", "UID", "STATE", "RESTARTS",
                "MOUNTPOINT");
    for (const Message& r : records) {
      std::printf("%-12s %-16s %8s %6s %-9s %8s  %s\n", r.get("class").c_str(), r.get("instance").c_str(),
                  r.get("pid").c_str(), r.get("uid").c_str(), r.get("state").c_str(), r.get("restarts").c_str(),
                  r.get("mountpoint").c_str());
    }
  } else if (cmd == "info" && !records.empty()) {
    for (const auto& [k, v] : records[0].fields()) std::printf("%s: %s\n", k.c_str(), v.c_str());
  } else if (cmd == "start" || cmd == "start-secret") {
    const Message& r = records.empty() ? *reply : records[0];
    std::printf("started %s/%s (pid %s) on %s\n", r.get("class").c_str(), r.get("instance").c_str(),
                r.get("pid").c_str(), r.get("mountpoint").c_str());
  }
  return kExitOk;
}
