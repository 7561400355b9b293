// mount.fsp: mount(8)'s external helper for type "fsp".
//   mount -t fsp CLASS:INSTANCE DIR [-o OPTIONS]
// runs /sbin/mount.fsp CLASS:INSTANCE DIR [-sfnv] [-o OPTIONS] [-t fsp],
// which asks fsp-launcherd to start the instance on DIR and returns once the
// mount is usable. umount DIR unmounts it; the launcher notices and stops
// the instance.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "client.h"

using namespace linfsp::launcher;

namespace {

int fail(int code, const std::string& why) {
  std::fprintf(stderr, "mount.fsp: %s\n", why.c_str());
  return code;
}

// Options that mount(8) and /etc/fstab use for themselves: not passed on.
bool fstab_only(const std::string& key) {
  static const char* kKeys[] = {"defaults", "auto",  "noauto", "user",    "users", "nouser",
                                "owner",    "group", "nofail", "_netdev", "rw",    "comment"};
  for (const char* k : kKeys) {
    if (key == k) return true;
  }
  return key.rfind("x-", 0) == 0 || key.rfind("user=", 0) == 0 || key.rfind("comment=", 0) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  std::string options;
  bool fake = false, verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-o" && i + 1 < argc) {
      options += (options.empty() ? "" : ",") + std::string(argv[++i]);
    } else if (a == "-t" && i + 1 < argc) {
      ++i;  // always fsp
    } else if (a.size() > 1 && a[0] == '-' && a.find_first_not_of("sfnvrw", 1) == std::string::npos) {
      fake |= a.find('f') != std::string::npos;  // -f: do everything but mount
      verbose |= a.find('v') != std::string::npos;
      if (a.find('r') != std::string::npos) options += (options.empty() ? "" : ",") + std::string("ro");
    } else if (a == "-h" || a == "--help") {
      std::puts("usage: mount.fsp CLASS:INSTANCE DIR [-sfnv] [-o OPTIONS]");
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      return fail(1, "unknown option '" + a + "'");
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) return fail(1, "usage: mount.fsp CLASS:INSTANCE DIR [-o OPTIONS]");
  const std::string& spec = positional[0];
  size_t colon = spec.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size()) {
    return fail(1, "'" + spec + "': expected CLASS:INSTANCE (e.g. memfs:test)");
  }
  // When mount(8) runs setuid for a `user` fstab entry, speak as the real user.
  if (getuid() != geteuid() && (setgid(getgid()) != 0 || setuid(getuid()) != 0)) {
    return fail(2, "cannot drop privileges");
  }
  std::string passed, item;
  std::stringstream ss(options);
  while (std::getline(ss, item, ',')) {
    if (item.empty() || fstab_only(item)) continue;
    passed += (passed.empty() ? "" : ",") + item;
  }
  char real[PATH_MAX];
  std::string dir = realpath(positional[1].c_str(), real) ? real : positional[1];
  Message req;
  req.add("op", "start");
  req.add("class", spec.substr(0, colon));
  req.add("instance", spec.substr(colon + 1));
  req.add("mountpoint", dir);
  if (!passed.empty()) req.add("options", passed);
  if (verbose)
    std::fprintf(stderr, "mount.fsp: starting %s on %s (options '%s')\n", spec.c_str(), dir.c_str(), passed.c_str());
  if (fake) return 0;
  auto reply = call(socket_path(""), req);
  if (!reply) return fail(2, reply.status().message());  // mount(8): system error
  if (reply->get("status") != "ok") {
    // mount(8) reads helper exit codes as its own: 1 is "incorrect
    // invocation or permissions", 32 "mount failure".
    int err = std::atoi(reply->get("errno", "0").c_str());
    std::fprintf(stderr, "mount.fsp: %s\n", reply->get("message", "failed").c_str());
    return err == EACCES || err == EPERM ? 1 : 32;
  }
  return 0;
}
