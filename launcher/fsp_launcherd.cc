// fsp-launcherd: starts and stops file system instances by class and name
// for the users the class files allow. See docs/launcher.md.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "daemon.h"

namespace {

void usage(FILE* f) {
  std::fputs(
      "usage: fsp-launcherd [--socket PATH] [--classes DIR] [--fstab FILE] [--client-timeout S] [--check]\n"
      "  --socket PATH        control socket (default /run/linfsp/launcher.sock, env LINFSP_LAUNCHER_SOCKET)\n"
      "  --classes DIR        class files DIR/*.toml (default /etc/linfsp/classes.d, env LINFSP_LAUNCHER_CLASSES)\n"
      "  --fstab FILE         user mounts allowed by the administrator (default /etc/fstab)\n"
      "  --client-timeout S   seconds a client has to send its request (default 5)\n"
      "  --check              validate the class files, print each error, exit 1 if any\n"
      "Runs in the foreground (systemd Type=notify); logs one line per action on stderr.\n",
      f);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace linfsp::launcher;
  DaemonOptions o;
  if (const char* e = std::getenv("LINFSP_LAUNCHER_SOCKET"); e && *e) o.socket_path = e;
  if (const char* e = std::getenv("LINFSP_LAUNCHER_CLASSES"); e && *e) o.class_dir = e;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fsp-launcherd: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--socket") {
      o.socket_path = value();
    } else if (a == "--classes") {
      o.class_dir = value();
    } else if (a == "--client-timeout") {
      std::string v = value();
      char* end = nullptr;
      double s = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(s > 0 && s <= 3600)) {
        std::fprintf(stderr, "fsp-launcherd: --client-timeout: expected seconds, got '%s'\n", v.c_str());
        return 2;
      }
      o.client_timeout = std::chrono::milliseconds(static_cast<long>(s * 1000));
    } else if (a == "--fstab") {
      o.fstab_path = value();
    } else if (a == "--check") {
      check = true;
    } else if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "fsp-launcherd: unknown argument '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (check) {
    std::vector<ClassSpec> classes;
    std::vector<std::string> errors = check_class_dir(o.class_dir, &classes);
    for (const std::string& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    for (const ClassSpec& c : classes) std::printf("%s: ok (%s)\n", c.name.c_str(), c.file.c_str());
    return errors.empty() ? 0 : 1;
  }
  // Children get descriptors 0-2 from pipes; make sure ours exist so that
  // no pipe lands there.
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) < 0) open("/dev/null", O_RDWR);
  }
  if (geteuid() != 0) log_line("warning: not running as root: instances can only run as this user");
  Daemon daemon(o);
  return daemon.run();
}
