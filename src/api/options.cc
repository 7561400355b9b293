// Command line parsing shared by every file system program.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "linfsp/host.h"

namespace linfsp {
namespace {

Status bad(const std::string& what) { return Status::error(EINVAL, what); }

Status parse_seconds(const std::string& name, const std::string& text, double* out) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno != 0 || !std::isfinite(v) || v < 0 || v > 1e9) {
    return bad(name + ": expected a number of seconds, got '" + text + "'");
  }
  *out = v;
  return Status::ok();
}

Status parse_count(const std::string& name, const std::string& text, uint64_t min, uint64_t max,
                   uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0' || errno != 0 || v < min || v > max) {
    return bad(name + ": expected a whole number from " + std::to_string(min) + " to " +
               std::to_string(max) + ", got '" + text + "'");
  }
  *out = v;
  return Status::ok();
}

Status apply_mount_option(const std::string& opt, HostOptions* o) {
  auto eq = opt.find('=');
  std::string key = opt.substr(0, eq);
  std::string value = eq == std::string::npos ? "" : opt.substr(eq + 1);
  bool has_value = eq != std::string::npos;
  auto flag = [&](bool* field, bool v) {
    if (has_value) return bad("mount option '" + key + "' takes no value");
    *field = v;
    return Status::ok();
  };
  if (key == "allow_other") return flag(&o->allow_other, true);
  if (key == "default_permissions") return flag(&o->default_permissions, true);
  if (key == "ro") return flag(&o->read_only, true);
  if (key == "rw") return flag(&o->read_only, false);
  if (key == "nonempty") return flag(&o->allow_nonempty, true);
  if (key == "debug") return flag(&o->debug, true);
  if (key == "keep_cache") return flag(&o->keep_cache, true);
  if (key == "nokeep_cache") return flag(&o->keep_cache, false);
  if (key == "writeback_cache") return flag(&o->writeback_cache, true);
  if (key == "auto_inval_data") return flag(&o->auto_inval_data, true);
  if (key == "noauto_inval_data") return flag(&o->auto_inval_data, false);
  if (key == "no_open") return flag(&o->no_open, true);
  if (key == "export_support") return flag(&o->export_support, true);
  if (key == "uring") return flag(&o->uring, true);
  if (key == "fsname" || key == "subtype") {
    if (value.empty() || value.find_first_of(", \t\n") != std::string::npos) {
      return bad("mount option '" + key + "' needs a name without commas or spaces");
    }
    (key == "fsname" ? o->fsname : o->subtype) = value;
    return Status::ok();
  }
  if (key == "entry_timeout") return parse_seconds(key, value, &o->entry_timeout);
  if (key == "attr_timeout") return parse_seconds(key, value, &o->attr_timeout);
  if (key == "negative_timeout") return parse_seconds(key, value, &o->negative_timeout);
  if (key == "max_write") {
    uint64_t v;
    if (Status s = parse_count(key, value, 4096, 1 << 20, &v); !s) return s;
    o->max_write = static_cast<uint32_t>(v);
    return Status::ok();
  }
  return bad("unknown mount option '" + key + "'");
}

}  // namespace

Status parse_command_line(int argc, char** argv, HostOptions* o, const std::vector<ExtraOption>& extra) {
  bool have_mountpoint = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool inline_value = false;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {
      value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
      inline_value = true;
    }
    // Fetches the value of an option that takes one.
    auto take_value = [&](std::string* out) {
      if (inline_value) {
        *out = value;
        return Status::ok();
      }
      if (i + 1 >= argc) return bad("option " + arg + " needs a value");
      *out = argv[++i];
      return Status::ok();
    };
    Status s;
    if (arg == "-d" || arg == "--debug") {
      o->debug = true;
    } else if (arg == "--uring") {
      o->uring = true;
    } else if (arg == "-f" || arg == "--foreground") {
      // We always run in the foreground; accepted for FUSE habits.
    } else if (arg == "-o") {
      std::string list;
      if (!(s = take_value(&list))) return s;
      std::stringstream ss(list);
      std::string opt;
      while (std::getline(ss, opt, ',')) {
        if (opt.empty()) continue;
        if (!(s = apply_mount_option(opt, o))) return s;
      }
    } else if (arg == "-t" || arg == "--threads") {
      std::string v;
      uint64_t n;
      if (!(s = take_value(&v)) || !(s = parse_count(arg, v, 1, 256, &n))) return s;
      o->threads = static_cast<unsigned>(n);
    } else if (arg == "--entry-timeout" || arg == "--attr-timeout" || arg == "--negative-timeout") {
      std::string v;
      double* field = arg == "--entry-timeout" ? &o->entry_timeout
                      : arg == "--attr-timeout" ? &o->attr_timeout
                                                : &o->negative_timeout;
      if (!(s = take_value(&v)) || !(s = parse_seconds(arg, v, field))) return s;
    } else if (!arg.empty() && arg[0] == '-' && arg != "-") {
      const ExtraOption* match = nullptr;
      for (const auto& e : extra) {
        if (e.name == arg) match = &e;
      }
      if (match == nullptr) return bad("unknown option " + arg);
      std::string v;
      if (match->takes_value) {
        if (!(s = take_value(&v))) return s;
      } else if (inline_value) {
        return bad("option " + arg + " takes no value");
      }
      if (!(s = match->set(v))) return s;
    } else {
      if (have_mountpoint) return bad("unexpected argument '" + arg + "' (one mount point only)");
      o->mountpoint = arg;
      have_mountpoint = true;
    }
  }
  if (!have_mountpoint) return bad("missing mount point");
  return Status::ok();
}

std::string usage(const std::string& program, const std::vector<ExtraOption>& extra) {
  std::string u = "usage: " + program + " MOUNTPOINT [options]\n"
                  "  -d, --debug              trace every request and reply on stderr\n"
                  "  -o OPT[,OPT...]          allow_other, default_permissions, ro, nonempty,\n"
                  "                           fsname=NAME, subtype=NAME, entry_timeout=S,\n"
                  "                           attr_timeout=S, negative_timeout=S, keep_cache,\n"
                  "                           nokeep_cache, writeback_cache, auto_inval_data,\n"
                  "                           noauto_inval_data, no_open, export_support,\n"
                  "                           max_write=BYTES, uring\n"
                  "  -t, --threads N          request threads (default: CPUs, at least 2)\n"
                  "  --uring                  serve over FUSE-over-io_uring (same as -o uring)\n"
                  "  --entry-timeout S        kernel name cache timeout in seconds\n"
                  "  --attr-timeout S         kernel attribute cache timeout in seconds\n"
                  "  --negative-timeout S     cache 'no such name' answers (default 0)\n";
  for (const auto& e : extra) {
    std::string left = "  " + e.name + (e.takes_value ? " VALUE" : "");
    left.resize(std::max<size_t>(left.size() + 1, 27), ' ');
    u += left + e.help + "\n";
  }
  return u;
}

}  // namespace linfsp
